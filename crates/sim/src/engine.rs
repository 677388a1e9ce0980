//! The async engine: the `SspiAsyncContext` state machine, queueing, completion and drivers.
//!
//! ```text
//!             create                     queue op (SEC_E_OK)               work done
//!  (none) ──────────► Idle ─────────────────────────► Pending ─────────────────► Completed(st)
//!                       ▲  polls SEC_E_UNSUPPORTED       polls SEC_I_ASYNC        polls st;
//!                       │  _FUNCTION \[I\]                 _CALL_PENDING \[D\]        callback fires once
//!                       └──────────── reinit (callback kept) \[D\] ◄─────────────────────┘
//! ```
//!
//! The core follows the quinn-proto discipline: it reads no wall clock and spawns no thread.
//! Commands (`queue`) record a pending call and hand a `Work` item to the driver; the input
//! `complete` runs the operation, stores the final status, then fires the callback. Drivers
//! only decide *when* `complete` runs: inline (before the queueing call returns), manual (when
//! the test says), or threaded (on a worker pool fed by a crossbeam channel).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};

use crossbeam_channel::Sender;
use parking_lot::Mutex;
use sspi_emu_api::{
    AcquireCredentials, AsyncContextHandle, CredHandle, Luid, NotifyCallback, NtStatus, Out, SecStatus, TimeStamp,
};

use crate::creds::Credential;
use crate::faults::{FaultAction, Faults};
use crate::function::FunctionId;
use crate::journal::{EntryId, Journal, JournalEntry};
use crate::table::Table;
use crate::world::World;

/// Which rules the async engine follows where the documentation and the observed kernel differ.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Profile {
    /// The documented contract (the default): every queued call completes asynchronously;
    /// a completed context must be re-initialised before reuse; `SspiFreeCredentialsHandleAsync`
    /// works.
    #[default]
    Documented,
    /// What the decompiled `ksecdd.sys` does (spec §5): with no callback registered the call
    /// runs synchronously and the queueing call returns the final status; a completed context
    /// may be reused without re-initialisation; `SspiFreeCredentialsHandleAsync` is a stub
    /// returning `SEC_E_UNSUPPORTED_FUNCTION`.
    ObservedKernel,
}

/// When queued work completes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum DriverKind {
    /// Before the queueing call returns (the callback may run first) [D sample allows it].
    #[default]
    Inline,
    /// When the test calls `step`, `complete` or `run_until_idle`.
    Manual,
    /// On a pool of this many worker threads.
    Threaded {
        /// Worker threads.
        workers: usize,
    },
}

/// A misuse of the async API that is undefined (or undocumented) on Windows, detected here.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Misuse {
    /// The call that misused the API.
    pub function: FunctionId,
    /// The context involved.
    pub ctx: AsyncContextHandle,
    /// What was wrong.
    pub kind: MisuseKind,
}

/// The kinds of misuse the simulator detects.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MisuseKind {
    /// The context was freed (or never created): use after free on Windows.
    StaleContext,
    /// A call was queued on a context whose call is still pending.
    QueueWhilePending,
    /// A call was queued on a completed context without `SspiReinitAsyncContext` (Documented).
    ReuseWithoutReinit,
    /// The context was freed while its call was pending: use after free on Windows when the
    /// call completes. The simulator defers the free until the call has completed.
    FreeWhilePending,
    /// A call other than `SspiDeleteSecurityContextAsync` was queued with no callback
    /// registered, which the documentation does not support \[D, DOC-SETCB\].
    NoCallbackRegistered,
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            MisuseKind::StaleContext => "the context was freed or never created (use after free on Windows)",
            MisuseKind::QueueWhilePending => "a call is already pending on this context",
            MisuseKind::ReuseWithoutReinit => {
                "the context's call completed; call SspiReinitAsyncContext before reusing it"
            }
            MisuseKind::FreeWhilePending => {
                "freed while its call is pending (use after free on Windows); the free is deferred until completion"
            }
            MisuseKind::NoCallbackRegistered => {
                "no callback registered; a NULL callback is supported only for SspiDeleteSecurityContextAsync"
            }
        };
        write!(f, "{} on {}: {}", self.function, self.ctx, what)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Idle,
    Pending,
    Completed,
}

