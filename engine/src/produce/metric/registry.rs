//! The engine's instruments and their series: made once, under a lock, never on the
//! recording path.
//!
//! An instrument is a name with a kind, a unit, a description (and a histogram's bucket
//! bounds); a series is one of its attribute sets, with its cells (`cells.rs`) and the time
//! it was bound (the start of its cumulative points). Binding the same name and attributes
//! again returns the same series. An instrument holds at most [`MAX_SERIES`] attribute sets;
//! past that, bindings share one overflow series, attributed `otel.metric.overflow = true`
//! (as the OpenTelemetry SDKs' cardinality limit does), and are counted.

use crate::error::Error;
use crate::model::value::ValueRef;

use super::cells::{MetricCells, MAX_START, MIN_START};

/// Attribute sets one instrument may hold (besides its overflow series).
pub const MAX_SERIES: usize = 32;

/// Cell 0 of every block counts measurements that were not recorded (a histogram value that
/// is not finite); series start at 1.
pub(crate) const INVALID_CELL: usize = 0;

/// What an instrument aggregates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstrumentKind {
    /// A monotonic `u64` sum.
    Counter,
    /// An `i64` sum that goes up and down.
    UpDownCounter,
    /// The last `f64` value set.
    Gauge,
    /// `f64` values counted in explicit buckets, with their sum, min and max.
    Histogram,
}

/// An attribute value a series keeps.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Owned {
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
}

impl Owned {
    fn of(v: ValueRef<'_>) -> Self {
        match v {
            ValueRef::I64(v) => Owned::I64(v),
            ValueRef::F64(v) => Owned::F64(v),
            ValueRef::Bool(v) => Owned::Bool(v),
            ValueRef::Str(s) => Owned::Str(s.to_owned()),
        }
    }

    pub(crate) fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Owned::I64(v) => ValueRef::I64(*v),
            Owned::F64(v) => ValueRef::F64(*v),
            Owned::Bool(v) => ValueRef::Bool(*v),
            Owned::Str(s) => ValueRef::Str(s),
        }
    }
}

/// One attribute set of an instrument.
pub(crate) struct Series {
    pub(crate) attributes: Vec<(String, Owned)>,
    /// Its first cell.
    pub(crate) cell: usize,
    /// When it was bound, in Unix nanoseconds: the start of its cumulative points.
    pub(crate) start_unix_nanos: u64,
}

/// One instrument.
pub(crate) struct Instrument {
    pub(crate) name: String,
    pub(crate) unit: String,
    pub(crate) description: String,
    pub(crate) kind: InstrumentKind,
    /// A histogram's bucket upper bounds, ascending (empty for the other kinds).
    pub(crate) bounds: std::sync::Arc<[f64]>,
    /// Its attribute sets, the overflow series (if any) among them.
    pub(crate) series: Vec<Series>,
    /// Bindings past [`MAX_SERIES`], given the overflow series.
    pub(crate) overflowed: u64,
}

/// Cells a series of `kind` takes: one for a sum, value and stamp for a gauge, and for a
/// histogram one per bucket (`bounds + 1`) then sum, min and max.
pub(crate) fn width(kind: InstrumentKind, bounds: usize) -> usize {
    match kind {
        InstrumentKind::Counter | InstrumentKind::UpDownCounter => 1,
        InstrumentKind::Gauge => 2,
        InstrumentKind::Histogram => bounds + 4,
    }
}

/// What an instrument is asked to be (see [`crate::Engine::metric`]).
pub(crate) struct Spec<'a> {
    pub(crate) name: &'a str,
    pub(crate) unit: &'a str,
    pub(crate) description: &'a str,
    pub(crate) kind: InstrumentKind,
    pub(crate) bounds: &'a [f64],
    pub(crate) attributes: &'a [(&'a str, ValueRef<'a>)],
}

/// Every instrument of an engine, and the cells handed out so far.
pub(crate) struct Registry {
    pub(crate) instruments: Vec<Instrument>,
    next_cell: usize,
    capacity: usize,
}

/// A series just bound: its first cell, and its instrument's bucket bounds.
pub(crate) struct Bound {
    pub(crate) cell: usize,
    pub(crate) bounds: std::sync::Arc<[f64]>,
}

impl Registry {
    /// An empty registry handing out cells `1..capacity`.
    pub(crate) fn new(capacity: usize) -> Self {
        Registry {
            instruments: Vec::new(),
            next_cell: INVALID_CELL + 1,
            capacity,
        }
    }

