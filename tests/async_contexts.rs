//! The async context calls (`SspiInitializeSecurityContextAsyncW`,
//! `SspiAcceptSecurityContextAsync`, `SspiDeleteSecurityContextAsync`) through the manual
//! driver: outputs written only at completion, the same handshakes as the sync calls, the
//! queue-time checks, the NULL-callback rules of the two profiles, exactly one completion per
//! queued call.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use sspi_emu::sim::{DriverKind, MisuseKind, Profile, Simulator};
use sspi_emu::*;

const TARGET: &str = "HTTP/web.contoso.com";
const CAP: usize = 48_256;
const NTLM_EXPIRY: TimeStamp = TimeStamp(0x7FFF_FF36_D596_9FFF);

fn manual() -> Simulator {
    Simulator::builder().driver(DriverKind::Manual).build()
}

fn creds(b: &dyn Backend, package: &str, password: &str) -> (CredHandle, CredHandle) {
    let id = AuthIdentity::unicode("alice", "CONTOSO", password);
    let c = b.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::OUTBOUND).identity(id));
    let s = b.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::INBOUND));
    (c.unwrap().handle, s.unwrap().handle)
}

fn isc_req() -> IscReq {
    IscReq::CONFIDENTIALITY | IscReq::INTEGRITY | IscReq::REPLAY_DETECT | IscReq::SEQUENCE_DETECT | IscReq::CONNECTION
}

fn asc_req() -> AscReq {
    AscReq::CONFIDENTIALITY | AscReq::INTEGRITY | AscReq::REPLAY_DETECT | AscReq::SEQUENCE_DETECT | AscReq::CONNECTION
}

fn token_input(token: &[u8]) -> SecBufferDesc {
    SecBufferDesc::new(vec![SecBuffer::token(token.to_vec())])
}

/// Outputs pre-filled with recognisable values.
fn sentinel<R: Copy + Default>(attr: R) -> ContextOutputs<R> {
    ContextOutputs {
        new_context: Some(Out::new(CtxtHandle(SecHandle::INVALID))),
        output: Some(Out::new(SecBufferDesc::new(vec![SecBuffer::output_token(CAP)]))),
        context_attr: Out::new(attr),
        expiry: Some(Out::new(TimeStamp(42))),
    }
}

/// Counts callback invocations per async context.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<HashMap<AsyncContextHandle, u32>>>);

impl Calls {
    /// A fresh async context whose callback counts here.
    fn context(&self, b: &dyn Backend) -> AsyncContextHandle {
        let ctx = b.sspi_create_async_context();
        let calls = Arc::clone(&self.0);
        let cb: NotifyCallback = Arc::new(move |h, _| *calls.lock().entry(h).or_default() += 1);
        assert_eq!(b.sspi_set_async_notify_callback(ctx, Some(cb), 0), SecStatus::SEC_E_OK);
        ctx
    }

    fn of(&self, ctx: AsyncContextHandle) -> u32 {
        self.0.lock().get(&ctx).copied().unwrap_or(0)
    }

    fn total(&self) -> u32 {
        self.0.lock().values().sum()
    }
}

// ---- Outputs at completion -----------------------------------------------------------------

