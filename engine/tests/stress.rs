//! Many threads (more than cores) record millions of spans with checkable content into small
//! rings. Every span reaches the sink exactly once and intact, or is counted as dropped, and
//! the accounting identity holds exactly after shutdown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringspan::Calibration;
use ringspan::{Engine, EngineConfig, IdleStrategy, Sink, SpanRecord, Value, ValueRef};

const THREADS: usize = 4;
const SPANS_PER_THREAD: u64 = 500_000;

fn check_value(thread: u64, seq: u64) -> i64 {
    (thread.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seq.wrapping_mul(31)) as i64
}

/// Verifies every span as it arrives; remembers the last sequence number per thread.
#[derive(Clone)]
struct Verify {
    last_seq: Arc<Mutex<Vec<Option<u64>>>>,
    seen: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Verify {
    fn check(&self, r: &SpanRecord) -> Result<(), String> {
        let attrs: Vec<_> = r.attributes().collect();
        let [("thread", ValueRef::I64(t)), ("seq", ValueRef::I64(seq)), ("check", ValueRef::I64(c)), ("label", ValueRef::Str(label))] =
            attrs[..]
        else {
            return Err(format!("unexpected attributes {attrs:?}"));
        };
        let (t, seq) = (t as u64, seq as u64);
        if c != check_value(t, seq) {
            return Err(format!("thread {t} seq {seq}: check value {c} is corrupt"));
        }
        if r.name() != format!("span-{t}") || label != format!("thread-{t}-label") {
            return Err(format!(
                "thread {t} seq {seq}: name {:?} label {label:?}",
                r.name()
            ));
        }
        let ev = r.events().next().ok_or("missing event")?;
        if ev.attributes().next() != Some(("seq", ValueRef::I64(seq as i64))) {
            return Err(format!("thread {t} seq {seq}: event attributes differ"));
        }
        if r.end_ticks() < r.start_ticks() {
            return Err(format!("thread {t} seq {seq}: ends before it starts"));
        }
        let mut last = self.last_seq.lock().unwrap();
        let slot = &mut last[t as usize];
        if slot.is_some_and(|prev| seq <= prev) {
            return Err(format!(
                "thread {t}: seq {seq} after {slot:?} (duplicate or reordered)"
            ));
        }
        *slot = Some(seq);
        Ok(())
    }
}

impl Sink for Verify {
    fn accept(&mut self, spans: &[SpanRecord], _clock: &Calibration) -> usize {
        for r in spans {
            if let Err(e) = self.check(r) {
                let mut errors = self.errors.lock().unwrap();
                if errors.len() < 10 {
                    errors.push(e);
                }
            }
        }
        self.seen.fetch_add(spans.len() as u64, Ordering::Relaxed);
        spans.len()
    }

    fn flush(&mut self, _clock: &Calibration) {}
}

#[test]
fn every_span_arrives_once_intact_or_is_counted() {
    let sink = Verify {
        last_seq: Arc::new(Mutex::new(vec![None; THREADS])),
        seen: Arc::default(),
        errors: Arc::default(),
    };
    // Small rings so that wrap-around and ring-full drops both happen many times.
    let config = EngineConfig::default()
        .rings(THREADS)
        .ring_capacity(256)
        .max_batch(100)
        .idle(IdleStrategy::Yield);
    let engine = Engine::start(config, sink.clone()).unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let engine = &engine;
            s.spawn(move || {
                let name = format!("span-{t}");
                let label = format!("thread-{t}-label");
                let p = engine.producer().unwrap();
                for seq in 0..SPANS_PER_THREAD {
                    let mut span = p.span_copied(&name);
                    span.set_attrs(&[
                        ("thread", Value::i64(t as i64)),
                        ("seq", Value::i64(seq as i64)),
                        ("check", Value::i64(check_value(t, seq))),
                        ("label", Value::copied(&label)),
                    ]);
                    span.add_event("tick", &[("seq", Value::i64(seq as i64))]);
                }
            });
        }
    });
    let snap = engine.shutdown(Duration::from_secs(30)).unwrap();
    let errors = sink.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "{errors:#?}");
    let total = THREADS as u64 * SPANS_PER_THREAD;
    assert_eq!(snap.recorded, total);
    assert_eq!(snap.delivered, sink.seen.load(Ordering::Relaxed));
    assert_eq!(snap.delivered + snap.dropped.total(), total, "{snap:?}");
    assert_eq!(snap.dropped.total(), snap.dropped.ring_full, "{snap:?}");
    assert_eq!(snap.in_rings, 0);
    assert!(snap.is_balanced(), "{snap:?}");
    assert!(snap.delivered > 0);
    eprintln!("stress: {snap:?}");
}
