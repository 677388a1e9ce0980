//! # sspi-emu-win: the real Windows SSPI behind the `Backend` trait
//!
//! The same test bodies that run on the simulator run here on the real user-mode SSPI
//! (secur32): on Windows, and, on Linux, under Wine with Samba's `ntlm_auth` (`.ci/wine-leg`).
//!
//! ```text
//!  Backend calls ─► WinBackend (backend.rs, cfg(windows))
//!                     ├─ sync calls ─────────────────────► marshal.rs ─► sys.rs ─► secur32.dll
//!                     │                                   (safe Rust)   (the only unsafe)
//!                     └─ Sspi*Async*, driver() ─► sspi_emu_sim::Simulator (the simulator's engine)
//!                                                   └─ completes a call ─► Secur32 executor
//!                                                      (the same sync calls, via marshal + sys)
//! ```
//!
//! * The `Sspi*Async*` functions exist only in kernel mode (`ksecdd.sys`): a user-mode exe that
//!   links one of them fails to load. This crate never links them. Instead it gives the
//!   simulator's async engine an executor, `Secur32`, so the real sync calls run under the
//!   same engine, drivers, profiles, misuse detection, journal and fault rules as the
//!   simulator (`docs/decisions/0008-shared-engine.md`).
//! * [`marshal`] turns api values into NUL-terminated buffers and `SEC_WINNT_AUTH_IDENTITY`
//!   structures and back, in safe Rust, built and tested on every target.
//! * `sys` is the one module allowed `unsafe` (every block has a `// SAFETY:` comment). The
//!   workspace forbids `unsafe_code`; a forbid cannot be relaxed on one module, so this crate
//!   copies the workspace lints with `unsafe_code = "deny"` (Cargo.toml) and allows it on `sys`
//!   alone.
//! * On a non-Windows target the crate holds only [`marshal`]: no `Backend` implementation,
//!   nothing linked, so the Linux workspace build stays green.
//!
//! What this backend proves, and how Wine differs from Windows and from the simulator:
//! `docs/backend-win.md`.
#![deny(unsafe_code)]

pub mod marshal;

#[cfg(windows)]
mod backend;
#[cfg(windows)]
#[allow(unsafe_code)]
mod sys;

#[cfg(windows)]
pub use backend::{Environment, Secur32, WinBackend, user_mode_exports};
/// The engine's configuration, for [`WinBackend::with_driver`] and `WinBackend::with_engine`.
#[cfg(windows)]
pub use sspi_emu_sim::{DriverKind, Profile, SimulatorBuilder};
