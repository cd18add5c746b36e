//! Metrics: counters, up-down counters, gauges and histograms recorded into per-lane cells.
//!
//! An instrument is made once ([`crate::Engine::metric`]) with its name, unit, description
//! and one attribute set, and the handle it returns is bound to that set: recording is one
//! to four stores into the cells of the producer's own lane (`cells.rs`), with no lookup,
//! no shared atomic, no allocation and no lock. Another attribute set of the same
//! instrument is another handle ([`MAX_SERIES`] of them, then the overflow series, see
//! `registry.rs`). The exporter reads every lane's cells on its interval and adds them up
//! ([`crate::Engine::read_metrics`], `collect.rs`).
//!
//! | handle | records | cells per series |
//! |---|---|---|
//! | [`Counter`] | `u64` added (a monotonic sum) | 1 |
//! | [`UpDownCounter`] | `i64` added (a sum) | 1 |
//! | [`Gauge`] | the last `f64` set | 2 (value, stamp) |
//! | [`Histogram`] | `f64` values in explicit buckets, with sum, min and max | bounds + 4 |
//!
//! Each call takes the producer to record on ([`Counter::add`]): a producer with a ring
//! (pinned or not) writes only its lane's cells. The `_local` forms record on the thread's producer
//! ([`crate::Engine::with_local`]). A producer without a ring (detached) records into one
//! block the engine shares between such threads, with atomic read-modify-writes: slower,
//! never lost. A histogram value that is not finite is not recorded; it is counted
//! ([`crate::MetricsReading::invalid`]).

pub(crate) mod cells;
pub(crate) mod registry;

use super::local;
use super::pool::Pool;
use super::producer::Producer;
use crate::error::Error;
use crate::model::value::ValueRef;
use crate::sync::Arc;
use cells::MetricCells;
use registry::{InstrumentKind, Spec, INVALID_CELL};

/// The bucket bounds a histogram gets unless it is given others: the OpenTelemetry SDKs'
/// default (`0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000`).
pub const DEFAULT_BOUNDS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// An instrument being described (see [`crate::Engine::metric`]); one of its last calls
/// makes it.
#[must_use = "an instrument is made by its counter, up_down_counter, gauge or histogram call"]
pub struct MetricBuilder<'e, 'a> {
    pool: &'e Arc<Pool>,
    name: &'a str,
    unit: &'a str,
    description: &'a str,
    attributes: &'a [(&'a str, ValueRef<'a>)],
    bounds: &'a [f64],
}

impl<'e, 'a> MetricBuilder<'e, 'a> {
    pub(crate) fn new(pool: &'e Arc<Pool>, name: &'a str) -> Self {
        MetricBuilder {
            pool,
            name,
            unit: "",
            description: "",
            attributes: &[],
            bounds: &DEFAULT_BOUNDS,
        }
    }

    /// Its unit (UCUM, as the semantic conventions write them: `s`, `By`, `{request}`).
    pub fn unit(mut self, unit: &'a str) -> Self {
        self.unit = unit;
        self
    }

    /// What it measures, for a person.
    pub fn description(mut self, description: &'a str) -> Self {
        self.description = description;
        self
    }

    /// The attribute set the handle records under (none by default).
    pub fn attributes(mut self, attributes: &'a [(&'a str, ValueRef<'a>)]) -> Self {
        self.attributes = attributes;
        self
    }

    /// A histogram's bucket upper bounds, finite and strictly ascending (default
    /// [`DEFAULT_BOUNDS`]); an empty list keeps only the count, sum, min and max.
    pub fn bounds(mut self, bounds: &'a [f64]) -> Self {
        self.bounds = bounds;
        self
    }

    fn bind(&self, kind: InstrumentKind) -> Result<(u32, std::sync::Arc<[f64]>), Error> {
        let spec = Spec {
            name: self.name,
            unit: self.unit,
            description: self.description,
            kind,
            bounds: self.bounds,
            attributes: self.attributes,
        };
        let bound = self.pool.bind_metric(&spec)?;
        Ok((bound.cell as u32, bound.bounds))
    }

