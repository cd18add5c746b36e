//! Benches live in `benches/`; results in `RESULTS.md`.