#[test]
fn outputs_are_untouched_while_pending_and_written_at_completion() {
    let sim = manual();
    let driver = sim.driver().unwrap();
    let calls = Calls::default();
    let (c, s) = creds(&sim, "NTLM", "Passw0rd!");

    let ctx = calls.context(&sim);
    let out = sentinel(IscRet(0xdead));
    let before = out.output.as_ref().unwrap().get();
    let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req());
    assert_eq!(sim.sspi_initialize_security_context_async(ctx, args, &out), SecStatus::SEC_E_OK);
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_I_ASYNC_CALL_PENDING);
    assert_eq!(out.context(), CtxtHandle(SecHandle::INVALID), "phNewContext untouched while pending");
    assert_eq!(out.attributes(), IscRet(0xdead));
    assert_eq!(out.expiry.as_ref().unwrap().get(), TimeStamp(42));
    assert_eq!(out.output.as_ref().unwrap().get(), before);
    assert_eq!(sim.security_contexts(), 0, "the package has not run");
    assert_eq!((driver.in_flight(), calls.of(ctx)), (1, 0));

    assert!(driver.complete(ctx));
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_I_CONTINUE_NEEDED);
    assert_ne!(out.context(), CtxtHandle(SecHandle::INVALID));
    assert_eq!(
        out.attributes(),
        IscRet::CONFIDENTIALITY
            | IscRet::INTEGRITY
            | IscRet::REPLAY_DETECT
            | IscRet::SEQUENCE_DETECT
            | IscRet::CONNECTION
    );
    assert_eq!(out.expiry.as_ref().unwrap().get(), NTLM_EXPIRY);
    assert!(out.token().starts_with(b"NTLMSSP\0\x01\0\0\0"));
    assert_eq!((driver.in_flight(), calls.of(ctx), sim.security_contexts()), (0, 1, 1));

    // The server's leg: pfContextAttr and ptsExpiry are zeroed at queue time, the rest waits.
    let sctx = calls.context(&sim);
    let sout = sentinel(AscRet(0xbeef));
    let args = AcceptSecurityContext::new(s, token_input(&out.token()), asc_req());
    assert_eq!(sim.sspi_accept_security_context_async(sctx, args, &sout), SecStatus::SEC_E_OK);
    assert_eq!(sim.sspi_get_async_call_status(sctx), SecStatus::SEC_I_ASYNC_CALL_PENDING);
    assert_eq!(sout.attributes(), AscRet(0), "zeroed at queue time (spec §4.9) [I]");
    assert_eq!(sout.expiry.as_ref().unwrap().get(), TimeStamp(0));
    assert_eq!(sout.context(), CtxtHandle(SecHandle::INVALID));
    assert_eq!(sout.token(), vec![0; CAP]);
    assert_eq!(driver.run_until_idle(), 1);
    assert_eq!(sim.sspi_get_async_call_status(sctx), SecStatus::SEC_I_CONTINUE_NEEDED);
    assert!(sout.token().starts_with(b"NTLMSSP\0\x02\0\0\0"));
    assert_eq!(
        sout.attributes(),
        AscRet::CONNECTION
            | AscRet::INTEGRITY
            | AscRet::REPLAY_DETECT
            | AscRet::SEQUENCE_DETECT
            | AscRet::CONFIDENTIALITY
    );
    assert_eq!(sout.expiry.as_ref().unwrap().get(), NTLM_EXPIRY);
    assert_eq!(calls.of(sctx), 1);
}

#[test]
fn a_failed_async_leg_leaves_the_outputs_as_they_were() {
    let sim = manual();
    let driver = sim.driver().unwrap();
    let calls = Calls::default();
    let (c, s) = creds(&sim, "NTLM", "Passw0rd!");
    // A leg that fails in the package: garbage for a NEGOTIATE.
    let ctx = calls.context(&sim);
    let out = sentinel(AscRet(0xbeef));
    let args = AcceptSecurityContext::new(s, token_input(b"not NTLM at all"), asc_req());
    assert_eq!(sim.sspi_accept_security_context_async(ctx, args, &out), SecStatus::SEC_E_OK);
    driver.run_until_idle();
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_E_INVALID_TOKEN);
    assert_eq!(out.context(), CtxtHandle(SecHandle::INVALID));
    assert_eq!(out.token(), vec![0; CAP]);
    assert_eq!(sim.security_contexts(), 0);
    // A first ISC whose buffer is too small.
    let ctx = calls.context(&sim);
    let out = sentinel(IscRet(0xdead));
    out.reset_token(8);
    let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req());
    assert_eq!(sim.sspi_initialize_security_context_async(ctx, args, &out), SecStatus::SEC_E_OK);
    driver.run_until_idle();
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_E_BUFFER_TOO_SMALL);
    assert_eq!(
        (out.context(), out.attributes(), out.token()),
        (CtxtHandle(SecHandle::INVALID), IscRet(0xdead), vec![0; 8])
    );
    assert_eq!(out.expiry.as_ref().unwrap().get(), TimeStamp(42));
    assert_eq!(sim.security_contexts(), 0);
}

// ---- Async handshakes equal sync ones ------------------------------------------------------

