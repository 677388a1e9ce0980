//! `AsyncCall`: an async context whose completion can be waited on or awaited.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sspi_emu_api::{AsyncContextHandle, Backend, SecStatus};

#[derive(Default)]
struct Signal {
    state: Mutex<(bool, Option<Waker>)>,
    cond: Condvar,
}

impl Signal {
    fn fire(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 = true;
        if let Some(w) = s.1.take() {
            w.wake();
        }
        self.cond.notify_all();
    }
}

/// An `SspiAsyncContext` with a completion callback registered, freed on drop.
///
/// Queue one call on [`AsyncCall::ctx`], then [`wait`](AsyncCall::wait) or `.await` the call:
/// both yield the final status read with `SspiGetAsyncCallStatus` after the callback fired.
/// Use [`AsyncCall::reinit`] to queue another call on the same context. Dropping it frees the
/// context: drop it only once its call has completed, or the simulator reports
/// `FreeWhilePending` (and defers the free until the call completes).
pub struct AsyncCall<'a> {
    backend: &'a dyn Backend,
    ctx: AsyncContextHandle,
    signal: Arc<Signal>,
}

impl<'a> AsyncCall<'a> {
    /// Creates the context and registers the callback.
    ///
    /// # Errors
    /// `SEC_E_INSUFFICIENT_MEMORY` when `SspiCreateAsyncContext` returns NULL, or the status of
    /// `SspiSetAsyncNotifyCallback`.
    pub fn new(backend: &'a dyn Backend) -> Result<Self, SecStatus> {
        let ctx = backend.sspi_create_async_context();
        if ctx.is_null() {
            return Err(SecStatus::SEC_E_INSUFFICIENT_MEMORY);
        }
        let signal = Arc::new(Signal::default());
        let s = Arc::clone(&signal);
        let status = backend.sspi_set_async_notify_callback(ctx, Some(Arc::new(move |_, _| s.fire())), 0);
        if status != SecStatus::SEC_E_OK {
            backend.sspi_free_async_context(ctx);
            return Err(status);
        }
        Ok(Self { backend, ctx, signal })
    }

    /// The context to pass to an `sspi_*_async` call.
    pub fn ctx(&self) -> AsyncContextHandle {
        self.ctx
    }

    /// True once the callback has fired.
    pub fn is_complete(&self) -> bool {
        self.signal.state.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    /// Blocks until the callback fires, then returns the final status.
    ///
    /// With the manual driver nothing completes unless the test drives it: wait from another
    /// thread, or use [`wait_timeout`](AsyncCall::wait_timeout).
    pub fn wait(&self) -> SecStatus {
        let mut s = self.signal.state.lock().unwrap_or_else(PoisonError::into_inner);
        while !s.0 {
            s = self.signal.cond.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        drop(s);
        self.backend.sspi_get_async_call_status(self.ctx)
    }

    /// Like [`wait`](AsyncCall::wait), but gives up after `timeout` with `None`.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<SecStatus> {
        let s = self.signal.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (s, _) = self.signal.cond.wait_timeout_while(s, timeout, |s| !s.0).unwrap_or_else(PoisonError::into_inner);
        let done = s.0;
        drop(s);
        done.then(|| self.backend.sspi_get_async_call_status(self.ctx))
    }

    /// Re-initialises the context for another call (`SspiReinitAsyncContext`).
    ///
    /// # Errors
    /// The `NTSTATUS` of a refused re-initialisation (a call is still pending).
    pub fn reinit(&self) -> Result<(), sspi_emu_api::NtStatus> {
        let status = self.backend.sspi_reinit_async_context(self.ctx);
        if !status.is_success() {
            return Err(status);
        }
        self.signal.state.lock().unwrap_or_else(PoisonError::into_inner).0 = false;
        Ok(())
    }
}

impl Future for &AsyncCall<'_> {
    type Output = SecStatus;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SecStatus> {
        let mut s = self.signal.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.0 {
            drop(s);
            return Poll::Ready(self.backend.sspi_get_async_call_status(self.ctx));
        }
        s.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for AsyncCall<'_> {
    fn drop(&mut self) {
        self.backend.sspi_free_async_context(self.ctx);
    }
}
