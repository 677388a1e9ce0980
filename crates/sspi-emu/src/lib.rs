//! # sspi-emu: test Windows SSPI code anywhere
//!
//! The crate users depend on. It re-exports the SSPI contract ([`Backend`], [`SecStatus`],
//! handles, flags) and picks the backend: the simulator by default; real Windows `secur32`
//! with the `backend-win` feature (Windows targets; under Wine on Linux, `.ci/wine-leg`).
//!
//! ```text
//!   your test ──► sspi_emu::backend() ──► Simulator (world + packages + async engine)
//! ```
//!
//! On top of the one-to-one SSPI surface it adds [`AsyncCall`]: an async context with a
//! completion callback already registered, that can be waited on or `.await`ed.
//!
//! # Examples
//!
//! ```
//! use sspi_emu::{AcquireCredentials, AsyncCall, Backend, CredHandle, CredentialUse, Out, SecStatus};
//!
//! let backend = sspi_emu::backend();
//! let call = AsyncCall::new(backend.as_ref()).expect("context");
//! let cred = Out::new(CredHandle::default());
//! let queued = backend.sspi_acquire_credentials_handle_async(
//!     call.ctx(), AcquireCredentials::new("Negotiate", CredentialUse::OUTBOUND), &cred, None);
//! assert_eq!(queued, SecStatus::SEC_E_OK);
//! assert_eq!(call.wait(), SecStatus::SEC_E_OK);
//! backend.free_credentials_handle(cred.get());
//! ```
#![forbid(unsafe_code)]

mod call;
mod handshake;

pub use call::AsyncCall;
pub use handshake::{Established, Handshake, Leg};
pub use sspi_emu_api::*;

/// The simulator backend, its world, drivers, faults and journal.
pub use sspi_emu_sim as sim;

#[cfg(all(feature = "backend-win", not(windows)))]
compile_error!(
    "the `backend-win` feature calls the real secur32.dll: build for a Windows target \
     (e.g. `--target x86_64-pc-windows-gnu`, run under Wine with `.ci/wine-leg`)"
);

/// A backend with the default configuration: the simulator of the embedded default world,
/// Documented profile, inline driver; with `backend-win`, the real SSPI of this machine.
pub fn backend() -> std::sync::Arc<dyn Backend> {
    #[cfg(all(feature = "backend-win", windows))]
    {
        std::sync::Arc::new(sspi_emu_win::WinBackend::new())
    }
    #[cfg(not(all(feature = "backend-win", windows)))]
    {
        std::sync::Arc::new(sim::Simulator::new())
    }
}

/// A backend whose async engine is configured by `builder` (driver, profile, fault rules,
/// strict mode, journal), with the engine itself for its misuse reports, journal and counters.
///
/// On the simulator the backend *is* the engine (`builder`'s world answers every call); with
/// `backend-win` the real SSPI answers and the same engine runs its `Sspi*Async` calls
/// (decision 0008), so scenarios that need the manual driver, a profile or fault rules run on
/// both.
pub struct EngineBackend {
    #[cfg(not(all(feature = "backend-win", windows)))]
    inner: std::sync::Arc<sim::Simulator>,
    #[cfg(all(feature = "backend-win", windows))]
    inner: std::sync::Arc<sspi_emu_win::WinBackend>,
}

impl EngineBackend {
    /// Builds the backend with its engine configured by `builder`.
    pub fn new(builder: sim::SimulatorBuilder) -> Self {
        #[cfg(all(feature = "backend-win", windows))]
        {
            Self { inner: std::sync::Arc::new(sspi_emu_win::WinBackend::with_engine(builder)) }
        }
        #[cfg(not(all(feature = "backend-win", windows)))]
        {
            Self { inner: std::sync::Arc::new(builder.build()) }
        }
    }

    /// The backend.
    pub fn backend(&self) -> &dyn Backend {
        self.inner.as_ref()
    }

    /// The async engine: the simulator itself, or the Windows backend's engine.
    pub fn engine(&self) -> &sim::Simulator {
        #[cfg(all(feature = "backend-win", windows))]
        {
            self.inner.engine()
        }
        #[cfg(not(all(feature = "backend-win", windows)))]
        {
            &self.inner
        }
    }
}

/// Which backend this build uses: `"simulator"`, or `"windows"` with `backend-win`.
pub const BACKEND_NAME: &str = if cfg!(feature = "backend-win") { "windows" } else { "simulator" };

/// The README's examples, compiled and run as doctests so they cannot rot.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
