//! The async engine of this backend: the `SspiAsyncContext` state machine over any sync SSPI.
//!
//! The `Sspi*Async` family exists only in kernel mode (ksecdd.sys); a user-mode program that
//! links one of its functions does not even load. So this backend runs the real sync call
//! ([`Executor`]) under this engine, which gives it the documented queue-then-poll contract:
//!
//! ```text
//!             create                     queue (SEC_E_OK)                  executor returns
//!  (none) ──────────► Idle ─────────────────────────► Pending ─────────────────► Completed(st)
//!                       ▲  polls SEC_E_UNSUPPORTED       polls SEC_I_ASYNC        outputs written, then
//!                       │  _FUNCTION                     _CALL_PENDING            st visible, then the
//!                       │                                                         callback, once
//!                       └──────────── reinit (callback kept) ◄────────────────────────────┘
//! ```
//!
//! Every status is the simulator's `Documented` profile (`crates/sim/src/engine.rs`,
//! `docs/architecture.md` "Async context states"), and a test below runs the same calls on both
//! engines and compares every answer. What it does not have: fault rules, the journal, misuse
//! reports, the `ObservedKernel` profile and the manual driver. This engine is local to the
//! Windows backend until the simulator's engine is shared through an executor seam.
//!
//! Contexts live in a generational table (one mutex): a freed or never-issued handle is answered
//! with `SEC_E_INVALID_HANDLE`, never undefined behaviour; a context freed while its call is
//! pending stays until the call completes (its outputs are still written, its callback still
//! fires), and is gone for the caller at once.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle, ThreadId};

use sspi_emu_api::{
    AcceptSecurityContext, AcquireCredentials, AscOutputs, AscRet, AsyncContextHandle, CredHandle, Credentials,
    CtxtHandle, InitializeSecurityContext, IscOutputs, NotifyCallback, NtStatus, Out, SecBufferDesc, SecStatus,
    SecString, TimeStamp,
};

use crate::marshal;

/// The sync calls the engine runs when a queued call completes.
pub trait Executor: Send + Sync + 'static {
    /// `AcquireCredentialsHandle` (A or W by `args.charset`).
    ///
    /// # Errors
    /// The call's failure status.
    fn acquire_credentials_handle(&self, args: &AcquireCredentials) -> Result<Credentials, SecStatus>;

    /// `FreeCredentialsHandle`.
    fn free_credentials_handle(&self, credential: CredHandle) -> SecStatus;

    /// `InitializeSecurityContext`: writes `out` when it succeeds.
    fn initialize_security_context(&self, args: &InitializeSecurityContext, out: &IscOutputs) -> SecStatus;

    /// `AcceptSecurityContext`: writes `out` when it succeeds.
    fn accept_security_context(&self, args: &AcceptSecurityContext, out: &AscOutputs) -> SecStatus;

    /// `DeleteSecurityContext`.
    fn delete_security_context(&self, context: CtxtHandle) -> SecStatus;

    /// Whether `context` is a live security context handle (issued, not deleted): the async
    /// ISC/ASC refuse any other with `SEC_E_INVALID_HANDLE` when queued.
    fn is_context(&self, context: CtxtHandle) -> bool;

    /// Whether `DeleteSecurityContext(context)` would fail: a handle never issued. The async
    /// delete refuses it when queued.
    fn delete_would_fail(&self, context: CtxtHandle) -> bool;
}

/// When queued calls complete.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Driver {
    /// Before the queueing call returns, on the caller's thread (the callback may run before
    /// the caller's first poll, which the documentation's sample allows).
    Inline,
    /// On this many worker threads (at least one), in queueing order per worker.
    Threaded {
        /// Worker threads.
        workers: usize,
    },
}