/// One leg: (is it the client's, status, output token).
type LegRecord = (bool, SecStatus, Vec<u8>);

/// The Handshake helper's loop through the async calls: one async context, reinitialised
/// between legs; the manual driver completes each call.
fn async_handshake(sim: &Simulator, calls: &Calls, c: CredHandle, s: CredHandle) -> (Vec<LegRecord>, Established) {
    let driver = sim.driver().unwrap();
    let actx = calls.context(sim);
    let isc_out = IscOutputs::with_token(CAP);
    let asc_out = AscOutputs::with_token(CAP);
    let mut legs = Vec::new();
    let mut e = Established::default();
    let (mut to_server, mut to_client): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    let mut first = true;
    let run = |queued: SecStatus| {
        assert_eq!(queued, SecStatus::SEC_E_OK);
        assert_eq!(sim.sspi_get_async_call_status(actx), SecStatus::SEC_I_ASYNC_CALL_PENDING);
        assert_eq!(driver.run_until_idle(), 1);
        let status = sim.sspi_get_async_call_status(actx);
        assert_eq!(sim.sspi_reinit_async_context(actx), NtStatus::STATUS_SUCCESS);
        status
    };
    for _ in 0..8 {
        if first || to_client.is_some() {
            let mut args = InitializeSecurityContext::new(c, Some(TARGET), isc_req());
            if let Some(t) = to_client.take() {
                args = args.next(e.client, token_input(&t));
            }
            first = false;
            isc_out.reset_token(CAP);
            let status = run(sim.sspi_initialize_security_context_async(actx, args, &isc_out));
            let token = if status.is_error() { Vec::new() } else { isc_out.token() };
            e.client = isc_out.context();
            e.client_status = Some(status);
            legs.push((true, status, token.clone()));
            if status.is_error() {
                break;
            }
            to_server = (!token.is_empty()).then_some(token);
        }
        if let Some(t) = to_server.take() {
            let mut args = AcceptSecurityContext::new(s, token_input(&t), asc_req());
            if e.server != CtxtHandle::default() {
                args.context = Some(e.server);
            }
            asc_out.reset_token(CAP);
            let status = run(sim.sspi_accept_security_context_async(actx, args, &asc_out));
            let token = if status.is_error() { Vec::new() } else { asc_out.token() };
            e.server = asc_out.context();
            e.server_status = Some(status);
            legs.push((false, status, token.clone()));
            if status.is_error() {
                break;
            }
            to_client = (!token.is_empty()).then_some(token);
        }
        if to_client.is_none() && to_server.is_none() {
            break;
        }
    }
    (legs, e)
}

#[test]
fn async_handshakes_give_the_sync_statuses_and_tokens() {
    for package in ["NTLM", "Negotiate"] {
        for password in ["Passw0rd!", "wrong"] {
            let reference = Simulator::new();
            let (c, s) = creds(&reference, package, password);
            let mut h = Handshake::new(c, s);
            h.isc_req = isc_req();
            h.asc_req = asc_req();
            let sync = h.run(&reference);
            let sync_legs: Vec<LegRecord> = sync
                .legs
                .iter()
                .map(|l| (l.function == "InitializeSecurityContext", l.status, l.token.clone()))
                .collect();
            assert!(sync_legs.len() >= 4);

            let sim = manual();
            let calls = Calls::default();
            let (c, s) = creds(&sim, package, password);
            let (async_legs, e) = async_handshake(&sim, &calls, c, s);
            let what = format!("{package} {password}");
            assert_eq!(async_legs, sync_legs, "{what}: same statuses, byte-identical tokens");
            assert_eq!(calls.total() as usize, async_legs.len(), "{what}: one callback per queued call");
            assert_eq!(sim.stats().completed, async_legs.len() as u64);
            if password == "Passw0rd!" {
                assert!(e.is_complete(), "{what}");
                let key = |ctx| sim.query_context_attributes(ctx, ContextAttribute::SessionKey);
                assert_eq!(key(e.client), key(e.server));
            } else {
                assert_eq!(e.server_status, Some(SecStatus::SEC_E_LOGON_DENIED), "{what}");
            }
            // Delete both through the async call.
            let actx = calls.context(&sim);
            for ctx in [e.client, e.server] {
                assert_eq!(sim.sspi_delete_security_context_async(actx, ctx), SecStatus::SEC_E_OK);
                sim.driver().unwrap().run_until_idle();
                assert_eq!(sim.sspi_get_async_call_status(actx), SecStatus::SEC_E_OK);
                sim.sspi_reinit_async_context(actx);
            }
            assert_eq!(sim.security_contexts(), 0, "{what}");
            assert!(sim.misuses().is_empty(), "{what}: {:?}", sim.misuses());
        }
    }
}

