//! The engine through its executor seam: the same calls, the same answers, the same journal.
//!
//! The reference is a simulator answering from its world. The other is a simulator built with
//! an [`Executor`] that runs a second simulator's *sync* calls, as the Windows backend runs
//! secur32's. Both use the manual driver, so a test holds a call pending on both and completes
//! it on both, and every answer is compared. What differs between the two is only where the
//! operation runs, so any difference is a leak in the seam.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sspi_emu_api::{
    AcceptSecurityContext, AcquireCredentials, AscOutputs, AscReq, AscRet, AsyncContextHandle, AuthIdentity, Backend,
    CredHandle, CredentialUse, Credentials, CtxtHandle, InitializeSecurityContext, IscOutputs, IscReq, NotifyCallback,
    NtStatus, Out, SecBuffer, SecBufferDesc, SecHandle, SecStatus, SecString, TimeStamp, UnicodeString,
};
use sspi_emu_sim::{
    DriverKind, Executor, FaultAction, FaultRule, FunctionId, JournalEntry, MisuseKind, Profile, Simulator,
    SimulatorBuilder,
};

/// What the executor knows of the handles it issued: what `is_context`, `delete_would_fail`
/// and `package` need (the Windows backend's registry, in small). Packages outlive frees, as
/// the world's do (its handles carry the package index).
#[derive(Default)]
struct Handles {
    credentials: HashMap<SecHandle, String>,
    contexts: HashMap<SecHandle, String>,
    deleted: HashSet<SecHandle>,
}

/// A second simulator's sync calls, as an executor.
struct SyncCalls {
    sim: Simulator,
    handles: Mutex<Handles>,
}

impl SyncCalls {
    fn new() -> Self {
        Self { sim: Simulator::new(), handles: Mutex::default() }
    }

    fn issued(&self, status: SecStatus, new: CtxtHandle, credential: Option<CredHandle>, context: Option<CtxtHandle>) {
        if !status.is_success() || new == CtxtHandle::default() {
            return;
        }
        let mut h = self.handles.lock().unwrap();
        let package =
            context.and_then(|c| h.contexts.get(&c.0)).or_else(|| credential.and_then(|c| h.credentials.get(&c.0)));
        let package = package.cloned().unwrap_or_default();
        h.contexts.insert(new.0, package);
    }
}

impl Executor for SyncCalls {
    fn acquire_credentials_handle(&self, args: &AcquireCredentials) -> Result<Credentials, SecStatus> {
        let result = self.sim.acquire_credentials_handle(args.clone());
        if let Ok(c) = &result {
            self.handles.lock().unwrap().credentials.insert(c.handle.0, args.package.decode().unwrap_or_default());
        }
        result
    }

    fn free_credentials_handle(&self, credential: CredHandle) -> SecStatus {
        self.sim.free_credentials_handle(credential)
    }

    fn initialize_security_context(&self, args: &InitializeSecurityContext, out: &IscOutputs) -> SecStatus {
        let status = self.sim.initialize_security_context(args.clone(), out);
        self.issued(status, out.context(), args.credential, args.context);
        status
    }

    fn accept_security_context(&self, args: &AcceptSecurityContext, out: &AscOutputs) -> SecStatus {
        let status = self.sim.accept_security_context(args.clone(), out);
        self.issued(status, out.context(), args.credential, args.context);
        status
    }

    fn delete_security_context(&self, context: CtxtHandle) -> SecStatus {
        let status = self.sim.delete_security_context(context);
        let mut h = self.handles.lock().unwrap();
        if h.contexts.contains_key(&context.0) {
            h.deleted.insert(context.0);
        }
        status
    }

    fn is_context(&self, context: CtxtHandle) -> bool {
        let h = self.handles.lock().unwrap();
        h.contexts.contains_key(&context.0) && !h.deleted.contains(&context.0)
    }

    fn delete_would_fail(&self, context: CtxtHandle) -> bool {
        !self.handles.lock().unwrap().contexts.contains_key(&context.0)
    }

    fn package(&self, handle: SecHandle) -> Option<String> {
        let h = self.handles.lock().unwrap();
        h.contexts.get(&handle).or_else(|| h.credentials.get(&handle)).cloned()
    }
}

/// The world's engine and the executor's engine, driven in step.
struct Pair {
    sims: [Simulator; 2],
    executor: Arc<SyncCalls>,
    fired: [Arc<AtomicUsize>; 2],
}

