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
//!
//! *What* a completed operation does is the world's (`Core::acquire`, `Core::initialize`, ...),
//! or, when the simulator was built with an [`Executor`], the executor's: the Windows backend
//! runs the real secur32 calls there under this same engine (`crate::executor`).

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::thread::ThreadId;

use crossbeam_channel::Sender;
use parking_lot::Mutex;
use sspi_emu_api::{
    AcceptSecurityContext, AcquireCredentials, AscOutputs, AsyncContextHandle, CredHandle, CtxtHandle,
    InitializeSecurityContext, IscOutputs, Luid, NotifyCallback, NtStatus, Out, SecStatus, TimeStamp,
};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::context::SharedContext;
use crate::creds::Credential;
use crate::executor::{self, Executor};
use crate::faults::{FaultAction, Faults};
use crate::function::FunctionId;
use crate::journal::{EntryId, Inputs, Journal, Record, Returned};
use crate::table::Table;
use crate::world::{LogonSession, World};

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
    Acquire { args: Arc<AcquireCredentials>, credential: Out<CredHandle>, expiry: Option<Out<TimeStamp>> },
    FreeCredentials { credential: CredHandle },
    Initialize { args: Arc<InitializeSecurityContext>, out: IscOutputs },
    Accept { args: Arc<AcceptSecurityContext>, out: AscOutputs },
    DeleteContext { context: CtxtHandle },
}

/// A queued call, handed to the driver.
pub(crate) struct Work {
    ctx: AsyncContextHandle,
    op: Op,
    fault: Option<SecStatus>,
    caller: Luid,
    entry: EntryId,
    /// ObservedKernel without a callback: the queueing call returns the final status.
    synchronous: bool,
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

/// A value on its own cache line, so that counters bumped by different threads do not share one.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Padded<T>(pub(crate) T);

/// How `Core::queue` decided, under the context's lock.
enum Decision {
    Refuse { status: SecStatus, misuse: Option<MisuseKind>, detail: String, fault: Option<String> },
    Queued { has_callback: bool, fault: Option<(FaultAction, String)> },
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
    /// Security contexts (`CtxtHandle`s).
    pub(crate) security: Table<SharedContext>,
    /// The world's random source (seeded from `World::seed`): challenges and session keys.
    pub(crate) rng: Mutex<ChaCha8Rng>,
    /// Network logon sessions created by completed server contexts.
    pub(crate) network_sessions: Mutex<HashMap<Luid, LogonSession>>,
    pub(crate) next_luid: AtomicU32,
    /// The logon session each thread impersonates (`ImpersonateSecurityContext`).
    pub(crate) impersonation: Mutex<HashMap<ThreadId, Luid>>,
    /// Whether any thread impersonates: the common case (none) skips the lock on every call.
    pub(crate) impersonating: AtomicBool,
    pub(crate) journal: Journal,
    pub(crate) faults: Faults,
    /// Runs completed operations and answers the queue-time handle checks instead of the world.
    pub(crate) executor: Option<Arc<dyn Executor>>,
    /// The machine's names as an NTLM server announces them, derived once from the world.
    pub(crate) server_names: crate::context::ServerNames,
    misuses: Mutex<Vec<Misuse>>,
    queues: Mutex<Queues>,
    pub(crate) tx: Option<Sender<Msg>>,
    in_flight: Padded<AtomicUsize>,
    dispatched: Padded<AtomicUsize>,
    pub(crate) completed: Padded<AtomicU64>,
    pub(crate) callbacks: Padded<AtomicU64>,
    /// Calls the threaded driver's workers have completed, and how many of them
    /// `run_until_idle` has reported so far.
    worker_done: AtomicU64,
    worker_reported: AtomicU64,
}

impl Core {
    pub(crate) fn new(
        world: Arc<World>,
        profile: Profile,
        strict: bool,
        driver: DriverKind,
        journal: Journal,
        executor: Option<Arc<dyn Executor>>,
        tx: Option<Sender<Msg>>,
    ) -> Self {
        let faults = Faults::default();
        for rule in &world.faults {
            faults.add(rule.clone());
        }
        let rng = ChaCha8Rng::seed_from_u64(world.seed);
        let server_names = crate::context::ServerNames::of(&world.machine);
        Self {
            server_names,
            clock: AtomicI64::new(world.start_time.0),
            lsa_available: AtomicBool::new(world.machine.lsa_available),
            authority_reachable: world.authorities.iter().map(|a| AtomicBool::new(a.reachable)).collect(),
            world,
            profile,
            strict,
            driver,
            contexts: Table::new(),
            creds: Table::new(),
            security: Table::new(),
            rng: Mutex::new(rng),
            network_sessions: Mutex::new(HashMap::new()),
            next_luid: AtomicU32::new(0x0010_0000),
            impersonation: Mutex::new(HashMap::new()),
            impersonating: AtomicBool::new(false),
            journal,
            faults,
            executor,
            misuses: Mutex::new(Vec::new()),
            queues: Mutex::new(Queues::default()),
            tx,
            in_flight: Padded::default(),
            dispatched: Padded::default(),
            completed: Padded::default(),
            callbacks: Padded::default(),
            worker_done: AtomicU64::new(0),
            worker_reported: AtomicU64::new(0),
        }
    }

