//! # sspi-emu-sim: the SSPI simulator
//!
//! A pure-Rust, deterministic stand-in for the Windows LSA and its security packages, with the
//! kernel's asynchronous SSPI family (`SspiAcquireCredentialsHandleAsync`,
//! `SspiGetAsyncCallStatus`, ...) reproduced as documented.
//!
//! ```text
//!  Backend calls ─► Simulator ─► Core ──► World (principals, sessions, packages, authorities)
//!                                  │  ├─► credential table / async-context table (generational)
//!                                  │  ├─► faults (rules pick calls: fail, delay, never)
//!                                  │  └─► journal (every call, secrets redacted)
//!                                  └─► driver: inline | manual (tests step it) | threaded pool
//! ```
//!
//! * [`world`]: the declarative world, loaded from TOML; [`World::default_world`] is embedded.
//! * [`engine`]: the async-context state machine and its drivers (read its module docs first).
//! * [`Executor`]: the seam that lets the engine run another SSPI's sync calls instead of the
//!   world's (the Windows backend runs secur32 under this engine).
//! * [`faults`], [`journal`]: fault injection and the call journal.
//!
//! The core reads no wall clock and draws no ambient randomness: time is a virtual clock that
//! only moves when a test (or a delay fault) moves it, so runs are repeatable.
//!
//! # Examples
//!
//! Queue an acquisition, see it pending, complete it, poll the result:
//!
//! ```
//! use sspi_emu_api::*;
//! use sspi_emu_sim::{DriverKind, Simulator};
//!
//! let sim = Simulator::builder().driver(DriverKind::Manual).build();
//! let ctx = sim.sspi_create_async_context();
//! sim.sspi_set_async_notify_callback(ctx, Some(std::sync::Arc::new(|_, _| {})), 0);
//! let cred = Out::new(CredHandle::default());
//! let args = AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND);
//! assert_eq!(sim.sspi_acquire_credentials_handle_async(ctx, args, &cred, None), SecStatus::SEC_E_OK);
//! assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_I_ASYNC_CALL_PENDING);
//! sim.driver().unwrap().run_until_idle();
//! assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_E_OK);
//! assert_ne!(cred.get(), CredHandle::default());
//! ```
#![forbid(unsafe_code)]

mod context;
mod creds;
pub mod engine;
mod error;
mod executor;
pub mod faults;
mod function;
pub mod journal;
pub mod ntlm;
pub mod spnego;
mod table;
pub mod world;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use sspi_emu_api::{
    AcceptSecurityContext, AcquireCredentials, AscOutputs, AscRet, AsyncContextHandle, Backend, Charset,
    ContextAttribute, ContextAttributeValue, CredHandle, Credentials, CredentialsAttribute, CredentialsAttributeValue,
    CtxtHandle, DriverControl, InitializeSecurityContext, IscOutputs, Luid, NotifyCallback, NtStatus, Out,
    SecBufferDesc, SecPkgInfo, SecStatus, SecString, TimeStamp,
};

pub use context::channel_bindings_buffer;
pub use engine::{DriverKind, Misuse, MisuseKind, Profile, async_context_slot_bytes};
pub use error::Error;
pub use executor::Executor;
pub use faults::{FaultAction, FaultRule};
pub use function::FunctionId;
pub use journal::{JournalEntry, JournalMode};
pub use world::FaultSpec;
pub use world::{FixtureError, World};

use engine::{Core, Msg, Op};
use journal::{Inputs, Record};

/// Configures a [`Simulator`].
#[derive(Clone, Default)]
pub struct SimulatorBuilder {
    world: Option<Arc<World>>,
    profile: Profile,
    driver: DriverKind,
    strict: bool,
    journal: JournalMode,
    executor: Option<Arc<dyn Executor>>,
}

impl fmt::Debug for SimulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatorBuilder")
            .field("world", &self.world)
            .field("profile", &self.profile)
            .field("driver", &self.driver)
            .field("strict", &self.strict)
            .field("journal", &self.journal)
            .field("executor", &self.executor.as_ref().map(|_| "dyn Executor"))
            .finish()
    }
}

