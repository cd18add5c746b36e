//! The `tracing` layer's span table under loom: threads inserting, editing and removing keys
//! that share entries never touch one value at once (the race detector sees every access),
//! an edit that finds its entry busy is counted rather than lost, and a removed key's entry is
//! taken again. (Under loom a key probes 2 entries and a table has 2: every key collides.)
#![cfg(ringspan_loom)]

use std::num::NonZeroU64;

use loom::sync::Arc;
use loom::thread;
use ringspan::{SpanTable, TableMiss};

fn key(k: u64) -> NonZeroU64 {
    NonZeroU64::new(k).unwrap()
}

/// Each thread inserts its own key, edits it, reads its header and removes it; both fit.
#[test]
fn two_threads_use_their_own_keys_in_shared_entries() {
    loom::model(|| {
        let table = Arc::new(SpanTable::<u64>::new(1));
        let handles: Vec<_> = (1..=2u64)
            .map(|k| {
                let table = table.clone();
                thread::spawn(move || {
                    table.insert(key(k), [k; 4], k * 10).expect("room for both");
                    table
                        .with(key(k), 0, |v| *v += 1)
                        .expect("own key, never busy");
                    assert_eq!(table.header(key(k)), Some([k; 4]));
                    table.remove(key(k))
                })
            })
            .collect();
        for (k, h) in (1..=2u64).zip(handles) {
            assert_eq!(h.join().unwrap(), Some((k * 10 + 1, 0)));
        }
        assert!(table.is_empty());
    });
}

/// Two threads edit one key at once: each edit either runs or is counted in the tally that
/// `remove` hands back, so edits made + edits missed = edits tried.
#[test]
fn an_edit_that_finds_the_entry_busy_is_counted() {
    loom::model(|| {
        let table = Arc::new(SpanTable::<u64>::new(1));
        table.insert(key(7), [0; 4], 0).unwrap();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let table = table.clone();
                thread::spawn(move || match table.with(key(7), 1, |v| *v += 1) {
                    Ok(()) => {}
                    Err(miss) => assert_eq!(miss, TableMiss::Busy),
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let (edits, missed) = table.remove(key(7)).unwrap();
        assert_eq!(edits + missed, 2);
    });
}

/// One thread removes a key and inserts another into the freed entry while a second thread
/// edits a key that lives beside it: the second's value is untouched and both keys are found.
#[test]
fn a_freed_entry_is_taken_again_beside_a_live_one() {
    loom::model(|| {
        let table = Arc::new(SpanTable::<u64>::new(1));
        table.insert(key(1), [1; 4], 100).unwrap();
        table.insert(key(2), [2; 4], 200).unwrap();
        let churn = {
            let table = table.clone();
            thread::spawn(move || {
                assert_eq!(table.remove(key(1)), Some((100, 0)));
                table.insert(key(3), [3; 4], 300).expect("the freed entry");
            })
        };
        let edit = {
            let table = table.clone();
            thread::spawn(move || {
                table.with(key(2), 0, |v| *v += 1).expect("never busy");
                assert_eq!(table.header(key(2)), Some([2; 4]));
            })
        };
        churn.join().unwrap();
        edit.join().unwrap();
        assert_eq!(table.remove(key(2)), Some((201, 0)));
        assert_eq!(table.header(key(3)), Some([3; 4]));
        assert_eq!(table.remove(key(3)), Some((300, 0)));
        assert_eq!(table.with(key(1), 0, |_| ()), Err(TableMiss::Missing));
    });
}