impl Pair {
    fn new() -> Self {
        Self::with(|b| b.driver(DriverKind::Manual))
    }

    fn with(configure: impl Fn(SimulatorBuilder) -> SimulatorBuilder) -> Self {
        let executor = Arc::new(SyncCalls::new());
        let shared: Arc<dyn Executor> = Arc::clone(&executor) as Arc<dyn Executor>;
        Self {
            sims: [configure(Simulator::builder()).build(), configure(Simulator::builder().executor(shared)).build()],
            executor,
            fired: [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))],
        }
    }

    fn counter(&self, side: usize) -> NotifyCallback {
        let n = Arc::clone(&self.fired[side]);
        Arc::new(move |_, _| {
            n.fetch_add(1, Ordering::SeqCst);
        })
    }

    /// Runs `f` on both sides (the side's simulator and index) and asserts equal answers.
    fn same<R: PartialEq + std::fmt::Debug>(&self, what: &str, f: impl Fn(&Simulator, usize) -> R) -> R {
        let (a, b) = (f(&self.sims[0], 0), f(&self.sims[1], 1));
        assert_eq!(a, b, "{what}: the world's engine answered {a:?}, the executor's {b:?}");
        a
    }

    /// Completes the held call of `ctx` on both.
    fn complete(&self, ctx: AsyncContextHandle) {
        self.same("complete", |s, _| s.driver().unwrap().complete(ctx));
    }

    fn create(&self) -> AsyncContextHandle {
        self.same("create", |s, _| s.sspi_create_async_context())
    }

    fn with_callback(&self) -> AsyncContextHandle {
        let ctx = self.create();
        self.same("set callback", |s, i| s.sspi_set_async_notify_callback(ctx, Some(self.counter(i)), 7));
        ctx
    }

    fn fired(&self) -> (usize, usize) {
        (self.fired[0].load(Ordering::SeqCst), self.fired[1].load(Ordering::SeqCst))
    }

    /// A sync ACH where the side's async calls will run: the world, or the executor.
    fn acquire_sync(&self, side: usize, args: AcquireCredentials) -> CredHandle {
        match side {
            0 => self.sims[0].acquire_credentials_handle(args).unwrap().handle,
            _ => self.executor.acquire_credentials_handle(&args).unwrap().handle,
        }
    }

    /// alice's outbound and the machine's inbound NTLM credentials, on each side.
    fn credentials(&self) -> [(CredHandle, CredHandle); 2] {
        [0, 1].map(|side| {
            let outbound = AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND).identity(AuthIdentity::unicode(
                "alice",
                "CONTOSO",
                "Passw0rd!",
            ));
            (
                self.acquire_sync(side, outbound),
                self.acquire_sync(side, AcquireCredentials::new("NTLM", CredentialUse::INBOUND)),
            )
        })
    }

    /// Both journals agree on the async family (the reference also journals its sync calls,
    /// which the other side makes on the executor's simulator), without what only the world
    /// knows (error details) and without inputs (handle values may differ).
    fn journals_agree(&self) -> usize {
        let view = |e: &JournalEntry| {
            (
                e.function,
                e.ctx,
                e.package.clone(),
                e.queue_status,
                e.status,
                e.fault.clone(),
                e.misuse.clone(),
                e.callbacks,
            )
        };
        let is_async = |e: &&JournalEntry| e.function.name().starts_with("Sspi");
        let [a, b] = [0, 1].map(|i| self.sims[i].journal().iter().filter(is_async).map(view).collect::<Vec<_>>());
        assert_eq!(a.len(), b.len(), "{a:#?}\n{b:#?}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y);
        }
        a.len()
    }
}

fn ntlm() -> AcquireCredentials {
    AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND).identity(AuthIdentity::unicode("alice", "D", "pw"))
}

fn isc_req() -> IscReq {
    IscReq::CONFIDENTIALITY | IscReq::INTEGRITY | IscReq::CONNECTION
}

fn asc_req() -> AscReq {
    AscReq::CONFIDENTIALITY | AscReq::INTEGRITY | AscReq::CONNECTION
}

fn token(out: &Out<SecBufferDesc>) -> SecBufferDesc {
    SecBufferDesc::new(vec![SecBuffer::token(out.get().buffers[0].data.clone())])
}