impl SimulatorBuilder {
    /// The world to simulate (default: [`World::default_world`]).
    pub fn world(mut self, world: impl Into<Arc<World>>) -> Self {
        self.world = Some(world.into());
        self
    }

    /// The fidelity profile (default: [`Profile::Documented`]).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// The driver (default: [`DriverKind::Inline`]).
    pub fn driver(mut self, driver: DriverKind) -> Self {
        self.driver = driver;
        self
    }

    /// Strict mode: misuse panics with a message instead of only being reported.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Whether calls are journaled (default: [`JournalMode::Full`]).
    pub fn journal(mut self, mode: JournalMode) -> Self {
        self.journal = mode;
        self
    }

    /// Runs the async family's operations through `executor` instead of the world (decision
    /// 0008). When a queued `SspiAcquireCredentialsHandleAsync*`,
    /// `SspiFreeCredentialsHandleAsync`, `SspiInitializeSecurityContextAsync*`,
    /// `SspiAcceptSecurityContextAsync` or `SspiDeleteSecurityContextAsync` completes, the
    /// executor's sync call runs and its status is the final status; the queue-time checks on
    /// handles (is `phContext` a live context, would a delete fail, which package a handle
    /// belongs to for fault rules and the journal) ask the executor too.
    ///
    /// The rest is this engine's, unchanged: async contexts, drivers, [`DriverControl`],
    /// profiles, misuse detection, the journal, fault rules, the virtual clock. The world still
    /// sets the engine's limits (`max_async_contexts`), and the simulator's own sync calls
    /// (`acquire_credentials_handle`, ...) still answer from the world: an executor's owner
    /// answers its sync calls itself and hands the simulator only the async family, as the
    /// Windows backend does.
    pub fn executor(mut self, executor: Arc<dyn Executor>) -> Self {
        self.executor = Some(executor);
        self
    }

    /// Builds the simulator, starting worker threads for the threaded driver.
    pub fn build(self) -> Simulator {
        let world = self.world.unwrap_or_else(World::default_world);
        let journal = journal::Journal::new(self.journal);
        let (tx, rx) = match self.driver {
            DriverKind::Threaded { .. } => {
                let (tx, rx) = crossbeam_channel::unbounded();
                (Some(tx), Some(rx))
            }
            _ => (None, None),
        };
        let core = Arc::new(Core::new(world, self.profile, self.strict, self.driver, journal, self.executor, tx));
        let mut workers = Vec::new();
        if let (DriverKind::Threaded { workers: n }, Some(rx)) = (self.driver, rx) {
            for i in 0..n.max(1) {
                let core = Arc::clone(&core);
                let rx = rx.clone();
                let spawned = std::thread::Builder::new().name(format!("sspi-emu-worker-{i}")).spawn(move || {
                    for msg in rx {
                        match msg {
                            Msg::Run(work) => {
                                core.complete_on_worker(work);
                                core.dispatched_done();
                            }
                            Msg::Shutdown => break,
                        }
                    }
                });
                match spawned {
                    Ok(handle) => workers.push(handle),
                    // Without workers, `dispatch` completes work on the caller's thread.
                    Err(e) => eprintln!("sspi-emu: cannot start worker thread: {e}"),
                }
            }
        }
        Simulator { core, workers }
    }
}

/// The simulator: implements [`Backend`] over a [`World`].
///
/// Share it between threads with `Arc<Simulator>`; dropping the last reference stops the
/// worker threads of the threaded driver.
pub struct Simulator {
    core: Arc<Core>,
    workers: Vec<JoinHandle<()>>,
}

impl Default for Simulator {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(tx) = &self.core.tx {
            for _ in &self.workers {
                let _ = tx.send(Msg::Shutdown);
            }
        }
        let me = std::thread::current().id();
        for w in self.workers.drain(..) {
            // A callback may drop the last reference on a worker thread; never join oneself.
            if w.thread().id() != me {
                let _ = w.join();
            }
        }
    }
}

/// Counters for leak checks and tests.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Stats {
    /// Live async contexts.
    pub async_contexts: usize,
    /// Live credential handles.
    pub credentials: usize,
    /// Async calls queued and not completed.
    pub in_flight: usize,
    /// Async calls completed.
    pub completed: u64,
    /// Callbacks fired.
    pub callbacks: u64,
    /// Calls held by the engine: ready for the manual driver, delayed by a fault, and never
    /// completing (a `never` fault).
    pub held: (usize, usize, usize),
}

