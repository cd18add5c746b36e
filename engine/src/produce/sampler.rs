//! Head sampling, decided once when a span starts, following the OpenTelemetry SDK spec.
//!
//! - `AlwaysOn` / `AlwaysOff`.
//! - `TraceIdRatioBased(p)`: consistent probability sampling on the trace id's random low 56
//!   bits (W3C trace context level 2): sampled iff `low56 >= (1 - p) * 2^56`. Every participant
//!   with the same `p` decides the same for the same trace, and a higher `p` samples a superset.
//! - `ParentBased(root)`: with a parent, follow the parent's `sampled` flag, local or remote
//!   (the spec's default sub-samplers); without one, ask `root`. This is the default, with root
//!   `AlwaysOn`.
//!
//! An unsampled span writes nothing to the ring; it only occupies its place in the producer's
//! stack so that its children know their parent was not sampled.

use crate::error::Error;
use crate::model::ids::TraceId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Root {
    On,
    Off,
    /// Sample iff the trace id's low 56 bits are at least this.
    Threshold(u64),
}

/// A head sampler. Build one with the constructors; the default is parent-based always-on.
///
/// # Examples
/// ```
/// use ringspan::Sampler;
/// let s = Sampler::parent_based(Sampler::trace_id_ratio(0.25).unwrap());
/// assert!(Sampler::trace_id_ratio(1.5).is_err());
/// # let _ = s;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sampler {
    root: Root,
    parent_based: bool,
}

const RANDOM_BITS: u32 = 56;

impl Default for Sampler {
    fn default() -> Self {
        Sampler::parent_based(Sampler::always_on())
    }
}

impl Sampler {
    /// Samples every span.
    pub const fn always_on() -> Self {
        Sampler {
            root: Root::On,
            parent_based: false,
        }
    }

    /// Samples no span.
    pub const fn always_off() -> Self {
        Sampler {
            root: Root::Off,
            parent_based: false,
        }
    }

    /// Samples a fraction `ratio` of traces, decided from the trace id.
    ///
    /// # Errors
    /// If `ratio` is not in `[0, 1]` (NaN included).
    pub fn trace_id_ratio(ratio: f64) -> Result<Self, Error> {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(Error::config(
                "sampler ratio",
                ratio,
                "must be between 0 and 1",
            ));
        }
        let span = (1u64 << RANDOM_BITS) as f64;
        let threshold = ((1.0 - ratio) * span).round() as u64;
        let root = match threshold {
            0 => Root::On,
            t if t >= 1 << RANDOM_BITS => Root::Off,
            t => Root::Threshold(t),
        };
        Ok(Sampler {
            root,
            parent_based: false,
        })
    }

    /// Follows the parent's decision when there is a parent, and asks `root` otherwise.
    /// (A parent-based `root` is used as its own root.)
    pub const fn parent_based(root: Sampler) -> Self {
        Sampler {
            root: root.root,
            parent_based: true,
        }
    }

    /// The decision for a new span in `trace_id` whose parent, if any, had `parent_sampled`.
    #[inline(always)]
    pub fn should_sample(&self, parent_sampled: Option<bool>, trace_id: &TraceId) -> bool {
        self.should_sample_words(parent_sampled, trace_id.words())
    }

    /// The decision for a span whose parent's `sampled` flag is `parent_sampled`, when it can
    /// be made without a trace id (every sampler but a ratio at the root); `None` means "ask
    /// [`Sampler::should_sample_words`] with the trace id". This is what lets an unsampled
    /// span draw no ids at all.
    #[inline(always)]
    pub(crate) fn decide_without_trace(&self, parent_sampled: Option<bool>) -> Option<bool> {
        if self.parent_based {
            if let Some(sampled) = parent_sampled {
                return Some(sampled);
            }
        }
        match self.root {
            Root::On => Some(true),
            Root::Off => Some(false),
            Root::Threshold(_) => None,
        }
    }

    /// [`Sampler::should_sample`] for a trace id held as words (see `TraceId::words`).
    #[inline(always)]
    pub(crate) fn should_sample_words(
        &self,
        parent_sampled: Option<bool>,
        trace: [u64; 2],
    ) -> bool {
        if self.parent_based {
            if let Some(sampled) = parent_sampled {
                return sampled;
            }
        }
        match self.root {
            Root::On => true,
            Root::Off => false,
            // The last 8 bytes read as a big-endian number; its low 56 bits are random.
            Root::Threshold(t) => {
                u64::from_be_bytes(trace[1].to_ne_bytes()) & ((1 << RANDOM_BITS) - 1) >= t
            }
        }
    }
}