    /// The logon session of the calling thread: the one it impersonates, else the world's
    /// caller. Captured at queue time by async calls, as ksecdd captures the token (spec §5.2).
    pub(crate) fn caller(&self) -> Luid {
        if !self.impersonating.load(Ordering::Acquire) {
            return self.world.caller_session;
        }
        let map = self.impersonation.lock();
        if map.is_empty() {
            return self.world.caller_session;
        }
        map.get(&std::thread::current().id()).copied().unwrap_or(self.world.caller_session)
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

    /// Records a misuse; returns its text for the journal. Strict mode panics with it.
    pub(crate) fn misuse(&self, function: FunctionId, ctx: AsyncContextHandle, kind: MisuseKind) -> String {
        let m = Misuse { function, ctx, kind };
        let text = m.to_string();
        self.misuses.lock().push(m);
        if self.strict {
            panic!("sspi-emu strict mode: {text}");
        }
        text
    }

    pub(crate) fn misuses(&self) -> Vec<Misuse> {
        self.misuses.lock().clone()
    }

    /// Runs `f` on a live context (not freed, not free-requested), or returns `None` for a
    /// stale one after recording the misuse into `misuse`.
    fn live<R>(
        &self,
        function: FunctionId,
        ctx: AsyncContextHandle,
        misuse: &mut Option<String>,
        f: impl FnOnce(&mut AsyncCtx) -> R,
    ) -> Option<R> {
        let r = self.contexts.with(ctx.0, |c| (!c.free_requested).then(|| f(c))).flatten();
        if r.is_none() {
            *misuse = Some(self.misuse(function, ctx, MisuseKind::StaleContext));
        }
        r
    }

    // ---- Commands on contexts -------------------------------------------------------------

    pub(crate) fn create(&self) -> AsyncContextHandle {
        let f = FunctionId::SspiCreateAsyncContext;
        let at = self.now();
        let fault = self.faults.check(f, None);
        if let Some((FaultAction::Delay { ticks }, _)) = fault {
            self.advance(ticks);
        }
        let ctx = AsyncCtx {
            status: SecStatus::SEC_E_UNSUPPORTED_FUNCTION,
            phase: Phase::Idle,
            free_requested: false,
            callback: None,
            callback_data: 0,
        };
        let handle = match fault {
            Some((FaultAction::Fail(_), _)) => None,
            _ => self.contexts.insert(ctx, self.world.limits.max_async_contexts),
        }
        .map_or(AsyncContextHandle::NULL, AsyncContextHandle);
        self.journal.record(|| {
            let mut r = Record::new(f, at, Inputs::None).ctx(handle);
            r.returned = Returned::Ctx(handle);
            let detail = handle.is_null().then(|| "out of memory: NULL returned".to_string());
            r.note(detail, fault.map(|(_, rule)| rule), None)
        });
        handle
    }

    pub(crate) fn free(&self, ctx: AsyncContextHandle) {
        let f = FunctionId::SspiFreeAsyncContext;
        let at = self.now();
        let mut misuse = None;
        if !ctx.is_null() {
            // Decide under the lock, act after it.
            let pending = self.live(f, ctx, &mut misuse, |c| {
                if c.phase == Phase::Pending {
                    c.free_requested = true;
                }
                c.phase == Phase::Pending
            });
            match pending {
                Some(true) => misuse = Some(self.misuse(f, ctx, MisuseKind::FreeWhilePending)),
                Some(false) => {
                    self.contexts.remove(ctx.0);
                }
                None => {}
            }
        }
        self.journal.record(|| Record::new(f, at, Inputs::None).ctx(ctx).note(None, None, misuse));
    }

    pub(crate) fn reinit(&self, ctx: AsyncContextHandle) -> NtStatus {
        let f = FunctionId::SspiReinitAsyncContext;
        let at = self.now();
        let mut misuse = None;
        let status = if ctx.is_null() {
            NtStatus::STATUS_INVALID_PARAMETER
        } else {
            self.live(f, ctx, &mut misuse, |c| {
                if c.phase == Phase::Pending {
                    NtStatus::STATUS_INVALID_PARAMETER
                } else {
                    c.phase = Phase::Idle;
                    c.status = SecStatus::SEC_E_UNSUPPORTED_FUNCTION;
                    NtStatus::STATUS_SUCCESS
                }
            })
            .unwrap_or(NtStatus::STATUS_INVALID_HANDLE)
        };
        self.journal.record(|| {
            let mut r = Record::new(f, at, Inputs::None).ctx(ctx).note(None, None, misuse);
            r.returned = Returned::Nt(status);
            r
        });
        status
    }

    pub(crate) fn set_callback(&self, ctx: AsyncContextHandle, cb: Option<NotifyCallback>, data: usize) -> SecStatus {
        let f = FunctionId::SspiSetAsyncNotifyCallback;
        let at = self.now();
        let mut misuse = None;
        let status = if ctx.is_null() {
            SecStatus::SEC_E_INVALID_PARAMETER
        } else {
            self.live(f, ctx, &mut misuse, |c| {
                if c.phase == Phase::Pending {
                    SecStatus::SEC_E_INVALID_PARAMETER
                } else {
                    c.callback = cb;
                    c.callback_data = data;
                    SecStatus::SEC_E_OK
                }
            })
            .unwrap_or(SecStatus::SEC_E_INVALID_HANDLE)
        };
        self.journal.record(|| {
            let mut r = Record::new(f, at, Inputs::CallbackData(data)).ctx(ctx).note(None, None, misuse);
            r.status = Some(status);
            r
        });
        status
    }

    pub(crate) fn requires_notify(&self, ctx: AsyncContextHandle) -> bool {
        let f = FunctionId::SspiAsyncContextRequiresNotify;
        let at = self.now();
        let mut misuse = None;
        let answer = !ctx.is_null() && self.live(f, ctx, &mut misuse, |c| c.callback.is_some()).unwrap_or(false);
        self.journal.record(|| {
            let mut r = Record::new(f, at, Inputs::None).ctx(ctx).note(None, None, misuse);
            r.returned = Returned::Bool(answer);
            r
        });
        answer
    }

    pub(crate) fn status(&self, ctx: AsyncContextHandle) -> SecStatus {
        let f = FunctionId::SspiGetAsyncCallStatus;
        let at = self.now();
        let mut misuse = None;
        let status = if ctx.is_null() {
            SecStatus::SEC_E_INVALID_PARAMETER
        } else {
            self.live(f, ctx, &mut misuse, |c| c.status).unwrap_or(SecStatus::SEC_E_INVALID_HANDLE)
        };
        self.journal.record(|| {
            let mut r = Record::new(f, at, Inputs::None).ctx(ctx).note(None, None, misuse);
            r.status = Some(status);
            r
        });
        status
    }

    // ---- Queueing ------------------------------------------------------------------------

    /// Queues `op` on `ctx`. `invalid` is a queue-time parameter error found by the caller;
    /// `package` names the call's package for fault rules (asked only when rules exist).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn queue(
        &self,
        ctx: AsyncContextHandle,
        function: FunctionId,
        inputs: impl FnOnce() -> Inputs,
        package: impl FnOnce() -> Option<String>,
        invalid: impl FnOnce() -> Option<(SecStatus, &'static str)>,
        op: Op,
    ) -> SecStatus {
        let at = self.now();
        let package = if self.faults.active() { package() } else { None };
        // One lock: the context checks (first, as ksecdd does, spec §4.8-4.9), the parameters,
        // the fault rules, and marking the call pending.
        let decision = if ctx.is_null() {
            Decision::Refuse {
                status: SecStatus::SEC_E_INVALID_PARAMETER,
                misuse: None,
                detail: "AsyncContext is NULL".into(),
                fault: None,
            }
        } else {
            let documented = self.profile == Profile::Documented;
            self.contexts
                .with(ctx.0, |c| {
                    let refuse = |status, misuse, detail: &str| Decision::Refuse {
                        status,
                        misuse,
                        detail: detail.to_string(),
                        fault: None,
                    };
                    if c.free_requested {
                        return refuse(
                            SecStatus::SEC_E_INVALID_HANDLE,
                            Some(MisuseKind::StaleContext),
                            "AsyncContext is stale",
                        );
                    }
                    match c.phase {
                        Phase::Pending => {
                            return refuse(
                                SecStatus::SEC_E_INVALID_PARAMETER,
                                Some(MisuseKind::QueueWhilePending),
                                "a call is already pending on AsyncContext",
                            );
                        }
                        Phase::Completed if documented => {
                            return refuse(
                                SecStatus::SEC_E_INVALID_PARAMETER,
                                Some(MisuseKind::ReuseWithoutReinit),
                                "AsyncContext completed; reinit it first",
                            );
                        }
                        _ => {}
                    }
                    // Parameter checks run after the context checks, as ksecdd orders them.
                    if let Some((status, why)) = invalid() {
                        return refuse(status, None, why);
                    }
                    let fault = self.faults.check(function, package.as_deref());
                    if let Some((FaultAction::FailQueue(status), rule)) = fault {
                        return Decision::Refuse {
                            status,
                            misuse: None,
                            detail: format!("fault rule: {rule}"),
                            fault: Some(rule),
                        };
                    }
                    c.phase = Phase::Pending;
                    c.status = SecStatus::SEC_I_ASYNC_CALL_PENDING;
                    Decision::Queued { has_callback: c.callback.is_some(), fault }
                })
                .unwrap_or_else(|| Decision::Refuse {
                    status: SecStatus::SEC_E_INVALID_HANDLE,
                    misuse: Some(MisuseKind::StaleContext),
                    detail: "AsyncContext is stale".into(),
                    fault: None,
                })
        };
        let (has_callback, fault) = match decision {
            Decision::Refuse { status, misuse, detail, fault } => {
                let misuse = misuse.map(|kind| self.misuse(function, ctx, kind));
                self.journal.record(|| {
                    let mut r = Record::new(function, at, inputs()).ctx(ctx).note(Some(detail), fault, misuse);
                    r.queue_status = Some(status);
                    r
                });
                return status;
            }
            Decision::Queued { has_callback, fault } => (has_callback, fault),
        };
        let synchronous = !has_callback && self.profile == Profile::ObservedKernel;
        // A NULL callback is documented for SspiDeleteSecurityContextAsync only [D, DOC-SETCB].
        let misuse = (!has_callback
            && self.profile == Profile::Documented
            && function != FunctionId::SspiDeleteSecurityContextAsync)
            .then(|| self.misuse(function, ctx, MisuseKind::NoCallbackRegistered));
        self.in_flight.0.fetch_add(1, Ordering::AcqRel);
        let entry = self.journal.record(|| {
            let mut r = Record::new(function, at, inputs()).ctx(ctx).note(
                None,
                fault.as_ref().map(|(_, rule)| rule.clone()),
                misuse,
            );
            r.queue_status = (!synchronous).then_some(SecStatus::SEC_E_OK);
            r
        });
        let mut work = Work { ctx, op, fault: None, caller: self.caller(), entry, synchronous };
        match fault.map(|(action, _)| action) {
            Some(FaultAction::Fail(s)) => work.fault = Some(s),
            Some(FaultAction::Delay { ticks }) if !synchronous && ticks > 0 => {
                let due = self.now().0.saturating_add(ticks);
                self.queues.lock().delayed.push((due, work));
                return SecStatus::SEC_E_OK;
            }
            Some(FaultAction::Delay { ticks }) => self.advance(ticks),
            Some(FaultAction::Never) => {
                self.queues.lock().parked.push(work);
                return SecStatus::SEC_E_OK;
            }
            Some(FaultAction::FailQueue(_)) | None => {}
        }
        if synchronous {
            // ObservedKernel without a callback: the call runs before returning and its final
            // status is both stored and returned (spec §5.3) \[I\].
            return self.complete(work);
        }
        self.dispatch(work);
        SecStatus::SEC_E_OK
    }

    /// `SspiFreeCredentialsHandleAsync` in the analysed ksecdd build (ObservedKernel): the context
    /// checks of every queueing call, then `SEC_E_UNSUPPORTED_FUNCTION`, nothing queued and the
    /// status word untouched (spec §4.10) \[I\].
    pub(crate) fn stub(&self, ctx: AsyncContextHandle, function: FunctionId, inputs: Inputs) -> SecStatus {
        let at = self.now();
        let mut misuse = None;
        let status = if ctx.is_null() {
            SecStatus::SEC_E_INVALID_PARAMETER
        } else {
            match self.live(function, ctx, &mut misuse, |c| c.phase) {
                Some(Phase::Pending) => {
                    misuse = Some(self.misuse(function, ctx, MisuseKind::QueueWhilePending));
                    SecStatus::SEC_E_INVALID_PARAMETER
                }
                Some(_) => SecStatus::SEC_E_UNSUPPORTED_FUNCTION,
                None => SecStatus::SEC_E_INVALID_HANDLE,
            }
        };
        self.journal.record(|| {
            let detail = "ObservedKernel: SspiFreeCredentialsHandleAsync is a stub in the analysed ksecdd";
            let mut r = Record::new(function, at, inputs).ctx(ctx).note(Some(detail.into()), None, misuse);
            r.queue_status = Some(status);
            r
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
                self.dispatched.0.fetch_add(1, Ordering::AcqRel);
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
    ///
    /// On the caller's thread (inline and manual drivers, synchronous calls), a panicking
    /// callback panics the caller, after the engine's bookkeeping is done.
    pub(crate) fn complete(&self, work: Work) -> SecStatus {
        let (status, panicked) = self.finish(work);
        if let Some(payload) = panicked {
            panic::resume_unwind(payload);
        }
        status
    }

    /// [`Core::complete`] on a worker thread of the threaded driver: a panicking callback is
    /// reported (the panic hook has printed its message) and the worker goes on.
    pub(crate) fn complete_on_worker(&self, work: Work) {
        let ctx = work.ctx;
        if self.finish(work).1.is_some() {
            eprintln!("sspi-emu: the async notify callback of {ctx} panicked; the worker goes on");
        }
    }

    /// `complete` without the panic policy: the status, and the payload of a callback's panic.
    fn finish(&self, work: Work) -> (SecStatus, Option<Box<dyn Any + Send>>) {
        let Work { ctx, op, fault, caller, entry, synchronous } = work;
        let (status, detail) = match fault {
            Some(s) => (s, None),
            // A panicking operation (an executor's bug) still completes its call, exactly once,
            // with SEC_E_INTERNAL_ERROR, so no caller waits for ever and a worker survives.
            None => panic::catch_unwind(AssertUnwindSafe(|| self.execute(op, caller))).unwrap_or_else(|_| {
                eprintln!("sspi-emu: the operation queued on {ctx} panicked; it completes with SEC_E_INTERNAL_ERROR");
                (SecStatus::SEC_E_INTERNAL_ERROR, Some("the operation panicked".to_string()))
            }),
        };
        // Outputs are written (inside `execute`) before the status becomes visible.
        let after = self.contexts.with(ctx.0, |c| {
            c.status = status;
            c.phase = Phase::Completed;
            (c.callback.clone(), c.callback_data, c.free_requested)
        });
        // The journal holds the final status before anyone is told (the callback counts as fired
        // from here: it is called next).
        let fires = after.as_ref().is_some_and(|(cb, _, _)| cb.is_some());
        let now = self.now();
        self.journal.update(entry, |r| {
            r.status = Some(status);
            r.completed_at = Some(now);
            r.callbacks += u32::from(fires);
            if synchronous {
                r.queue_status = Some(status);
            }
            if detail.is_some() {
                r.notes().detail = detail;
            }
        });
        let mut panicked = None;
        if let Some((callback, data, free_requested)) = after {
            if let Some(cb) = callback {
                // Caught so that the bookkeeping below runs (and a worker survives); the caller
                // decides what a panic means (`complete`, `complete_on_worker`).
                panicked = panic::catch_unwind(AssertUnwindSafe(|| cb(ctx, data))).err();
                self.callbacks.0.fetch_add(1, Ordering::Relaxed);
            }
            if free_requested {
                self.contexts.remove(ctx.0);
            }
        }
        self.completed.0.fetch_add(1, Ordering::Relaxed);
        self.in_flight.0.fetch_sub(1, Ordering::AcqRel);
        (status, panicked)
    }

    /// Called by a worker after `complete` of a dispatched item.
    pub(crate) fn dispatched_done(&self) {
        self.worker_done.fetch_add(1, Ordering::Relaxed);
        self.dispatched.0.fetch_sub(1, Ordering::AcqRel);
    }

    /// Runs `op`: through the executor when there is one, else against the world as `caller`.
    fn execute(&self, op: Op, caller: Luid) -> (SecStatus, Option<String>) {
        if let Some(e) = &self.executor {
            return (executor::run(e.as_ref(), op), None);
        }
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
            Op::Initialize { args, out } => match self.initialize(&args, &out) {
                Ok(leg) => (leg.status, None),
                Err(e) => (e.status(), Some(e.to_string())),
            },
            Op::Accept { args, out } => match self.accept(&args, &out) {
                Ok(leg) => (leg.status, None),
                Err(e) => (e.status(), Some(e.to_string())),
            },
            Op::DeleteContext { context } => match self.delete_context(context) {
                Ok(()) => (SecStatus::SEC_E_OK, None),
                Err(e) => (e.status(), Some(e.to_string())),
            },
        }
    }

    // ---- Driver control ------------------------------------------------------------------

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.0.load(Ordering::Acquire)
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
            while self.dispatched.0.load(Ordering::Acquire) > 0 {
                std::thread::yield_now();
            }
            // Every call a worker completed since the last report, including those it finished
            // before this call began (a worker may be faster than the caller): counting only
            // the completions seen while waiting made the count depend on scheduling.
            // `fetch_max` keeps the mark monotonic, so two callers at once never report the
            // same completion twice (a `swap` could move it back).
            let done = self.worker_done.load(Ordering::Acquire);
            let reported = self.worker_reported.fetch_max(done, Ordering::AcqRel);
            n += done.saturating_sub(reported) as usize;
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