impl Simulator {
    /// A simulator of the default world, Documented profile, inline driver.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::default()
    }

    /// The world.
    pub fn world(&self) -> &World {
        &self.core.world
    }

    /// The fidelity profile.
    pub fn profile(&self) -> Profile {
        self.core.profile
    }

    /// The virtual clock (UTC).
    pub fn now(&self) -> TimeStamp {
        self.core.now()
    }

    /// Adds a fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        self.core.faults.add(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.core.faults.clear();
    }

    /// Takes the LSA down (calls fail with `SEC_E_INTERNAL_ERROR`) or brings it back.
    pub fn set_lsa_available(&self, up: bool) {
        self.core.lsa_available.store(up, Ordering::Release);
    }

    /// Makes every authority named `name` reachable or not; false if none has that name.
    pub fn set_authority_reachable(&self, name: &str, reachable: bool) -> bool {
        let mut found = false;
        for (a, flag) in self.core.world.authorities.iter().zip(&self.core.authority_reachable) {
            if a.name.eq_ignore_ascii_case(name) {
                flag.store(reachable, Ordering::Release);
                found = true;
            }
        }
        found
    }

    /// The journal so far.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.core.journal.snapshot(&|handle| self.core.engine_package(handle))
    }

    /// Number of journal entries.
    pub fn journal_len(&self) -> usize {
        self.core.journal.len()
    }

    /// The journal as pretty JSON.
    pub fn journal_json(&self) -> String {
        // Serialising plain data structures to a String cannot fail.
        serde_json::to_string_pretty(&self.journal()).unwrap_or_else(|e| format!("\"{e}\""))
    }

    /// Misuse detected so far.
    pub fn misuses(&self) -> Vec<Misuse> {
        self.core.misuses()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            async_contexts: self.core.contexts.live(),
            credentials: self.core.creds.live(),
            in_flight: self.core.in_flight(),
            completed: self.core.completed.0.load(Ordering::Acquire),
            callbacks: self.core.callbacks.0.load(Ordering::Acquire),
            held: self.core.held(),
        }
    }

    /// Journals a sync call once, when it has returned.
    fn journal_sync(
        &self,
        function: FunctionId,
        at: TimeStamp,
        inputs: impl FnOnce() -> Inputs,
        result: Result<(), &Error>,
        fault: Option<String>,
    ) -> SecStatus {
        self.journal_status(function, at, inputs, result.map(|()| SecStatus::SEC_E_OK), fault)
    }

    /// Journals a sync call that returns a status other than `SEC_E_OK` on success.
    fn journal_status(
        &self,
        function: FunctionId,
        at: TimeStamp,
        inputs: impl FnOnce() -> Inputs,
        result: Result<SecStatus, &Error>,
        fault: Option<String>,
    ) -> SecStatus {
        let status = result.unwrap_or_else(Error::status);
        self.core.journal.record(|| {
            let mut r = Record::new(function, at, inputs()).note(result.err().map(ToString::to_string), fault, None);
            r.status = Some(status);
            r
        });
        status
    }

    /// A sync call on a context handle: fault rules, the body, the journal.
    fn context_call(
        &self,
        function: FunctionId,
        context: CtxtHandle,
        qop: u32,
        body: impl FnOnce() -> Result<(), Error>,
    ) -> SecStatus {
        let at = self.core.now();
        let (fault, rule) = self.sync_fault(function, || self.core.handle_package(context.0));
        let result = match fault {
            Some(e) => Err(e),
            None => body(),
        };
        let inputs = || if qop == 0 { Inputs::Ctxt(context) } else { Inputs::Message(context, qop) };
        self.journal_sync(function, at, inputs, result.as_ref().copied(), rule)
    }

    /// The logon session the calling thread runs as (`ImpersonateSecurityContext` changes it)
    /// and its `DOMAIN\user` name.
    pub fn thread_identity(&self) -> (Luid, String) {
        let luid = self.core.caller();
        let name = self
            .core
            .session(luid)
            .and_then(|s| self.core.world.principals.get(s.principal).map(|p| p.qualified_name()))
            .unwrap_or_else(|| "NT AUTHORITY\\ANONYMOUS LOGON".to_string());
        (luid, name)
    }

    /// `RevertToSelf`: the calling thread stops impersonating, whether or not the context it
    /// impersonated still exists (`RevertSecurityContext` needs a live handle). A network logon
    /// session no context and no thread uses any more is released.
    pub fn revert_to_self(&self) {
        let me = std::thread::current().id();
        let mut imp = self.core.impersonation.lock();
        let removed = imp.remove(&me);
        self.core.impersonating.store(!imp.is_empty(), Ordering::Release);
        if let Some(luid) = removed
            && !imp.values().any(|l| *l == luid)
            && !self.core.logon_in_use(luid)
        {
            self.core.network_sessions.lock().remove(&luid);
        }
    }

    /// Live security contexts (`CtxtHandle`s).
    pub fn security_contexts(&self) -> usize {
        self.core.security.live()
    }

    /// Applies a fault to a sync call: `Fail` gives the error; `Delay` moves the clock.
    /// `package` is asked only when fault rules exist.
    fn sync_fault(
        &self,
        function: FunctionId,
        package: impl FnOnce() -> Option<String>,
    ) -> (Option<Error>, Option<String>) {
        if !self.core.faults.active() {
            return (None, None);
        }
        match self.core.faults.check(function, package().as_deref()) {
            Some((FaultAction::Fail(s), rule)) => (Some(Error::Fault(s)), Some(rule)),
            Some((FaultAction::Delay { ticks }, rule)) => {
                self.core.advance(ticks);
                (None, Some(rule))
            }
            Some((_, rule)) => (None, Some(rule)),
            None => (None, None),
        }
    }
}

