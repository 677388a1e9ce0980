//! The engine against the simulator's engine: the same calls, the same answers.
//!
//! The simulator (Documented profile, manual driver) is the reference. This engine runs the
//! simulator's *sync* calls through a gated executor on one worker thread, so a test can hold a
//! call pending on both and complete it on both.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};

use std::collections::HashSet;

use sspi_emu_api::{
    AcceptSecurityContext, AcquireCredentials, AscOutputs, AscReq, AscRet, AsyncContextHandle, AuthIdentity, Backend,
    CredHandle, CredentialUse, Credentials, CtxtHandle, InitializeSecurityContext, IscOutputs, IscReq, NotifyCallback,
    NtStatus, Out, SecBuffer, SecBufferDesc, SecHandle, SecStatus, SecString, TimeStamp, UnicodeString,
};
use sspi_emu_sim::{DriverKind, Simulator};

use super::{Driver, Engine, Executor, lock};

/// The simulator's sync calls, each waiting for a permit when gated. It tracks the context
/// handles it has seen issued and deleted, which is all `is_context` and `delete_would_fail`
/// need to know.
struct Gated {
    sim: Simulator,
    permits: Option<std::sync::Mutex<Receiver<()>>>,
    issued: std::sync::Mutex<(HashSet<CtxtHandle>, HashSet<CtxtHandle>)>,
}

impl Gated {
    fn wait(&self) {
        if let Some(rx) = &self.permits {
            lock(rx).recv().unwrap();
        }
    }
}

impl Executor for Gated {
    fn acquire_credentials_handle(&self, args: &AcquireCredentials) -> Result<Credentials, SecStatus> {
        self.wait();
        self.sim.acquire_credentials_handle(args.clone())
    }

    fn free_credentials_handle(&self, credential: CredHandle) -> SecStatus {
        self.wait();
        self.sim.free_credentials_handle(credential)
    }

    fn initialize_security_context(&self, args: &InitializeSecurityContext, out: &IscOutputs) -> SecStatus {
        self.wait();
        let status = self.sim.initialize_security_context(args.clone(), out);
        if status.is_success() {
            lock(&self.issued).0.insert(out.context());
        }
        status
    }

    fn accept_security_context(&self, args: &AcceptSecurityContext, out: &AscOutputs) -> SecStatus {
        self.wait();
        let status = self.sim.accept_security_context(args.clone(), out);
        if status.is_success() {
            lock(&self.issued).0.insert(out.context());
        }
        status
    }

    fn delete_security_context(&self, context: CtxtHandle) -> SecStatus {
        self.wait();
        let status = self.sim.delete_security_context(context);
        if status.is_success() {
            lock(&self.issued).1.insert(context);
        }
        status
    }

    fn is_context(&self, context: CtxtHandle) -> bool {
        let issued = lock(&self.issued);
        issued.0.contains(&context) && !issued.1.contains(&context)
    }

    fn delete_would_fail(&self, context: CtxtHandle) -> bool {
        !lock(&self.issued).0.contains(&context)
    }
}

/// Both engines, driven in step.
struct Pair {
    reference: Simulator,
    engine: Engine<Gated>,
    permits: SyncSender<()>,
    fired: [Arc<AtomicUsize>; 2],
}