    /// A [`Counter`].
    ///
    /// # Errors
    /// An empty name; a name already made as another kind or unit; no cells left
    /// ([`crate::EngineConfig::metric_cells`]).
    pub fn counter(self) -> Result<Counter, Error> {
        let (cell, _) = self.bind(InstrumentKind::Counter)?;
        Ok(Counter {
            pool: Arc::clone(self.pool),
            cell,
        })
    }

    /// An [`UpDownCounter`].
    ///
    /// # Errors
    /// As for [`MetricBuilder::counter`].
    pub fn up_down_counter(self) -> Result<UpDownCounter, Error> {
        let (cell, _) = self.bind(InstrumentKind::UpDownCounter)?;
        Ok(UpDownCounter {
            pool: Arc::clone(self.pool),
            cell,
        })
    }

    /// A [`Gauge`].
    ///
    /// # Errors
    /// As for [`MetricBuilder::counter`].
    pub fn gauge(self) -> Result<Gauge, Error> {
        let (cell, _) = self.bind(InstrumentKind::Gauge)?;
        Ok(Gauge {
            pool: Arc::clone(self.pool),
            cell,
        })
    }

    /// A [`Histogram`].
    ///
    /// # Errors
    /// As for [`MetricBuilder::counter`], and bounds that are not finite and strictly
    /// ascending, or not the bounds the instrument was made with.
    pub fn histogram(self) -> Result<Histogram, Error> {
        let (cell, bounds) = self.bind(InstrumentKind::Histogram)?;
        // Padded to a power of two with bounds no finite value is above.
        let padded = bounds.len().max(1).next_power_of_two();
        let padded = (0..padded).map(|i| bounds.get(i).copied().unwrap_or(f64::INFINITY));
        Ok(Histogram {
            pool: Arc::clone(self.pool),
            cell,
            buckets: bounds.len() as u32 + 1,
            bounds: padded.collect(),
        })
    }
}

/// A monotonic sum of `u64` under one attribute set. See the module docs.
///
/// # Examples
/// ```
/// use ringspan::{Discard, Engine, EngineConfig, ValueRef};
/// let engine = Engine::start(EngineConfig::default().rings(1), Discard::default()).unwrap();
/// let orders = engine
///     .metric("orders")
///     .unit("{order}")
///     .attributes(&[("venue", ValueRef::Str("XNAS"))])
///     .counter()
///     .unwrap();
/// let producer = engine.producer().unwrap();
/// orders.add(&producer, 3);
/// orders.add_local(1); // on this thread's producer: the same one here
/// assert_eq!(engine.read_metrics().sum_of("orders"), Some(4));
/// ```
#[derive(Clone)]
pub struct Counter {
    pool: Arc<Pool>,
    cell: u32,
}

/// A sum of `i64` that goes up and down, under one attribute set.
#[derive(Clone)]
pub struct UpDownCounter {
    pool: Arc<Pool>,
    cell: u32,
}

/// The last `f64` set, under one attribute set; the latest over every producer is exported.
#[derive(Clone)]
pub struct Gauge {
    pool: Arc<Pool>,
    cell: u32,
}

/// `f64` values counted in explicit buckets, under one attribute set.
#[derive(Clone)]
pub struct Histogram {
    pool: Arc<Pool>,
    cell: u32,
    /// Its buckets: one more than its bounds.
    buckets: u32,
    /// Upper bounds, ascending: value `v` goes to the first bucket whose bound is `>= v`
    /// (OpenTelemetry's `(lower, upper]`), or the last. Padded with `+inf` to a power of
    /// two.
    bounds: Box<[f64]>,
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter").field("cell", &self.cell).finish()
    }
}

impl std::fmt::Debug for UpDownCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpDownCounter")
            .field("cell", &self.cell)
            .finish()
    }
}

