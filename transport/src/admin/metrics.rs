//! `/metrics`: the pipeline's families (`crate::observe`, where the table of names is)
//! written in the OpenMetrics text format by `prometheus-client`. A family's Prometheus name
//! gets its unit (`_seconds`, `_bytes`) and, for a counter, `_total`; label keys get `_` for
//! `.` (`error.type` is `error_type`).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit as PromUnit};

use crate::observe::families::{read, Family, Unit, Value};
use crate::observe::HeapStats;
use crate::Pipeline;

/// The Prometheus unit suffix of a family's unit, if it has one.
pub(super) fn prom_unit(u: Unit) -> Option<PromUnit> {
    match u {
        Unit::Seconds => Some(PromUnit::Seconds),
        Unit::Bytes => Some(PromUnit::Bytes),
        Unit::Items(_) => None,
    }
}

/// A label key as Prometheus allows it.
pub(super) fn prom_label(k: &str) -> String {
    k.replace('.', "_")
}

/// The families as a `prometheus-client` collector.
#[derive(Debug)]
struct Families(Vec<Family>);

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for f in &self.0 {
            let kind = match f.series.first() {
                Some((_, Value::Count(_))) => ConstCounter::new(0u64).metric_type(),
                _ => ConstGauge::new(0.0f64).metric_type(),
            };
            let unit = prom_unit(f.unit);
            let mut family = encoder.encode_descriptor(f.prom, f.help, unit.as_ref(), kind)?;
            for (labels, value) in &f.series {
                let labels: Vec<(String, &str)> = labels
                    .iter()
                    .map(|(k, v)| (prom_label(k), v.as_str()))
                    .collect();
                let series = family.encode_family(&labels)?;
                match *value {
                    Value::Count(n) => ConstCounter::new(n).encode(series)?,
                    Value::Gauge(v) => ConstGauge::new(v).encode(series)?,
                }
            }
        }
        Ok(())
    }
}

/// `pipeline`'s figures now (and the counting allocator's, if given), in the OpenMetrics text
/// format: what `GET /metrics` answers.
pub(super) fn render(pipeline: &Pipeline, heap: Option<&dyn HeapStats>) -> String {
    let core = pipeline.core();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families(read(core, core.observer(), heap))));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}