// ---- Queue-time checks ---------------------------------------------------------------------

/// The parameters a queue-time check refuses, and the status.
fn refused_isc(
    c: CredHandle,
    live: CtxtHandle,
) -> Vec<(&'static str, InitializeSecurityContext, IscOutputs, SecStatus)> {
    let args = || InitializeSecurityContext::new(c, Some(TARGET), isc_req());
    let mut no_new_context = sentinel(IscRet(0xdead));
    no_new_context.new_context = None;
    let mut no_output = sentinel(IscRet(0xdead));
    no_output.output = None;
    let too_many = sentinel(IscRet(0xdead));
    too_many.output.as_ref().unwrap().with_mut(|d| d.buffers.extend((0..18).map(|_| SecBuffer::empty())));
    let mut nothing = args();
    nothing.credential = None;
    let never_issued =
        args().next(CtxtHandle(SecHandle { dw_lower: 0x5_0000_0007, dw_upper: live.0.dw_upper }), token_input(b"x"));
    vec![
        ("phNewContext NULL", args(), no_new_context, SecStatus::SEC_E_INVALID_HANDLE),
        ("phCredential and phContext NULL", nothing, sentinel(IscRet(0xdead)), SecStatus::SEC_E_INVALID_HANDLE),
        ("pOutput NULL", args(), no_output, SecStatus::SEC_E_INVALID_PARAMETER),
        ("19 output buffers", args(), too_many, SecStatus::SEC_E_INVALID_PARAMETER),
        ("phContext never issued", never_issued, sentinel(IscRet(0xdead)), SecStatus::SEC_E_INVALID_HANDLE),
    ]
}

#[test]
fn isc_async_queue_time_checks_refuse_without_queueing() {
    let sim = manual();
    let driver = sim.driver().unwrap();
    let calls = Calls::default();
    let (c, s) = creds(&sim, "NTLM", "Passw0rd!");
    let live = Handshake::new(c, s).run(&sim).client;
    let ctx = calls.context(&sim);
    // A NULL async context is refused before anything else is looked at.
    let out = sentinel(IscRet(0xdead));
    let mut nothing = InitializeSecurityContext::new(c, Some(TARGET), isc_req());
    nothing.credential = None;
    assert_eq!(
        sim.sspi_initialize_security_context_async(AsyncContextHandle::NULL, nothing, &out),
        SecStatus::SEC_E_INVALID_PARAMETER
    );
    for (what, args, out, status) in refused_isc(c, live) {
        let before = (out.context(), out.attributes(), out.expiry.as_ref().unwrap().get(), out.token());
        assert_eq!(sim.sspi_initialize_security_context_async(ctx, args, &out), status, "{what}");
        assert_eq!(
            (out.context(), out.attributes(), out.expiry.as_ref().unwrap().get(), out.token()),
            before,
            "{what}"
        );
        // Nothing was queued: the context is still idle, no callback fired.
        assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_E_UNSUPPORTED_FUNCTION, "{what}");
        assert_eq!((driver.in_flight(), calls.of(ctx)), (0, 0), "{what}");
    }
    // A deleted phContext is refused too.
    assert_eq!(sim.delete_security_context(live), SecStatus::SEC_E_OK);
    let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req()).next(live, token_input(b"x"));
    assert_eq!(
        sim.sspi_initialize_security_context_async(ctx, args, &sentinel(IscRet(0))),
        SecStatus::SEC_E_INVALID_HANDLE
    );
    // The same context then takes a valid call without SspiReinitAsyncContext; 18 output
    // buffers are the most accepted.
    let out = sentinel(IscRet(0xdead));
    out.output.as_ref().unwrap().with_mut(|d| d.buffers.extend((0..17).map(|_| SecBuffer::empty())));
    let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req());
    assert_eq!(sim.sspi_initialize_security_context_async(ctx, args, &out), SecStatus::SEC_E_OK);
    assert_eq!(driver.run_until_idle(), 1);
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_I_CONTINUE_NEEDED);
    assert_eq!(calls.of(ctx), 1);
    assert!(sim.misuses().is_empty(), "{:?}", sim.misuses());
}

