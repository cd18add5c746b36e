//! The recording handle a thread holds: one ring, a stack of open spans, an id generator.
//!
//! A [`Producer`] is `!Send` and `!Sync`: it belongs to the thread that claimed it (pinned
//! with [`crate::Engine::pin`], or unpinned through [`crate::Engine::producer`] and
//! [`crate::Engine::with_local`]). Dropping it gives its ring back to the pool.
//!
//! Recording a span costs: one clock read and a few stores at start, a 32-byte store per
//! attribute, and at the end one clock read, a copy of the used part of the record into the
//! ring slot and one release store. No allocation, no lock, no syscall, no shared
//! read-modify-write. When the ring is full the span is dropped and counted.
//!
//! Nesting: spans started while another is open on the same producer become its children.
//! Spans may end in any order; a span that ends before its children is exported at once, and
//! new spans then parent to the innermost span that is still open.

use std::cell::UnsafeCell;
use std::marker::PhantomData;

use crate::config::MAX_DEPTH;
use crate::engine::Shared;
use crate::ids::{IdGenerator, SpanContext, SpanId, TraceFlags};
use crate::lane::LaneClaim;
use crate::record::{Loss, ParentKind, SpanRecord};
use crate::span::Span;
use crate::stats::bump;
use crate::sync::{Arc, Ordering};
use crate::value::Value;

/// Where a new span takes its parent from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parent {
    /// The innermost open span of this producer, or none (a new trace).
    Current,
    /// No parent: start a new trace even if a span is open.
    Root,
    /// An explicit parent, typically from another process's `traceparent`
    /// ([`crate::traceparent::parse`]).
    Context(SpanContext),
}

/// One open span on the producer's stack.
#[derive(Clone, Copy, Debug)]
struct Frame {
    cx: SpanContext,
    open: bool,
}

const NO_FRAME: Frame = Frame {
    cx: SpanContext {
        trace_id: crate::ids::TraceId([0; 16]),
        span_id: SpanId([0; 8]),
        flags: TraceFlags(0),
        is_remote: false,
    },
    open: false,
};

/// The producer's mutable state, reachable only through [`Producer::with`].
struct Inner {
    /// `None` for a detached producer (the pool had no free ring).
    claim: Option<LaneClaim>,
    ids: IdGenerator,
    /// Frames `0..depth` are in use; frames above the last open one are popped at once.
    depth: usize,
    stack: [Frame; MAX_DEPTH],
    scope: &'static str,
}

/// A thread's recording handle. See the module docs.
///
/// # Examples
/// ```
/// use ringspan::{Engine, EngineConfig, sink::Discard};
/// let engine = Engine::start(EngineConfig::default().rings(1).ring_capacity(64), Discard::default()).unwrap();
/// let producer = engine.producer().unwrap();
/// {
///     let mut span = producer.span("handle_order");
///     span.set_attr("order.id", 42).set_attr("venue", "XNAS");
///     let _child = producer.span("risk_check"); // parented to handle_order
/// }
/// drop(producer);
/// let totals = engine.shutdown(std::time::Duration::from_secs(1)).unwrap();
/// assert_eq!(totals.delivered, 2);
/// ```
pub struct Producer {
    shared: Arc<Shared>,
    inner: UnsafeCell<Inner>,
    /// The core this producer pinned its thread to, released on drop.
    core: Option<usize>,
    _not_send_sync: PhantomData<*const ()>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("core", &self.core)
            .field("attached", &self.is_attached())
            .finish()
    }
}

impl Producer {
    pub(crate) fn new(shared: Arc<Shared>, claim: Option<LaneClaim>, core: Option<usize>) -> Self {
        let salt = claim.as_ref().map_or(0, |c| c.lane.salt);
        let scope = shared.scope;
        Producer {
            shared,
            inner: UnsafeCell::new(Inner {
                claim,
                ids: IdGenerator::new(salt),
                depth: 0,
                stack: [NO_FRAME; MAX_DEPTH],
                scope,
            }),
            core,
            _not_send_sync: PhantomData,
        }
    }

