//! The `OTEL_*` variables: every one the engine and encoder read, their precedence under code,
//! and bad values failing with the variable's name and value. Variables are passed through
//! `from_lookup`, so the tests never touch the process environment.

use std::collections::HashMap;
use std::time::Duration;

use ringspan::otlp::{OtlpConfig, ResourceValue};
use ringspan::{Engine, EngineConfig, Sampler};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn unset_and_empty_variables_give_the_spec_defaults() {
    for lookup in [
        env(&[]),
        env(&[
            ("OTEL_BSP_SCHEDULE_DELAY", ""),
            ("OTEL_TRACES_SAMPLER", " "),
        ]),
    ] {
        let c = EngineConfig::from_lookup(lookup).unwrap();
        // No queue size: ringspan's own default (the spec's 2048 is 2 ms at 1 M spans/s).
        assert_eq!(
            c.ring_capacity_setting(),
            EngineConfig::default().ring_capacity_setting()
        );
        let dbg = format!("{c:?}");
        assert!(
            dbg.contains("schedule_delay: 5s") && dbg.contains("max_batch: 512"),
            "{dbg}"
        );
        assert!(dbg.contains(&format!("{:?}", Sampler::default())), "{dbg}");
    }
    let o = OtlpConfig::from_lookup(env(&[])).unwrap();
    assert_eq!(
        o.resource_setting().get("service.name"),
        Some(&ResourceValue::Str("unknown_service".into()))
    );
}

#[test]
fn every_variable_is_applied() {
    let c = EngineConfig::from_lookup(env(&[
        ("OTEL_BSP_SCHEDULE_DELAY", "250"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "5000"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
    ]))
    .unwrap();
    assert_eq!(
        c.ring_capacity_setting(),
        1024,
        "the whole queue of 5000 split among 8 rings, rounded up to a power of two"
    );
    let dbg = format!("{c:?}");
    assert!(
        dbg.contains("schedule_delay: 250ms") && dbg.contains("max_batch: 100"),
        "{dbg}"
    );
    let want = Sampler::parent_based(Sampler::trace_id_ratio(0.25).unwrap());
    assert!(dbg.contains(&format!("{want:?}")), "{dbg}");

    for (name, want) in [
        ("always_on", Sampler::always_on()),
        ("always_off", Sampler::always_off()),
        ("traceidratio", Sampler::trace_id_ratio(1.0).unwrap()),
        (
            "parentbased_always_on",
            Sampler::parent_based(Sampler::always_on()),
        ),
        (
            "parentbased_always_off",
            Sampler::parent_based(Sampler::always_off()),
        ),
    ] {
        let c = EngineConfig::from_lookup(env(&[("OTEL_TRACES_SAMPLER", name)])).unwrap();
        assert!(format!("{c:?}").contains(&format!("{want:?}")), "{name}");
    }

    let o = OtlpConfig::from_lookup(env(&[
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"),
        ("OTEL_SERVICE_NAME", "checkout"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=loser, region = eu%2Dwest ,team=pay%2Cments",
        ),
    ]))
    .unwrap();
    let r = o.resource_setting();
    assert_eq!(
        r.get("service.name"),
        Some(&ResourceValue::Str("checkout".into())),
        "OTEL_SERVICE_NAME wins"
    );
    assert_eq!(r.get("region"), Some(&ResourceValue::Str("eu-west".into())));
    assert_eq!(r.get("team"), Some(&ResourceValue::Str("pay,ments".into())));
    assert!(format!("{o:?}").contains("max_spans: 64"));
}

#[test]
fn code_wins_over_the_environment() {
    let c = EngineConfig::from_lookup(env(&[("OTEL_BSP_MAX_QUEUE_SIZE", "64")]))
        .unwrap()
        .ring_capacity(1024);
    assert_eq!(c.ring_capacity_setting(), 1024);
    let engine = Engine::start(c.rings(1), ringspan::Discard::default()).unwrap();
    engine.shutdown(Duration::from_secs(1)).unwrap();
}

#[test]
fn bad_values_name_the_variable_and_the_value() {
    let cases: &[(&str, &str)] = &[
        ("OTEL_BSP_SCHEDULE_DELAY", "5s"),
        ("OTEL_BSP_SCHEDULE_DELAY", "0"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "-1"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "1"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100000"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"),
        ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
    ];
    for &(name, value) in cases {
        let e = EngineConfig::from_lookup(env(&[(name, value)])).unwrap_err();
        let msg = e.to_string();
        assert!(
            e.is_config() && msg.contains(name) && msg.contains(value),
            "{name}={value}: {msg}"
        );
    }
    for arg in ["1.5", "lots", "NaN"] {
        let e = EngineConfig::from_lookup(env(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", arg),
        ]))
        .unwrap_err();
        assert!(
            e.to_string().contains("OTEL_TRACES_SAMPLER_ARG") && e.to_string().contains(arg),
            "{e}"
        );
    }
    for attrs in ["novalue", "=v", "k=%FF"] {
        let e = OtlpConfig::from_lookup(env(&[("OTEL_RESOURCE_ATTRIBUTES", attrs)])).unwrap_err();
        assert!(e.to_string().contains("OTEL_RESOURCE_ATTRIBUTES"), "{e}");
    }
    let e = OtlpConfig::from_lookup(env(&[("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "x")])).unwrap_err();
    assert!(
        e.to_string().contains("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
        "{e}"
    );
}

#[test]
fn a_queue_too_big_for_memory_is_an_error_naming_the_variable_and_the_bytes() {
    let config =
        EngineConfig::from_lookup(env(&[("OTEL_BSP_MAX_QUEUE_SIZE", "100000000")])).unwrap();
    let e = Engine::start(config, ringspan::Discard::default()).unwrap_err();
    let msg = e.to_string();
    assert!(e.is_config(), "{msg}");
    assert!(msg.contains("OTEL_BSP_MAX_QUEUE_SIZE"), "{msg}");
    assert!(msg.contains("100000000"), "{msg}");
    assert!(msg.contains("bytes") && msg.contains("GiB"), "{msg}");
    // A limit raised in code counts (the check is at start, not in `from_lookup`): a queue
    // of 2 M spans (1.8 GiB) is fine with a 4 GiB limit.
    let big = EngineConfig::from_lookup(env(&[("OTEL_BSP_MAX_QUEUE_SIZE", "2000000")])).unwrap();
    assert!(big.clone().validate().is_err());
    assert!(big.memory_limit(4 << 30).validate().is_ok());
    // The same size set in code fails `start` the same way, before allocating anything.
    let config = EngineConfig::default().ring_capacity(1 << 27);
    let e = Engine::start(config, ringspan::Discard::default()).unwrap_err();
    assert!(e.to_string().contains("ring_capacity"), "{e}");
    // And a raised limit is still held to the machine.
    let config = EngineConfig::default()
        .ring_capacity(1 << 30)
        .memory_limit(usize::MAX);
    let e = config.validate().unwrap_err();
    assert!(e.to_string().contains("physical memory"), "{e}");
}

#[test]
fn the_queue_is_the_whole_queue_split_among_the_rings() {
    let c = EngineConfig::from_lookup(env(&[("OTEL_BSP_MAX_QUEUE_SIZE", "40000")])).unwrap();
    // 40000 over 8 rings is 5000 each, rounded up.
    assert_eq!(c.ring_capacity_setting(), 8192);
    let c = c.rings(2);
    assert_eq!(c.ring_capacity_setting(), 32768);
    // A capacity set in code wins, and then `rings` leaves it alone.
    let c = c.ring_capacity(64).rings(4);
    assert_eq!(c.ring_capacity_setting(), 64);
}