/// One async context. Kept small: memory per idle context is a measured budget (240 bytes).
pub(crate) struct AsyncCtx {
    status: SecStatus,
    phase: Phase,
    free_requested: bool,
    callback: Option<NotifyCallback>,
    callback_data: usize,
}

/// The operation of a queued call, with the caller's output slots captured at queue time.
pub(crate) enum Op {
    Acquire { args: Box<AcquireCredentials>, credential: Out<CredHandle>, expiry: Option<Out<TimeStamp>> },
    FreeCredentials { credential: CredHandle },
}

/// A queued call, handed to the driver.
pub(crate) struct Work {
    ctx: AsyncContextHandle,
    op: Op,
    fault: Option<SecStatus>,
    caller: Luid,
    entry: EntryId,
}

pub(crate) enum Msg {
    Run(Work),
    Shutdown,
}

#[derive(Default)]
struct Queues {
    ready: VecDeque<Work>,
    delayed: Vec<(i64, Work)>,
    parked: Vec<Work>,
}

/// The simulator's state, shared with the driver's threads.
pub(crate) struct Core {
    pub(crate) world: Arc<World>,
    pub(crate) profile: Profile,
    pub(crate) strict: bool,
    pub(crate) driver: DriverKind,
    pub(crate) clock: AtomicI64,
    pub(crate) lsa_available: AtomicBool,
    pub(crate) authority_reachable: Vec<AtomicBool>,
    pub(crate) contexts: Table<AsyncCtx>,
    pub(crate) creds: Table<Credential>,
    pub(crate) journal: Journal,
    pub(crate) faults: Faults,
    misuses: Mutex<Vec<Misuse>>,
    queues: Mutex<Queues>,
    pub(crate) tx: Option<Sender<Msg>>,
    in_flight: AtomicUsize,
    dispatched: AtomicUsize,
    pub(crate) completed: AtomicU64,
    pub(crate) callbacks: AtomicU64,
}

impl Core {
    pub(crate) fn new(
        world: Arc<World>,
        profile: Profile,
        strict: bool,
        driver: DriverKind,
        journal: Journal,
        tx: Option<Sender<Msg>>,
    ) -> Self {
        let faults = Faults::default();
        for rule in &world.faults {
            faults.add(rule.clone());
        }
        Self {
            clock: AtomicI64::new(world.start_time.0),
            lsa_available: AtomicBool::new(world.machine.lsa_available),
            authority_reachable: world.authorities.iter().map(|a| AtomicBool::new(a.reachable)).collect(),
            world,
            profile,
            strict,
            driver,
            contexts: Table::new(),
            creds: Table::new(),
            journal,
            faults,
            misuses: Mutex::new(Vec::new()),
            queues: Mutex::new(Queues::default()),
            tx,
            in_flight: AtomicUsize::new(0),
            dispatched: AtomicUsize::new(0),
            completed: AtomicU64::new(0),
            callbacks: AtomicU64::new(0),
        }
    }

    pub(crate) fn now(&self) -> TimeStamp {
        TimeStamp(self.clock.load(Ordering::Acquire))
    }

    pub(crate) fn advance(&self, ticks: i64) {
        let now = self.clock.fetch_add(ticks.max(0), Ordering::AcqRel) + ticks.max(0);
        let due: Vec<Work> = {
            let mut q = self.queues.lock();
            let (due, later) = std::mem::take(&mut q.delayed).into_iter().partition(|(t, _)| *t <= now);
            q.delayed = later;
            let mut due: Vec<(i64, Work)> = due;
            due.sort_by_key(|(t, _)| *t);
            due.into_iter().map(|(_, w)| w).collect()
        };
        for w in due {
            self.dispatch(w);
        }
    }

    pub(crate) fn misuse(&self, function: FunctionId, ctx: AsyncContextHandle, kind: MisuseKind, entry: EntryId) {
        let m = Misuse { function, ctx, kind };
        let text = m.to_string();
        self.journal.update(entry, |e| e.misuse = Some(text.clone()));
        self.misuses.lock().push(m);
        if self.strict {
            panic!("sspi-emu strict mode: {text}");
        }
    }

