//! The open-span watch under loom: a monitor reading a producer's oldest open span while the
//! producer changes it sees a start and a name written together, or nothing; never the start
//! of one span with the name of another.
#![cfg(ringspan_loom)]

use loom::sync::Arc;
use loom::thread;
use ringspan::OpenWatch;

/// Both names are slices of one string, so a torn pointer/length pair would still point at
/// valid bytes and show as a wrong name rather than as undefined behaviour.
const BYTES: &str = "xyzw";

fn first() -> &'static str {
    &BYTES[0..3]
}

fn second() -> &'static str {
    &BYTES[1..2]
}

fn check(read: Option<(u64, Option<&'static str>)>) {
    match read {
        None => {}
        Some((11, name)) => assert_eq!(name, Some(first())),
        Some((21, name)) => assert_eq!(name, Some(second())),
        Some((31, name)) => assert_eq!(name, None),
        other => panic!("torn or unknown watch: {other:?}"),
    }
}

#[test]
fn a_reader_sees_a_whole_watch_or_none() {
    // Odd starts: the watch stores `start | 1`.
    loom::model(|| {
        let watch = Arc::new(OpenWatch::default());
        let w = watch.clone();
        let producer = thread::spawn(move || {
            // SAFETY: this thread is the watch's only writer.
            unsafe { w.open(11, Some(first())) };
            w.close();
            // SAFETY: as above.
            unsafe { w.open(21, Some(second())) };
            // The watched span ends before its child, which is watched next.
            // SAFETY: as above.
            unsafe { w.open(31, None) };
        });
        check(watch.read());
        check(watch.read());
        producer.join().unwrap();
        assert_eq!(watch.read(), Some((31, None)));
    });
}

#[test]
fn a_closed_watch_reads_as_nothing_open() {
    loom::model(|| {
        let watch = Arc::new(OpenWatch::default());
        let w = watch.clone();
        let producer = thread::spawn(move || {
            // SAFETY: this thread is the watch's only writer.
            unsafe { w.open(11, Some(first())) };
            w.close();
        });
        check(watch.read());
        producer.join().unwrap();
        assert_eq!(watch.read(), None);
    });
}