#[test]
fn asc_async_queue_time_checks_zero_the_attributes_and_refuse_without_queueing() {
    let sim = manual();
    let driver = sim.driver().unwrap();
    let calls = Calls::default();
    let (c, s) = creds(&sim, "NTLM", "Passw0rd!");
    let e = Handshake::new(c, s).run(&sim);
    let negotiate = e.legs[0].token.clone();
    let ctx = calls.context(&sim);
    let args = || AcceptSecurityContext::new(s, token_input(&negotiate), asc_req());

    // NULL async context: refused first, and nothing is zeroed.
    let out = sentinel(AscRet(0xbeef));
    assert_eq!(
        sim.sspi_accept_security_context_async(AsyncContextHandle::NULL, args(), &out),
        SecStatus::SEC_E_INVALID_PARAMETER
    );
    assert_eq!((out.attributes(), out.expiry.as_ref().unwrap().get()), (AscRet(0xbeef), TimeStamp(42)));

    let mut no_new_context = sentinel(AscRet(0xbeef));
    no_new_context.new_context = None;
    let mut no_output = sentinel(AscRet(0xbeef));
    no_output.output = None;
    let too_many = sentinel(AscRet(0xbeef));
    too_many.output.as_ref().unwrap().with_mut(|d| d.buffers.extend((0..18).map(|_| SecBuffer::empty())));
    let mut nothing = args();
    nothing.credential = None;
    let never = args()
        .next(CtxtHandle(SecHandle { dw_lower: 0x5_0000_0007, dw_upper: e.server.0.dw_upper }), token_input(b"x"));
    let cases = [
        ("phNewContext NULL", args(), no_new_context, SecStatus::SEC_E_INVALID_HANDLE),
        ("phCredential and phContext NULL", nothing, sentinel(AscRet(0xbeef)), SecStatus::SEC_E_INVALID_HANDLE),
        ("pOutput NULL", args(), no_output, SecStatus::SEC_E_INVALID_PARAMETER),
        ("19 output buffers", args(), too_many, SecStatus::SEC_E_INVALID_PARAMETER),
        ("phContext never issued", never, sentinel(AscRet(0xbeef)), SecStatus::SEC_E_INVALID_HANDLE),
    ];
    for (what, args, out, status) in cases {
        let handle_before = out.context();
        assert_eq!(sim.sspi_accept_security_context_async(ctx, args, &out), status, "{what}");
        // pfContextAttr and ptsExpiry are zeroed once the async-context checks pass (spec §4.9) [I].
        assert_eq!(out.attributes(), AscRet(0), "{what}");
        assert_eq!(out.expiry.as_ref().unwrap().get(), TimeStamp(0), "{what}");
        assert_eq!(out.context(), handle_before, "{what}");
        assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_E_UNSUPPORTED_FUNCTION, "{what}");
        assert_eq!((driver.in_flight(), calls.of(ctx)), (0, 0), "{what}");
    }
    let out = sentinel(AscRet(0xbeef));
    assert_eq!(sim.sspi_accept_security_context_async(ctx, args(), &out), SecStatus::SEC_E_OK);
    assert_eq!(driver.run_until_idle(), 1);
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_I_CONTINUE_NEEDED);
    assert!(out.token().starts_with(b"NTLMSSP\0\x02\0\0\0"));
}

// ---- Callbacks and profiles ----------------------------------------------------------------