impl Default for Driver {
    /// `Inline`, as the simulator's default (`Simulator::new()`), so that the same scenario sees
    /// the same completion order on both backends. Use `Threaded` to see calls pending.
    fn default() -> Self {
        Self::Inline
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Idle,
    Pending,
    Completed,
}

struct Ctx {
    phase: Phase,
    status: SecStatus,
    free_requested: bool,
    callback: Option<NotifyCallback>,
    callback_data: usize,
}

/// The operation of a queued call, with the caller's output slots captured at queue time.
enum Op {
    Acquire { args: Box<AcquireCredentials>, credential: Out<CredHandle>, expiry: Option<Out<TimeStamp>> },
    FreeCredentials { credential: CredHandle },
    Initialize { args: Box<InitializeSecurityContext>, out: Box<IscOutputs> },
    Accept { args: Box<AcceptSecurityContext>, out: Box<AscOutputs> },
    Delete { context: CtxtHandle },
}

/// `pOutput->cBuffers` above this is refused at queue time by ksecdd, as in the simulator.
const MAX_OUTPUT_BUFFERS: usize = 18;

/// The handle and buffer checks the async ISC and ASC make when queued (the simulator's
/// `context_call_invalid`, from ksecdd).
fn context_call_invalid<E: Executor>(
    executor: &E,
    credential: Option<CredHandle>,
    context: Option<CtxtHandle>,
    has_new_context: bool,
    output: Option<&Out<SecBufferDesc>>,
) -> Option<SecStatus> {
    if (context.is_none() && credential.is_none()) || !has_new_context {
        return Some(SecStatus::SEC_E_INVALID_HANDLE);
    }
    if context.is_some_and(|c| !executor.is_context(c)) {
        return Some(SecStatus::SEC_E_INVALID_HANDLE);
    }
    match output {
        None => Some(SecStatus::SEC_E_INVALID_PARAMETER),
        Some(o) if o.with(|d| d.buffers.len()) > MAX_OUTPUT_BUFFERS => Some(SecStatus::SEC_E_INVALID_PARAMETER),
        Some(_) => None,
    }
}

struct Work {
    ctx: AsyncContextHandle,
    op: Op,
}

/// Generational slots: handle = generation << 32 | index. Generations start at 1, so no handle
/// is NULL; removing a context bumps its slot's generation, so the old handle never matches
/// again. A slot whose generation would wrap is retired.
#[derive(Default)]
struct Table {
    slots: Vec<(u32, Option<Ctx>)>,
    free: Vec<u32>,
}

impl Table {
    fn insert(&mut self, ctx: Ctx) -> AsyncContextHandle {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push((1, None));
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.1 = Some(ctx);
        AsyncContextHandle(u64::from(slot.0) << 32 | u64::from(index))
    }

    /// The context of a handle, free-requested ones included.
    fn any(&mut self, handle: AsyncContextHandle) -> Option<&mut Ctx> {
        let (generation, index) = ((handle.0 >> 32) as u32, handle.0 as u32);
        match self.slots.get_mut(index as usize) {
            Some((g, ctx)) if *g == generation => ctx.as_mut(),
            _ => None,
        }
    }

    /// The context of a live handle: issued, not freed, not free-requested.
    fn live(&mut self, handle: AsyncContextHandle) -> Option<&mut Ctx> {
        self.any(handle).filter(|c| !c.free_requested)
    }

