//! The hot-thread side: what a thread holds to record spans, and the pool it draws its ring
//! from.
//!
//! - `pool.rs`: the fixed pool of lanes and the settings every producer reads (sampler,
//!   clock, scope), with core pinning and the shutdown flag;
//! - `lane.rs`: one ring of the pool with its counters and scratch records;
//! - `producer.rs`: a thread's [`Producer`]: where its spans are built and published;
//! - `stack.rs`: its stack of open spans and their lazily drawn ids;
//! - `watch.rs`: what a monitor may read of its open spans (the oldest one's start and name);
//! - `guard.rs`: the [`Span`] guard and the calls that start one;
//! - `local.rs`: producers claimed lazily for threads that are not pinned;
//! - `travel/`: travelling spans, which cross `.await` and threads, their record pool and
//!   their future adapter;
//! - `metric/`: counters, gauges and histograms, recorded into cells beside each ring;
//! - `producer/log.rs`: log records, written in place into each lane's log ring;
//!   `log_facade.rs` (feature `log`) the `log` crate's bridge to it, `layer/logs.rs`
//!   `tracing`'s;
//! - `sampler.rs` and `traceparent.rs`: the head sampler and W3C trace context.
//!
//! Nothing here reaches the drain: a span leaves this stage through its lane's ring.
//!
//! [`Producer`]: crate::Producer
//! [`Span`]: crate::Span

pub(crate) mod guard;
pub(crate) mod lane;
#[cfg(feature = "tracing")]
pub(crate) mod layer;
pub(crate) mod local;
#[cfg(feature = "log")]
pub(crate) mod log_facade;
pub(crate) mod metric;
#[cfg(feature = "opentelemetry")]
pub(crate) mod otel;
pub(crate) mod pool;
pub(crate) mod producer;
pub(crate) mod sampler;
pub(crate) mod span_table;
pub(crate) mod stack;
pub(crate) mod traceparent;
pub(crate) mod tracestate;
pub(crate) mod travel;
pub(crate) mod watch;