impl Backend for Simulator {
    fn enumerate_security_packages(&self) -> Result<Vec<SecPkgInfo>, SecStatus> {
        let f = FunctionId::EnumerateSecurityPackagesW;
        let at = self.core.now();
        let (fault, rule) = self.sync_fault(f, || None);
        let result = match fault {
            Some(e) => Err(e),
            None if !self.core.lsa_available.load(Ordering::Acquire) => Err(Error::LsaUnavailable),
            None => Ok(self.core.world.packages.iter().map(|p| p.info.clone()).collect()),
        };
        self.journal_sync(f, at, || Inputs::None, result.as_ref().map(|_| ()), rule);
        result.map_err(|e| e.status())
    }

    fn query_security_package_info(&self, package: &SecString) -> Result<SecPkgInfo, SecStatus> {
        let f = FunctionId::QuerySecurityPackageInfoW;
        let at = self.core.now();
        let name = package.decode().unwrap_or_default();
        let (fault, rule) = self.sync_fault(f, || Some(name.clone()));
        let result = match fault {
            Some(e) => Err(e),
            None => self
                .core
                .world
                .package(&name)
                .map(|(_, p)| p.info.clone())
                .ok_or_else(|| Error::PackageNotFound { name: name.clone() }),
        };
        self.journal_sync(f, at, || Inputs::Package(name), result.as_ref().map(|_| ()), rule);
        result.map_err(|e| e.status())
    }

    fn acquire_credentials_handle(&self, args: AcquireCredentials) -> Result<Credentials, SecStatus> {
        let f = match args.charset {
            Charset::Ansi => FunctionId::AcquireCredentialsHandleA,
            Charset::Unicode => FunctionId::AcquireCredentialsHandleW,
        };
        let at = self.core.now();
        let (fault, rule) = self.sync_fault(f, || args.package.decode());
        let result = match fault {
            Some(e) => Err(e),
            None => self.core.acquire(&args, self.core.caller()),
        };
        self.journal_sync(f, at, || Inputs::Acquire(Arc::new(args)), result.as_ref().map(|_| ()), rule);
        result.map_err(|e| e.status())
    }

    fn free_credentials_handle(&self, credential: CredHandle) -> SecStatus {
        let f = FunctionId::FreeCredentialsHandle;
        let at = self.core.now();
        let (fault, rule) = self.sync_fault(f, || self.core.credential_package(credential));
        let result = match fault {
            Some(e) => Err(e),
            None => self.core.free_credentials(credential),
        };
        self.journal_sync(f, at, || Inputs::Cred(credential), result.as_ref().copied(), rule)
    }

