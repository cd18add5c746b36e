//! The engine's instruments as OTLP metrics: a [`MetricsReading`] written into a
//! [`MetricsRequest`], cumulative or delta.
//!
//! | instrument | cumulative (default) | delta, lowmemory |
//! |---|---|---|
//! | counter | monotonic cumulative sum | monotonic delta sum |
//! | up-down counter | cumulative sum | cumulative sum |
//! | gauge | gauge | gauge |
//! | histogram | cumulative histogram, with min and max | delta histogram, without min and max |
//!
//! (OTLP's `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`: `lowmemory` differs from
//! `delta` only for asynchronous counters, which ringspan does not have.) A cumulative point
//! starts when its series was bound, at every export. A delta point covers the time since
//! the previous export that carried it; the encoder keeps what each series had then. A
//! delta histogram has no min and max: the cells keep them over the series' whole life
//! (nothing ever resets a cell). A delta sum of a histogram is the difference of two `f64`
//! totals, so it carries their rounding. A point never starts after its own time (a series
//! bound while the reading was taken starts at the reading).
//!
//! A series with nothing in it (a gauge never set) is left out, and so is a metric with no
//! point.

use std::collections::HashMap;

use super::metrics::{
    HistogramPoint, MetricMeta, MetricsRequest, Number, NumberPoint, Temporality,
};
use crate::collect::{MetricsReading, Reading};
use crate::produce::metric::registry::InstrumentKind;
use crate::ValueRef;

/// The temporality an exporter asks for (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TemporalityPreference {
    /// Every point from its series' start (the default).
    #[default]
    Cumulative,
    /// Counters and histograms as deltas since the previous export.
    Delta,
    /// As `Delta` here (see the module docs).
    LowMemory,
}

impl TemporalityPreference {
    /// The preference named `v` (case-insensitive: `cumulative`, `delta`, `lowmemory`).
    pub fn parse(v: &str) -> Option<Self> {
        match v.trim().to_ascii_lowercase().as_str() {
            "cumulative" => Some(Self::Cumulative),
            "delta" => Some(Self::Delta),
            "lowmemory" => Some(Self::LowMemory),
            _ => None,
        }
    }
}

/// What a delta export remembers of a series: its values and the time of the export.
#[derive(Clone)]
struct Last {
    at: u64,
    value: Reading,
}

/// Writes readings into requests, keeping what delta points need between exports. See the
/// module docs.
pub struct MetricsEncoder {
    preference: TemporalityPreference,
    last: HashMap<usize, Last>,
}

impl MetricsEncoder {
    /// An encoder for `preference`.
    pub fn new(preference: TemporalityPreference) -> Self {
        MetricsEncoder {
            preference,
            last: HashMap::new(),
        }
    }

    /// Writes `reading`, read at `now_unix_nanos`, into `req` (under its current scope).
    pub fn encode(
        &mut self,
        reading: &MetricsReading,
        req: &mut MetricsRequest,
        now_unix_nanos: u64,
    ) {
        let delta = self.preference != TemporalityPreference::Cumulative;
        for m in &reading.metrics {
            let meta = MetricMeta {
                name: &m.name,
                description: &m.description,
                unit: &m.unit,
            };
            let attrs: Vec<Vec<(&str, ValueRef<'_>)>> = m
                .series
                .iter()
                .map(|s| {
                    s.attributes
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_ref()))
                        .collect()
                })
                .collect();
            let series_delta =
                delta && matches!(m.kind, InstrumentKind::Counter | InstrumentKind::Histogram);
            // The start and the value to write for each series, the delta one taken from
            // what the last export had.
            let mut points = Vec::with_capacity(m.series.len());
            for s in &m.series {
                let (start, value) = if series_delta {
                    let last = self.last.insert(
                        s.cell,
                        Last {
                            at: now_unix_nanos,
                            value: s.value.clone(),
                        },
                    );
                    match last {
                        Some(l) => (l.at, minus(&s.value, &l.value)),
                        None => (s.start_unix_nanos, s.value.clone()),
                    }
                } else {
                    (s.start_unix_nanos, s.value.clone())
                };
                points.push((start.min(now_unix_nanos), value));
            }
            let temporality = if series_delta {
                Temporality::Delta
            } else {
                Temporality::Cumulative
            };
            match m.kind {
                InstrumentKind::Counter | InstrumentKind::UpDownCounter => {
                    let counter = m.kind == InstrumentKind::Counter;
                    let ps: Vec<NumberPoint<'_>> = points
                        .iter()
                        .zip(&attrs)
                        .filter_map(|((start, v), a)| match v {
                            Reading::Sum(n) => Some(NumberPoint {
                                attributes: a,
                                start_unix_nanos: *start,
                                time_unix_nanos: now_unix_nanos,
                                value: if counter {
                                    Number::U64(*n)
                                } else {
                                    Number::I64(*n as i64)
                                },
                            }),
                            _ => None,
                        })
                        .collect();
                    if !ps.is_empty() {
                        req.sum(&meta, temporality, counter, &ps);
                    }
                }
                InstrumentKind::Gauge => {
                    let ps: Vec<NumberPoint<'_>> = points
                        .iter()
                        .zip(&attrs)
                        .filter_map(|((_, v), a)| match v {
                            Reading::Gauge(Some(g)) => Some(NumberPoint {
                                attributes: a,
                                start_unix_nanos: 0,
                                time_unix_nanos: now_unix_nanos,
                                value: Number::F64(*g),
                            }),
                            _ => None,
                        })
                        .collect();
                    if !ps.is_empty() {
                        req.gauge(&meta, &ps);
                    }
                }
                InstrumentKind::Histogram => {
                    let ps: Vec<HistogramPoint<'_>> = points
                        .iter()
                        .zip(&attrs)
                        .filter_map(|((start, v), a)| match v {
                            Reading::Histogram {
                                buckets,
                                sum,
                                min,
                                max,
                            } => {
                                let count: u64 = buckets.iter().sum();
                                // Min and max once a value is in all three cells (they are
                                // written after its bucket).
                                let seen = count > 0
                                    && !series_delta
                                    && min.is_finite()
                                    && max.is_finite()
                                    && min <= max;
                                Some(HistogramPoint {
                                    attributes: a,
                                    start_unix_nanos: *start,
                                    time_unix_nanos: now_unix_nanos,
                                    count,
                                    sum: Some(*sum),
                                    bounds: &m.bounds,
                                    bucket_counts: buckets,
                                    min: seen.then_some(*min),
                                    max: seen.then_some(*max),
                                })
                            }
                            _ => None,
                        })
                        .collect();
                    if !ps.is_empty() {
                        req.histogram(&meta, temporality, &ps);
                    }
                }
            }
        }
    }
}

/// `now - then` for one series (counts wrap as the cells do).
fn minus(now: &Reading, then: &Reading) -> Reading {
    match (now, then) {
        (Reading::Sum(a), Reading::Sum(b)) => Reading::Sum(a.wrapping_sub(*b)),
        (
            Reading::Histogram {
                buckets,
                sum,
                min,
                max,
            },
            Reading::Histogram {
                buckets: old,
                sum: old_sum,
                ..
            },
        ) => Reading::Histogram {
            buckets: buckets
                .iter()
                .zip(old)
                .map(|(a, b)| a.wrapping_sub(*b))
                .collect(),
            sum: sum - old_sum,
            min: *min,
            max: *max,
        },
        _ => now.clone(),
    }
}
