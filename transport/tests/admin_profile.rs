//! `/debug/pprof/profile` (feature `profile`): a 2-second profile taken while a thread spins
//! in a known function shows that function, one profile runs at a time, and `seconds` is
//! checked. The profile is written to `target/tmp/admin/profile.pb.gz`, where `.ci/run` reads
//! it with `go tool pprof -top`.
#![cfg(feature = "profile")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use prost::Message;
use ringspan_transport::{Admin, AdminConfig, Pipeline};

/// A GET over HTTP/1.1; the status and the raw body.
fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&out[..head_end]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, out[head_end..].to_vec())
}

/// The parts of `profile.proto` this test reads, declared from the format's definition
/// (github.com/google/pprof, proto/profile.proto), independently of the server's encoder.
#[derive(Clone, PartialEq, Message)]
struct Profile {
    #[prost(message, repeated, tag = "2")]
    sample: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    string_table: Vec<String>,
}
#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    value: Vec<i64>,
}
#[derive(Clone, PartialEq, Message)]
struct Location {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(message, repeated, tag = "4")]
    line: Vec<Line>,
}
#[derive(Clone, PartialEq, Message)]
struct Line {
    #[prost(uint64, tag = "1")]
    function_id: u64,
}
#[derive(Clone, PartialEq, Message)]
struct Function {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(int64, tag = "2")]
    name: i64,
}

#[inline(never)]
fn spin_in_a_known_function_for_the_profile(stop: &AtomicBool) -> u64 {
    let mut x = 1u64;
    // Relaxed: a stop flag, nothing published through it.
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..1000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    x
}

/// Samples (counts) of stacks that pass through a function whose name contains `needle`.
fn samples_in(p: &Profile, needle: &str) -> i64 {
    let function_of = |loc_id: u64| {
        let loc = p.location.iter().find(|l| l.id == loc_id)?;
        loc.line.iter().find_map(|line| {
            let f = p.function.iter().find(|f| f.id == line.function_id)?;
            Some(p.string_table[f.name as usize].as_str())
        })
    };
    p.sample
        .iter()
        .filter(|s| {
            s.location_id
                .iter()
                .any(|&l| function_of(l).is_some_and(|n| n.contains(needle)))
        })
        .map(|s| s.value[0])
        .sum()
}

#[test]
fn a_profile_shows_the_function_a_thread_spins_in() {
    let receiver = receiver();
    let pipeline = Arc::new(Pipeline::start(config(&receiver.endpoint())).unwrap());
    let admin = Admin::start(Arc::clone(&pipeline), AdminConfig::default()).unwrap();
    let addr = admin.addr();
    assert_eq!(get(addr, "/debug/pprof/profile?seconds=0").0, 400);
    assert_eq!(get(addr, "/debug/pprof/profile?seconds=61").0, 400);

    let stop = Arc::new(AtomicBool::new(false));
    let spinner = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("spinner".into())
            .spawn(move || spin_in_a_known_function_for_the_profile(&stop))
            .unwrap()
    };
    let started = Instant::now();
    let first = std::thread::spawn(move || get(addr, "/debug/pprof/profile?seconds=2"));
    // While it runs, a second one is refused.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get(addr, "/debug/pprof/profile?seconds=1").0, 409);
    let (status, gz) = first.join().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    spinner.join().unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&gz));

    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .expect("gzip");
    let profile = Profile::decode(&raw[..]).expect("a pprof Profile message");
    let total: i64 = profile.sample.iter().map(|s| s.value[0]).sum();
    let spinning = samples_in(&profile, "spin_in_a_known_function_for_the_profile");
    // The spinner ran the whole 2 s on one of two cores: about 198 samples at 99 Hz; the
    // machine may take some of its time.
    assert!(
        spinning >= 50,
        "{spinning} of {total} samples in the spinner"
    );

    let dir = format!("{}/admin", env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(format!("{dir}/profile.pb.gz"), &gz).unwrap();
    // A profile can be taken again once the first is done.
    assert_eq!(get(addr, "/debug/pprof/profile?seconds=1").0, 200);
}