    fn query_credentials_attributes(
        &self,
        credential: CredHandle,
        attribute: CredentialsAttribute,
    ) -> Result<CredentialsAttributeValue, SecStatus> {
        let f = FunctionId::QueryCredentialsAttributesW;
        let at = self.core.now();
        let (fault, rule) = self.sync_fault(f, || self.core.credential_package(credential));
        let result = match (fault, attribute) {
            (Some(e), _) => Err(e),
            (None, CredentialsAttribute::Names) => {
                self.core.credential_names(credential).map(CredentialsAttributeValue::Names)
            }
            #[allow(unreachable_patterns)]
            (None, _) => Err(Error::UnsupportedAttribute),
        };
        self.journal_sync(f, at, || Inputs::Query(credential, attribute), result.as_ref().map(|_| ()), rule);
        result.map_err(|e| e.status())
    }

    fn sspi_create_async_context(&self) -> AsyncContextHandle {
        self.core.create()
    }

    fn sspi_free_async_context(&self, ctx: AsyncContextHandle) {
        self.core.free(ctx);
    }

    fn sspi_reinit_async_context(&self, ctx: AsyncContextHandle) -> NtStatus {
        self.core.reinit(ctx)
    }

    fn sspi_set_async_notify_callback(
        &self,
        ctx: AsyncContextHandle,
        callback: Option<NotifyCallback>,
        callback_data: usize,
    ) -> SecStatus {
        self.core.set_callback(ctx, callback, callback_data)
    }

    fn sspi_async_context_requires_notify(&self, ctx: AsyncContextHandle) -> bool {
        self.core.requires_notify(ctx)
    }

    fn sspi_get_async_call_status(&self, ctx: AsyncContextHandle) -> SecStatus {
        self.core.status(ctx)
    }

    fn sspi_acquire_credentials_handle_async(
        &self,
        ctx: AsyncContextHandle,
        args: AcquireCredentials,
        credential: &Out<CredHandle>,
        expiry: Option<&Out<TimeStamp>>,
    ) -> SecStatus {
        let f = match args.charset {
            Charset::Ansi => FunctionId::SspiAcquireCredentialsHandleAsyncA,
            Charset::Unicode => FunctionId::SspiAcquireCredentialsHandleAsyncW,
        };
        // Counted strings are read at queue time: malformed ones are refused there [I].
        let malformed = |s: &SecString| matches!(s, SecString::Counted(c) if c.units().is_none());
        let invalid = if malformed(&args.package) {
            Some("pszPackage is a malformed UNICODE_STRING")
        } else if args.principal.as_ref().is_some_and(malformed) {
            Some("pszPrincipal is a malformed UNICODE_STRING")
        } else {
            None
        };
        // The arguments are shared by the queued work and the journal, never copied, and moved
        // around the queues as one pointer.
        let package = self.core.faults.active().then(|| args.package.decode()).flatten();
        let shared = Arc::new(args);
        let journal_args = self.core.journal.enabled().then(|| Arc::clone(&shared));
        let op = Op::Acquire { args: shared, credential: credential.clone(), expiry: expiry.cloned() };
        let inputs = || journal_args.map_or(Inputs::None, Inputs::Acquire);
        self.core.queue(ctx, f, inputs, || package, || invalid.map(|w| (SecStatus::SEC_E_INVALID_PARAMETER, w)), op)
    }

    fn sspi_free_credentials_handle_async(&self, ctx: AsyncContextHandle, credential: CredHandle) -> SecStatus {
        let f = FunctionId::SspiFreeCredentialsHandleAsync;
        if self.core.profile == Profile::ObservedKernel {
            return self.core.stub(ctx, f, Inputs::Cred(credential));
        }
        let op = Op::FreeCredentials { credential };
        let package = || self.core.queued_credential_package(credential);
        self.core.queue(ctx, f, || Inputs::Cred(credential), package, || None, op)
    }

