//! loom models of ringspan's lock-free code. They live in `tests/` and compile only with the
//! project cfg, which also switches the engine to loom's atomics:
//!
//! ```text
//! RUSTFLAGS="--cfg ringspan_loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p ringspan-loom-tests --release
//! ```
//!
//! Models use rings of 2 slots: every wrap-around, full and empty state is reached in a few
//! steps, which keeps the state space small enough to explore exhaustively (as tokio's
//! `LOCAL_QUEUE_CAPACITY` shrinks to 4 under loom).