#[test]
fn delete_async_without_a_callback_is_no_misuse_and_completes() {
    let sim = manual();
    let driver = sim.driver().unwrap();
    let (c, s) = creds(&sim, "NTLM", "Passw0rd!");
    let e = Handshake::new(c, s).run(&sim);
    let ctx = sim.sspi_create_async_context();
    assert!(!sim.sspi_async_context_requires_notify(ctx));
    assert_eq!(sim.sspi_delete_security_context_async(ctx, e.client), SecStatus::SEC_E_OK);
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_I_ASYNC_CALL_PENDING);
    assert_eq!(sim.security_contexts(), 2, "not deleted before completion");
    assert_eq!(driver.run_until_idle(), 1);
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_E_OK);
    assert_eq!(sim.security_contexts(), 1);
    assert!(sim.misuses().is_empty(), "{:?}", sim.misuses());
    // Already deleted: still SEC_E_OK (D4); never issued: refused at queue time.
    assert_eq!(sim.sspi_reinit_async_context(ctx), NtStatus::STATUS_SUCCESS);
    assert_eq!(sim.sspi_delete_security_context_async(ctx, e.client), SecStatus::SEC_E_OK);
    driver.run_until_idle();
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_E_OK);
    assert_eq!(sim.sspi_reinit_async_context(ctx), NtStatus::STATUS_SUCCESS);
    assert_eq!(
        sim.sspi_delete_security_context_async(ctx, CtxtHandle(SecHandle::INVALID)),
        SecStatus::SEC_E_INVALID_HANDLE
    );
    assert_eq!(
        sim.sspi_delete_security_context_async(AsyncContextHandle::NULL, e.server),
        SecStatus::SEC_E_INVALID_PARAMETER
    );
    assert_eq!(driver.in_flight(), 0);
    assert_eq!(sim.security_contexts(), 1, "the server's context is still there");
    assert!(sim.misuses().is_empty(), "{:?}", sim.misuses());

    // The other context calls without a callback are a misuse under the documented contract.
    let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req());
    let other = sim.sspi_create_async_context();
    assert_eq!(
        sim.sspi_initialize_security_context_async(other, args, &IscOutputs::with_token(CAP)),
        SecStatus::SEC_E_OK
    );
    let kinds: Vec<MisuseKind> = sim.misuses().iter().map(|m| m.kind).collect();
    assert_eq!(kinds, vec![MisuseKind::NoCallbackRegistered]);
    driver.run_until_idle();
    assert_eq!(sim.sspi_get_async_call_status(other), SecStatus::SEC_I_CONTINUE_NEEDED, "it still completes");
}

#[test]
fn observed_kernel_without_a_callback_returns_the_final_status_from_the_queueing_call() {
    let sim = Simulator::builder().driver(DriverKind::Manual).profile(Profile::ObservedKernel).build();
    let driver = sim.driver().unwrap();
    for (password, last) in [("Passw0rd!", SecStatus::SEC_E_OK), ("wrong", SecStatus::SEC_E_LOGON_DENIED)] {
        let (c, s) = creds(&sim, "NTLM", password);
        let ctx = sim.sspi_create_async_context();
        let isc_out = IscOutputs::with_token(CAP);
        let asc_out = AscOutputs::with_token(CAP);
        let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req());
        assert_eq!(
            sim.sspi_initialize_security_context_async(ctx, args.clone(), &isc_out),
            SecStatus::SEC_I_CONTINUE_NEEDED
        );
        assert!(isc_out.token().starts_with(b"NTLMSSP\0\x01"), "written before the call returned");
        assert_eq!(driver.in_flight(), 0);
        // A completed context is reused without reinit in this profile.
        let t1 = token_input(&isc_out.token());
        assert_eq!(
            sim.sspi_accept_security_context_async(ctx, AcceptSecurityContext::new(s, t1, asc_req()), &asc_out),
            SecStatus::SEC_I_CONTINUE_NEEDED
        );
        isc_out.reset_token(CAP);
        let t2 = token_input(&asc_out.token());
        assert_eq!(
            sim.sspi_initialize_security_context_async(ctx, args.next(isc_out.context(), t2), &isc_out),
            SecStatus::SEC_E_OK
        );
        let t3 = token_input(&isc_out.token());
        let args = AcceptSecurityContext::new(s, t3.clone(), asc_req()).next(asc_out.context(), t3);
        assert_eq!(sim.sspi_accept_security_context_async(ctx, args, &asc_out), last, "{password}");
        assert_eq!(sim.sspi_get_async_call_status(ctx), last);
        assert_eq!(sim.sspi_delete_security_context_async(ctx, asc_out.context()), SecStatus::SEC_E_OK);
        assert_eq!(sim.sspi_delete_security_context_async(ctx, isc_out.context()), SecStatus::SEC_E_OK);
        assert_eq!(sim.security_contexts(), 0);
        assert_eq!(driver.in_flight(), 0);
    }
    // With a callback the call is queued as documented.
    let calls = Calls::default();
    let ctx = calls.context(&sim);
    let (c, _) = creds(&sim, "NTLM", "Passw0rd!");
    let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req());
    assert_eq!(
        sim.sspi_initialize_security_context_async(ctx, args, &IscOutputs::with_token(CAP)),
        SecStatus::SEC_E_OK
    );
    assert_eq!(sim.sspi_get_async_call_status(ctx), SecStatus::SEC_I_ASYNC_CALL_PENDING);
    assert_eq!(driver.run_until_idle(), 1);
    assert_eq!(calls.of(ctx), 1);
    assert!(sim.misuses().is_empty(), "{:?}", sim.misuses());
}