    fn remove(&mut self, handle: AsyncContextHandle) {
        let index = handle.0 as u32;
        if self.any(handle).is_none() {
            return;
        }
        let slot = &mut self.slots[index as usize];
        slot.1 = None;
        if slot.0 < u32::MAX {
            slot.0 += 1;
            self.free.push(index);
        }
    }
}

struct Core<E> {
    executor: Arc<E>,
    table: Mutex<Table>,
    in_flight: Mutex<usize>,
    /// Calls completed so far (for `run_until_idle`'s count).
    completed: AtomicU64,
    idle: Condvar,
    inline: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking callback runs outside every lock, so a poisoned lock holds consistent data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The async engine: the six context functions and the two queueing calls of the `Backend`
/// trait, over an [`Executor`].
pub struct Engine<E: Executor> {
    core: Arc<Core<E>>,
    sender: Mutex<Option<Sender<Work>>>,
    workers: Vec<JoinHandle<()>>,
}

impl<E: Executor> Engine<E> {
    /// An engine running `executor`'s calls with `driver`.
    pub fn new(executor: Arc<E>, driver: Driver) -> Self {
        let core = Arc::new(Core {
            executor,
            table: Mutex::new(Table::default()),
            in_flight: Mutex::new(0),
            completed: AtomicU64::new(0),
            idle: Condvar::new(),
            inline: driver == Driver::Inline,
        });
        let (sender, workers) = match driver {
            Driver::Inline => (None, Vec::new()),
            Driver::Threaded { workers } => {
                let (tx, rx) = mpsc::channel::<Work>();
                let rx = Arc::new(Mutex::new(rx));
                let handles = (0..workers.max(1))
                    .filter_map(|n| {
                        let (core, rx) = (Arc::clone(&core), Arc::clone(&rx));
                        thread::Builder::new()
                            .name(format!("sspi-emu-win-worker-{n}"))
                            .spawn(move || worker(&core, &rx))
                            .ok()
                    })
                    .collect::<Vec<_>>();
                // No worker could start: complete on the caller's thread, like the simulator.
                if handles.is_empty() { (None, handles) } else { (Some(tx), handles) }
            }
        };
        Self { core, sender: Mutex::new(sender), workers }
    }

    /// The executor.
    pub fn executor(&self) -> &Arc<E> {
        &self.core.executor
    }

    /// Calls queued and not yet completed.
    pub fn in_flight(&self) -> usize {
        *lock(&self.core.in_flight)
    }

