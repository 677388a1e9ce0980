//! # sspi-emu-bench: comparison benchmarks
//!
//! `benches/compare.rs` measures sspi-emu's NTLM and Negotiate handshakes and its
//! `EncryptMessage` + `DecryptMessage` against the `sspi` crate (Devolutions sspi-rs) and the
//! bare RC4 + HMAC-MD5 work in the same run. This crate is not a default member of the
//! workspace, so `cargo test` does not build `sspi`; `.ci/run` compiles the bench, and
//! `cargo bench -p sspi-emu-bench` runs it (docs/PERFORMANCE.md).
#![forbid(unsafe_code)]