#[test]
fn every_queued_call_completes_exactly_once_whatever_the_order() {
    let sim = manual();
    let driver = sim.driver().unwrap();
    let calls = Calls::default();
    let (c, s) = creds(&sim, "Negotiate", "Passw0rd!");
    let e = Handshake::new(c, s).run(&sim);
    assert!(e.is_complete());
    let mut queued = Vec::new();
    let mut outs = Vec::new();
    // Six first client legs (one with a 1-byte output buffer, which fails in the package), a
    // server leg on a garbage token, and a delete.
    for i in 0..6 {
        let ctx = calls.context(&sim);
        let out = IscOutputs::with_token(if i == 4 { 1 } else { CAP });
        let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req());
        assert_eq!(sim.sspi_initialize_security_context_async(ctx, args, &out), SecStatus::SEC_E_OK);
        queued.push(ctx);
        outs.push(out);
    }
    let sctx = calls.context(&sim);
    let sout = AscOutputs::with_token(CAP);
    let args = AcceptSecurityContext::new(s, token_input(b"garbage"), asc_req());
    assert_eq!(sim.sspi_accept_security_context_async(sctx, args, &sout), SecStatus::SEC_E_OK);
    queued.push(sctx);
    let dctx = calls.context(&sim);
    assert_eq!(sim.sspi_delete_security_context_async(dctx, e.client), SecStatus::SEC_E_OK);
    queued.push(dctx);
    assert_eq!(driver.in_flight(), 8);
    assert_eq!(calls.total(), 0, "nothing completes before the driver says so");

    // Out of order: the last, one in the middle, then one step, then the rest.
    assert!(driver.complete(dctx));
    assert!(driver.complete(queued[3]));
    assert!(!driver.complete(queued[3]), "a completed call cannot complete again");
    assert!(driver.step());
    assert_eq!(driver.run_until_idle(), 5);
    assert_eq!(driver.run_until_idle(), 0);
    for ctx in &queued {
        assert_eq!(calls.of(*ctx), 1, "{ctx:?}");
    }
    assert_eq!(calls.total(), 8);
    assert_eq!((sim.stats().callbacks, sim.stats().completed, sim.stats().in_flight), (8, 8, 0));
    let statuses: Vec<SecStatus> = queued.iter().map(|ctx| sim.sspi_get_async_call_status(*ctx)).collect();
    let mut expected = vec![SecStatus::SEC_I_CONTINUE_NEEDED; 6];
    expected[4] = SecStatus::SEC_E_BUFFER_TOO_SMALL;
    expected.extend([SecStatus::SEC_E_INVALID_TOKEN, SecStatus::SEC_E_OK]);
    assert_eq!(statuses, expected);
    // Five client contexts and the server's remain.
    assert_eq!(sim.security_contexts(), 6);
    let handles: Vec<CtxtHandle> = outs.iter().map(IscOutputs::context).collect();
    assert_eq!(handles.iter().filter(|h| **h != CtxtHandle::default()).count(), 5);
    assert!(sim.misuses().is_empty(), "{:?}", sim.misuses());
}