    fn initialize_security_context(&self, args: InitializeSecurityContext, out: &IscOutputs) -> SecStatus {
        let f = match args.charset {
            Charset::Ansi => FunctionId::InitializeSecurityContextA,
            Charset::Unicode => FunctionId::InitializeSecurityContextW,
        };
        let at = self.core.now();
        let (fault, rule) = self.sync_fault(f, || self.core.isc_package(&args));
        let result = match fault {
            Some(e) => Err(e),
            None => self.core.initialize(&args, out).map(|leg| leg.status),
        };
        self.journal_status(f, at, || Inputs::Initialize(Arc::new(args)), result.as_ref().copied(), rule)
    }

    fn accept_security_context(&self, args: AcceptSecurityContext, out: &AscOutputs) -> SecStatus {
        let f = FunctionId::AcceptSecurityContext;
        let at = self.core.now();
        let (fault, rule) = self.sync_fault(f, || self.core.asc_package(&args));
        let result = match fault {
            Some(e) => Err(e),
            None => self.core.accept(&args, out).map(|leg| leg.status),
        };
        self.journal_status(f, at, || Inputs::Accept(Arc::new(args)), result.as_ref().copied(), rule)
    }

    fn complete_auth_token(&self, context: CtxtHandle, token: &SecBufferDesc) -> SecStatus {
        self.context_call(FunctionId::CompleteAuthToken, context, 0, || self.core.complete_auth_token(context, token))
    }

    fn delete_security_context(&self, context: CtxtHandle) -> SecStatus {
        self.context_call(FunctionId::DeleteSecurityContext, context, 0, || self.core.delete_context(context))
    }

    fn query_context_attributes(
        &self,
        context: CtxtHandle,
        attribute: ContextAttribute,
    ) -> Result<ContextAttributeValue, SecStatus> {
        let f = FunctionId::QueryContextAttributesW;
        let at = self.core.now();
        let (fault, rule) = self.sync_fault(f, || self.core.handle_package(context.0));
        let result = match fault {
            Some(e) => Err(e),
            None => self.core.query_context(context, attribute),
        };
        self.journal_sync(f, at, || Inputs::CtxtQuery(context, attribute), result.as_ref().map(|_| ()), rule);
        result.map_err(|e| e.status())
    }

    fn impersonate_security_context(&self, context: CtxtHandle) -> SecStatus {
        self.context_call(FunctionId::ImpersonateSecurityContext, context, 0, || {
            let luid = self.core.context_logon(context)?;
            let mut imp = self.core.impersonation.lock();
            imp.insert(std::thread::current().id(), luid);
            self.core.impersonating.store(true, Ordering::Release);
            Ok(())
        })
    }

    fn revert_security_context(&self, context: CtxtHandle) -> SecStatus {
        self.context_call(FunctionId::RevertSecurityContext, context, 0, || {
            // Like RevertToSelf, reverting a thread that is not impersonating succeeds [I].
            self.core.check_context(context)?;
            let mut imp = self.core.impersonation.lock();
            imp.remove(&std::thread::current().id());
            self.core.impersonating.store(!imp.is_empty(), Ordering::Release);
            Ok(())
        })
    }

    fn make_signature(&self, context: CtxtHandle, qop: u32, message: &mut SecBufferDesc, _sequence: u32) -> SecStatus {
        self.context_call(FunctionId::MakeSignature, context, qop, || self.core.protect(context, qop, message, false))
    }

    fn verify_signature(
        &self,
        context: CtxtHandle,
        message: &mut SecBufferDesc,
        _sequence: u32,
    ) -> Result<Option<u32>, SecStatus> {
        let mut qop = None;
        let status = self.context_call(FunctionId::VerifySignature, context, 0, || {
            qop = self.core.unprotect(context, message, false)?;
            Ok(())
        });
        if status == SecStatus::SEC_E_OK { Ok(qop) } else { Err(status) }
    }

    fn encrypt_message(&self, context: CtxtHandle, qop: u32, message: &mut SecBufferDesc, _sequence: u32) -> SecStatus {
        self.context_call(FunctionId::EncryptMessage, context, qop, || self.core.protect(context, qop, message, true))
    }

