//! `GET /debug/pprof/profile?seconds=N` (feature `profile`): a CPU profile of the whole
//! process in pprof's protobuf format (gzip-compressed, as Go's `net/http/pprof` serves it),
//! readable by `go tool pprof`.
//!
//! Sampling is the `pprof` crate's: while a profile runs, `SIGPROF` interrupts whichever
//! thread is on a CPU 99 times a second and the handler records the raw stack into a
//! preallocated table. A sampled hot thread loses that handler's few microseconds per sample
//! (about 0.05% of its time), only while a profile is being taken; symbol lookup and encoding
//! run afterwards on a blocking thread of the admin runtime. One profile at a time: another
//! request meanwhile gets 409. `seconds` defaults to 30 (as Go's) and is capped at 60.
//!
//! What it leaves out: samples that land inside libc, libgcc, libpthread or the vDSO (system
//! calls, `memcpy`, libc's `malloc`), which the `pprof` crate's unwinder must not walk from a
//! signal handler. After a profile the process keeps the parsed debug information (the
//! `backtrace` crate caches it), a one-time step in RSS; and `SIGPROF` is left ignored.
//!
//! The encoding is written here with the workspace's prost (the `pprof` crate's own encoder
//! would bring a second version), after `profile.proto` of github.com/google/pprof.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use prost::Message;

/// Samples per second (not 100, so as not to run in lockstep with periodic work).
const FREQUENCY: i32 = 99;
/// `seconds` when the query has none, and the most it may ask for.
pub(super) const DEFAULT_SECONDS: u64 = 30;
pub(super) const MAX_SECONDS: u64 = 60;