    pub(crate) fn misuses(&self) -> Vec<Misuse> {
        self.misuses.lock().clone()
    }

    fn record(&self, function: FunctionId, ctx: AsyncContextHandle) -> EntryId {
        self.journal.record(|| {
            let mut e = JournalEntry::new(function, self.now());
            e.ctx = Some(ctx.0);
            e
        })
    }

    // ---- Commands on contexts -------------------------------------------------------------

    pub(crate) fn create(&self) -> AsyncContextHandle {
        let entry = self.record(FunctionId::SspiCreateAsyncContext, AsyncContextHandle::NULL);
        let fault = self.faults.check(FunctionId::SspiCreateAsyncContext, None);
        let ctx = AsyncCtx {
            status: SecStatus::SEC_E_UNSUPPORTED_FUNCTION,
            phase: Phase::Idle,
            free_requested: false,
            callback: None,
            callback_data: 0,
        };
        if let Some((FaultAction::Delay { ticks }, _)) = fault {
            self.advance(ticks);
        }
        let handle = match fault {
            Some((FaultAction::Fail(_), _)) => None,
            _ => self.contexts.insert(ctx, self.world.limits.max_async_contexts),
        }
        .map_or(AsyncContextHandle::NULL, AsyncContextHandle);
        self.journal.update(entry, |e| {
            e.ctx = Some(handle.0);
            e.returned = Some(format!("{handle:?}"));
            if let Some((_, rule)) = fault {
                e.fault = Some(rule);
            }
            if handle.is_null() {
                e.detail = Some("out of memory: NULL returned".into());
            }
        });
        handle
    }

    pub(crate) fn free(&self, ctx: AsyncContextHandle) {
        let f = FunctionId::SspiFreeAsyncContext;
        let entry = self.record(f, ctx);
        if ctx.is_null() {
            return;
        }
        // Decide under the lock, act after it.
        let pending = self.contexts.with(ctx.0, |c| {
            if c.free_requested {
                return None;
            }
            if c.phase == Phase::Pending {
                c.free_requested = true;
            }
            Some(c.phase == Phase::Pending)
        });
        match pending.flatten() {
            None => self.misuse(f, ctx, MisuseKind::StaleContext, entry),
            Some(true) => self.misuse(f, ctx, MisuseKind::FreeWhilePending, entry),
            Some(false) => {
                self.contexts.remove(ctx.0);
            }
        }
    }

    pub(crate) fn reinit(&self, ctx: AsyncContextHandle) -> NtStatus {
        let f = FunctionId::SspiReinitAsyncContext;
        let entry = self.record(f, ctx);
        let status = if ctx.is_null() {
            NtStatus::STATUS_INVALID_PARAMETER
        } else {
            match self.contexts.with(ctx.0, |c| {
                if c.free_requested {
                    None
                } else if c.phase == Phase::Pending {
                    Some(NtStatus::STATUS_INVALID_PARAMETER)
                } else {
                    c.phase = Phase::Idle;
                    c.status = SecStatus::SEC_E_UNSUPPORTED_FUNCTION;
                    Some(NtStatus::STATUS_SUCCESS)
                }
            }) {
                Some(Some(s)) => s,
                _ => {
                    self.misuse(f, ctx, MisuseKind::StaleContext, entry);
                    NtStatus::STATUS_INVALID_HANDLE
                }
            }
        };
        self.journal.update(entry, |e| e.returned = Some(status.to_string()));
        status
    }

