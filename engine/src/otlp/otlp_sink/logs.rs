//! The log records' half of the OTLP sink: drained log records become
//! `ExportLogsServiceRequest` bytes in buffers of the sink's pool, and finished requests go to
//! the logs exporter.
//!
//! A request is laid out as the spans' are (`otlp_sink.rs`): the records are written after a
//! gap big enough for the largest prefix, which is written right-aligned into it when the
//! request is finished, so nothing is moved. The two messages nest alike (`resource_logs` 1
//! holding `resource` 1 and `scope_logs` 2, which holds `scope` 1 and `log_records` 2), so the
//! prefix is the spans' with other names. One scope per request: a record of another scope
//! finishes the request (log records seldom change scope; spans, with their staged extra
//! scopes, often do).
//!
//! Limits: a request stays within `max_bytes` and `max_spans` records; a record too large for
//! any request is dropped and counted (`logs_dropped_too_large`, and the engine's
//! `logs.dropped.too_large` through `Sink::take_dropped_logs`). With no free buffer, nothing is
//! taken and the log records wait in their rings. The buffers are a pool of their own, so a
//! logs collector that is slow or down holds back log records only, never spans.

use crossbeam_channel::{Receiver, Sender};
use prost::bytes::BufMut;
use prost::encoding::{encoded_len_varint, key_len};

use super::{bump, scope_body, EncodedRequest, Exporter, OtlpSink};
use crate::clock::Calibration;
use crate::model::log::LogRecord;
use crate::otlp::log::{plan_log, put_log};
use crate::otlp::wire::{len_delimited, put_bytes, put_len_prefix, Cursor};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The log records' state of an [`OtlpSink`].
pub(super) struct Logs {
    exporter: Box<dyn Exporter>,
    open: Option<OpenLogs>,
    /// Too-large drops not yet reported to the drain.
    pub(super) unreported_drops: u64,
    /// The log records' pool of request buffers: free ones, and where requests return them.
    free: Receiver<Vec<u8>>,
    home: Sender<Vec<u8>>,
}

/// The request of log records being built.
struct OpenLogs {
    buf: Vec<u8>,
    reserve: usize,
    scope: &'static str,
    records: usize,
}

impl Logs {
    /// Allocates `buffers` request buffers of `bytes` each.
    pub(super) fn new(exporter: Box<dyn Exporter>, buffers: usize, bytes: usize) -> Logs {
        let (home, free) = crossbeam_channel::bounded(buffers);
        for _ in 0..buffers {
            let _ = home.try_send(Vec::with_capacity(bytes));
        }
        Logs {
            exporter,
            open: None,
            unreported_drops: 0,
            free,
            home,
        }
    }
}

impl<E: Exporter> OtlpSink<E> {
    /// `Sink::accept_logs`: encodes the records it can, in order; returns how many it took.
    pub(super) fn put_logs(&mut self, records: &[LogRecord], clock: &Calibration) -> usize {
        if self.logs.is_none() {
            return 0;
        }
        for (taken, r) in records.iter().enumerate() {
            // As for spans: the records were just written on another core.
            if let Some(next) = records.get(taken + 2) {
                crate::prefetch::for_read(next, 3);
            }
            let plan = plan_log(r, clock);
            let field = len_delimited(2, plan.len);
            let scope = r.scope();
            let reserve = self.prefix_bound(scope);
            if reserve + field > self.max_bytes {
                bump(&self.stats.logs_dropped_too_large, 1);
                if let Some(l) = self.logs.as_mut() {
                    l.unreported_drops += 1;
                }
                continue;
            }
            loop {
                let (max_bytes, max_records) = (self.max_bytes, self.max_spans);
                let Some(l) = self.logs.as_mut() else {
                    return taken;
                };
                match &mut l.open {
                    Some(open)
                        if open.scope == scope
                            && open.records < max_records
                            && open.buf.len() + field <= max_bytes =>
                    {
                        // Within capacity (`max_bytes` + 64): no allocation. Sized first,
                        // then written through a `Cursor`, as the spans' exact path.
                        let at = open.buf.len();
                        open.buf.resize(at + field, 0);
                        let mut w = Cursor::new(&mut open.buf[at..]);
                        put_len_prefix(2, plan.len, &mut w);
                        put_log(r, &plan, &mut w);
                        debug_assert!(!w.overflowed() && w.written() == field);
                        open.records += 1;
                        break;
                    }
                    Some(_) => self.finish_logs(),
                    None => {
                        let Ok(mut buf) = l.free.try_recv() else {
                            bump(&self.stats.buffer_waits, 1);
                            return taken;
                        };
                        // Relaxed: a statistic (see `OtlpStats::buffers_out`).
                        self.stats.log_buffers_out.fetch_add(1, Ordering::Relaxed);
                        buf.resize(reserve, 0);
                        l.open = Some(OpenLogs {
                            buf,
                            reserve,
                            scope,
                            records: 0,
                        });
                    }
                }
            }
        }
        records.len()
    }

    /// Finishes the open request of log records, if any, and hands it to the logs exporter.
    pub(super) fn finish_logs(&mut self) {
        let Some(l) = self.logs.as_mut() else { return };
        let Some(mut open) = l.open.take() else {
            return;
        };
        if open.records == 0 {
            open.buf.clear();
            let _ = l.home.try_send(open.buf);
            return;
        }
        let scope = len_delimited(1, scope_body(open.scope)) + (open.buf.len() - open.reserve);
        let rl_body = len_delimited(1, self.resource.len()) + len_delimited(2, scope);
        let prefix = key_len(1)
            + encoded_len_varint(rl_body as u64)
            + len_delimited(1, self.resource.len())
            + key_len(2)
            + encoded_len_varint(scope as u64)
            + len_delimited(1, scope_body(open.scope));
        let start = open.reserve - prefix;
        {
            let mut out = &mut open.buf[start..open.reserve];
            put_len_prefix(1, rl_body, &mut out);
            put_len_prefix(1, self.resource.len(), &mut out);
            out.put_slice(&self.resource);
            put_len_prefix(2, scope, &mut out);
            put_len_prefix(1, scope_body(open.scope), &mut out);
            put_bytes(1, open.scope.as_bytes(), &mut out);
            debug_assert!(out.is_empty(), "prefix size mismatch");
        }
        bump(&self.stats.requests, 1);
        bump(&self.stats.logs_encoded, open.records as u64);
        bump(&self.stats.bytes, (open.buf.len() - start) as u64);
        let request = EncodedRequest {
            buf: open.buf,
            start,
            records: open.records,
            logs: true,
            home: l.home.clone(),
            stats: Arc::clone(&self.stats),
        };
        l.exporter.export(request);
    }
}
