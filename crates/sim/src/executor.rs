//! The executor seam: what a queued async call does when it completes.
//!
//! By default the engine runs a completed call against the simulated world (`Core::acquire`,
//! `Core::initialize`, ...). With an [`Executor`] set ([`crate::SimulatorBuilder::executor`]),
//! the engine runs every operation through it instead, and asks it the queue-time questions
//! that look at handles. Everything else stays the engine's: the async-context state machine,
//! the drivers, [`DriverControl`](sspi_emu_api::DriverControl), the profiles, misuse detection,
//! the journal and the fault rules. That is how the Windows backend (`crates/win`) runs the
//! real sync calls of secur32 under the very engine the simulator uses (decision 0008).
//!
//! ```text
//!  Sspi*Async* ─► Simulator ─► Core::queue ──── queue-time checks ───► Executor::is_context,
//!                                  │                                   delete_would_fail, package
//!                                  ▼ driver (inline | manual | threaded)
//!                              Core::complete ─► Core::execute ─┬─► the world (no executor)
//!                                                               └─► Executor::acquire_credentials_handle,
//!                                                                   free_..., initialize_..., accept_...,
//!                                                                   delete_security_context
//! ```

use sspi_emu_api::{
    AcceptSecurityContext, AcquireCredentials, AscOutputs, CredHandle, Credentials, CtxtHandle,
    InitializeSecurityContext, IscOutputs, SecHandle, SecStatus,
};

use crate::engine::Op;

/// The sync SSPI calls the async engine runs when a queued call completes, and the handle
/// questions it asks when a call is queued.
///
/// An implementation answers from a real SSPI (the Windows backend's `Secur32`) or any other
/// backend. Each operation runs on whichever thread the driver completes on (the queueing
/// thread for the inline driver, the thread calling `step` for the manual one, a worker for
/// the threaded one), never under an engine lock; the handle questions run under the lock of
/// the async context being queued, so they must not call back into the engine.
pub trait Executor: Send + Sync + 'static {
    /// `AcquireCredentialsHandle` (A or W by `args.charset`), for
    /// `SspiAcquireCredentialsHandleAsyncA/W`. The engine writes the handle and expiry into the
    /// caller's slots on `Ok`.
    ///
    /// # Errors
    /// The call's failure status, which becomes the async call's final status.
    fn acquire_credentials_handle(&self, args: &AcquireCredentials) -> Result<Credentials, SecStatus>;

    /// `FreeCredentialsHandle`, for `SspiFreeCredentialsHandleAsync`.
    fn free_credentials_handle(&self, credential: CredHandle) -> SecStatus;

    /// `InitializeSecurityContext` (A or W by `args.charset`), for
    /// `SspiInitializeSecurityContextAsyncA/W`: writes `out` as the sync call does.
    fn initialize_security_context(&self, args: &InitializeSecurityContext, out: &IscOutputs) -> SecStatus;

    /// `AcceptSecurityContext`, for `SspiAcceptSecurityContextAsync`: writes `out` as the sync
    /// call does.
    fn accept_security_context(&self, args: &AcceptSecurityContext, out: &AscOutputs) -> SecStatus;

    /// `DeleteSecurityContext`, for `SspiDeleteSecurityContextAsync`.
    fn delete_security_context(&self, context: CtxtHandle) -> SecStatus;

    /// Whether `context` is a live security context (issued, not deleted). The async ISC and
    /// ASC refuse any other `phContext` with `SEC_E_INVALID_HANDLE` when queued, as ksecdd does
    /// (spec §4.8, §4.9).
    fn is_context(&self, context: CtxtHandle) -> bool;

    /// Whether `DeleteSecurityContext(context)` would fail: a handle never issued. The async
    /// delete refuses it with `SEC_E_INVALID_HANDLE` when queued.
    fn delete_would_fail(&self, context: CtxtHandle) -> bool;

    /// The security package a credential or context handle belongs to, if known: what fault
    /// rules with a `package` match, and what the journal shows. `None` (the default) means
    /// rules naming a package never select calls on this handle.
    fn package(&self, handle: SecHandle) -> Option<String> {
        let _ = handle;
        None
    }
}

/// Runs a queued operation through `executor`: writes the caller's slots, returns the status.
pub(crate) fn run(executor: &dyn Executor, op: Op) -> SecStatus {
    match op {
        Op::Acquire { args, credential, expiry } => match executor.acquire_credentials_handle(&args) {
            Ok(c) => {
                credential.set(c.handle);
                if let Some(e) = expiry {
                    e.set(c.expiry);
                }
                SecStatus::SEC_E_OK
            }
            Err(status) => status,
        },
        Op::FreeCredentials { credential } => executor.free_credentials_handle(credential),
        Op::Initialize { args, out } => executor.initialize_security_context(&args, &out),
        Op::Accept { args, out } => executor.accept_security_context(&args, &out),
        Op::DeleteContext { context } => executor.delete_security_context(context),
    }
}