#[test]
fn a_null_context_is_answered_alike() {
    let p = Pair::new();
    let null = AsyncContextHandle::NULL;
    assert_eq!(p.same("status", |s, _| s.sspi_get_async_call_status(null)), SecStatus::SEC_E_INVALID_PARAMETER);
    assert_eq!(p.same("reinit", |s, _| s.sspi_reinit_async_context(null)), NtStatus::STATUS_INVALID_PARAMETER);
    let out = Out::new(CredHandle::default());
    assert_eq!(
        p.same("queue", |s, _| s.sspi_acquire_credentials_handle_async(null, ntlm(), &out, None)),
        SecStatus::SEC_E_INVALID_PARAMETER
    );
    p.journals_agree();
}

#[test]
fn every_state_answers_alike() {
    let p = Pair::new();
    let ctx = p.with_callback();
    assert_eq!(p.same("idle", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
    let outs = [Out::new(CredHandle::default()), Out::new(CredHandle::default())];
    let queue = |s: &Simulator, i: usize| s.sspi_acquire_credentials_handle_async(ctx, ntlm(), &outs[i], None);
    assert_eq!(p.same("queue", queue), SecStatus::SEC_E_OK);
    assert_eq!(p.same("pending", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_I_ASYNC_CALL_PENDING);
    assert_eq!(outs[1].get(), CredHandle::default(), "nothing is written before completion");
    assert_eq!(p.same("queue while pending", queue), SecStatus::SEC_E_INVALID_PARAMETER);
    assert_eq!(p.same("pending reinit", |s, _| s.sspi_reinit_async_context(ctx)), NtStatus::STATUS_INVALID_PARAMETER);
    p.complete(ctx);
    assert_eq!(p.fired(), (1, 1));
    assert_eq!(p.same("completed", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_E_OK);
    assert_ne!(outs[1].get(), CredHandle::default(), "the executor's credential was written");
    assert_eq!(p.same("reuse without reinit", queue), SecStatus::SEC_E_INVALID_PARAMETER);
    p.same("reinit", |s, _| s.sspi_reinit_async_context(ctx));
    // Free the credential asynchronously, twice.
    let creds = [outs[0].get(), outs[1].get()];
    let free = |s: &Simulator, i: usize| s.sspi_free_credentials_handle_async(ctx, creds[i]);
    assert_eq!(p.same("free creds", free), SecStatus::SEC_E_OK);
    p.complete(ctx);
    assert_eq!(p.same("freed", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_E_OK);
    p.same("reinit", |s, _| s.sspi_reinit_async_context(ctx));
    assert_eq!(p.same("free creds again", free), SecStatus::SEC_E_OK);
    p.complete(ctx);
    assert_eq!(p.same("freed twice", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_E_INVALID_HANDLE);
    p.same("free", |s, _| s.sspi_free_async_context(ctx));
    assert_eq!(p.same("stale", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(p.fired(), (3, 3));
    let misuses = p.same("misuses", |s, _| s.misuses().iter().map(|m| m.kind).collect::<Vec<_>>());
    assert_eq!(misuses, [MisuseKind::QueueWhilePending, MisuseKind::ReuseWithoutReinit, MisuseKind::StaleContext]);
    assert!(p.journals_agree() > 10);
}

#[test]
fn a_failing_call_and_a_malformed_one_answer_alike() {
    let p = Pair::new();
    let ctx = p.with_callback();
    let out = Out::new(CredHandle::default());
    let unknown = |s: &Simulator, _| {
        s.sspi_acquire_credentials_handle_async(
            ctx,
            AcquireCredentials::new("Nonexistent", CredentialUse::OUTBOUND),
            &out,
            None,
        )
    };
    assert_eq!(p.same("queue", unknown), SecStatus::SEC_E_OK);
    p.complete(ctx);
    assert_eq!(p.same("status", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_E_SECPKG_NOT_FOUND);
    assert_eq!(out.get(), CredHandle::default(), "no output on failure");
    p.same("reinit", |s, _| s.sspi_reinit_async_context(ctx));
    let malformed = || AcquireCredentials {
        package: SecString::Counted(UnicodeString::from_raw(3, 8, vec![0x4e; 4])),
        ..AcquireCredentials::new("x", CredentialUse::OUTBOUND)
    };
    let queue = |s: &Simulator, _| s.sspi_acquire_credentials_handle_async(ctx, malformed(), &out, None);
    assert_eq!(p.same("malformed", queue), SecStatus::SEC_E_INVALID_PARAMETER);
    assert_eq!(p.same("still idle", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
    p.journals_agree();
}

#[test]
fn a_context_freed_while_pending_completes_then_disappears_alike() {
    let p = Pair::new();
    let ctx = p.with_callback();
    let outs = [Out::new(CredHandle::default()), Out::new(CredHandle::default())];
    p.same("queue", |s, i| s.sspi_acquire_credentials_handle_async(ctx, ntlm(), &outs[i], None));
    p.same("free while pending", |s, _| s.sspi_free_async_context(ctx));
    assert_eq!(p.same("gone", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_E_INVALID_HANDLE);
    p.complete(ctx);
    assert_eq!(p.fired(), (1, 1), "the callback still fires, once");
    assert_ne!(outs[1].get(), CredHandle::default(), "the output is still written");
    assert_eq!(p.same("in flight", |s, _| s.stats().in_flight), 0);
    assert_eq!(p.same("live contexts", |s, _| s.stats().async_contexts), 0);
    p.journals_agree();
}

#[test]
fn an_async_ntlm_handshake_answers_alike_leg_by_leg() {
    let p = Pair::new();
    let creds = p.credentials();
    let (client, server) = (p.with_callback(), p.with_callback());
    let isc = [IscOutputs::with_token(2888), IscOutputs::with_token(2888)];
    let asc = [AscOutputs::with_token(2888), AscOutputs::with_token(2888)];
    let mut statuses = Vec::new();
    let isc1 = |s: &Simulator, i: usize| {
        s.sspi_initialize_security_context_async(
            client,
            InitializeSecurityContext::new(creds[i].0, Some("HOST/ws01"), isc_req()),
            &isc[i],
        )
    };
    assert_eq!(p.same("ISC 1 queued", isc1), SecStatus::SEC_E_OK);
    p.complete(client);
    statuses.push(p.same("ISC 1", |s, _| s.sspi_get_async_call_status(client)));
    let asc1 = |s: &Simulator, i: usize| {
        let input = token(isc[i].output.as_ref().unwrap());
        s.sspi_accept_security_context_async(server, AcceptSecurityContext::new(creds[i].1, input, asc_req()), &asc[i])
    };
    assert_eq!(p.same("ASC 1 queued", asc1), SecStatus::SEC_E_OK);
    p.complete(server);
    statuses.push(p.same("ASC 1", |s, _| s.sspi_get_async_call_status(server)));
    p.same("reinit", |s, _| s.sspi_reinit_async_context(client));
    let challenge = [0, 1].map(|i| token(asc[i].output.as_ref().unwrap()));
    isc.iter().for_each(|o| o.reset_token(2888));
    let isc2 = |s: &Simulator, i: usize| {
        let args = InitializeSecurityContext::new(creds[i].0, Some("HOST/ws01"), isc_req())
            .next(isc[i].context(), challenge[i].clone());
        s.sspi_initialize_security_context_async(client, args, &isc[i])
    };
    assert_eq!(p.same("ISC 2 queued", isc2), SecStatus::SEC_E_OK);
    p.complete(client);
    statuses.push(p.same("ISC 2", |s, _| s.sspi_get_async_call_status(client)));
    p.same("reinit", |s, _| s.sspi_reinit_async_context(server));
    let authenticate = [0, 1].map(|i| token(isc[i].output.as_ref().unwrap()));
    asc.iter().for_each(|o| o.reset_token(2888));
    let asc2 = |s: &Simulator, i: usize| {
        let args = AcceptSecurityContext::new(creds[i].1, authenticate[i].clone(), asc_req())
            .next(asc[i].context(), authenticate[i].clone());
        s.sspi_accept_security_context_async(server, args, &asc[i])
    };
    assert_eq!(p.same("ASC 2 queued", asc2), SecStatus::SEC_E_OK);
    p.complete(server);
    statuses.push(p.same("ASC 2", |s, _| s.sspi_get_async_call_status(server)));
    assert_eq!(
        statuses,
        [SecStatus::SEC_I_CONTINUE_NEEDED, SecStatus::SEC_I_CONTINUE_NEEDED, SecStatus::SEC_E_OK, SecStatus::SEC_E_OK]
    );
    assert_eq!(isc[0].attributes(), isc[1].attributes());
    assert_eq!(asc[0].attributes(), asc[1].attributes());
    assert_eq!(p.fired(), (4, 4));
    // Delete both contexts asynchronously.
    for (ctx, outs) in [(client, [isc[0].context(), isc[1].context()]), (server, [asc[0].context(), asc[1].context()])]
    {
        p.same("reinit", |s, _| s.sspi_reinit_async_context(ctx));
        assert_eq!(
            p.same("delete queued", |s, i| s.sspi_delete_security_context_async(ctx, outs[i])),
            SecStatus::SEC_E_OK
        );
        p.complete(ctx);
        assert_eq!(p.same("deleted", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_E_OK);
        // A deleted context is no longer a phContext.
        p.same("reinit", |s, _| s.sspi_reinit_async_context(ctx));
        let again = IscOutputs::with_token(16);
        let isc = |s: &Simulator, i: usize| {
            let args =
                InitializeSecurityContext::new(creds[i].0, None, isc_req()).next(outs[i], SecBufferDesc::default());
            s.sspi_initialize_security_context_async(ctx, args, &again)
        };
        assert_eq!(p.same("ISC on a deleted context", isc), SecStatus::SEC_E_INVALID_HANDLE);
    }
    // The journal names each call's package: the world's answer, and the executor's.
    assert!(p.journals_agree() > 20);
    let packages = p.sims[1].journal().iter().filter(|e| e.package.is_some()).count();
    assert!(packages >= 6, "{packages}");
}

#[test]
fn the_context_calls_are_refused_at_queue_time_alike() {
    let p = Pair::new();
    let creds = p.credentials();
    let ctx = p.with_callback();
    let none = IscOutputs { new_context: None, ..IscOutputs::with_token(16) };
    let isc = |s: &Simulator, i: usize| {
        s.sspi_initialize_security_context_async(
            ctx,
            InitializeSecurityContext::new(creds[i].0, None, isc_req()),
            &none,
        )
    };
    assert_eq!(p.same("phNewContext NULL", isc), SecStatus::SEC_E_INVALID_HANDLE);
    let no_output = IscOutputs { output: None, ..IscOutputs::with_token(16) };
    let isc = |s: &Simulator, i: usize| {
        s.sspi_initialize_security_context_async(
            ctx,
            InitializeSecurityContext::new(creds[i].0, None, isc_req()),
            &no_output,
        )
    };
    assert_eq!(p.same("pOutput NULL", isc), SecStatus::SEC_E_INVALID_PARAMETER);
    let stranger = CtxtHandle(SecHandle { dw_lower: 0x77, dw_upper: 0x88 });
    let out = IscOutputs::with_token(16);
    let isc = |s: &Simulator, i: usize| {
        let args = InitializeSecurityContext::new(creds[i].0, None, isc_req()).next(stranger, SecBufferDesc::default());
        s.sspi_initialize_security_context_async(ctx, args, &out)
    };
    assert_eq!(p.same("unknown phContext", isc), SecStatus::SEC_E_INVALID_HANDLE);
    // ASC zeroes pfContextAttr and ptsExpiry before refusing a bad handle.
    let asc_out: [AscOutputs; 2] = std::array::from_fn(|_| {
        let o = AscOutputs { new_context: None, ..AscOutputs::with_token(16) };
        o.context_attr.set(AscRet(0xFFFF));
        o.expiry.as_ref().unwrap().set(TimeStamp(99));
        o
    });
    let asc = |s: &Simulator, i: usize| {
        let args = AcceptSecurityContext::new(creds[i].1, SecBufferDesc::default(), asc_req());
        s.sspi_accept_security_context_async(ctx, args, &asc_out[i])
    };
    assert_eq!(p.same("ASC phNewContext NULL", asc), SecStatus::SEC_E_INVALID_HANDLE);
    for o in &asc_out {
        assert_eq!((o.attributes(), o.expiry.as_ref().unwrap().get()), (AscRet(0), TimeStamp(0)));
    }
    let delete = |s: &Simulator, _| s.sspi_delete_security_context_async(ctx, stranger);
    assert_eq!(p.same("delete never issued", delete), SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(p.same("still idle", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
    p.journals_agree();
}

#[test]
fn fault_rules_select_executor_calls_by_the_executors_package() {
    let p = Pair::new();
    for s in &p.sims {
        s.add_fault(
            FaultRule::fail(FunctionId::SspiInitializeSecurityContextAsyncW, SecStatus::SEC_E_INTERNAL_ERROR)
                .package("NTLM"),
        );
        s.add_fault(FaultRule::new(
            vec![FunctionId::SspiFreeCredentialsHandleAsync],
            Some("Negotiate".into()),
            Vec::new(),
            FaultAction::FailQueue(SecStatus::SEC_E_INSUFFICIENT_MEMORY),
        ));
        s.add_fault(FaultRule::new(
            vec![FunctionId::SspiAcquireCredentialsHandleAsyncW],
            Some("Kerberos".into()),
            Vec::new(),
            FaultAction::Delay { ticks: 5 * TimeStamp::TICKS_PER_SECOND },
        ));
    }
    let creds = p.credentials();
    let ctx = p.with_callback();
    let out = IscOutputs::with_token(2888);
    let isc = |s: &Simulator, i: usize| {
        s.sspi_initialize_security_context_async(ctx, InitializeSecurityContext::new(creds[i].0, None, isc_req()), &out)
    };
    assert_eq!(p.same("ISC queued", isc), SecStatus::SEC_E_OK);
    p.complete(ctx);
    assert_eq!(
        p.same("ISC failed by the rule", |s, _| s.sspi_get_async_call_status(ctx)),
        SecStatus::SEC_E_INTERNAL_ERROR
    );
    assert_eq!(out.context(), CtxtHandle::default(), "the executor was not called");
    // A Negotiate credential's async free is refused when queued; an NTLM one's is not.
    let negotiate = [0, 1].map(|i| p.acquire_sync(i, AcquireCredentials::new("Negotiate", CredentialUse::OUTBOUND)));
    p.same("reinit", |s, _| s.sspi_reinit_async_context(ctx));
    let free = |s: &Simulator, i: usize| s.sspi_free_credentials_handle_async(ctx, negotiate[i]);
    assert_eq!(p.same("free Negotiate", free), SecStatus::SEC_E_INSUFFICIENT_MEMORY);
    let free = |s: &Simulator, i: usize| s.sspi_free_credentials_handle_async(ctx, creds[i].0);
    assert_eq!(p.same("free NTLM", free), SecStatus::SEC_E_OK);
    p.complete(ctx);
    assert_eq!(p.same("freed", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_E_OK);
    // A delayed call completes when the virtual clock passes its due time.
    p.same("reinit", |s, _| s.sspi_reinit_async_context(ctx));
    let kerberos = [Out::new(CredHandle::default()), Out::new(CredHandle::default())];
    let acquire = |s: &Simulator, i: usize| {
        let args = AcquireCredentials::new("Kerberos", CredentialUse::OUTBOUND);
        s.sspi_acquire_credentials_handle_async(ctx, args, &kerberos[i], None)
    };
    assert_eq!(p.same("delayed", acquire), SecStatus::SEC_E_OK);
    assert_eq!(p.same("held", |s, _| s.stats().held), (0, 1, 0));
    p.same("advance", |s, _| s.driver().unwrap().advance_seconds(5.0));
    assert_eq!(p.same("due", |s, _| s.driver().unwrap().run_until_idle()), 1);
    assert_eq!(p.same("acquired", |s, _| s.sspi_get_async_call_status(ctx)), SecStatus::SEC_E_OK);
    assert_ne!(kerberos[1].get(), CredHandle::default());
    assert!(p.journals_agree() > 10);
}

#[test]
fn the_observed_kernel_profile_answers_alike() {
    let p = Pair::with(|b| b.driver(DriverKind::Manual).profile(Profile::ObservedKernel));
    let ctx = p.create();
    let outs = [Out::new(CredHandle::default()), Out::new(CredHandle::default())];
    // No callback: the queueing call runs the call and returns its final status.
    let queue = |s: &Simulator, i: usize| s.sspi_acquire_credentials_handle_async(ctx, ntlm(), &outs[i], None);
    assert_eq!(p.same("synchronous", queue), SecStatus::SEC_E_OK);
    assert_ne!(outs[1].get(), CredHandle::default());
    assert_eq!(p.same("reuse without reinit", queue), SecStatus::SEC_E_OK);
    let free = |s: &Simulator, i: usize| s.sspi_free_credentials_handle_async(ctx, outs[i].get());
    assert_eq!(p.same("stub", free), SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
    p.journals_agree();
}

/// An executor that answers at once, without handles.
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

fn instant(driver: DriverKind) -> Simulator {
    Simulator::builder().driver(driver).executor(Arc::new(Instant)).build()
}

#[test]
fn the_inline_driver_runs_the_executor_before_the_queueing_call_returns() {
    let sim = instant(DriverKind::Inline);
    let ctx = sim.sspi_create_async_context();
    let expiry = Out::new(TimeStamp(0));
    let out = Out::new(CredHandle(SecHandle { dw_lower: 1, dw_upper: 1 }));
    assert_eq!(sim.sspi_acquire_credentials_handle_async(ctx, ntlm(), &out, Some(&expiry)), SecStatus::SEC_E_OK);
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_E_OK);
    assert_eq!((out.get(), expiry.get()), (CredHandle::default(), TimeStamp(42)), "the executor's outputs");
    assert_eq!(sim.stats().credentials, 0, "the world issued nothing");
}

#[test]
fn a_callback_may_free_its_context_and_the_engine_may_be_dropped_with_calls_queued() {
    let sim = Arc::new(instant(DriverKind::Threaded { workers: 2 }));
    let fired = Arc::new(AtomicUsize::new(0));
    for _ in 0..200 {
        let ctx = sim.sspi_create_async_context();
        let (weak, n) = (Arc::downgrade(&sim), Arc::clone(&fired));
        let cb: NotifyCallback = Arc::new(move |c, _| {
            if let Some(s) = weak.upgrade() {
                s.sspi_free_async_context(c);
            }
            n.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(sim.sspi_set_async_notify_callback(ctx, Some(cb), 0), SecStatus::SEC_E_OK);
        let out = Out::new(CredHandle::default());
        assert_eq!(sim.sspi_acquire_credentials_handle_async(ctx, ntlm(), &out, None), SecStatus::SEC_E_OK);
    }
    drop(sim);
    // Whoever dropped the simulator last, every queued call completed and fired once.
    while fired.load(Ordering::SeqCst) < 200 {
        std::thread::yield_now();
    }
    assert_eq!(fired.load(Ordering::SeqCst), 200);
}

/// A worker may finish a call before the test asks: `run_until_idle` still reports it, once.
#[test]
fn run_until_idle_counts_what_a_worker_finished_before_it_was_called() {
    let sim = instant(DriverKind::Threaded { workers: 1 });
    let out = Out::new(CredHandle::default());
    for round in 1..=3 {
        for _ in 0..round {
            let ctx = sim.sspi_create_async_context();
            assert_eq!(sim.sspi_acquire_credentials_handle_async(ctx, ntlm(), &out, None), SecStatus::SEC_E_OK);
            while sim.stats().in_flight > 0 {
                std::thread::yield_now();
            }
        }
        assert_eq!(
            sim.driver().unwrap().run_until_idle(),
            round,
            "round {round}: every completion since the last report"
        );
        assert_eq!(sim.driver().unwrap().run_until_idle(), 0, "round {round}: reported once");
    }
}

/// Several threads asking at once: every completion is reported exactly once in all.
#[test]
fn concurrent_run_until_idle_reports_each_completion_once() {
    const CALLS: usize = 20_000;
    let sim = Arc::new(instant(DriverKind::Threaded { workers: 2 }));
    let queued = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let askers: Vec<_> = (0..2)
        .map(|_| {
            let (sim, queued) = (Arc::clone(&sim), Arc::clone(&queued));
            std::thread::spawn(move || {
                let mut reported = 0;
                while !queued.load(Ordering::SeqCst) {
                    reported += sim.driver().unwrap().run_until_idle();
                }
                reported
            })
        })
        .collect();
    let out = Out::new(CredHandle::default());
    for _ in 0..CALLS {
        let ctx = sim.sspi_create_async_context();
        assert_eq!(sim.sspi_acquire_credentials_handle_async(ctx, ntlm(), &out, None), SecStatus::SEC_E_OK);
    }
    queued.store(true, Ordering::SeqCst);
    let mut total: usize = askers.into_iter().map(|t| t.join().unwrap()).sum();
    total += sim.driver().unwrap().run_until_idle();
    assert_eq!(total, CALLS);
}

#[test]
fn a_panicking_callback_does_not_stop_a_worker() {
    let sim = instant(DriverKind::Threaded { workers: 1 });
    let ctx = sim.sspi_create_async_context();
    let cb: NotifyCallback = Arc::new(|_, _| panic!("callback panics (expected in this test)"));
    sim.sspi_set_async_notify_callback(ctx, Some(cb), 0);
    let out = Out::new(CredHandle::default());
    sim.sspi_acquire_credentials_handle_async(ctx, ntlm(), &out, None);
    assert_eq!(sim.driver().unwrap().run_until_idle(), 1);
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_E_OK);
    let other = sim.sspi_create_async_context();
    sim.sspi_set_async_notify_callback(other, Some(Arc::new(|_, _| {})), 0);
    sim.sspi_acquire_credentials_handle_async(other, ntlm(), &out, None);
    assert_eq!(sim.driver().unwrap().run_until_idle(), 1, "the worker is still there");
    assert_eq!(sim.sspi_get_async_call_status(other), SecStatus::SEC_E_OK);
    assert_eq!((sim.stats().in_flight, sim.stats().callbacks), (0, 2));
}

#[test]
fn a_panicking_callback_on_the_callers_thread_panics_the_caller_after_the_bookkeeping() {
    let sim = Simulator::builder().driver(DriverKind::Manual).build();
    let ctx = sim.sspi_create_async_context();
    let cb: NotifyCallback = Arc::new(|_, _| panic!("callback panics (expected in this test)"));
    sim.sspi_set_async_notify_callback(ctx, Some(cb), 0);
    let out = Out::new(CredHandle::default());
    sim.sspi_acquire_credentials_handle_async(ctx, ntlm(), &out, None);
    sim.sspi_free_async_context(ctx);
    let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.driver().unwrap().step()));
    assert!(stepped.is_err(), "the panic reached the thread that stepped");
    let stats = sim.stats();
    assert_eq!((stats.in_flight, stats.async_contexts, stats.callbacks), (0, 0, 1), "{stats:?}");
}

/// An executor whose free panics (a bug in a real backend's glue).
struct PanickingFree;

impl Executor for PanickingFree {
    fn acquire_credentials_handle(&self, a: &AcquireCredentials) -> Result<Credentials, SecStatus> {
        Instant.acquire_credentials_handle(a)
    }
    fn free_credentials_handle(&self, _: CredHandle) -> SecStatus {
        panic!("the executor panics (expected in this test)")
    }
    fn initialize_security_context(&self, a: &InitializeSecurityContext, o: &IscOutputs) -> SecStatus {
        Instant.initialize_security_context(a, o)
    }
    fn accept_security_context(&self, a: &AcceptSecurityContext, o: &AscOutputs) -> SecStatus {
        Instant.accept_security_context(a, o)
    }
    fn delete_security_context(&self, c: CtxtHandle) -> SecStatus {
        Instant.delete_security_context(c)
    }
    fn is_context(&self, _: CtxtHandle) -> bool {
        false
    }
    fn delete_would_fail(&self, _: CtxtHandle) -> bool {
        false
    }
}

#[test]
fn a_panicking_operation_completes_its_call_with_internal_error_and_the_worker_goes_on() {
    let sim =
        Simulator::builder().driver(DriverKind::Threaded { workers: 1 }).executor(Arc::new(PanickingFree)).build();
    let ctx = sim.sspi_create_async_context();
    sim.sspi_set_async_notify_callback(ctx, Some(Arc::new(|_, _| {})), 0);
    assert_eq!(sim.sspi_free_credentials_handle_async(ctx, CredHandle::default()), SecStatus::SEC_E_OK);
    assert_eq!(sim.driver().unwrap().run_until_idle(), 1);
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_E_INTERNAL_ERROR);
    // The worker survived: the next call completes.
    let other = sim.sspi_create_async_context();
    sim.sspi_set_async_notify_callback(other, Some(Arc::new(|_, _| {})), 0);
    let out = Out::new(CredHandle::default());
    sim.sspi_acquire_credentials_handle_async(other, ntlm(), &out, None);
    assert_eq!(sim.driver().unwrap().run_until_idle(), 1, "the worker is still there");
    assert_eq!(sim.sspi_get_async_call_status(other), SecStatus::SEC_E_OK);
    assert_eq!((sim.stats().in_flight, sim.stats().callbacks), (0, 2));
}