impl std::fmt::Debug for Gauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gauge").field("cell", &self.cell).finish()
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("cell", &self.cell)
            .field("bounds", &&self.bounds[..self.buckets as usize - 1])
            .finish()
    }
}

impl Counter {
    /// Adds `n`, on `producer`'s lane.
    #[inline]
    pub fn add(&self, producer: &Producer, n: u64) {
        let (cells, owned) = producer.metric_cells(&self.pool);
        cells.add(self.cell as usize, n, owned);
    }

    /// Adds `n` on this thread's producer.
    #[inline]
    pub fn add_local(&self, n: u64) {
        local::with_local(&self.pool, |p| self.add(p, n));
    }
}

impl UpDownCounter {
    /// Adds `n` (negative to subtract), on `producer`'s lane.
    #[inline]
    pub fn add(&self, producer: &Producer, n: i64) {
        let (cells, owned) = producer.metric_cells(&self.pool);
        cells.add(self.cell as usize, n as u64, owned);
    }

    /// Adds `n` on this thread's producer.
    #[inline]
    pub fn add_local(&self, n: i64) {
        local::with_local(&self.pool, |p| self.add(p, n));
    }
}

impl Gauge {
    /// Sets the gauge to `v`, on `producer`'s lane (one clock read: the latest value over
    /// every lane wins).
    #[inline]
    pub fn set(&self, producer: &Producer, v: f64) {
        let (cells, owned) = producer.metric_cells(&self.pool);
        let stamp = self.pool.clock.now().max(1);
        cells.set_gauge(self.cell as usize, v.to_bits(), stamp, owned);
    }

    /// Sets the gauge on this thread's producer.
    #[inline]
    pub fn set_local(&self, v: f64) {
        local::with_local(&self.pool, |p| self.set(p, v));
    }
}

impl Histogram {
    /// Records `v`, on `producer`'s lane. A value that is not finite is counted as invalid
    /// and not recorded.
    #[inline]
    pub fn record(&self, producer: &Producer, v: f64) {
        // One branch on who writes, then the path for it.
        match producer.metric_cells(&self.pool) {
            (cells, true) => self.record_into::<true>(cells, v),
            (cells, false) => self.record_into::<false>(cells, v),
        }
    }

    /// [`Histogram::record`] into `cells`, of which this thread is the only writer if
    /// `OWNED`.
    #[inline(always)]
    fn record_into<const OWNED: bool>(&self, cells: &MetricCells, v: f64) {
        let owned = OWNED;
        if !v.is_finite() {
            cells.add(INVALID_CELL, 1, owned);
            return;
        }
        let buckets = self.buckets as usize;
        let Some(series) = cells.range(self.cell as usize, buckets + 3) else {
            return;
        };
        let (counts, stats) = series.split_at(buckets);
        // The bounds below `v`, which is its bucket: a binary search without branches
        // (a compare and a conditional move per step, over bounds padded to a power of
        // two), which no pattern of values makes mispredict.
        let b = &self.bounds;
        let mut bucket = 0;
        let mut step = b.len() / 2;
        while step > 0 {
            // `bucket + step - 1 < b.len()`: `bucket` is a sum of larger steps.
            let below = b.get(bucket + step - 1).is_some_and(|&x| x < v);
            bucket += if below { step } else { 0 };
            step /= 2;
        }
        bucket += usize::from(b.get(bucket).is_some_and(|&x| x < v));
        if let Some(c) = counts.get(bucket) {
            cells::add(c, 1, owned);
        }
        if let [sum, min, max] = stats {
            cells::add_f64(sum, v, owned);
            // Stored only when they change, which is rare once a few values are in: a
            // predictable branch, and no store for the next record's load to wait on.
            cells::lower_f64(min, v, owned);
            cells::raise_f64(max, v, owned);
        }
    }

    /// Records `v` on this thread's producer.
    #[inline]
    pub fn record_local(&self, v: f64) {
        local::with_local(&self.pool, |p| self.record(p, v));
    }
}
