//! The drain stage: one thread that empties every ring into a [`Sink`].
//!
//! - `run.rs`: the drain loop (passes over the rings, batching, flush triggers, idling);
//! - `sink.rs`: the [`Sink`] trait and the ready-made [`Discard`] sink;
//! - `handshake.rs`: the flush and shutdown handshake between the engine handle and the
//!   drain thread, both sides of it.
//!
//! The drain is given what it works on (the ring consumers, the sink, its settings, the
//! handshake and its counters) when it is built; it never reaches back into the engine.
//!
//! [`Sink`]: crate::Sink
//! [`Discard`]: crate::Discard

pub(crate) mod handshake;
pub(crate) mod run;
pub(crate) mod sink;