    pub(crate) fn set_callback(&self, ctx: AsyncContextHandle, cb: Option<NotifyCallback>, data: usize) -> SecStatus {
        let f = FunctionId::SspiSetAsyncNotifyCallback;
        let entry = self.record(f, ctx);
        let status = if ctx.is_null() {
            SecStatus::SEC_E_INVALID_PARAMETER
        } else {
            match self.contexts.with(ctx.0, |c| {
                if c.free_requested {
                    None
                } else if c.phase == Phase::Pending {
                    Some(SecStatus::SEC_E_INVALID_PARAMETER)
                } else {
                    c.callback = cb;
                    c.callback_data = data;
                    Some(SecStatus::SEC_E_OK)
                }
            }) {
                Some(Some(s)) => s,
                _ => {
                    self.misuse(f, ctx, MisuseKind::StaleContext, entry);
                    SecStatus::SEC_E_INVALID_HANDLE
                }
            }
        };
        self.journal.update(entry, |e| {
            e.inputs.push(("CallbackData", format!("0x{data:x}")));
            e.status = Some(status);
        });
        status
    }

    pub(crate) fn requires_notify(&self, ctx: AsyncContextHandle) -> bool {
        let f = FunctionId::SspiAsyncContextRequiresNotify;
        let entry = self.record(f, ctx);
        let r = if ctx.is_null() {
            false
        } else {
            match self.contexts.with(ctx.0, |c| (!c.free_requested).then_some(c.callback.is_some())) {
                Some(Some(r)) => r,
                _ => {
                    self.misuse(f, ctx, MisuseKind::StaleContext, entry);
                    false
                }
            }
        };
        self.journal.update(entry, |e| e.returned = Some(if r { "TRUE" } else { "FALSE" }.into()));
        r
    }

    pub(crate) fn status(&self, ctx: AsyncContextHandle) -> SecStatus {
        let f = FunctionId::SspiGetAsyncCallStatus;
        let entry = self.record(f, ctx);
        let status = if ctx.is_null() {
            SecStatus::SEC_E_INVALID_PARAMETER
        } else {
            match self.contexts.with(ctx.0, |c| (!c.free_requested).then_some(c.status)) {
                Some(Some(s)) => s,
                _ => {
                    self.misuse(f, ctx, MisuseKind::StaleContext, entry);
                    SecStatus::SEC_E_INVALID_HANDLE
                }
            }
        };
        self.journal.update(entry, |e| e.status = Some(status));
        status
    }

    // ---- Queueing ------------------------------------------------------------------------