impl Pair {
    fn new() -> Self {
        let (tx, rx) = mpsc::sync_channel(16);
        let gated =
            Gated { sim: Simulator::new(), permits: Some(std::sync::Mutex::new(rx)), issued: Default::default() };
        Self {
            reference: Simulator::builder().driver(DriverKind::Manual).build(),
            engine: Engine::new(Arc::new(gated), Driver::Threaded { workers: 1 }),
            permits: tx,
            fired: [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))],
        }
    }

    fn counter(n: &Arc<AtomicUsize>) -> NotifyCallback {
        let n = Arc::clone(n);
        Arc::new(move |_, _| {
            n.fetch_add(1, Ordering::SeqCst);
        })
    }

    /// Completes the pending call of `ctx` on both (the engine's one worker runs its oldest).
    fn complete(&self, ctx: (AsyncContextHandle, AsyncContextHandle)) {
        assert!(self.reference.driver().unwrap().complete(ctx.0), "the reference had a call pending");
        self.permits.send(()).unwrap();
        self.engine.wait_idle();
    }

    fn create(&self) -> (AsyncContextHandle, AsyncContextHandle) {
        (self.reference.sspi_create_async_context(), self.engine.create())
    }

    fn with_callback(&self) -> (AsyncContextHandle, AsyncContextHandle) {
        let ctx = self.create();
        self.same("set callback", ctx, |b, c| b.set_cb(c, true));
        ctx
    }

    /// Runs `f` on both and asserts equal answers.
    fn same<R: PartialEq + std::fmt::Debug>(
        &self,
        what: &str,
        ctx: (AsyncContextHandle, AsyncContextHandle),
        f: impl Fn(Side<'_>, AsyncContextHandle) -> R,
    ) -> R {
        let a = f(Side::Sim(&self.reference, &self.fired[0]), ctx.0);
        let b = f(Side::Engine(&self.engine, &self.fired[1]), ctx.1);
        assert_eq!(a, b, "{what}: the simulator answered {a:?}, the engine {b:?}");
        a
    }

    fn fired(&self) -> (usize, usize) {
        (self.fired[0].load(Ordering::SeqCst), self.fired[1].load(Ordering::SeqCst))
    }
}

#[derive(Clone, Copy)]
enum Side<'a> {
    Sim(&'a Simulator, &'a Arc<AtomicUsize>),
    Engine(&'a Engine<Gated>, &'a Arc<AtomicUsize>),
}

impl Side<'_> {
    fn status(self, c: AsyncContextHandle) -> SecStatus {
        match self {
            Side::Sim(s, _) => s.sspi_get_async_call_status(c),
            Side::Engine(e, _) => e.status(c),
        }
    }
    fn reinit(self, c: AsyncContextHandle) -> NtStatus {
        match self {
            Side::Sim(s, _) => s.sspi_reinit_async_context(c),
            Side::Engine(e, _) => e.reinit(c),
        }
    }
    fn set_cb(self, c: AsyncContextHandle, some: bool) -> SecStatus {
        match self {
            Side::Sim(s, n) => s.sspi_set_async_notify_callback(c, some.then(|| Pair::counter(n)), 7),
            Side::Engine(e, n) => e.set_callback(c, some.then(|| Pair::counter(n)), 7),
        }
    }
    fn requires_notify(self, c: AsyncContextHandle) -> bool {
        match self {
            Side::Sim(s, _) => s.sspi_async_context_requires_notify(c),
            Side::Engine(e, _) => e.requires_notify(c),
        }
    }
    fn free(self, c: AsyncContextHandle) {
        match self {
            Side::Sim(s, _) => s.sspi_free_async_context(c),
            Side::Engine(e, _) => e.free(c),
        }
    }
    fn acquire(self, c: AsyncContextHandle, args: AcquireCredentials, out: &Out<CredHandle>) -> SecStatus {
        match self {
            Side::Sim(s, _) => s.sspi_acquire_credentials_handle_async(c, args, out, None),
            Side::Engine(e, _) => e.acquire_credentials_handle(c, args, out, None),
        }
    }
    fn free_cred(self, c: AsyncContextHandle, cred: CredHandle) -> SecStatus {
        match self {
            Side::Sim(s, _) => s.sspi_free_credentials_handle_async(c, cred),
            Side::Engine(e, _) => e.free_credentials_handle(c, cred),
        }
    }
    fn isc(self, c: AsyncContextHandle, args: InitializeSecurityContext, out: &IscOutputs) -> SecStatus {
        match self {
            Side::Sim(s, _) => s.sspi_initialize_security_context_async(c, args, out),
            Side::Engine(e, _) => e.initialize_security_context(c, args, out),
        }
    }
    fn asc(self, c: AsyncContextHandle, args: AcceptSecurityContext, out: &AscOutputs) -> SecStatus {
        match self {
            Side::Sim(s, _) => s.sspi_accept_security_context_async(c, args, out),
            Side::Engine(e, _) => e.accept_security_context(c, args, out),
        }
    }
    fn delete(self, c: AsyncContextHandle, context: CtxtHandle) -> SecStatus {
        match self {
            Side::Sim(s, _) => s.sspi_delete_security_context_async(c, context),
            Side::Engine(e, _) => e.delete_security_context(c, context),
        }
    }
    /// A sync ACH on this side's own simulator (the engine's executor holds its own).
    fn acquire_sync(self, args: AcquireCredentials) -> CredHandle {
        match self {
            Side::Sim(s, _) => s.acquire_credentials_handle(args).unwrap().handle,
            Side::Engine(e, _) => e.executor().sim.acquire_credentials_handle(args).unwrap().handle,
        }
    }
}

