//! Metric cells under loom: a lane's cells written by its successive holders (each a plain
//! load and store, ordered only by the ring claim's hand-over) lose no update, and a
//! reader running beside them never sees a count go back; the shared block's atomic adds
//! (counts, and a histogram's `f64` sum by compare-and-swap) lose nothing; a gauge read never
//! pairs a newer stamp with an older value on a lane; on the shared block, two writers leave
//! one of their values under the later stamp.
#![cfg(ringspan_loom)]

use loom::sync::Arc;
use loom::thread;
use ringspan::{MetricCells, Ring};

#[test]
fn a_lane_handed_over_loses_no_update_and_readings_only_grow() {
    loom::model(|| {
        let (ring, _consumer) = Ring::with_consumer(2, 0u32);
        let cells = Arc::new(MetricCells::new(8));
        let first = Ring::try_claim(&ring).unwrap();
        let a = {
            let cells = cells.clone();
            thread::spawn(move || {
                cells.add(1, 1, true);
                cells.add(1, 1, true);
                drop(first);
            })
        };
        let b = {
            let (cells, ring) = (cells.clone(), ring.clone());
            thread::spawn(move || {
                // The lane's next holder: claims once the first has let go.
                let claim = loop {
                    if let Some(c) = Ring::try_claim(&ring) {
                        break c;
                    }
                    thread::yield_now();
                };
                cells.add(1, 1, true);
                drop(claim);
            })
        };
        let (r1, r2) = (cells.get(1), cells.get(1));
        assert!(r1 <= r2 && r2 <= 3, "readings {r1} then {r2}");
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(cells.get(1), 3);
    });
}

#[test]
fn detached_writers_share_a_block_without_losing_an_update() {
    loom::model(|| {
        let cells = Arc::new(MetricCells::new(8));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let cells = cells.clone();
                thread::spawn(move || {
                    cells.add(2, 5, false);
                    cells.add_f64(3, 0.5, false);
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(cells.get(2), 10);
        assert_eq!(f64::from_bits(cells.get(3)), 1.0);
    });
}

#[test]
fn a_gauge_read_never_pairs_a_newer_stamp_with_an_older_value() {
    loom::model(|| {
        let cells = Arc::new(MetricCells::new(8));
        let w = {
            let cells = cells.clone();
            thread::spawn(move || {
                cells.set_gauge(4, 10, 1, true);
                cells.set_gauge(4, 20, 2, true);
            })
        };
        let (stamp, value) = cells.gauge(4);
        match stamp {
            0 => {}
            1 => assert!(value == 10 || value == 20, "stamp 1 with {value}"),
            2 => assert_eq!(value, 20),
            s => panic!("stamp {s}"),
        }
        w.join().unwrap();
        assert_eq!(cells.gauge(4), (2, 20));
    });
}

#[test]
fn two_detached_gauge_writers_leave_one_value_under_the_later_stamp() {
    loom::model(|| {
        let cells = Arc::new(MetricCells::new(8));
        let writers: Vec<_> = [(10u64, 1u64), (20, 2)]
            .into_iter()
            .map(|(v, stamp)| {
                let cells = cells.clone();
                thread::spawn(move || cells.set_gauge(4, v, stamp, false))
            })
            .collect();
        let (s1, _) = cells.gauge(4);
        let (s2, _) = cells.gauge(4);
        assert!(s1 <= s2, "the stamp went back: {s1} then {s2}");
        for w in writers {
            w.join().unwrap();
        }
        let (stamp, value) = cells.gauge(4);
        assert_eq!(stamp, 2);
        assert!(value == 10 || value == 20, "{value}");
    });
}