    /// Blocks until no call is in flight (every callback has returned); returns how many calls
    /// completed meanwhile.
    pub fn wait_idle(&self) -> usize {
        let before = self.core.completed.load(Ordering::Acquire);
        let mut n = lock(&self.core.in_flight);
        while *n > 0 {
            n = self.core.idle.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
        drop(n);
        usize::try_from(self.core.completed.load(Ordering::Acquire) - before).unwrap_or(usize::MAX)
    }

    /// `SspiCreateAsyncContext`.
    pub fn create(&self) -> AsyncContextHandle {
        lock(&self.core.table).insert(Ctx {
            phase: Phase::Idle,
            status: SecStatus::SEC_E_UNSUPPORTED_FUNCTION,
            free_requested: false,
            callback: None,
            callback_data: 0,
        })
    }

    /// `SspiFreeAsyncContext`: NULL and stale handles are no-ops; a pending context is freed
    /// when its call completes.
    pub fn free(&self, ctx: AsyncContextHandle) {
        let mut table = lock(&self.core.table);
        match table.live(ctx) {
            Some(c) if c.phase == Phase::Pending => c.free_requested = true,
            Some(_) => table.remove(ctx),
            None => {}
        }
    }

    /// `SspiReinitAsyncContext`.
    pub fn reinit(&self, ctx: AsyncContextHandle) -> NtStatus {
        if ctx.is_null() {
            return NtStatus::STATUS_INVALID_PARAMETER;
        }
        match lock(&self.core.table).live(ctx) {
            None => NtStatus::STATUS_INVALID_HANDLE,
            Some(c) if c.phase == Phase::Pending => NtStatus::STATUS_INVALID_PARAMETER,
            Some(c) => {
                c.phase = Phase::Idle;
                c.status = SecStatus::SEC_E_UNSUPPORTED_FUNCTION;
                NtStatus::STATUS_SUCCESS
            }
        }
    }

    /// `SspiSetAsyncNotifyCallback`.
    pub fn set_callback(&self, ctx: AsyncContextHandle, callback: Option<NotifyCallback>, data: usize) -> SecStatus {
        if ctx.is_null() {
            return SecStatus::SEC_E_INVALID_PARAMETER;
        }
        match lock(&self.core.table).live(ctx) {
            None => SecStatus::SEC_E_INVALID_HANDLE,
            Some(c) if c.phase == Phase::Pending => SecStatus::SEC_E_INVALID_PARAMETER,
            Some(c) => {
                c.callback = callback;
                c.callback_data = data;
                SecStatus::SEC_E_OK
            }
        }
    }

    /// `SspiAsyncContextRequiresNotify`: whether a callback is registered.
    pub fn requires_notify(&self, ctx: AsyncContextHandle) -> bool {
        lock(&self.core.table).live(ctx).is_some_and(|c| c.callback.is_some())
    }

    /// `SspiGetAsyncCallStatus`.
    pub fn status(&self, ctx: AsyncContextHandle) -> SecStatus {
        if ctx.is_null() {
            return SecStatus::SEC_E_INVALID_PARAMETER;
        }
        lock(&self.core.table).live(ctx).map_or(SecStatus::SEC_E_INVALID_HANDLE, |c| c.status)
    }

    /// `SspiAcquireCredentialsHandleAsyncA/W`: `credential` and `expiry` are written when the
    /// call completes, before its status becomes visible.
    pub fn acquire_credentials_handle(
        &self,
        ctx: AsyncContextHandle,
        args: AcquireCredentials,
        credential: &Out<CredHandle>,
        expiry: Option<&Out<TimeStamp>>,
    ) -> SecStatus {
        let invalid = marshal::queue_time_error(&args).map(|_| SecStatus::SEC_E_INVALID_PARAMETER);
        let op = Op::Acquire { args: Box::new(args), credential: credential.clone(), expiry: expiry.cloned() };
        self.queue(ctx, || invalid, op)
    }

    /// `SspiFreeCredentialsHandleAsync`.
    pub fn free_credentials_handle(&self, ctx: AsyncContextHandle, credential: CredHandle) -> SecStatus {
        self.queue(ctx, || None, Op::FreeCredentials { credential })
    }

    /// `SspiInitializeSecurityContextAsyncA/W`: `out` is written when the call completes.
    pub fn initialize_security_context(
        &self,
        ctx: AsyncContextHandle,
        args: InitializeSecurityContext,
        out: &IscOutputs,
    ) -> SecStatus {
        let executor = &*self.core.executor;
        let invalid = context_call_invalid(
            executor,
            args.credential,
            args.context,
            out.new_context.is_some(),
            out.output.as_ref(),
        )
        .or_else(|| {
            matches!(&args.target_name, Some(SecString::Counted(c)) if c.units().is_none())
                .then_some(SecStatus::SEC_E_INVALID_PARAMETER)
        });
        let op = Op::Initialize { args: Box::new(args), out: Box::new(out.clone()) };
        self.queue(ctx, || invalid, op)
    }

    /// `SspiAcceptSecurityContextAsync`: `out` is written when the call completes.
    pub fn accept_security_context(
        &self,
        ctx: AsyncContextHandle,
        args: AcceptSecurityContext,
        out: &AscOutputs,
    ) -> SecStatus {
        let executor = &*self.core.executor;
        let (credential, context) = (args.credential, args.context);
        let invalid = || {
            // ksecdd zeroes *pfContextAttr and *ptsExpiry once the context checks pass, before
            // checking the handles, as the simulator does.
            out.context_attr.set(AscRet::default());
            if let Some(e) = &out.expiry {
                e.set(TimeStamp(0));
            }
            context_call_invalid(executor, credential, context, out.new_context.is_some(), out.output.as_ref())
        };
        let op = Op::Accept { args: Box::new(args), out: Box::new(out.clone()) };
        self.queue(ctx, invalid, op)
    }

    /// `SspiDeleteSecurityContextAsync`.
    pub fn delete_security_context(&self, ctx: AsyncContextHandle, context: CtxtHandle) -> SecStatus {
        let invalid = self.core.executor.delete_would_fail(context).then_some(SecStatus::SEC_E_INVALID_HANDLE);
        self.queue(ctx, || invalid, Op::Delete { context })
    }

    /// The context checks of every queueing call, in the simulator's order (NULL, stale,
    /// pending, completed without reinit), then the call's own parameter checks (`invalid`, run
    /// only when the context checks pass), then the call is pending.
    fn queue(&self, ctx: AsyncContextHandle, invalid: impl FnOnce() -> Option<SecStatus>, op: Op) -> SecStatus {
        if ctx.is_null() {
            return SecStatus::SEC_E_INVALID_PARAMETER;
        }
        {
            let mut table = lock(&self.core.table);
            let Some(c) = table.live(ctx) else { return SecStatus::SEC_E_INVALID_HANDLE };
            if c.phase != Phase::Idle {
                return SecStatus::SEC_E_INVALID_PARAMETER;
            }
            if let Some(status) = invalid() {
                return status;
            }
            c.phase = Phase::Pending;
            c.status = SecStatus::SEC_I_ASYNC_CALL_PENDING;
            *lock(&self.core.in_flight) += 1;
        }
        let work = Work { ctx, op };
        let rejected = match &*lock(&self.sender) {
            Some(tx) => tx.send(work).err().map(|e| e.0),
            None => Some(work),
        };
        if let Some(work) = rejected {
            self.core.complete(work);
        }
        SecStatus::SEC_E_OK
    }
}

impl<E: Executor> Core<E> {
    /// Runs a queued call: outputs, then the final status, then the callback (outside every
    /// lock: it may free the context or queue again), then a deferred free.
    fn complete(&self, work: Work) {
        let Work { ctx, op } = work;
        let status = match op {
            Op::Acquire { args, credential, expiry } => match self.executor.acquire_credentials_handle(&args) {
                Ok(c) => {
                    credential.set(c.handle);
                    if let Some(e) = expiry {
                        e.set(c.expiry);
                    }
                    SecStatus::SEC_E_OK
                }
                Err(s) => s,
            },
            Op::FreeCredentials { credential } => self.executor.free_credentials_handle(credential),
            Op::Initialize { args, out } => self.executor.initialize_security_context(&args, &out),
            Op::Accept { args, out } => self.executor.accept_security_context(&args, &out),
            Op::Delete { context } => self.executor.delete_security_context(context),
        };
        let after = lock(&self.table).any(ctx).map(|c| {
            c.status = status;
            c.phase = Phase::Completed;
            (c.callback.clone(), c.callback_data, c.free_requested)
        });
        let mut panicked: Option<Box<dyn Any + Send>> = None;
        if let Some((callback, data, free_requested)) = after {
            if let Some(cb) = callback {
                panicked = panic::catch_unwind(AssertUnwindSafe(|| cb(ctx, data))).err();
            }
            if free_requested {
                lock(&self.table).remove(ctx);
            }
        }
        self.completed.fetch_add(1, Ordering::AcqRel);
        {
            let mut n = lock(&self.in_flight);
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.idle.notify_all();
            }
        }
        if let Some(payload) = panicked {
            if self.inline {
                // On the caller's thread the panic is the caller's, as in the simulator.
                panic::resume_unwind(payload);
            }
            eprintln!("sspi-emu-win: an async notify callback panicked on {ctx}; the worker goes on");
        }
    }
}

fn worker<E: Executor>(core: &Core<E>, rx: &Mutex<Receiver<Work>>) {
    loop {
        // One worker waits in `recv` at a time; the lock is released before the call runs.
        let next = lock(rx).recv();
        match next {
            Ok(work) => core.complete(work),
            Err(_) => return, // the engine was dropped and the queue is drained
        }
    }
}

impl<E: Executor> Drop for Engine<E> {
    /// Lets the workers finish every queued call (each callback fires), then joins them; never
    /// the current thread, since a callback may drop the last owner of the engine.
    fn drop(&mut self) {
        lock(&self.sender).take();
        let me: ThreadId = thread::current().id();
        for handle in self.workers.drain(..) {
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
    }
}

#[cfg(test)]
mod tests;