fn which(s: Side<'_>) -> usize {
    usize::from(matches!(s, Side::Engine(..)))
}

/// alice's outbound and the machine's inbound NTLM credentials, on each side.
fn credentials(p: &Pair) -> [(CredHandle, CredHandle); 2] {
    let sides = [Side::Sim(&p.reference, &p.fired[0]), Side::Engine(&p.engine, &p.fired[1])];
    sides.map(|side| {
        let client = side.acquire_sync(
            AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND).identity(AuthIdentity::unicode(
                "alice",
                "CONTOSO",
                "Passw0rd!",
            )),
        );
        (client, side.acquire_sync(AcquireCredentials::new("NTLM", CredentialUse::INBOUND)))
    })
}

fn isc_req() -> IscReq {
    IscReq::CONFIDENTIALITY | IscReq::INTEGRITY | IscReq::CONNECTION
}

fn asc_req() -> AscReq {
    AscReq::CONFIDENTIALITY | AscReq::INTEGRITY | AscReq::CONNECTION
}

fn token(out: &[SecBufferDesc; 2], i: usize) -> SecBufferDesc {
    SecBufferDesc::new(vec![SecBuffer::token(out[i].buffers[0].data.clone())])
}

fn ntlm() -> AcquireCredentials {
    AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND).identity(AuthIdentity::unicode("alice", "D", "pw"))
}

#[test]
fn a_null_context_is_answered_as_the_simulator_answers_it() {
    let p = Pair::new();
    let null = (AsyncContextHandle::NULL, AsyncContextHandle::NULL);
    assert_eq!(p.same("status", null, |s, c| s.status(c)), SecStatus::SEC_E_INVALID_PARAMETER);
    assert_eq!(p.same("reinit", null, |s, c| s.reinit(c)), NtStatus::STATUS_INVALID_PARAMETER);
    assert_eq!(p.same("set callback", null, |s, c| s.set_cb(c, true)), SecStatus::SEC_E_INVALID_PARAMETER);
    assert!(!p.same("requires notify", null, |s, c| s.requires_notify(c)));
    let out = Out::new(CredHandle::default());
    assert_eq!(p.same("queue", null, |s, c| s.acquire(c, ntlm(), &out)), SecStatus::SEC_E_INVALID_PARAMETER);
    assert_eq!(
        p.same("free creds", null, |s, c| s.free_cred(c, CredHandle::default())),
        SecStatus::SEC_E_INVALID_PARAMETER
    );
    p.same("free", null, |s, c| s.free(c));
}

