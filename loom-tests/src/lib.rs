//! loom models live in `tests/`; they compile only with `--cfg ringspan_loom`.
