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
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
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
    let counts = pipeline.metrics_counts();
    let identity = (|| {
        let counts = counts.ok_or("the metrics exporter did not run")?;
        let settled = counts.exported + counts.rejected + counts.dropped.total();
        if counts.handed != settled {
            return Err(format!(
                "metric points handed {} != exported + rejected + dropped {settled}: {counts:?}",
                counts.handed
            ));
        }
        // The embedded receiver refuses nothing: the only loss allowed is a periodic export
        // given up at shutdown, whose points the final one carries again.
        if counts.rejected != 0 || counts.dropped.total() != counts.dropped.shutdown {
            return Err(format!("metric points lost: {counts:?}"));
        }
        let kept: u64 = requests.iter().map(points).sum();
        if kept < counts.exported || kept > counts.exported + counts.dropped.shutdown {
            return Err(format!(
                "the receiver kept {kept} points, the exporter exported {} and gave up {}",
                counts.exported, counts.dropped.shutdown
            ));
        }
        // The last export by its points' time (a request given up may still have arrived
        // after the final one); none may hold more than was recorded.
        let mut last = None;
        for r in requests {
            let Some(Data::Sum(orders)) = metric(r, "perf.orders") else {
                continue;
            };
            for p in &orders.data_points {
                if int(p.value) > 3 * events as i64 {
                    return Err(format!(
                        "perf.orders read {:?}, more than recorded",
                        p.value
                    ));
                }
            }
            let at = orders.data_points.first().map_or(0, |p| p.time_unix_nano);
            if last.is_none_or(|(t, _)| at > t) {
                last = Some((at, r));
            }
        }
        let (_, last) = last.ok_or("no export carried the instruments")?;
        let Some(Data::Sum(orders)) = metric(last, "perf.orders") else {
            return Err("perf.orders is not a sum".into());
        };
        let mut venues: Vec<String> = Vec::new();
        for p in &orders.data_points {
            let got = int(p.value);
            if got != 3 * events as i64 {
                return Err(format!(
                    "perf.orders series read {got}, {} recorded",
                    3 * events
                ));
            }
            for kv in &p.attributes {
                if let Some(AnyValue {
                    value: Some(any_value::Value::StringValue(v)),
                }) = &kv.value
                {
                    venues.push(format!("{}={v}", kv.key));
                }
            }
        }
        venues.sort();
        let mut want: Vec<String> = VENUES.iter().map(|v| format!("venue={v}")).collect();
        want.sort();
        if venues != want {
            return Err(format!("perf.orders series {venues:?}, recorded {want:?}"));
        }
        let Some(Data::Sum(open)) = metric(last, "perf.orders.open") else {
            return Err("perf.orders.open is not a sum".into());
        };
        let open = open
            .data_points
            .first()
            .ok_or("perf.orders.open has no point")?;
        if int(open.value) != 0 {
            return Err(format!(
                "perf.orders.open read {:?}, 0 recorded",
                open.value
            ));
        }
        let Some(Data::Gauge(price)) = metric(last, "perf.price") else {
            return Err("perf.price is not a gauge".into());
        };
        let price = price.data_points.first().ok_or("perf.price has no point")?;
        match price.value {
            Some(number_data_point::Value::AsDouble(v)) if (100.0..116.0).contains(&v) => {}
            ref other => return Err(format!("perf.price read {other:?}, set in 100..116")),
        }
        let Some(Data::Histogram(h)) = metric(last, "perf.latency") else {
            return Err("perf.latency is not a histogram".into());
        };
        let p = h.data_points.first().ok_or("perf.latency has no point")?;
        if p.count != events || p.bucket_counts.iter().sum::<u64>() != events {
            return Err(format!(
                "perf.latency counted {} ({:?}), {events} recorded",
                p.count, p.bucket_counts
            ));
        }
        if p.min.is_some_and(|m| m < 0.0) || p.max.is_some_and(|m| m > 999.0) {
            return Err(format!(
                "perf.latency min {:?} max {:?}, recorded in 0..1000",
                p.min, p.max
            ));
        }
        Ok(format!(
            "the last export holds every metric update; points handed = exported {} + rejected 0 + dropped {} (by a periodic export given up at shutdown, its points in the final one)",
            counts.exported, counts.dropped.shutdown
        ))
    })();
    Delivered {
        updates: events * METRIC_UPDATES,
        counts: counts.unwrap_or_default(),
        requests: requests.len(),
        identity,
    }
}

/// Data points in a request.
fn points(r: &ExportMetricsServiceRequest) -> u64 {
    r.resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| match &m.data {
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        } as u64)
        .sum()
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