#[test]
fn every_state_answers_as_in_the_simulator() {
    let p = Pair::new();
    let ctx = p.create();
    // Idle.
    assert_eq!(p.same("idle status", ctx, |s, c| s.status(c)), SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
    assert!(!p.same("idle requires notify", ctx, |s, c| s.requires_notify(c)));
    assert_eq!(p.same("idle reinit", ctx, |s, c| s.reinit(c)), NtStatus::STATUS_SUCCESS);
    assert_eq!(p.same("idle set callback", ctx, |s, c| s.set_cb(c, true)), SecStatus::SEC_E_OK);
    assert!(p.same("requires notify", ctx, |s, c| s.requires_notify(c)));
    // Pending: outputs not written yet.
    let outs = [Out::new(CredHandle::default()), Out::new(CredHandle::default())];
    assert_eq!(p.same("queue", ctx, |s, c| s.acquire(c, ntlm(), &outs[which(s)])), SecStatus::SEC_E_OK);
    assert_eq!(p.same("pending status", ctx, |s, c| s.status(c)), SecStatus::SEC_I_ASYNC_CALL_PENDING);
    assert_eq!(outs[1].get(), CredHandle::default(), "nothing is written before completion");
    assert_eq!(
        p.same("queue while pending", ctx, |s, c| s.acquire(c, ntlm(), &outs[which(s)])),
        SecStatus::SEC_E_INVALID_PARAMETER
    );
    assert_eq!(p.same("pending set callback", ctx, |s, c| s.set_cb(c, false)), SecStatus::SEC_E_INVALID_PARAMETER);
    assert_eq!(p.same("pending reinit", ctx, |s, c| s.reinit(c)), NtStatus::STATUS_INVALID_PARAMETER);
    assert!(p.same("pending requires notify", ctx, |s, c| s.requires_notify(c)));
    assert_eq!(p.fired(), (0, 0));
    // Completed.
    p.complete(ctx);
    assert_eq!(p.fired(), (1, 1), "the callback fired exactly once");
    assert_eq!(p.same("completed status", ctx, |s, c| s.status(c)), SecStatus::SEC_E_OK);
    assert_ne!(outs[1].get(), CredHandle::default(), "the credential was written");
    assert_eq!(
        p.same("reuse without reinit", ctx, |s, c| s.acquire(c, ntlm(), &outs[which(s)])),
        SecStatus::SEC_E_INVALID_PARAMETER
    );
    assert_eq!(p.same("completed set callback", ctx, |s, c| s.set_cb(c, true)), SecStatus::SEC_E_OK);
    assert_eq!(p.same("status unchanged", ctx, |s, c| s.status(c)), SecStatus::SEC_E_OK);
    // Reinit: Idle again, callback kept.
    assert_eq!(p.same("reinit", ctx, |s, c| s.reinit(c)), NtStatus::STATUS_SUCCESS);
    assert_eq!(p.same("reinit status", ctx, |s, c| s.status(c)), SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
    assert!(p.same("callback kept", ctx, |s, c| s.requires_notify(c)));
    // Free the credential asynchronously, twice.
    let creds = [outs[0].get(), outs[1].get()];
    assert_eq!(p.same("free creds", ctx, |s, c| s.free_cred(c, creds[which(s)])), SecStatus::SEC_E_OK);
    p.complete(ctx);
    assert_eq!(p.same("freed", ctx, |s, c| s.status(c)), SecStatus::SEC_E_OK);
    p.same("reinit", ctx, |s, c| s.reinit(c));
    assert_eq!(p.same("free creds again", ctx, |s, c| s.free_cred(c, creds[which(s)])), SecStatus::SEC_E_OK);
    p.complete(ctx);
    assert_eq!(p.same("freed twice", ctx, |s, c| s.status(c)), SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(p.fired(), (3, 3));
    // Freed.
    p.same("free", ctx, |s, c| s.free(c));
    assert_eq!(p.same("stale status", ctx, |s, c| s.status(c)), SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(p.same("stale reinit", ctx, |s, c| s.reinit(c)), NtStatus::STATUS_INVALID_HANDLE);
    assert_eq!(p.same("stale set callback", ctx, |s, c| s.set_cb(c, true)), SecStatus::SEC_E_INVALID_HANDLE);
    assert!(!p.same("stale requires notify", ctx, |s, c| s.requires_notify(c)));
    assert_eq!(
        p.same("stale queue", ctx, |s, c| s.acquire(c, ntlm(), &outs[which(s)])),
        SecStatus::SEC_E_INVALID_HANDLE
    );
    p.same("free again", ctx, |s, c| s.free(c));
    // Never issued.
    let garbage = (AsyncContextHandle(0x1234_5678_9abc), AsyncContextHandle(0x1234_5678_9abc));
    assert_eq!(p.same("garbage status", garbage, |s, c| s.status(c)), SecStatus::SEC_E_INVALID_HANDLE);
}

#[test]
fn a_failing_call_completes_with_its_status_and_the_same_queue_time_checks() {
    let p = Pair::new();
    let ctx = p.with_callback();
    let out = Out::new(CredHandle::default());
    let unknown = || AcquireCredentials::new("Nonexistent", CredentialUse::OUTBOUND);
    assert_eq!(p.same("queue", ctx, |s, c| s.acquire(c, unknown(), &out)), SecStatus::SEC_E_OK);
    p.complete(ctx);
    assert_eq!(p.same("status", ctx, |s, c| s.status(c)), SecStatus::SEC_E_SECPKG_NOT_FOUND);
    assert_eq!(out.get(), CredHandle::default(), "no output on failure");
    p.same("reinit", ctx, |s, c| s.reinit(c));
    // A malformed counted string is refused at queue time; the context stays Idle.
    let malformed = || AcquireCredentials {
        package: SecString::Counted(UnicodeString::from_raw(3, 8, vec![0x4e; 4])),
        ..AcquireCredentials::new("x", CredentialUse::OUTBOUND)
    };
    assert_eq!(p.same("malformed", ctx, |s, c| s.acquire(c, malformed(), &out)), SecStatus::SEC_E_INVALID_PARAMETER);
    assert_eq!(p.same("still idle", ctx, |s, c| s.status(c)), SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
    // A queue without a callback still runs asynchronously (Documented).
    let bare = p.create();
    assert_eq!(p.same("queue without callback", bare, |s, c| s.acquire(c, ntlm(), &out)), SecStatus::SEC_E_OK);
    assert_eq!(p.same("pending", bare, |s, c| s.status(c)), SecStatus::SEC_I_ASYNC_CALL_PENDING);
    p.complete(bare);
    assert_eq!(p.same("done", bare, |s, c| s.status(c)), SecStatus::SEC_E_OK);
}

#[test]
fn a_context_freed_while_pending_completes_then_disappears() {
    let p = Pair::new();
    let ctx = p.with_callback();
    let out = Out::new(CredHandle::default());
    assert_eq!(p.same("queue", ctx, |s, c| s.acquire(c, ntlm(), &out)), SecStatus::SEC_E_OK);
    p.same("free while pending", ctx, |s, c| s.free(c));
    assert_eq!(p.same("gone for the caller", ctx, |s, c| s.status(c)), SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(p.same("queue on it", ctx, |s, c| s.acquire(c, ntlm(), &out)), SecStatus::SEC_E_INVALID_HANDLE);
    p.complete(ctx);
    assert_eq!(p.fired(), (1, 1), "the callback still fires, once");
    assert_ne!(out.get(), CredHandle::default(), "the output is still written");
    assert_eq!(p.same("still gone", ctx, |s, c| s.status(c)), SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(p.engine.in_flight(), 0);
}

/// An executor that answers at once.
struct Instant;

impl Executor for Instant {
    fn acquire_credentials_handle(&self, _: &AcquireCredentials) -> Result<Credentials, SecStatus> {
        Ok(Credentials { handle: CredHandle::default(), expiry: TimeStamp(42) })
    }
    fn free_credentials_handle(&self, _: CredHandle) -> SecStatus {
        SecStatus::SEC_E_OK
    }
    fn initialize_security_context(&self, _: &InitializeSecurityContext, _: &IscOutputs) -> SecStatus {
        SecStatus::SEC_E_UNSUPPORTED_FUNCTION
    }
    fn accept_security_context(&self, _: &AcceptSecurityContext, _: &AscOutputs) -> SecStatus {
        SecStatus::SEC_E_UNSUPPORTED_FUNCTION
    }
    fn delete_security_context(&self, _: CtxtHandle) -> SecStatus {
        SecStatus::SEC_E_OK
    }
    fn is_context(&self, _: CtxtHandle) -> bool {
        false
    }
    fn delete_would_fail(&self, _: CtxtHandle) -> bool {
        false
    }
}

#[test]
fn the_inline_driver_completes_before_the_queueing_call_returns() {
    let engine = Engine::new(Arc::new(Instant), Driver::Inline);
    let ctx = engine.create();
    let expiry = Out::new(TimeStamp(0));
    let out = Out::new(CredHandle::default());
    assert_eq!(engine.acquire_credentials_handle(ctx, ntlm(), &out, Some(&expiry)), SecStatus::SEC_E_OK);
    assert_eq!(engine.status(ctx), SecStatus::SEC_E_OK);
    assert_eq!(expiry.get(), TimeStamp(42));
}

#[test]
fn a_callback_may_free_its_context_and_the_engine_may_be_dropped_with_calls_queued() {
    let engine = Arc::new(Engine::new(Arc::new(Instant), Driver::Threaded { workers: 2 }));
    let fired = Arc::new(AtomicUsize::new(0));
    let mut contexts = Vec::new();
    for _ in 0..200 {
        let ctx = engine.create();
        let (weak, n) = (Arc::downgrade(&engine), Arc::clone(&fired));
        let cb: NotifyCallback = Arc::new(move |c, _| {
            if let Some(e) = weak.upgrade() {
                e.free(c);
            }
            n.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(engine.set_callback(ctx, Some(cb), 0), SecStatus::SEC_E_OK);
        let out = Out::new(CredHandle::default());
        assert_eq!(engine.acquire_credentials_handle(ctx, ntlm(), &out, None), SecStatus::SEC_E_OK);
        contexts.push(ctx);
    }
    drop(engine);
    // Whoever dropped the engine last, every queued call completed and fired once.
    while fired.load(Ordering::SeqCst) < 200 {
        std::thread::yield_now();
    }
    assert_eq!(fired.load(Ordering::SeqCst), 200);
}

#[test]
fn a_panicking_callback_does_not_stop_the_worker() {
    let engine = Engine::new(Arc::new(Instant), Driver::Threaded { workers: 1 });
    let ctx = engine.create();
    let cb: NotifyCallback = Arc::new(|_, _| panic!("callback panics (expected in this test)"));
    engine.set_callback(ctx, Some(cb), 0);
    let out = Out::new(CredHandle::default());
    engine.acquire_credentials_handle(ctx, ntlm(), &out, None);
    engine.wait_idle();
    assert_eq!(engine.status(ctx), SecStatus::SEC_E_OK);
    let other = engine.create();
    engine.acquire_credentials_handle(other, ntlm(), &out, None);
    engine.wait_idle();
    assert_eq!(engine.status(other), SecStatus::SEC_E_OK);
}

#[test]
fn handles_are_generational() {
    let engine = Engine::new(Arc::new(Instant), Driver::Inline);
    let a = engine.create();
    assert!(!a.is_null());
    engine.free(a);
    let b = engine.create();
    assert_ne!(a, b, "the slot is reused with a new generation");
    assert_eq!(a.0 as u32, b.0 as u32);
    assert_eq!(engine.status(a), SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(engine.status(b), SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
}

#[test]
fn an_async_ntlm_handshake_answers_as_in_the_simulator_leg_by_leg() {
    let p = Pair::new();
    let creds = credentials(&p);
    let (client, server) = (p.with_callback(), p.with_callback());
    let isc_out = [IscOutputs::with_token(2888), IscOutputs::with_token(2888)];
    let asc_out = [AscOutputs::with_token(2888), AscOutputs::with_token(2888)];
    let mut statuses = Vec::new();
    // Negotiate: ISC with no context.
    let isc1 = |s: Side<'_>, c| {
        s.isc(c, InitializeSecurityContext::new(creds[which(s)].0, Some("HOST/ws01"), isc_req()), &isc_out[which(s)])
    };
    assert_eq!(p.same("ISC 1 queued", client, isc1), SecStatus::SEC_E_OK);
    assert_eq!(isc_out[1].context(), CtxtHandle::default(), "nothing written before completion");
    p.complete(client);
    statuses.push(p.same("ISC 1", client, |s, c| s.status(c)));
    // Challenge: ASC with the negotiate token.
    let tokens = [isc_out[0].output.as_ref().unwrap().get(), isc_out[1].output.as_ref().unwrap().get()];
    let asc1 = |s: Side<'_>, c| {
        s.asc(c, AcceptSecurityContext::new(creds[which(s)].1, token(&tokens, which(s)), asc_req()), &asc_out[which(s)])
    };
    assert_eq!(p.same("ASC 1 queued", server, asc1), SecStatus::SEC_E_OK);
    p.complete(server);
    statuses.push(p.same("ASC 1", server, |s, c| s.status(c)));
    // Authenticate.
    p.same("reinit", client, |s, c| s.reinit(c));
    let tokens = [asc_out[0].output.as_ref().unwrap().get(), asc_out[1].output.as_ref().unwrap().get()];
    isc_out.iter().for_each(|o| o.reset_token(2888));
    let isc2 = |s: Side<'_>, c| {
        let i = which(s);
        let args = InitializeSecurityContext::new(creds[i].0, Some("HOST/ws01"), isc_req())
            .next(isc_out[i].context(), token(&tokens, i));
        s.isc(c, args, &isc_out[i])
    };
    assert_eq!(p.same("ISC 2 queued", client, isc2), SecStatus::SEC_E_OK);
    p.complete(client);
    statuses.push(p.same("ISC 2", client, |s, c| s.status(c)));
    p.same("reinit", server, |s, c| s.reinit(c));
    let tokens = [isc_out[0].output.as_ref().unwrap().get(), isc_out[1].output.as_ref().unwrap().get()];
    asc_out.iter().for_each(|o| o.reset_token(2888));
    let asc2 = |s: Side<'_>, c| {
        let i = which(s);
        let args = AcceptSecurityContext::new(creds[i].1, token(&tokens, i), asc_req())
            .next(asc_out[i].context(), token(&tokens, i));
        s.asc(c, args, &asc_out[i])
    };
    assert_eq!(p.same("ASC 2 queued", server, asc2), SecStatus::SEC_E_OK);
    p.complete(server);
    statuses.push(p.same("ASC 2", server, |s, c| s.status(c)));
    assert_eq!(
        statuses,
        [SecStatus::SEC_I_CONTINUE_NEEDED, SecStatus::SEC_I_CONTINUE_NEEDED, SecStatus::SEC_E_OK, SecStatus::SEC_E_OK]
    );
    assert_eq!(isc_out[0].attributes(), isc_out[1].attributes());
    assert_eq!(asc_out[0].attributes(), asc_out[1].attributes());
    assert_eq!(p.fired(), (4, 4));
    // Delete both contexts asynchronously; a second delete of the same handle is still accepted.
    for (ctx, outs) in [(client, isc_out[0].context()), (server, asc_out[0].context())] {
        let handles = [outs, if ctx == client { isc_out[1].context() } else { asc_out[1].context() }];
        p.same("reinit", ctx, |s, c| s.reinit(c));
        assert_eq!(p.same("delete queued", ctx, |s, c| s.delete(c, handles[which(s)])), SecStatus::SEC_E_OK);
        p.complete(ctx);
        assert_eq!(p.same("deleted", ctx, |s, c| s.status(c)), SecStatus::SEC_E_OK);
    }
}

#[test]
fn the_context_calls_are_refused_at_queue_time_as_in_the_simulator() {
    let p = Pair::new();
    let creds = credentials(&p);
    let ctx = p.with_callback();
    let none: [IscOutputs; 2] = std::array::from_fn(|_| IscOutputs { new_context: None, ..IscOutputs::with_token(16) });
    let isc =
        |s: Side<'_>, c| s.isc(c, InitializeSecurityContext::new(creds[which(s)].0, None, isc_req()), &none[which(s)]);
    assert_eq!(p.same("phNewContext NULL", ctx, isc), SecStatus::SEC_E_INVALID_HANDLE);
    let no_output: [IscOutputs; 2] = std::array::from_fn(|_| IscOutputs { output: None, ..IscOutputs::with_token(16) });
    let isc = |s: Side<'_>, c| {
        s.isc(c, InitializeSecurityContext::new(creds[which(s)].0, None, isc_req()), &no_output[which(s)])
    };
    assert_eq!(p.same("pOutput NULL", ctx, isc), SecStatus::SEC_E_INVALID_PARAMETER);
    let many = IscOutputs {
        output: Some(Out::new(SecBufferDesc::new(vec![SecBuffer::output_token(1); 19]))),
        ..IscOutputs::with_token(16)
    };
    let isc = |s: Side<'_>, c| s.isc(c, InitializeSecurityContext::new(creds[which(s)].0, None, isc_req()), &many);
    assert_eq!(p.same("19 output buffers", ctx, isc), SecStatus::SEC_E_INVALID_PARAMETER);
    let stranger = CtxtHandle(SecHandle { dw_lower: 0x77, dw_upper: 0x88 });
    let out = IscOutputs::with_token(16);
    let isc = |s: Side<'_>, c| {
        let args =
            InitializeSecurityContext::new(creds[which(s)].0, None, isc_req()).next(stranger, SecBufferDesc::default());
        s.isc(c, args, &out)
    };
    assert_eq!(p.same("unknown phContext", ctx, isc), SecStatus::SEC_E_INVALID_HANDLE);
    let mut malformed = InitializeSecurityContext::new(CredHandle::default(), None, isc_req());
    malformed.target_name = Some(SecString::Counted(UnicodeString::from_raw(3, 8, vec![0x41; 4])));
    let isc = |s: Side<'_>, c| {
        let mut args = malformed.clone();
        args.credential = Some(creds[which(s)].0);
        s.isc(c, args, &out)
    };
    assert_eq!(p.same("malformed target", ctx, isc), SecStatus::SEC_E_INVALID_PARAMETER);
    // ASC zeroes pfContextAttr and ptsExpiry before refusing a bad handle.
    let asc_out: [AscOutputs; 2] = std::array::from_fn(|_| {
        let o = AscOutputs { new_context: None, ..AscOutputs::with_token(16) };
        o.context_attr.set(AscRet(0xFFFF));
        o.expiry.as_ref().unwrap().set(TimeStamp(99));
        o
    });
    let asc = |s: Side<'_>, c| {
        s.asc(c, AcceptSecurityContext::new(creds[which(s)].1, SecBufferDesc::default(), asc_req()), &asc_out[which(s)])
    };
    assert_eq!(p.same("ASC phNewContext NULL", ctx, asc), SecStatus::SEC_E_INVALID_HANDLE);
    for o in &asc_out {
        assert_eq!((o.attributes(), o.expiry.as_ref().unwrap().get()), (AscRet(0), TimeStamp(0)));
    }
    assert_eq!(p.same("delete never issued", ctx, |s, c| s.delete(c, stranger)), SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(p.same("still idle", ctx, |s, c| s.status(c)), SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
    assert_eq!(p.fired(), (0, 0));
}
