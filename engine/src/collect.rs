//! The metrics counterpart of the drain: reading every block of metric cells and adding
//! them up into one value per series ([`crate::Engine::read_metrics`]).
//!
//! A reading runs on the exporter's thread, once per interval. It holds the registry's lock
//! while it reads (no instrument is made meanwhile; recording never takes that lock) and
//! reads each cell with one atomic load (see `produce/metric/cells.rs` for what a reading
//! taken while producers record sees).

use crate::produce::metric::cells::MetricCells;
use crate::produce::metric::registry::{InstrumentKind, Owned, Registry, INVALID_CELL};
use crate::produce::pool::Pool;
use crate::ValueRef;

/// Every instrument's series, added up over every producer, at one moment (see
/// [`crate::Engine::read_metrics`]); encoded as OTLP by [`crate::otlp::MetricsEncoder`].
#[derive(Debug, Default)]
pub struct MetricsReading {
    pub(crate) metrics: Vec<MetricReading>,
    pub(crate) invalid: u64,
    pub(crate) overflowed: u64,
}

/// One instrument's series.
#[derive(Debug)]
pub(crate) struct MetricReading {
    pub(crate) name: String,
    pub(crate) unit: String,
    pub(crate) description: String,
    pub(crate) kind: InstrumentKind,
    pub(crate) bounds: std::sync::Arc<[f64]>,
    pub(crate) series: Vec<SeriesReading>,
}

/// One series' value.
#[derive(Debug)]
pub(crate) struct SeriesReading {
    pub(crate) attributes: Vec<(String, Owned)>,
    /// Its first cell: tells series apart across readings.
    pub(crate) cell: usize,
    pub(crate) start_unix_nanos: u64,
    pub(crate) value: Reading,
}

/// A series' value, by kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reading {
    /// A counter's total, or an up-down counter's (as `i64` bits, wrapping).
    Sum(u64),
    /// The latest value set, if any.
    Gauge(Option<f64>),
    /// Counts per bucket (their sum is the count), the values' sum, min and max (`+inf`
    /// and `-inf` while empty).
    Histogram {
        buckets: Vec<u64>,
        sum: f64,
        min: f64,
        max: f64,
    },
}

impl MetricsReading {
    /// Histogram values that were not recorded because they were not finite.
    pub fn invalid(&self) -> u64 {
        self.invalid
    }

    /// Bindings past an instrument's [`crate::MAX_SERIES`] attribute sets, recorded under
    /// its overflow series.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// Series read (each one data point when exported).
    pub fn series(&self) -> usize {
        self.metrics.iter().map(|m| m.series.len()).sum()
    }

    /// The total of counter or up-down counter `name` over all its series (an up-down
    /// counter's as `i64` bits); `None` if there is no such sum.
    pub fn sum_of(&self, name: &str) -> Option<u64> {
        let m = self.metrics.iter().find(|m| m.name == name)?;
        let mut total = 0u64;
        for s in &m.series {
            let Reading::Sum(v) = s.value else {
                return None;
            };
            total = total.wrapping_add(v);
        }
        Some(total)
    }