    /// The series `spec` asks for, made if it is new, its cells set to their start in every
    /// block of `blocks`.
    ///
    /// # Errors
    /// A name that is empty or already an instrument of another kind, unit or bounds; bounds
    /// that are not finite and strictly ascending; no cells left.
    pub(crate) fn bind<'b>(
        &mut self,
        spec: &Spec<'_>,
        now_unix_nanos: u64,
        blocks: impl Iterator<Item = &'b MetricCells>,
    ) -> Result<Bound, Error> {
        if spec.name.is_empty() {
            return Err(Error::config("metric name", "\"\"", "must not be empty"));
        }
        if spec.kind == InstrumentKind::Histogram {
            check_bounds(spec.name, spec.bounds)?;
        }
        let existing = self.instruments.iter().position(|i| i.name == spec.name);
        if let Some(at) = existing {
            let i = &self.instruments[at];
            if i.kind != spec.kind
                || i.unit != spec.unit
                || (i.kind == InstrumentKind::Histogram && *i.bounds != *spec.bounds)
            {
                return Err(Error::config(
                    format!("metric {}", spec.name),
                    format!("{:?} in {:?}", spec.kind, spec.unit),
                    format!(
                        "already an instrument of kind {:?} in {:?}{}",
                        i.kind,
                        i.unit,
                        if i.kind == InstrumentKind::Histogram {
                            format!(" with bounds {:?}", i.bounds)
                        } else {
                            String::new()
                        }
                    ),
                ));
            }
        }
        let bounds: std::sync::Arc<[f64]> = match existing {
            Some(at) => std::sync::Arc::clone(&self.instruments[at].bounds),
            None if spec.kind == InstrumentKind::Histogram => spec.bounds.into(),
            None => std::sync::Arc::from([]),
        };
        let mut attributes: Vec<(String, Owned)> = spec
            .attributes
            .iter()
            .map(|&(k, v)| (k.to_owned(), Owned::of(v)))
            .collect();
        // One set whatever the order it was given in; a key given twice keeps its last value.
        attributes.reverse();
        attributes.sort_by(|a, b| a.0.cmp(&b.0));
        attributes.dedup_by(|a, b| a.0 == b.0);
        let overflow = vec![("otel.metric.overflow".to_owned(), Owned::Bool(true))];
        let series: &[Series] = existing.map_or(&[], |at| &self.instruments[at].series);
        if let Some(s) = series.iter().find(|s| s.attributes == attributes) {
            return Ok(Bound {
                cell: s.cell,
                bounds,
            });
        }
        let overflowing = series.len() >= MAX_SERIES;
        if overflowing {
            if let Some(s) = series.iter().find(|s| s.attributes == overflow) {
                let cell = s.cell;
                if let Some(at) = existing {
                    self.instruments[at].overflowed += 1;
                }
                return Ok(Bound { cell, bounds });
            }
        }
        // A new series: its cells first, so that a bind that fails changes nothing.
        let width = width(spec.kind, bounds.len());
        let cell = self.next_cell;
        let left = self.capacity.saturating_sub(cell);
        if left < width {
            return Err(Error::config(
                "EngineConfig::metric_cells",
                self.capacity,
                format!(
                    "metric {} needs {width} more cells and {left} are left: raise metric_cells",
                    spec.name
                ),
            ));
        }
        self.next_cell += width;
        if spec.kind == InstrumentKind::Histogram {
            let n = bounds.len() + 1;
            for b in blocks {
                b.init(cell + n + 1, MIN_START);
                b.init(cell + n + 2, MAX_START);
            }
        }
        let at = match existing {
            Some(at) => at,
            None => {
                self.instruments.push(Instrument {
                    name: spec.name.to_owned(),
                    unit: spec.unit.to_owned(),
                    description: spec.description.to_owned(),
                    kind: spec.kind,
                    bounds: std::sync::Arc::clone(&bounds),
                    series: Vec::new(),
                    overflowed: 0,
                });
                self.instruments.len() - 1
            }
        };
        let instrument = &mut self.instruments[at];
        instrument.overflowed += u64::from(overflowing);
        instrument.series.push(Series {
            attributes: if overflowing { overflow } else { attributes },
            cell,
            start_unix_nanos: now_unix_nanos,
        });
        Ok(Bound { cell, bounds })
    }
}

/// Checks a histogram's bounds: finite and strictly ascending.
fn check_bounds(name: &str, bounds: &[f64]) -> Result<(), Error> {
    let finite = bounds.iter().all(|b| b.is_finite());
    let ascending = bounds.windows(2).all(|w| w[0] < w[1]);
    if finite && ascending {
        return Ok(());
    }
    Err(Error::config(
        format!("histogram {name} bounds"),
        format!("{bounds:?}"),
        "must be finite and strictly ascending",
    ))
}