    /// Runs `f` on the mutable state.
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&mut Inner, &Shared) -> R) -> R {
        // SAFETY: `Producer` is `!Sync` and `!Send`, so only this thread reaches `inner`; no
        // method calls `with` from inside `f`, and `f` never runs user code, so this is the only
        // reference to `inner` while it lives.
        f(unsafe { &mut *self.inner.get() }, &self.shared)
    }

    pub(crate) fn shared_state(&self) -> &Shared {
        &self.shared
    }

    /// Whether this producer owns a ring. A detached producer (made when the pool was
    /// exhausted) drops and counts every sampled span.
    pub fn is_attached(&self) -> bool {
        self.with(|inner, _| inner.claim.is_some())
    }

    /// The core this producer pinned its thread to.
    pub fn core(&self) -> Option<usize> {
        self.core
    }

    /// Sets the instrumentation scope for spans started from now on.
    pub fn set_scope(&self, scope: &'static str) {
        self.with(|inner, _| inner.scope = scope);
    }

    /// The context of the innermost open span, if any (to build a `traceparent`).
    pub fn current_context(&self) -> Option<SpanContext> {
        self.with(|inner, _| inner.current().map(|f| f.cx))
    }

    /// Starts a span with a static name, child of the innermost open span (or a root).
    #[inline]
    pub fn span(&self, name: &'static str) -> Span<'_> {
        self.start(Value::Str(name), Parent::Current)
    }

    /// Starts a span whose name is copied into the record (see [`crate::record::ARENA_BYTES`]).
    #[inline]
    pub fn span_copied(&self, name: &str) -> Span<'_> {
        self.start(Value::Copied(name), Parent::Current)
    }

    /// Starts a span with an explicit choice of parent. `name` should be a string
    /// ([`Value::Str`] or [`Value::Copied`]); any other value gives an empty name.
    #[inline]
    pub fn start(&self, name: Value<'_>, parent: Parent) -> Span<'_> {
        self.with(|inner, shared| {
            let parent_cx = match parent {
                Parent::Current => inner.current().map(|f| f.cx),
                Parent::Root => None,
                Parent::Context(cx) => Some(cx),
            };
            let trace_id = match parent_cx {
                Some(p) => p.trace_id,
                None => inner.ids.trace_id(),
            };
            let sampled = shared
                .sampler
                .should_sample(parent_cx.map(|p| p.flags.is_sampled()), &trace_id);
            let inherited = parent_cx.map_or(0, |p| p.flags.0 & !1);
            let cx = SpanContext {
                trace_id,
                span_id: inner.ids.span_id(),
                flags: TraceFlags(inherited | u8::from(sampled)),
                is_remote: false,
            };
            let depth = inner.depth;
            if depth == MAX_DEPTH {
                if sampled {
                    inner.count_dropped(shared, |c| &c.dropped_too_deep);
                }
                return Span::untracked(self, cx);
            }
            inner.stack[depth] = Frame { cx, open: true };
            inner.depth = depth + 1;
            if !sampled {
                return Span::new(self, depth, cx, false);
            }
            let Some(claim) = &inner.claim else {
                shared.count_no_ring();
                return Span::new(self, depth, cx, false);
            };
            let (parent_id, parent_kind) = match parent_cx {
                None => (SpanId([0; 8]), ParentKind::None),
                Some(p) if p.is_remote => (p.span_id, ParentKind::Remote),
                Some(p) => (p.span_id, ParentKind::Local),
            };
            // SAFETY: frame `depth` was free until now, so no other span guard uses this scratch
            // record, and nothing else holds a reference into it.
            let rec = unsafe { claim.lane.scratch(depth) };
            rec.begin(trace_id, cx.span_id, parent_id, parent_kind, cx.flags, inner.scope, shared.clock.now());
            let mut loss = Loss::default();
            rec.set_name(name, &mut loss);
            inner.count_loss(loss);
            Span::new(self, depth, cx, true)
        })
    }

    /// Runs `f` on the scratch record of the recording span at `depth`.
    #[inline(always)]
    pub(crate) fn edit(&self, depth: usize, f: impl FnOnce(&mut SpanRecord, &mut Loss, u64)) {
        self.with(|inner, shared| {
            if let Some(claim) = &inner.claim {
                let mut loss = Loss::default();
                // SAFETY: the frame at `depth` belongs to the one span guard calling us, and
                // `with` holds no other reference into the scratch records.
                f(unsafe { claim.lane.scratch(depth) }, &mut loss, shared.clock.now());
                inner.count_loss(loss);
            }
        })
    }

    /// Ends the span at `depth`: publishes it if it is recording, and pops its frame.
    #[inline(always)]
    pub(crate) fn finish(&self, depth: usize, recording: bool) {
        self.with(|inner, shared| {
            if recording {
                if let Some(claim) = &mut inner.claim {
                    // SAFETY: as in `edit`; the copy below reads the scratch record while the
                    // ring slot it writes is a different allocation.
                    let rec = unsafe { claim.lane.scratch(depth) };
                    rec.set_end(shared.clock.now());
                    let counters = &claim.lane.counters;
                    bump(&counters.recorded, 1);
                    // Relaxed: the flag only decides how this span is counted; a span that
                    // slips in as shutdown begins is still drained or counted by the drain.
                    if shared.shutting_down.load(Ordering::Relaxed) {
                        bump(&counters.dropped_shutdown, 1);
                    } else if claim.ring.push_with(|slot| rec.copy_used_into(slot)).is_err() {
                        bump(&counters.dropped_ring_full, 1);
                    }
                }
            }
            inner.stack[depth].open = false;
            while inner.depth > 0 && !inner.stack[inner.depth - 1].open {
                inner.depth -= 1;
            }
        })
    }
}

impl Inner {
    /// The innermost open frame.
    #[inline(always)]
    fn current(&self) -> Option<&Frame> {
        self.stack[..self.depth].iter().rev().find(|f| f.open)
    }

    /// Counts one sampled span dropped at start: recorded and dropped for the given reason.
    fn count_dropped(
        &self,
        shared: &Shared,
        reason: impl FnOnce(&crate::stats::LaneCounters) -> &crate::sync::AtomicU64,
    ) {
        match &self.claim {
            Some(claim) => {
                bump(&claim.lane.counters.recorded, 1);
                bump(reason(&claim.lane.counters), 1);
            }
            None => shared.count_no_ring(),
        }
    }

    #[inline(always)]
    fn count_loss(&self, loss: Loss) {
        if loss.truncated > 0 {
            if let Some(claim) = &self.claim {
                bump(&claim.lane.counters.truncated_strings, u64::from(loss.truncated));
            }
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if let Some(core) = self.core {
            self.shared.release_core(core);
        }
        // The lane claim (if any) is released when `inner` drops.
    }
}