    fn decrypt_message(
        &self,
        context: CtxtHandle,
        message: &mut SecBufferDesc,
        _sequence: u32,
    ) -> Result<Option<u32>, SecStatus> {
        let mut qop = None;
        let status = self.context_call(FunctionId::DecryptMessage, context, 0, || {
            qop = self.core.unprotect(context, message, true)?;
            Ok(())
        });
        if status == SecStatus::SEC_E_OK { Ok(qop) } else { Err(status) }
    }

    fn sspi_initialize_security_context_async(
        &self,
        ctx: AsyncContextHandle,
        args: InitializeSecurityContext,
        out: &IscOutputs,
    ) -> SecStatus {
        let f = match args.charset {
            Charset::Ansi => FunctionId::SspiInitializeSecurityContextAsyncA,
            Charset::Unicode => FunctionId::SspiInitializeSecurityContextAsyncW,
        };
        let handle = args.context.map(|c| c.0).or(args.credential.map(|c| c.0));
        let package = self.core.faults.active().then(|| self.core.queued_package(handle)).flatten();
        let invalid = self
            .core
            .context_call_invalid(args.credential, args.context, out.new_context.is_some(), out.output.as_ref())
            .or_else(|| {
                matches!(&args.target_name, Some(SecString::Counted(c)) if c.units().is_none())
                    .then_some((SecStatus::SEC_E_INVALID_PARAMETER, "pszTargetName is a malformed UNICODE_STRING"))
            });
        let shared = Arc::new(args);
        let journal_args = self.core.journal.enabled().then(|| Arc::clone(&shared));
        let op = Op::Initialize { args: shared, out: out.clone() };
        let inputs = || journal_args.map_or(Inputs::None, Inputs::Initialize);
        self.core.queue(ctx, f, inputs, || package, || invalid, op)
    }

    fn sspi_accept_security_context_async(
        &self,
        ctx: AsyncContextHandle,
        args: AcceptSecurityContext,
        out: &AscOutputs,
    ) -> SecStatus {
        let f = FunctionId::SspiAcceptSecurityContextAsync;
        let handle = args.context.map(|c| c.0).or(args.credential.map(|c| c.0));
        let package = self.core.faults.active().then(|| self.core.queued_package(handle)).flatten();
        let shared = Arc::new(args);
        let journal_args = self.core.journal.enabled().then(|| Arc::clone(&shared));
        let check = Arc::clone(&shared);
        let op = Op::Accept { args: shared, out: out.clone() };
        let inputs = || journal_args.map_or(Inputs::None, Inputs::Accept);
        let invalid = || {
            // ksecdd zeroes *pfContextAttr and *ptsExpiry once the context checks pass, before
            // checking the handles (spec §4.9 step 2) [I].
            out.context_attr.set(AscRet::default());
            if let Some(e) = &out.expiry {
                e.set(TimeStamp(0));
            }
            self.core.context_call_invalid(
                check.credential,
                check.context,
                out.new_context.is_some(),
                out.output.as_ref(),
            )
        };
        self.core.queue(ctx, f, inputs, || package, invalid, op)
    }

    fn sspi_delete_security_context_async(&self, ctx: AsyncContextHandle, context: CtxtHandle) -> SecStatus {
        let f = FunctionId::SspiDeleteSecurityContextAsync;
        let invalid = || {
            self.core
                .delete_would_fail(context)
                .then_some((SecStatus::SEC_E_INVALID_HANDLE, "phContext is not a context handle"))
        };
        let op = Op::DeleteContext { context };
        self.core.queue(ctx, f, || Inputs::Ctxt(context), || self.core.queued_package(Some(context.0)), invalid, op)
    }

    fn driver(&self) -> Option<&dyn DriverControl> {
        Some(self)
    }
}

impl DriverControl for Simulator {
    fn in_flight(&self) -> usize {
        self.core.in_flight()
    }

    fn step(&self) -> bool {
        self.core.step()
    }

    fn complete(&self, ctx: AsyncContextHandle) -> bool {
        self.core.complete_ctx(ctx)
    }

    fn run_until_idle(&self) -> usize {
        self.core.run_until_idle()
    }

    fn advance_seconds(&self, seconds: f64) {
        if seconds.is_finite() && seconds >= 0.0 {
            self.core.advance((seconds * TimeStamp::TICKS_PER_SECOND as f64) as i64);
        }
    }
}
