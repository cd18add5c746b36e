//! The span model shared by every stage: ids, attribute values and the fixed-size record a
//! ring slot holds. Producers write it, the drain and the encoders read it.

pub(crate) mod callsite;
pub(crate) mod compact;
pub(crate) mod entry;
pub(crate) mod ids;
pub(crate) mod log;
pub(crate) mod record;
pub(crate) mod value;
