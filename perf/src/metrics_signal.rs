//! `--signal metrics`: each scheduled event also records [`METRIC_UPDATES`] metric updates
//! on the producer (six counter adds over three series, an up-down counter up and down, a
//! gauge set, a histogram record), exported every second to the embedded receiver's
//! `/v1/metrics`. At the end, the last export's cumulative values must be exactly what was
//! recorded, and every data point handed must be exported, rejected or dropped by reason
//! (a periodic export in flight when shutdown begins is given up and counted as
//! `shutdown`: the final export carries the same points, newer).

use ringspan::{Counter, Engine, Gauge, Histogram, Producer, UpDownCounter, ValueRef};
use ringspan_transport::{ExportCounts, Pipeline};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};

use crate::args::METRIC_UPDATES;

const VENUES: [&str; 3] = ["XNAS", "XNYS", "BATS"];

/// The harness's instruments, made once; each producer thread records on its own.
#[derive(Clone)]
pub struct Instruments {
    orders: [Counter; 3],
    open: UpDownCounter,
    price: Gauge,
    latency: Histogram,
}

impl Instruments {
    pub fn new(engine: &Engine) -> Result<Self, String> {
        let order = |venue: &'static str| {
            engine
                .metric("perf.orders")
                .unit("{order}")
                .attributes(&[("venue", ValueRef::Str(venue))])
                .counter()
        };
        let e = |e: ringspan::Error| e.to_string();
        Ok(Instruments {
            orders: [
                order(VENUES[0]).map_err(e)?,
                order(VENUES[1]).map_err(e)?,
                order(VENUES[2]).map_err(e)?,
            ],
            open: engine
                .metric("perf.orders.open")
                .up_down_counter()
                .map_err(e)?,
            price: engine.metric("perf.price").gauge().map_err(e)?,
            latency: engine
                .metric("perf.latency")
                .unit("us")
                .histogram()
                .map_err(e)?,
        })
    }

    /// Event `n`'s updates on `p`.
    #[inline(always)]
    pub fn record(&self, p: &Producer, n: u64) {
        for c in &self.orders {
            c.add(p, 1);
            c.add(p, 2);
        }
        self.open.add(p, 1);
        self.open.add(p, -1);
        self.price.set(p, 100.0 + (n % 16) as f64);
        self.latency.record(p, (n % 1000) as f64);
    }
}

/// What the metrics signal delivered, checked against `events` scheduled events.
pub struct Delivered {
    pub updates: u64,
    pub counts: ExportCounts,
    pub requests: usize,
    pub identity: Result<String, String>,
}

/// Checks the last export in `requests` against `events` events recorded, and the
/// exporter's counts.
pub fn check(
    pipeline: &Pipeline,
    requests: &[ExportMetricsServiceRequest],
    events: u64,
) -> Delivered {
    let counts = pipeline.metrics_counts().unwrap_or_default();
    let identity = (|| {
        let settled = counts.exported + counts.rejected + counts.dropped.total();
        if counts.handed != settled {
            return Err(format!(
                "metric points handed {} != exported + rejected + dropped {settled}: {counts:?}",
                counts.handed
            ));
        }
        let last = requests
            .iter()
            .rev()
            .find(|r| metric(r, "perf.orders").is_some())
            .ok_or("no export carried the instruments")?;
        let Some(Data::Sum(orders)) = metric(last, "perf.orders") else {
            return Err("perf.orders is not a sum".into());
        };
        if orders.data_points.len() != VENUES.len() {
            return Err(format!(
                "perf.orders has {} series",
                orders.data_points.len()
            ));
        }
        for p in &orders.data_points {
            let got = int(p.value);
            if got != 3 * events as i64 {
                return Err(format!(
                    "perf.orders series read {got}, {} recorded",
                    3 * events
                ));
            }
        }
        let Some(Data::Sum(open)) = metric(last, "perf.orders.open") else {
            return Err("perf.orders.open is not a sum".into());
        };
        if int(open.data_points[0].value) != 0 {
            return Err(format!(
                "perf.orders.open read {:?}, 0 recorded",
                open.data_points[0].value
            ));
        }
        let Some(Data::Histogram(h)) = metric(last, "perf.latency") else {
            return Err("perf.latency is not a histogram".into());
        };
        let p = &h.data_points[0];
        if p.count != events || p.bucket_counts.iter().sum::<u64>() != events {
            return Err(format!(
                "perf.latency counted {} ({:?}), {events} recorded",
                p.count, p.bucket_counts
            ));
        }
        Ok(format!(
            "the last export holds every metric update; points handed = exported {} + dropped {} ({} by a periodic export cut at shutdown, superseded by the final one)",
            counts.exported,
            counts.dropped.total(),
            counts.dropped.shutdown
        ))
    })();
    Delivered {
        updates: events * METRIC_UPDATES,
        counts,
        requests: requests.len(),
        identity,
    }
}

fn metric<'a>(r: &'a ExportMetricsServiceRequest, name: &str) -> Option<&'a Data> {
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .find(|m| m.name == name)
        .and_then(|m| m.data.as_ref())
}

fn int(v: Option<number_data_point::Value>) -> i64 {
    match v {
        Some(number_data_point::Value::AsInt(i)) => i,
        _ => i64::MIN,
    }
}