    /// Queues `op` on `ctx`. `invalid` is a queue-time parameter error found by the caller.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn queue(
        &self,
        ctx: AsyncContextHandle,
        function: FunctionId,
        package: Option<String>,
        inputs: Vec<(&'static str, String)>,
        invalid: Option<&'static str>,
        op: Op,
    ) -> SecStatus {
        let entry = self.journal.record(|| {
            let mut e = JournalEntry::new(function, self.now());
            e.ctx = Some(ctx.0);
            e.package = package.clone();
            e.inputs = inputs;
            e
        });
        let refuse = |status: SecStatus, detail: String| {
            self.journal.update(entry, |e| {
                e.queue_status = Some(status);
                e.detail = Some(detail);
            });
            status
        };
        if ctx.is_null() {
            return refuse(SecStatus::SEC_E_INVALID_PARAMETER, "AsyncContext is NULL".into());
        }
        // Check the context before parameters, as ksecdd does (spec §4.8, §4.9).
        let state = self.contexts.with(ctx.0, |c| (!c.free_requested).then_some((c.phase, c.callback.is_some())));
        let Some(Some((phase, has_callback))) = state else {
            self.misuse(function, ctx, MisuseKind::StaleContext, entry);
            return refuse(SecStatus::SEC_E_INVALID_HANDLE, "AsyncContext is stale".into());
        };
        match phase {
            Phase::Pending => {
                self.misuse(function, ctx, MisuseKind::QueueWhilePending, entry);
                return refuse(SecStatus::SEC_E_INVALID_PARAMETER, "a call is already pending on AsyncContext".into());
            }
            Phase::Completed if self.profile == Profile::Documented => {
                self.misuse(function, ctx, MisuseKind::ReuseWithoutReinit, entry);
                return refuse(SecStatus::SEC_E_INVALID_PARAMETER, "AsyncContext completed; reinit it first".into());
            }
            _ => {}
        }
        if let Some(why) = invalid {
            return refuse(SecStatus::SEC_E_INVALID_PARAMETER, why.to_string());
        }
        let fault = self.faults.check(function, package.as_deref());
        if let Some((FaultAction::FailQueue(s), rule)) = &fault {
            self.journal.update(entry, |e| e.fault = Some(rule.clone()));
            return refuse(*s, format!("fault rule: {rule}"));
        }
        let synchronous = !has_callback && self.profile == Profile::ObservedKernel;
        if !has_callback && self.profile == Profile::Documented {
            self.misuse(function, ctx, MisuseKind::NoCallbackRegistered, entry);
        }
        // Mark pending; the state may have changed since the check, so check again under the lock.
        let marked = self.contexts.with(ctx.0, |c| {
            if c.free_requested || c.phase == Phase::Pending {
                return false;
            }
            c.phase = Phase::Pending;
            c.status = SecStatus::SEC_I_ASYNC_CALL_PENDING;
            true
        });
        if marked != Some(true) {
            return refuse(SecStatus::SEC_E_INVALID_PARAMETER, "AsyncContext changed while queueing".into());
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let mut work = Work { ctx, op, fault: None, caller: self.world.caller_session, entry };
        if let Some((action, rule)) = fault {
            self.journal.update(entry, |e| e.fault = Some(rule));
            match action {
                FaultAction::Fail(s) => work.fault = Some(s),
                FaultAction::Delay { ticks } if !synchronous && ticks > 0 => {
                    let due = self.now().0.saturating_add(ticks);
                    self.queues.lock().delayed.push((due, work));
                    self.journal.update(entry, |e| e.queue_status = Some(SecStatus::SEC_E_OK));
                    return SecStatus::SEC_E_OK;
                }
                FaultAction::Never => {
                    self.queues.lock().parked.push(work);
                    self.journal.update(entry, |e| e.queue_status = Some(SecStatus::SEC_E_OK));
                    return SecStatus::SEC_E_OK;
                }
                FaultAction::Delay { ticks } => self.advance(ticks),

                FaultAction::FailQueue(_) => unreachable!("handled above"),
            }
        }
        if synchronous {
            // ObservedKernel without a callback: the call runs before returning and its final
            // status is both stored and returned (spec §5.3) [I].
            let status = self.complete(work);
            self.journal.update(entry, |e| e.queue_status = Some(status));
            return status;
        }
        self.journal.update(entry, |e| e.queue_status = Some(SecStatus::SEC_E_OK));
        self.dispatch(work);
        SecStatus::SEC_E_OK
    }

    /// `SspiFreeCredentialsHandleAsync` in the analysed ksecdd build (ObservedKernel): the context
    /// checks of every queueing call, then `SEC_E_UNSUPPORTED_FUNCTION`, nothing queued and the
    /// status word untouched (spec §4.10) \[I\].
    pub(crate) fn stub(
        &self,
        ctx: AsyncContextHandle,
        function: FunctionId,
        package: Option<String>,
        inputs: Vec<(&'static str, String)>,
    ) -> SecStatus {
        let entry = self.journal.record(|| {
            let mut e = JournalEntry::new(function, self.now());
            e.ctx = Some(ctx.0);
            e.package = package;
            e.inputs = inputs;
            e
        });
        let status = if ctx.is_null() {
            SecStatus::SEC_E_INVALID_PARAMETER
        } else {
            match self.contexts.with(ctx.0, |c| (!c.free_requested).then_some(c.phase)) {
                Some(Some(Phase::Pending)) => {
                    self.misuse(function, ctx, MisuseKind::QueueWhilePending, entry);
                    SecStatus::SEC_E_INVALID_PARAMETER
                }
                Some(Some(_)) => SecStatus::SEC_E_UNSUPPORTED_FUNCTION,
                _ => {
                    self.misuse(function, ctx, MisuseKind::StaleContext, entry);
                    SecStatus::SEC_E_INVALID_HANDLE
                }
            }
        };
        self.journal.update(entry, |e| {
            e.queue_status = Some(status);
            e.detail = Some("ObservedKernel: SspiFreeCredentialsHandleAsync is a stub in the analysed ksecdd".into());
        });
        status
    }

    fn dispatch(&self, work: Work) {
        match self.driver {
            DriverKind::Inline => {
                self.complete(work);
            }
            DriverKind::Manual => self.queues.lock().ready.push_back(work),
            DriverKind::Threaded { .. } => {
                self.dispatched.fetch_add(1, Ordering::AcqRel);
                if let Some(tx) = &self.tx
                    && let Err(e) = tx.send(Msg::Run(work))
                {
                    // Workers are gone only while the simulator is being dropped.
                    if let Msg::Run(w) = e.into_inner() {
                        self.complete(w);
                        self.dispatched_done();
                    }
                }
            }
        }
    }

    // ---- Completion (the driver's input) -------------------------------------------------

    /// Runs a queued call, stores its final status, then fires the callback. Returns the status.
    pub(crate) fn complete(&self, work: Work) -> SecStatus {
        let Work { ctx, op, fault, caller, entry } = work;
        let (status, detail) = match fault {
            Some(s) => (s, None),
            None => self.execute(op, caller),
        };
        // Outputs are written (inside `execute`) before the status becomes visible.
        let after = self.contexts.with(ctx.0, |c| {
            c.status = status;
            c.phase = Phase::Completed;
            (c.callback.clone(), c.callback_data, c.free_requested)
        });
        self.journal.update(entry, |e| {
            e.status = Some(status);
            e.completed_at = Some(self.now());
            if e.detail.is_none() {
                e.detail = detail;
            }
        });
        if let Some((callback, data, free_requested)) = after {
            if let Some(cb) = callback {
                cb(ctx, data);
                self.callbacks.fetch_add(1, Ordering::AcqRel);
                self.journal.update(entry, |e| e.callbacks += 1);
            }
            if free_requested {
                self.contexts.remove(ctx.0);
            }
        }
        self.completed.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        status
    }

    /// Called by a worker after `complete` of a dispatched item.
    pub(crate) fn dispatched_done(&self) {
        self.dispatched.fetch_sub(1, Ordering::AcqRel);
    }

    fn execute(&self, op: Op, caller: Luid) -> (SecStatus, Option<String>) {
        match op {
            Op::Acquire { args, credential, expiry } => match self.acquire(&args, caller) {
                Ok(c) => {
                    credential.set(c.handle);
                    if let Some(e) = expiry {
                        e.set(c.expiry);
                    }
                    (SecStatus::SEC_E_OK, None)
                }
                Err(e) => (e.status(), Some(e.to_string())),
            },
            Op::FreeCredentials { credential } => match self.free_credentials(credential) {
                Ok(()) => (SecStatus::SEC_E_OK, None),
                Err(e) => (e.status(), Some(e.to_string())),
            },
        }
    }

    // ---- Driver control ------------------------------------------------------------------

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    pub(crate) fn step(&self) -> bool {
        let next = self.queues.lock().ready.pop_front();
        next.map(|w| self.complete(w)).is_some()
    }

    pub(crate) fn complete_ctx(&self, ctx: AsyncContextHandle) -> bool {
        let work = {
            let mut q = self.queues.lock();
            q.ready.iter().position(|w| w.ctx == ctx).and_then(|i| q.ready.remove(i))
        };
        work.map(|w| self.complete(w)).is_some()
    }

    pub(crate) fn run_until_idle(&self) -> usize {
        let mut n = 0;
        while self.step() {
            n += 1;
        }
        if matches!(self.driver, DriverKind::Threaded { .. }) {
            let before = self.completed.load(Ordering::Acquire);
            while self.dispatched.load(Ordering::Acquire) > 0 {
                std::thread::yield_now();
            }
            n += (self.completed.load(Ordering::Acquire) - before) as usize;
        }
        n
    }

    pub(crate) fn held(&self) -> (usize, usize, usize) {
        let q = self.queues.lock();
        (q.ready.len(), q.delayed.len(), q.parked.len())
    }
}

/// Bytes of one async-context table slot (the per-context memory the table holds).
pub fn async_context_slot_bytes() -> usize {
    Table::<AsyncCtx>::slot_size()
}
