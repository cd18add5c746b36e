//! A producer's stack of open spans, and their ids, which are drawn lazily.
//!
//! One frame per open span, in the order they started; frames above the last open one are
//! popped as soon as they close, so the top frame is the innermost open span. A frame's ids
//! are words (see `TraceId::words`) and zero until drawn: a sampled span draws its span id
//! when it starts (its record needs it), an unsampled one only when something asks
//! (`context`, a child that needs its parent's id), and then keeps it. A frame without a trace
//! id yet inherits it from the local parent frame it names; a parent frame outlives its open
//! children on the stack, so that chain is intact.

use std::ops::{Index, IndexMut};

use crate::config::MAX_DEPTH;
use crate::model::callsite::Callsite;
use crate::model::ids::{IdGenerator, SpanContext, SpanId, TraceFlags, TraceId};

/// One open span on the stack.
#[derive(Clone, Copy, Debug)]
pub(super) struct Frame {
    /// `[0, 0]` until known; then inherited from `parent`, or drawn for a root.
    pub(super) trace: [u64; 2],
    /// 0 until drawn.
    pub(super) span: u64,
    /// Depth of the local parent frame, or [`NO_PARENT`] (a root, or an explicit parent
    /// whose trace id is already in `trace`).
    pub(super) parent: u8,
    pub(super) flags: u8,
    pub(super) open: bool,
    /// Whether it will be exported (sampled, with a ring): counted if it is abandoned.
    pub(super) recording: bool,
    /// Its record is a compact one (a callsite span that kept to its callsite).
    pub(super) compact: bool,
    /// Values set through `set_values` so far (the index of the callsite key the next takes),
    /// kept once the span is a full record.
    pub(super) values: u8,
    /// The callsite it was started from, if any.
    pub(super) callsite: Option<&'static Callsite>,
}

/// `Frame::parent` of a frame that inherits nothing.
pub(super) const NO_PARENT: u8 = u8::MAX;

const NO_FRAME: Frame = Frame {
    trace: [0; 2],
    span: 0,
    parent: NO_PARENT,
    flags: 0,
    open: false,
    recording: false,
    compact: false,
    values: 0,
    callsite: None,
};

const _: () = assert!(MAX_DEPTH < NO_PARENT as usize);

/// See the module docs.
pub(super) struct Stack {
    frames: [Frame; MAX_DEPTH],
    /// Frames `0..depth` are in use.
    depth: usize,
    ids: IdGenerator,
}

impl Index<usize> for Stack {
    type Output = Frame;

    #[inline(always)]
    fn index(&self, depth: usize) -> &Frame {
        &self.frames[depth]
    }
}

impl IndexMut<usize> for Stack {
    #[inline(always)]
    fn index_mut(&mut self, depth: usize) -> &mut Frame {
        &mut self.frames[depth]
    }
}

impl Stack {
    pub(super) fn new(ids: IdGenerator) -> Self {
        Stack {
            frames: [NO_FRAME; MAX_DEPTH],
            depth: 0,
            ids,
        }
    }

    /// Frames in use: the depth the next span's frame takes.
    #[inline(always)]
    pub(super) fn depth(&self) -> usize {
        self.depth
    }

    /// Pushes `frame` on top (the caller checked `depth() < MAX_DEPTH`); returns its depth.
    #[inline(always)]
    pub(super) fn push(&mut self, frame: Frame) -> usize {
        let depth = self.depth;
        self.frames[depth] = frame;
        self.depth = depth + 1;
        depth
    }

    /// Closes the frame at `depth` and pops every closed frame off the top.
    #[inline(always)]
    pub(super) fn close(&mut self, depth: usize) {
        self.frames[depth].open = false;
        // The usual case: the top frame ends, and the one below is still open.
        if depth + 1 == self.depth && (depth == 0 || self.frames[depth - 1].open) {
            self.depth = depth;
            return;
        }
        while self.depth > 0 && !self.frames[self.depth - 1].open {
            self.depth -= 1;
        }
    }

    /// The depth of the innermost open frame: the top one.
    #[inline(always)]
    pub(super) fn current(&self) -> Option<usize> {
        let top = self.depth.checked_sub(1)?;
        debug_assert!(self.frames[top].open);
        Some(top)
    }

    /// A fresh span id (non-zero).
    #[inline(always)]
    pub(super) fn new_span_id(&mut self) -> u64 {
        self.ids.span_word()
    }

    /// A fresh trace id (non-zero).
    #[inline(always)]
    pub(super) fn new_trace_id(&mut self) -> [u64; 2] {
        self.ids.trace_words()
    }

    /// The trace id of a new span: `known` if it came with an explicit parent, else its local
    /// parent's (`parent`, drawn there first if need be), else a fresh one.
    #[inline]
    pub(super) fn trace_for(&mut self, parent: u8, known: [u64; 2]) -> [u64; 2] {
        if known != [0; 2] {
            known
        } else if parent == NO_PARENT {
            self.new_trace_id()
        } else {
            self.trace_of(usize::from(parent))
        }
    }

    /// The trace id of the frame at `depth`, drawn (and kept) if it has none yet: inherited
    /// from its local parent frame, or fresh for a root.
    pub(super) fn trace_of(&mut self, depth: usize) -> [u64; 2] {
        let frame = self.frames[depth];
        if frame.trace != [0; 2] {
            return frame.trace;
        }
        let trace = if frame.parent == NO_PARENT {
            self.new_trace_id()
        } else {
            debug_assert!(usize::from(frame.parent) < depth);
            self.trace_of(usize::from(frame.parent))
        };
        self.frames[depth].trace = trace;
        trace
    }

    /// The span id of the frame at `depth`, drawn (and kept) if it has none yet.
    pub(super) fn span_of(&mut self, depth: usize) -> u64 {
        if self.frames[depth].span == 0 {
            self.frames[depth].span = self.ids.span_word();
        }
        self.frames[depth].span
    }

    /// The context of the frame at `depth`, drawing its ids if they were not yet.
    pub(super) fn context(&mut self, depth: usize) -> SpanContext {
        let trace = self.trace_of(depth);
        let span = self.span_of(depth);
        SpanContext {
            trace_id: TraceId::from_words(trace),
            span_id: SpanId::from_word(span),
            flags: TraceFlags(self.frames[depth].flags),
            is_remote: false,
        }
    }

    /// Frames still open that record: the spans of leaked guards, when the producer goes.
    pub(super) fn open_recording(&self) -> u64 {
        self.open_recording_depths().count() as u64
    }

    /// The depths of those frames, outermost first.
    pub(super) fn open_recording_depths(&self) -> impl Iterator<Item = usize> + '_ {
        self.frames[..self.depth]
            .iter()
            .enumerate()
            .filter(|(_, f)| f.open && f.recording)
            .map(|(d, _)| d)
    }
}