    /// The value of series `attributes` of instrument `name` (see [`SeriesValue`]).
    pub fn value(&self, name: &str, attributes: &[(&str, ValueRef<'_>)]) -> Option<SeriesValue> {
        let m = self.metrics.iter().find(|m| m.name == name)?;
        let s = m.series.iter().find(|s| {
            s.attributes.len() == attributes.len()
                && attributes.iter().all(|(k, v)| {
                    s.attributes
                        .iter()
                        .any(|(sk, sv)| sk == k && sv.as_ref() == *v)
                })
        })?;
        Some(match (&s.value, m.kind) {
            (Reading::Sum(v), InstrumentKind::UpDownCounter) => SeriesValue::UpDown(*v as i64),
            (Reading::Sum(v), _) => SeriesValue::Count(*v),
            (Reading::Gauge(g), _) => SeriesValue::Gauge(*g),
            (
                Reading::Histogram {
                    buckets,
                    sum,
                    min,
                    max,
                },
                _,
            ) => {
                let count = buckets.iter().sum();
                // Once a value is in them (they are written after its bucket).
                let seen = count > 0 && min.is_finite() && max.is_finite() && min <= max;
                SeriesValue::Histogram {
                    count,
                    sum: *sum,
                    buckets: buckets.clone(),
                    min: seen.then_some(*min),
                    max: seen.then_some(*max),
                }
            }
        })
    }
}

/// One series' value, as [`MetricsReading::value`] returns it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SeriesValue {
    /// A counter's total.
    Count(u64),
    /// An up-down counter's total.
    UpDown(i64),
    /// A gauge's latest value, if one was set.
    Gauge(Option<f64>),
    /// A histogram.
    Histogram {
        /// Values recorded.
        count: u64,
        /// Their sum.
        sum: f64,
        /// Values per bucket, as OTLP lays them out (one more than the bounds).
        buckets: Vec<u64>,
        /// The smallest value, if any was recorded.
        min: Option<f64>,
        /// The largest value, if any was recorded.
        max: Option<f64>,
    },
}

/// Reads `pool`'s instruments.
pub(crate) fn read(pool: &Pool) -> MetricsReading {
    let registry: std::sync::MutexGuard<'_, Registry> =
        pool.metrics.lock().unwrap_or_else(|e| e.into_inner());
    let blocks: Vec<&MetricCells> = pool
        .lanes
        .iter()
        .map(|l| &l.metrics)
        .chain(std::iter::once(&pool.shared_cells))
        .collect();
    let mut reading = MetricsReading {
        invalid: blocks
            .iter()
            .fold(0u64, |n, b| n.wrapping_add(b.get(INVALID_CELL))),
        ..MetricsReading::default()
    };
    for i in &registry.instruments {
        reading.overflowed += i.overflowed;
        let series = i
            .series
            .iter()
            .map(|s| SeriesReading {
                attributes: s.attributes.clone(),
                cell: s.cell,
                start_unix_nanos: s.start_unix_nanos,
                value: value(i.kind, i.bounds.len(), s.cell, &blocks),
            })
            .collect();
        reading.metrics.push(MetricReading {
            name: i.name.clone(),
            unit: i.unit.clone(),
            description: i.description.clone(),
            kind: i.kind,
            bounds: std::sync::Arc::clone(&i.bounds),
            series,
        });
    }
    reading
}

/// The value of the series at `cell` of a `kind` instrument, added up over `blocks`.
fn value(kind: InstrumentKind, bounds: usize, cell: usize, blocks: &[&MetricCells]) -> Reading {
    match kind {
        InstrumentKind::Counter | InstrumentKind::UpDownCounter => {
            Reading::Sum(blocks.iter().fold(0u64, |n, b| n.wrapping_add(b.get(cell))))
        }
        InstrumentKind::Gauge => {
            let latest = blocks
                .iter()
                .map(|b| b.gauge(cell))
                .filter(|&(stamp, _)| stamp != 0)
                .max_by_key(|&(stamp, _)| stamp);
            Reading::Gauge(latest.map(|(_, bits)| f64::from_bits(bits)))
        }
        InstrumentKind::Histogram => {
            let n = bounds + 1;
            let mut buckets = vec![0u64; n];
            let (mut sum, mut min, mut max) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
            for b in blocks {
                for (j, c) in buckets.iter_mut().enumerate() {
                    *c = c.wrapping_add(b.get(cell + j));
                }
                sum += f64::from_bits(b.get(cell + n));
                min = min.min(f64::from_bits(b.get(cell + n + 1)));
                max = max.max(f64::from_bits(b.get(cell + n + 2)));
            }
            Reading::Histogram {
                buckets,
                sum,
                min,
                max,
            }
        }
    }
}