/// `profile.proto`'s messages, as far as a CPU profile uses them.
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub(super) sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub(super) sample: Vec<Sample>,
        #[prost(message, repeated, tag = "4")]
        pub(super) location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub(super) function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub(super) string_table: Vec<String>,
        #[prost(int64, tag = "9")]
        pub(super) time_nanos: i64,
        #[prost(int64, tag = "10")]
        pub(super) duration_nanos: i64,
        #[prost(message, optional, tag = "11")]
        pub(super) period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub(super) period: i64,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub(super) struct ValueType {
        #[prost(int64, tag = "1")]
        pub(super) r#type: i64,
        #[prost(int64, tag = "2")]
        pub(super) unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Sample {
        /// Leaf first.
        #[prost(uint64, repeated, tag = "1")]
        pub(super) location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub(super) value: Vec<i64>,
        #[prost(message, repeated, tag = "3")]
        pub(super) label: Vec<Label>,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub(super) struct Label {
        #[prost(int64, tag = "1")]
        pub(super) key: i64,
        #[prost(int64, tag = "2")]
        pub(super) str: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Location {
        #[prost(uint64, tag = "1")]
        pub(super) id: u64,
        #[prost(message, repeated, tag = "4")]
        pub(super) line: Vec<Line>,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub(super) struct Line {
        #[prost(uint64, tag = "1")]
        pub(super) function_id: u64,
        #[prost(int64, tag = "2")]
        pub(super) line: i64,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub(super) struct Function {
        #[prost(uint64, tag = "1")]
        pub(super) id: u64,
        #[prost(int64, tag = "2")]
        pub(super) name: i64,
        #[prost(int64, tag = "3")]
        pub(super) system_name: i64,
        #[prost(int64, tag = "4")]
        pub(super) filename: i64,
    }
}

/// The string table: index 0 is the empty string, as the format requires.
#[derive(Default)]
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn new() -> Self {
        let mut s = Strings::default();
        s.id("");
        s
    }

    fn id(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }
}

/// Whether a leaf-side frame is the sampler's own (the unwinder called from the `SIGPROF`
/// handler, and the handler): left out, so that a sample's leaf is where the thread was.
fn is_the_profilers(name: &str) -> bool {
    name.starts_with("backtrace::")
        || name.starts_with("pprof::")
        || name.starts_with("<pprof::")
        || name.contains("perf_signal_handler")
        || name == "__restore_rt"
}

/// `report` as an uncompressed `Profile` message.
fn encode(report: &pprof::Report) -> Vec<u8> {
    let mut strings = Strings::new();
    let value_type = |strings: &mut Strings, t: &str, u: &str| proto::ValueType {
        r#type: strings.id(t),
        unit: strings.id(u),
    };
    let period = 1_000_000_000 / i64::from(FREQUENCY);
    let sample_type = vec![
        value_type(&mut strings, "samples", "count"),
        value_type(&mut strings, "cpu", "nanoseconds"),
    ];
    let period_type = value_type(&mut strings, "cpu", "nanoseconds");
    let thread = strings.id("thread");
    // One function per (name, file), one location per (function, line).
    let mut functions: HashMap<(i64, i64), u64> = HashMap::new();
    let mut locations: HashMap<(u64, i64), u64> = HashMap::new();
    let mut profile = proto::Profile {
        sample_type,
        period_type: Some(period_type),
        period,
        ..proto::Profile::default()
    };
    for (frames, &count) in &report.data {
        let mut location_id = Vec::new();
        // `frames.frames` is leaf first; each frame lists its inlined functions innermost
        // first: the order pprof wants.
        let symbols = frames
            .frames
            .iter()
            .flatten()
            .skip_while(|s| is_the_profilers(&s.name()));
        for symbol in symbols {
            let name = strings.id(&symbol.name());
            let system_name = strings.id(&symbol.sys_name());
            let filename = strings.id(&symbol.filename());
            let next = profile.function.len() as u64 + 1;
            let function_id = *functions.entry((name, filename)).or_insert(next);
            if function_id == next {
                profile.function.push(proto::Function {
                    id: function_id,
                    name,
                    system_name,
                    filename,
                });
            }
            let line = i64::from(symbol.lineno());
            let next = profile.location.len() as u64 + 1;
            let id = *locations.entry((function_id, line)).or_insert(next);
            if id == next {
                profile.location.push(proto::Location {
                    id,
                    line: vec![proto::Line { function_id, line }],
                });
            }
            location_id.push(id);
        }
        let count = count as i64;
        profile.sample.push(proto::Sample {
            location_id,
            value: vec![count, count * period],
            label: vec![proto::Label {
                key: thread,
                str: strings.id(&frames.thread_name_or_id()),
            }],
        });
    }
    let t = &report.timing;
    profile.time_nanos = t
        .start_time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    profile.duration_nanos = t.duration.as_nanos() as i64;
    profile.string_table = strings.table;
    profile.encode_to_vec()
}

/// Whether a profile is being taken (one at a time).
static BUSY: AtomicBool = AtomicBool::new(false);

/// Clears `BUSY` however the profile ends.
struct Taking;

impl Drop for Taking {
    fn drop(&mut self) {
        // Release: pairs with the Acquire of the next `compare_exchange`; nothing else is
        // published through it.
        BUSY.store(false, Ordering::Release);
    }
}

/// Why no profile was taken.
pub(super) enum Refused {
    /// Another profile is being taken.
    Busy,
    /// The profiler could not start or report (its message).
    Failed(String),
}

/// Samples the process for `seconds`, then returns the profile, gzip-compressed. The
/// sampling stops as soon as this future is dropped (the client went away, the endpoint
/// stopped); the symbol lookup and encoding run on a blocking thread.
pub(super) async fn take(seconds: u64) -> Result<Vec<u8>, Refused> {
    if BUSY
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return Err(Refused::Busy);
    }
    let taking = Taking;
    let fail = |e: pprof::Error| Refused::Failed(e.to_string());
    // The pprof crate's advice: no samples from inside these libraries, whose frames its
    // unwinder may deadlock on. So time a thread spends in them (system calls, memcpy,
    // malloc in libc) is left out of the profile.
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&["libc.so", "libgcc", "libpthread", "vdso"])
        .build()
        .map_err(fail)?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let built = tokio::task::spawn_blocking(move || {
        let _taking = taking;
        let report = guard.report().build().map_err(fail);
        drop(guard);
        let raw = encode(&report?);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing into a Vec cannot fail.
        let _ = gz.write_all(&raw);
        Ok(gz.finish().unwrap_or_default())
    })
    .await;
    match built {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(Refused::Failed("the encoding panicked".into())),
        Err(_) => Err(Refused::Failed("the endpoint is stopping".into())),
    }
}

/// `seconds` from a query string (`seconds=N`, other parameters ignored).
pub(super) fn seconds(query: Option<&str>) -> Result<u64, String> {
    let Some(v) = query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("seconds="))
    else {
        return Ok(DEFAULT_SECONDS);
    };
    match v.parse::<u64>() {
        Ok(n) if (1..=MAX_SECONDS).contains(&n) => Ok(n),
        _ => Err(format!(
            "seconds = {v:?}: expected a whole number from 1 to {MAX_SECONDS}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_bounded_and_named() {
        assert_eq!(seconds(None), Ok(DEFAULT_SECONDS));
        assert_eq!(seconds(Some("debug=1&seconds=5")), Ok(5));
        for bad in ["seconds=0", "seconds=61", "seconds=x", "seconds=-1"] {
            assert!(seconds(Some(bad)).unwrap_err().contains("seconds"), "{bad}");
        }
    }
}
