//! The security-context calls through the facade: handshakes, statuses, buffers, attributes,
//! handles, impersonation, anonymous logons, channel bindings, `LmCompatibilityLevel` and
//! determinism. Expected values come from `docs/research/context-calls.md` (the section is named
//! beside each test) or, where Windows was not observed, from the source tag of the
//! implementation's doc comment in `crates/sim/src/context.rs`.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use std::sync::Arc;

use sspi_emu::sim::{Simulator, World, channel_bindings_buffer};
use sspi_emu::*;
use sspi_emu_testkit::fixtures_dir;

/// `pszTargetName` of every client here.
const TARGET: &str = "HTTP/web.contoso.com";
/// Output buffer capacity: Negotiate's cbMaxToken, larger than any token here.
const CAP: usize = 48_256;
/// `ptsExpiry` of NTLM and Negotiate contexts: the package expiry of the default world.
const NTLM_EXPIRY: TimeStamp = TimeStamp(0x7FFF_FF36_D596_9FFF);

// ---- Worlds and credentials ----------------------------------------------------------------

/// The default world with `edit` applied to its TOML text; `edit` must change it.
fn world_with(edit: impl FnOnce(&str) -> String) -> Arc<World> {
    let text = std::fs::read_to_string(fixtures_dir().join("worlds/default.toml")).unwrap();
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit changed nothing");
    Arc::new(World::from_toml_str(&edited, "edited.toml").unwrap())
}

/// The default world with `lines` added to `[machine]`.
fn machine_with(lines: &str) -> Arc<World> {
    world_with(|t| t.replacen("[machine]\n", &format!("[machine]\n{lines}\n"), 1))
}

fn sim_of(world: Arc<World>) -> Simulator {
    Simulator::builder().world(world).build()
}

/// A workgroup machine: `joined = false`.
fn workgroup() -> Simulator {
    let w = world_with(|t| t.replacen("joined = true", "joined = false", 1));
    assert!(!w.machine.joined);
    sim_of(w)
}

fn outbound(b: &dyn Backend, package: &str, user: &str, password: &str) -> CredHandle {
    let id = AuthIdentity::unicode(user, "CONTOSO", password);
    b.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::OUTBOUND).identity(id)).unwrap().handle
}

fn inbound(b: &dyn Backend, package: &str) -> CredHandle {
    b.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::INBOUND)).unwrap().handle
}

/// alice's outbound credential and the machine's inbound one.
fn creds(b: &dyn Backend, package: &str) -> (CredHandle, CredHandle) {
    (outbound(b, package, "alice", "Passw0rd!"), inbound(b, package))
}

// ---- Driving legs by hand ------------------------------------------------------------------

fn token_input(token: &[u8]) -> SecBufferDesc {
    SecBufferDesc::new(vec![SecBuffer::token(token.to_vec())])
}

/// `CONFIDENTIALITY | INTEGRITY | REPLAY_DETECT | SEQUENCE_DETECT | CONNECTION`, as HTTP clients ask.
fn isc_req() -> IscReq {
    IscReq::CONFIDENTIALITY | IscReq::INTEGRITY | IscReq::REPLAY_DETECT | IscReq::SEQUENCE_DETECT | IscReq::CONNECTION
}

fn asc_req() -> AscReq {
    AscReq::CONFIDENTIALITY | AscReq::INTEGRITY | AscReq::REPLAY_DETECT | AscReq::SEQUENCE_DETECT | AscReq::CONNECTION
}

/// Outputs a caller pre-filled with recognisable values, to see whether a call wrote them.
fn sentinel_outputs<R: Copy + Default>(attr: R, token: Option<SecBufferDesc>) -> ContextOutputs<R> {
    ContextOutputs {
        new_context: Some(Out::new(CtxtHandle(SecHandle::INVALID))),
        output: token.map(Out::new),
        context_attr: Out::new(attr),
        expiry: Some(Out::new(TimeStamp(42))),
    }
}

/// One side's calls, keeping the context handle between legs.
struct Client<'a> {
    b: &'a dyn Backend,
    cred: Option<CredHandle>,
    req: IscReq,
    ctx: Option<CtxtHandle>,
    out: IscOutputs,
    bindings: Option<Vec<u8>>,
}

impl<'a> Client<'a> {
    fn new(b: &'a dyn Backend, cred: CredHandle, req: IscReq) -> Self {
        Self { b, cred: Some(cred), req, ctx: None, out: IscOutputs::with_token(CAP), bindings: None }
    }

    fn args(&self, input: Option<&[u8]>) -> InitializeSecurityContext {
        let mut args = InitializeSecurityContext::new(CredHandle::default(), Some(TARGET), self.req);
        args.credential = self.cred;
        args.context = self.ctx;
        let mut buffers: Vec<SecBuffer> = input.map(|t| SecBuffer::token(t.to_vec())).into_iter().collect();
        if let Some(b) = &self.bindings {
            buffers.push(SecBuffer::new(SecBufferType::CHANNEL_BINDINGS, b.clone()));
        }
        args.input = (!buffers.is_empty()).then(|| SecBufferDesc::new(buffers));
        args
    }

    /// One leg with a fresh `CAP`-byte token buffer: the status and the token produced.
    fn step(&mut self, input: Option<&[u8]>) -> (SecStatus, Vec<u8>) {
        self.out.reset_token(CAP);
        let status = self.b.initialize_security_context(self.args(input), &self.out);
        if status.is_error() {
            return (status, Vec::new());
        }
        self.ctx = Some(self.out.context());
        (status, self.out.token())
    }

    fn attrs(&self) -> IscRet {
        self.out.attributes()
    }

    fn handle(&self) -> CtxtHandle {
        self.ctx.unwrap()
    }
}

struct Server<'a> {
    b: &'a dyn Backend,
    cred: CredHandle,
    req: AscReq,
    ctx: Option<CtxtHandle>,
    out: AscOutputs,
    bindings: Option<Vec<u8>>,
}

impl<'a> Server<'a> {
    fn new(b: &'a dyn Backend, cred: CredHandle, req: AscReq) -> Self {
        Self { b, cred, req, ctx: None, out: AscOutputs::with_token(CAP), bindings: None }
    }

    fn args(&self, input: &[u8]) -> AcceptSecurityContext {
        let mut buffers = vec![SecBuffer::token(input.to_vec())];
        if let Some(b) = &self.bindings {
            buffers.push(SecBuffer::new(SecBufferType::CHANNEL_BINDINGS, b.clone()));
        }
        let mut args = AcceptSecurityContext::new(self.cred, SecBufferDesc::new(buffers), self.req);
        args.context = self.ctx;
        args
    }

    fn step(&mut self, input: &[u8]) -> (SecStatus, Vec<u8>) {
        self.out.reset_token(CAP);
        let status = self.b.accept_security_context(self.args(input), &self.out);
        if status.is_error() {
            return (status, Vec::new());
        }
        self.ctx = Some(self.out.context());
        (status, self.out.token())
    }

    fn attrs(&self) -> AscRet {
        self.out.attributes()
    }

    fn handle(&self) -> CtxtHandle {
        self.ctx.unwrap()
    }
}

/// A completed handshake of alice against the machine: (client context, server context).
fn established(b: &dyn Backend, package: &str, isc: IscReq, asc: AscReq) -> (CtxtHandle, CtxtHandle) {
    let (c, s) = creds(b, package);
    let mut h = Handshake::new(c, s);
    h.isc_req = isc;
    h.asc_req = asc;
    let e = h.run(b);
    assert!(e.is_complete(), "{:?}", e.statuses());
    (e.client, e.server)
}

fn query(b: &dyn Backend, ctx: CtxtHandle, attribute: ContextAttribute) -> ContextAttributeValue {
    b.query_context_attributes(ctx, attribute).unwrap_or_else(|s| panic!("{attribute:?}: {s:?}"))
}

fn session_key(b: &dyn Backend, ctx: CtxtHandle) -> Vec<u8> {
    match query(b, ctx, ContextAttribute::SessionKey) {
        ContextAttributeValue::SessionKey(k) => k,
        other => panic!("{other:?}"),
    }
}

fn package_name(b: &dyn Backend, ctx: CtxtHandle) -> String {
    match query(b, ctx, ContextAttribute::PackageInfo) {
        ContextAttributeValue::PackageInfo(p) => p.name,
        other => panic!("{other:?}"),
    }
}

fn negotiation(b: &dyn Backend, ctx: CtxtHandle) -> (String, NegotiationState) {
    match query(b, ctx, ContextAttribute::NegotiationInfo) {
        ContextAttributeValue::NegotiationInfo { package, state } => (package.name, state),
        other => panic!("{other:?}"),
    }
}

/// Seals `data` on `from` and unseals it on `to`; returns the sealed bytes.
fn seal_round_trip(b: &dyn Backend, from: CtxtHandle, to: CtxtHandle, data: &[u8]) -> Vec<u8> {
    let mut m = SecBufferDesc::new(vec![SecBuffer::token(vec![0; 16]), SecBuffer::new(SecBufferType::DATA, data)]);
    assert_eq!(b.encrypt_message(from, 0, &mut m, 0), SecStatus::SEC_E_OK);
    let sealed = [m.buffers[0].data.clone(), m.buffers[1].data.clone()].concat();
    assert_ne!(m.buffers[1].data, data, "EncryptMessage left the data in clear");
    assert_eq!(b.decrypt_message(to, &mut m, 0), Ok(None));
    assert_eq!(m.buffers[1].data, data);
    sealed
}

const ALL_ATTRIBUTES: [ContextAttribute; 8] = [
    ContextAttribute::Sizes,
    ContextAttribute::Names,
    ContextAttribute::Lifespan,
    ContextAttribute::SessionKey,
    ContextAttribute::PackageInfo,
    ContextAttribute::NegotiationInfo,
    ContextAttribute::NativeNames,
    ContextAttribute::Flags,
];

// ---- Status sequences (research §1) --------------------------------------------------------

#[test]
fn ntlm_handshake_gives_continue_then_ok_on_both_sides() {
    let sim = Simulator::new();
    let (c, s) = creds(&sim, "NTLM");
    let e = Handshake::new(c, s).run(&sim);
    assert_eq!(
        e.statuses(),
        vec![
            SecStatus::SEC_I_CONTINUE_NEEDED,
            SecStatus::SEC_I_CONTINUE_NEEDED,
            SecStatus::SEC_E_OK,
            SecStatus::SEC_E_OK
        ]
    );
    let functions: Vec<_> = e.legs.iter().map(|l| l.function).collect();
    assert_eq!(
        functions,
        ["InitializeSecurityContext", "AcceptSecurityContext", "InitializeSecurityContext", "AcceptSecurityContext"]
    );
    assert!(e.legs[0].token.starts_with(b"NTLMSSP\0\x01\0\0\0"), "NEGOTIATE_MESSAGE");
    assert!(e.legs[1].token.starts_with(b"NTLMSSP\0\x02\0\0\0"), "CHALLENGE_MESSAGE");
    assert!(e.legs[2].token.starts_with(b"NTLMSSP\0\x03\0\0\0"), "AUTHENTICATE_MESSAGE");
    assert!(e.legs[3].token.is_empty(), "the server's last leg has no token");
    assert_eq!(sim.security_contexts(), 2);
}

#[test]
fn negotiate_handshake_in_a_domain_wraps_ntlm_in_spnego_over_three_client_legs() {
    let sim = Simulator::new();
    assert!(sim.world().machine.joined);
    let (c, s) = creds(&sim, "Negotiate");
    let e = Handshake::new(c, s).run(&sim);
    // Client CONTINUE, CONTINUE, OK; server CONTINUE, then OK with the accept-completed token
    // carrying its mechListMIC (research §1.2, P1 [O] for the server).
    assert_eq!(
        e.statuses(),
        vec![
            SecStatus::SEC_I_CONTINUE_NEEDED,
            SecStatus::SEC_I_CONTINUE_NEEDED,
            SecStatus::SEC_I_CONTINUE_NEEDED,
            SecStatus::SEC_E_OK,
            SecStatus::SEC_E_OK
        ]
    );
    let functions: Vec<_> = e.legs.iter().map(|l| l.function).collect();
    assert_eq!(
        functions,
        [
            "InitializeSecurityContext",
            "AcceptSecurityContext",
            "InitializeSecurityContext",
            "AcceptSecurityContext",
            "InitializeSecurityContext"
        ]
    );
    // GSS InitialContextToken ([APPLICATION 0]), then bare NegTokenResp ([1]) tokens.
    assert_eq!(e.legs[0].token[0], 0x60);
    for leg in &e.legs[1..4] {
        assert_eq!(leg.token[0], 0xa1, "{leg:?}");
    }
    assert!(e.legs[0].token.windows(8).any(|w| w == b"NTLMSSP\0"), "the NEGOTIATE rides inside");
    assert!(!e.legs[3].token.is_empty(), "the server's OK carries the accept-completed token");
    assert!(e.legs[4].token.is_empty(), "the client's last leg produces no token");
    assert!(e.is_complete());
}

#[test]
fn negotiate_client_outside_a_domain_sends_raw_ntlm_over_two_legs() {
    let sim = workgroup();
    let (c, s) = creds(&sim, "Negotiate");
    let e = Handshake::new(c, s).run(&sim);
    assert_eq!(
        e.statuses(),
        vec![
            SecStatus::SEC_I_CONTINUE_NEEDED,
            SecStatus::SEC_I_CONTINUE_NEEDED,
            SecStatus::SEC_E_OK,
            SecStatus::SEC_E_OK
        ]
    );
    assert!(e.legs[0].token.starts_with(b"NTLMSSP\0\x01\0\0\0"), "raw NEGOTIATE (research §1.2, I6)");
    assert!(e.legs[1].token.starts_with(b"NTLMSSP\0\x02\0\0\0"), "the Negotiate server answers in kind");
    assert!(e.legs[2].token.starts_with(b"NTLMSSP\0\x03\0\0\0"));
    assert!(e.legs[3].token.is_empty());
    assert_eq!(package_name(&sim, e.client), "NTLM");
    assert_eq!(package_name(&sim, e.server), "NTLM");
    assert_eq!(session_key(&sim, e.client), session_key(&sim, e.server));
}

// ---- Context attributes on each leg (research §2) ------------------------------------------

#[test]
fn ntlm_legs_report_the_documented_context_attributes() {
    let sim = Simulator::new();
    let (c, s) = creds(&sim, "NTLM");
    let e = Handshake::new(c, s).run(&sim);
    let first_isc = IscRet::CONFIDENTIALITY
        | IscRet::INTEGRITY
        | IscRet::REPLAY_DETECT
        | IscRet::SEQUENCE_DETECT
        | IscRet::CONNECTION;
    assert_eq!(IscRet(e.legs[0].attributes), first_isc, "ISC #1 echoes the request");
    let first_asc = AscRet::CONNECTION
        | AscRet::INTEGRITY
        | AscRet::REPLAY_DETECT
        | AscRet::SEQUENCE_DETECT
        | AscRet::CONFIDENTIALITY;
    assert_eq!(AscRet(e.legs[1].attributes), first_asc);
    // Final client attributes: no CONNECTION any more (research §2, I6 #58 [O]).
    let final_isc = IscRet::REPLAY_DETECT | IscRet::SEQUENCE_DETECT | IscRet::CONFIDENTIALITY | IscRet::INTEGRITY;
    assert_eq!(IscRet(e.legs[2].attributes), final_isc);
    let final_asc = AscRet::INTEGRITY | AscRet::REPLAY_DETECT | AscRet::SEQUENCE_DETECT | AscRet::CONFIDENTIALITY;
    assert_eq!(AscRet(e.legs[3].attributes), final_asc);
}

#[test]
fn integrity_only_and_mutual_auth_requests_shape_the_final_attributes() {
    let sim = Simulator::new();
    let (c, s) = creds(&sim, "NTLM");
    let mut h = Handshake::new(c, s);
    h.isc_req = IscReq::INTEGRITY | IscReq::MUTUAL_AUTH;
    h.asc_req = AscReq::INTEGRITY;
    let e = h.run(&sim);
    assert!(e.is_complete());
    assert_eq!(IscRet(e.legs[0].attributes), IscRet::INTEGRITY | IscRet::MUTUAL_AUTH);
    // Requesting INTEGRITY forces SIGN, which reports REPLAY and SEQUENCE as well; no SEAL.
    assert_eq!(
        IscRet(e.legs[2].attributes),
        IscRet::MUTUAL_AUTH | IscRet::REPLAY_DETECT | IscRet::SEQUENCE_DETECT | IscRet::INTEGRITY
    );
    assert_eq!(AscRet(e.legs[1].attributes), AscRet::INTEGRITY | AscRet::REPLAY_DETECT | AscRet::SEQUENCE_DETECT);
    assert_eq!(AscRet(e.legs[3].attributes), AscRet::INTEGRITY | AscRet::REPLAY_DETECT | AscRet::SEQUENCE_DETECT);

    // Nothing asked: nothing but ALWAYS_SIGN is negotiated and nothing is reported.
    let mut h = Handshake::new(c, s);
    h.isc_req = IscReq::default();
    h.asc_req = AscReq::default();
    let e = h.run(&sim);
    assert!(e.is_complete());
    assert_eq!(e.legs.iter().map(|l| l.attributes).collect::<Vec<_>>(), vec![0, 0, 0, 0]);
}

#[test]
fn negotiate_legs_report_the_final_attributes_from_the_authenticate_on() {
    let sim = Simulator::new();
    let (c, s) = creds(&sim, "Negotiate");
    let e = Handshake::new(c, s).run(&sim);
    let final_isc = IscRet::REPLAY_DETECT | IscRet::SEQUENCE_DETECT | IscRet::CONFIDENTIALITY | IscRet::INTEGRITY;
    let attrs: Vec<u32> = e.legs.iter().map(|l| l.attributes).collect();
    assert_eq!(IscRet(attrs[0]), final_isc | IscRet::CONNECTION);
    assert_eq!(IscRet(attrs[2]), final_isc, "ISC #2 (CONTINUE) already reports the negotiated protections");
    assert_eq!(IscRet(attrs[4]), final_isc);
    assert_eq!(
        AscRet(attrs[1]),
        AscRet::CONNECTION
            | AscRet::INTEGRITY
            | AscRet::REPLAY_DETECT
            | AscRet::SEQUENCE_DETECT
            | AscRet::CONFIDENTIALITY
    );
    assert_eq!(
        AscRet(attrs[3]),
        AscRet::INTEGRITY | AscRet::REPLAY_DETECT | AscRet::SEQUENCE_DETECT | AscRet::CONFIDENTIALITY
    );
}

// ---- Refused logons and poisoned contexts (research §1.1, §3, ntlm-statuses.md) ------------

#[test]
fn refused_logons_are_logon_denied_with_third_leg_failed() {
    for package in ["NTLM", "Negotiate"] {
        for (user, password) in [
            ("alice", "wrong password"),
            ("mallory", "Passw0rd!"),
            ("carol", "Disabled1!"),
            ("dave", "Locked1!"),
            ("erin", "Expired1!"),
        ] {
            let sim = Simulator::new();
            let mut h = Handshake::new(outbound(&sim, package, user, password), inbound(&sim, package));
            h.asc_req = AscReq::default();
            let e = h.run(&sim);
            let what = format!("{package} {user}");
            let client_done = if package == "NTLM" { SecStatus::SEC_E_OK } else { SecStatus::SEC_I_CONTINUE_NEEDED };
            assert_eq!(
                e.statuses(),
                vec![
                    SecStatus::SEC_I_CONTINUE_NEEDED,
                    SecStatus::SEC_I_CONTINUE_NEEDED,
                    client_done,
                    SecStatus::SEC_E_LOGON_DENIED
                ],
                "{what}"
            );
            let attrs = AscRet(e.legs[3].attributes);
            assert!(attrs.contains(AscRet::THIRD_LEG_FAILED), "{what}: {attrs:?}");
            // The failed context still exists and must be deleted (research §6, W1 [O]).
            assert_eq!(sim.security_contexts(), 2, "{what}");
            assert_eq!(sim.delete_security_context(e.server), SecStatus::SEC_E_OK, "{what}");
            assert_eq!(sim.delete_security_context(e.client), SecStatus::SEC_E_OK, "{what}");
            assert_eq!(sim.security_contexts(), 0, "{what}");
        }
    }
}

#[test]
fn the_right_password_succeeds_where_refusals_were_checked() {
    // Control for the test above: bob and svc_web log on with their passwords.
    for (user, password) in [("bob", "Hunter2!"), ("svc_web", "Svc-Pa55word")] {
        let sim = Simulator::new();
        let e = Handshake::new(outbound(&sim, "NTLM", user, password), inbound(&sim, "NTLM")).run(&sim);
        assert!(e.is_complete(), "{user}");
        let names = query(&sim, e.server, ContextAttribute::Names);
        assert_eq!(names, ContextAttributeValue::Names(format!("CONTOSO\\{user}")));
    }
}

#[test]
fn a_leg_after_a_failed_leg_is_out_of_sequence() {
    for package in ["NTLM", "Negotiate"] {
        // Server side: the refused AUTHENTICATE, sent again.
        let sim = Simulator::new();
        let mut client = Client::new(&sim, outbound(&sim, package, "alice", "nope"), isc_req());
        let mut server = Server::new(&sim, inbound(&sim, package), asc_req());
        let (_, t1) = client.step(None);
        let (_, t2) = server.step(&t1);
        let (_, t3) = client.step(Some(&t2));
        assert_eq!(server.step(&t3).0, SecStatus::SEC_E_LOGON_DENIED, "{package}");
        assert_eq!(server.step(&t3).0, SecStatus::SEC_E_OUT_OF_SEQUENCE, "{package}");

        // Client side: a garbage CHALLENGE fails the leg; the real one afterwards is refused.
        let mut client = Client::new(&sim, outbound(&sim, package, "alice", "Passw0rd!"), isc_req());
        let mut server = Server::new(&sim, inbound(&sim, package), asc_req());
        let (_, t1) = client.step(None);
        let (_, t2) = server.step(&t1);
        let mut garbage = t2.clone();
        garbage.truncate(garbage.len() / 2);
        assert_eq!(client.step(Some(&garbage)).0, SecStatus::SEC_E_INVALID_TOKEN, "{package}");
        assert_eq!(client.step(Some(&t2)).0, SecStatus::SEC_E_OUT_OF_SEQUENCE, "{package}");
        // Only DeleteSecurityContext is left, and it works.
        assert_eq!(sim.delete_security_context(client.handle()), SecStatus::SEC_E_OK);
    }
}

#[test]
fn initialize_again_after_sec_e_ok_is_out_of_sequence() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = creds(&sim, package);
        let e = Handshake::new(c, s).run(&sim);
        assert!(e.is_complete());
        let last_server_token = e.legs.iter().rev().find(|l| !l.token.is_empty()).unwrap().token.clone();
        let mut client = Client::new(&sim, c, isc_req());
        client.ctx = Some(e.client);
        assert_eq!(client.step(Some(&last_server_token)).0, SecStatus::SEC_E_OUT_OF_SEQUENCE, "{package}");
        // The context is still complete and usable.
        seal_round_trip(&sim, e.client, e.server, b"still works");
        // The server, likewise, expects nothing more.
        let mut server = Server::new(&sim, s, asc_req());
        server.ctx = Some(e.server);
        assert_eq!(server.step(&e.legs[2].token).0, SecStatus::SEC_E_OUT_OF_SEQUENCE, "{package}");
    }
}

// ---- Token buffers (research §3) -----------------------------------------------------------

#[test]
fn first_isc_without_a_usable_token_buffer_is_buffer_too_small_and_creates_nothing() {
    let outputs: [(&str, Option<SecBufferDesc>); 4] = [
        ("NULL pOutput", None),
        ("only a SECBUFFER_DATA", Some(SecBufferDesc::new(vec![SecBuffer::new(SecBufferType::DATA, vec![0; CAP])]))),
        ("a TOKEN of 0 bytes", Some(SecBufferDesc::new(vec![SecBuffer::output_token(0)]))),
        ("a TOKEN of 16 bytes", Some(SecBufferDesc::new(vec![SecBuffer::output_token(16)]))),
    ];
    for package in ["NTLM", "Negotiate"] {
        for (what, output) in outputs.clone() {
            let sim = Simulator::new();
            let (c, _) = creds(&sim, package);
            let out = sentinel_outputs(IscRet(0xdead), output.clone());
            let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req());
            assert_eq!(sim.initialize_security_context(args, &out), SecStatus::SEC_E_BUFFER_TOO_SMALL, "{what}");
            assert_eq!(sim.security_contexts(), 0, "{package} {what}: no context is created");
            assert_eq!(out.context(), CtxtHandle(SecHandle::INVALID), "{what}: phNewContext untouched");
            assert_eq!(out.attributes(), IscRet(0xdead), "{what}: pfContextAttr untouched");
            assert_eq!(out.expiry.as_ref().unwrap().get(), TimeStamp(42), "{what}: ptsExpiry untouched");
            assert_eq!(out.output.as_ref().map(Out::get), output, "{what}: pOutput untouched (cbBuffer too)");
        }
    }
}

#[test]
fn first_asc_with_a_too_small_token_buffer_creates_nothing() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = creds(&sim, package);
        let mut client = Client::new(&sim, c, isc_req());
        let (_, t1) = client.step(None);
        for output in [None, Some(SecBufferDesc::new(vec![SecBuffer::output_token(8)]))] {
            let out = sentinel_outputs(AscRet(0xbeef), output.clone());
            let args = AcceptSecurityContext::new(s, token_input(&t1), asc_req());
            assert_eq!(sim.accept_security_context(args, &out), SecStatus::SEC_E_BUFFER_TOO_SMALL, "{package}");
            assert_eq!(sim.security_contexts(), 1, "{package}: only the client's context");
            assert_eq!(out.context(), CtxtHandle(SecHandle::INVALID));
            assert_eq!(out.attributes(), AscRet(0xbeef));
            assert_eq!(out.expiry.as_ref().unwrap().get(), TimeStamp(42));
            assert_eq!(out.output.as_ref().map(Out::get), output);
        }
        // The same NEGOTIATE with a big enough buffer still works: nothing was consumed.
        let mut server = Server::new(&sim, s, asc_req());
        let (status, t2) = server.step(&t1);
        assert_eq!(status, SecStatus::SEC_I_CONTINUE_NEEDED);
        let (_, t3) = client.step(Some(&t2));
        assert!(!server.step(&t3).0.is_error());
    }
}

#[test]
fn a_too_small_buffer_on_a_later_leg_keeps_the_context_for_a_retry() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = creds(&sim, package);
        let mut client = Client::new(&sim, c, isc_req());
        let mut server = Server::new(&sim, s, asc_req());
        let (_, t1) = client.step(None);
        let (_, t2) = server.step(&t1);

        // ISC #2 with 32 bytes of room: the AUTHENTICATE does not fit.
        let small = sentinel_outputs(IscRet(0xdead), Some(SecBufferDesc::new(vec![SecBuffer::output_token(32)])));
        let status = sim.initialize_security_context(client.args(Some(&t2)), &small);
        assert_eq!(status, SecStatus::SEC_E_BUFFER_TOO_SMALL, "{package}");
        assert_eq!(small.attributes(), IscRet(0xdead), "{package}");
        assert_eq!(small.token(), vec![0; 32], "{package}: pOutput untouched");
        assert_eq!(sim.security_contexts(), 2);
        assert_eq!(
            sim.query_context_attributes(client.handle(), ContextAttribute::Sizes),
            Err(SecStatus::SEC_E_INVALID_HANDLE),
            "{package}: still incomplete"
        );

        // The retry with a big buffer goes on as if nothing happened.
        let (status, t3) = client.step(Some(&t2));
        assert!(!status.is_error(), "{package}: {status:?}");
        assert!(!t3.is_empty());
        assert_eq!(
            client.attrs(),
            IscRet::REPLAY_DETECT | IscRet::SEQUENCE_DETECT | IscRet::CONFIDENTIALITY | IscRet::INTEGRITY,
            "{package}: the final attributes, written by the retry"
        );
        if package == "Negotiate" {
            // ASC #2 answers with a token (accept-completed + mechListMIC): too small first.
            let small = sentinel_outputs(AscRet(0xbeef), Some(SecBufferDesc::new(vec![SecBuffer::output_token(4)])));
            let status = sim.accept_security_context(server.args(&t3), &small);
            assert_eq!(status, SecStatus::SEC_E_BUFFER_TOO_SMALL);
            assert_eq!(small.attributes(), AscRet(0xbeef));
            assert_eq!(small.token(), vec![0; 4]);
        }
        let (status, t4) = server.step(&t3);
        assert_eq!(status, SecStatus::SEC_E_OK, "{package}");
        if package == "Negotiate" {
            assert_eq!(client.step(Some(&t4)).0, SecStatus::SEC_E_OK);
        }
        assert_eq!(session_key(&sim, client.handle()), session_key(&sim, server.handle()));
        seal_round_trip(&sim, client.handle(), server.handle(), b"after the retry");
        seal_round_trip(&sim, server.handle(), client.handle(), b"and back");
    }
}

#[test]
fn allocate_memory_returns_a_token_and_allocated_memory_on_every_leg() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = creds(&sim, package);
        let mut h = Handshake::new(c, s);
        h.isc_req = isc_req() | IscReq::ALLOCATE_MEMORY;
        h.asc_req = asc_req() | AscReq::ALLOCATE_MEMORY;
        h.token_capacity = 0;
        let e = h.run(&sim);
        assert!(e.is_complete(), "{package}: {:?}", e.statuses());
        for leg in &e.legs {
            let allocated = match leg.function {
                "InitializeSecurityContext" => IscRet(leg.attributes).contains(IscRet::ALLOCATED_MEMORY),
                _ => AscRet(leg.attributes).contains(AscRet::ALLOCATED_MEMORY),
            };
            assert!(allocated, "{package} {leg:?}");
        }
        assert!(e.legs[0].token.len() > 32, "{package}: the package allocated the first token");
        assert!(e.legs[2].token.len() > 32, "{package}: and the AUTHENTICATE");
    }
}

#[test]
fn prompt_for_creds_is_unsupported() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, _) = creds(&sim, package);
        let out = sentinel_outputs(IscRet(7), Some(SecBufferDesc::new(vec![SecBuffer::output_token(CAP)])));
        let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req() | IscReq::PROMPT_FOR_CREDS);
        assert_eq!(sim.initialize_security_context(args, &out), SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
        assert_eq!(sim.security_contexts(), 0);
        assert_eq!(out.attributes(), IscRet(7));
    }
}

// ---- Credentials and handles (research §6) -------------------------------------------------

#[test]
fn credentials_of_the_wrong_direction_are_unsupported() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = creds(&sim, package);
        // An inbound-only credential cannot initiate.
        let mut client = Client::new(&sim, s, isc_req());
        assert_eq!(client.step(None).0, SecStatus::SEC_E_UNSUPPORTED_FUNCTION, "{package}");
        // An outbound-only credential cannot accept.
        let mut good = Client::new(&sim, c, isc_req());
        let (_, t1) = good.step(None);
        let mut server = Server::new(&sim, c, asc_req());
        assert_eq!(server.step(&t1).0, SecStatus::SEC_E_UNSUPPORTED_FUNCTION, "{package}");
        assert_eq!(sim.security_contexts(), 1);
        // A BOTH credential works on either side.
        let both = sim
            .acquire_credentials_handle(
                AcquireCredentials::new(package, CredentialUse::BOTH).identity(AuthIdentity::unicode(
                    "alice",
                    "CONTOSO",
                    "Passw0rd!",
                )),
            )
            .unwrap()
            .handle;
        assert!(Handshake::new(both, both).run(&sim).is_complete(), "{package}");
    }
}

#[test]
fn null_credential_is_invalid_handle_on_the_first_call_and_accepted_afterwards() {
    let sim = Simulator::new();
    let (c, s) = creds(&sim, "NTLM");
    let mut client = Client::new(&sim, c, isc_req());
    client.cred = None;
    assert_eq!(client.step(None).0, SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(sim.security_contexts(), 0);
    // A stale credential handle is refused the same way.
    let freed = outbound(&sim, "NTLM", "alice", "Passw0rd!");
    assert_eq!(sim.free_credentials_handle(freed), SecStatus::SEC_E_OK);
    assert_eq!(Client::new(&sim, freed, isc_req()).step(None).0, SecStatus::SEC_E_INVALID_HANDLE);
    // On the second call the context carries the credential: NULL is fine (research §6, W1 [O]).
    client.cred = Some(c);
    let (_, t1) = client.step(None);
    client.cred = None;
    let mut server = Server::new(&sim, s, asc_req());
    let (_, t2) = server.step(&t1);
    let (status, t3) = client.step(Some(&t2));
    assert_eq!(status, SecStatus::SEC_E_OK);
    assert_eq!(server.step(&t3).0, SecStatus::SEC_E_OK);
}

#[test]
fn contexts_of_the_other_side_are_invalid_handles() {
    let sim = Simulator::new();
    let (c, s) = creds(&sim, "NTLM");
    let mut client = Client::new(&sim, c, isc_req());
    let mut server = Server::new(&sim, s, asc_req());
    let (_, t1) = client.step(None);
    let (_, t2) = server.step(&t1);
    // A server context handed to ISC, a client context handed to ASC.
    let mut wrong_client = Client::new(&sim, c, isc_req());
    wrong_client.ctx = Some(server.handle());
    assert_eq!(wrong_client.step(Some(&t2)).0, SecStatus::SEC_E_INVALID_HANDLE);
    let (_, t3) = client.step(Some(&t2));
    let mut wrong_server = Server::new(&sim, s, asc_req());
    wrong_server.ctx = Some(client.handle());
    assert_eq!(wrong_server.step(&t3).0, SecStatus::SEC_E_INVALID_HANDLE);
    // Neither context was harmed.
    assert_eq!(server.step(&t3).0, SecStatus::SEC_E_OK);
}

// ---- Hostile tokens (research §3) ----------------------------------------------------------

#[test]
fn garbage_and_truncated_first_tokens_are_invalid_token() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = creds(&sim, package);
        let (_, t1) = Client::new(&sim, c, isc_req()).step(None);
        let mut bad: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("text", b"GET / HTTP/1.1\r\n".to_vec()),
            ("bare NTLMSSP", b"NTLMSSP\0".to_vec()),
            ("NTLMSSP type 1, truncated", b"NTLMSSP\0\x01\0\0\0\x07".to_vec()),
            ("NTLMSSP type 3 first", b"NTLMSSP\0\x03\0\0\0".iter().copied().chain([0; 80]).collect()),
            ("half the client's token", t1[..t1.len() / 2].to_vec()),
        ];
        if package == "Negotiate" {
            bad.push(("a DER SEQUENCE of nothing", vec![0x30, 0x00]));
            bad.push(("an APPLICATION 0 with a huge length", vec![0x60, 0x84, 0x7f, 0xff, 0xff, 0xff]));
        }
        for (what, token) in bad {
            let mut server = Server::new(&sim, s, asc_req());
            assert_eq!(server.step(&token).0, SecStatus::SEC_E_INVALID_TOKEN, "{package}: {what}");
        }
        // An input with no SECBUFFER_TOKEN at all.
        let out = AscOutputs::with_token(CAP);
        let no_token = SecBufferDesc::new(vec![SecBuffer::new(SecBufferType::DATA, t1.clone())]);
        let args = AcceptSecurityContext::new(s, no_token, asc_req());
        assert_eq!(sim.accept_security_context(args, &out), SecStatus::SEC_E_INVALID_TOKEN, "{package}");
        assert_eq!(sim.security_contexts(), 1, "{package}: only the client's context exists");
    }
}

#[test]
fn garbage_and_truncated_later_tokens_are_invalid_token() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = creds(&sim, package);
        // ISC #2: an empty or missing input (research §3, I7 [O]), or a mangled CHALLENGE.
        let run_to_challenge = || {
            let mut client = Client::new(&sim, c, isc_req());
            let mut server = Server::new(&sim, s, asc_req());
            let (_, t1) = client.step(None);
            let (_, t2) = server.step(&t1);
            (client, server, t2)
        };
        let (mut client, _, t2) = run_to_challenge();
        assert_eq!(client.step(None).0, SecStatus::SEC_E_INVALID_TOKEN, "{package}: no input");
        let (mut client, _, _) = run_to_challenge();
        assert_eq!(client.step(Some(&[])).0, SecStatus::SEC_E_INVALID_TOKEN, "{package}: empty input");
        let (mut client, _, _) = run_to_challenge();
        assert_eq!(client.step(Some(&t2[..t2.len() - 9])).0, SecStatus::SEC_E_INVALID_TOKEN, "{package}");
        let (mut client, _, _) = run_to_challenge();
        assert_eq!(client.step(Some(b"NTLMSSP\0\x02\0\0\0")).0, SecStatus::SEC_E_INVALID_TOKEN, "{package}");

        // ASC #2: a truncated AUTHENTICATE.
        let (mut client, mut server, t2) = run_to_challenge();
        let (_, t3) = client.step(Some(&t2));
        assert_eq!(server.step(&t3[..t3.len() / 2]).0, SecStatus::SEC_E_INVALID_TOKEN, "{package}");
        assert_eq!(server.step(&t3).0, SecStatus::SEC_E_OUT_OF_SEQUENCE, "{package}: the failed leg poisons");
    }
}

// ---- QueryContextAttributes (research §4) --------------------------------------------------

#[test]
fn sizes_follow_the_negotiated_protections() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        // SEAL: block size 1 (decompiled msv1_0 [I]); cbMaxToken is NTLM's 2888 for Negotiate too.
        let (c, s) = established(&sim, package, isc_req(), asc_req());
        let sealed = ContextSizes { max_token: 2888, max_signature: 16, block_size: 1, security_trailer: 16 };
        assert_eq!(query(&sim, c, ContextAttribute::Sizes), ContextAttributeValue::Sizes(sealed), "{package}");
        assert_eq!(query(&sim, s, ContextAttribute::Sizes), ContextAttributeValue::Sizes(sealed), "{package}");
        // Signing only, and nothing at all (ALWAYS_SIGN): 2888 / 16 / 0 / 16 (W1 [O]).
        let signed = ContextSizes { max_token: 2888, max_signature: 16, block_size: 0, security_trailer: 16 };
        for req in [IscReq::INTEGRITY, IscReq::default()] {
            let (c, s) = established(&sim, package, req, AscReq::default());
            assert_eq!(query(&sim, c, ContextAttribute::Sizes), ContextAttributeValue::Sizes(signed), "{req:?}");
            assert_eq!(query(&sim, s, ContextAttribute::Sizes), ContextAttributeValue::Sizes(signed), "{req:?}");
        }
    }
}

#[test]
fn completed_contexts_answer_names_keys_package_flags_lifespan_and_native_names() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = established(&sim, package, isc_req(), asc_req());
        for side in [c, s] {
            assert_eq!(
                query(&sim, side, ContextAttribute::Names),
                ContextAttributeValue::Names("CONTOSO\\alice".into()),
                "{package}"
            );
            match query(&sim, side, ContextAttribute::PackageInfo) {
                ContextAttributeValue::PackageInfo(p) => {
                    assert_eq!((p.name.as_str(), p.rpc_id, p.max_token), ("NTLM", 10, 2888), "{package}");
                    assert_eq!(p.comment, "NTLM Security Package");
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(negotiation(&sim, side), ("NTLM".to_string(), NegotiationState::Complete), "{package}");
            assert_eq!(
                query(&sim, side, ContextAttribute::Lifespan),
                ContextAttributeValue::Lifespan { start: sim.now(), expiry: NTLM_EXPIRY },
                "{package}"
            );
        }
        let key = session_key(&sim, c);
        assert_eq!(key.len(), 16);
        assert_ne!(key, vec![0; 16]);
        assert_eq!(key, session_key(&sim, s), "{package}: both sides hold one session key");
        // SEAL 0x10 + SIGN 0x1000C (client) / 0x2000C (server) (decompiled msv1_0 [I]).
        assert_eq!(query(&sim, c, ContextAttribute::Flags), ContextAttributeValue::Flags(0x1_001C));
        assert_eq!(query(&sim, s, ContextAttribute::Flags), ContextAttributeValue::Flags(0x2_001C));
        assert_eq!(
            query(&sim, c, ContextAttribute::NativeNames),
            ContextAttributeValue::NativeNames { client: "CONTOSO\\alice".into(), server: TARGET.into() }
        );
        assert_eq!(
            query(&sim, s, ContextAttribute::NativeNames),
            ContextAttributeValue::NativeNames { client: "CONTOSO\\alice".into(), server: "WS01".into() }
        );
        // Another handshake has another key.
        let (c2, _) = established(&sim, package, isc_req(), asc_req());
        assert_ne!(session_key(&sim, c2), key);
    }
}

#[test]
fn flags_attribute_follows_signing_without_sealing() {
    let sim = Simulator::new();
    let (c, s) = established(&sim, "NTLM", IscReq::INTEGRITY, AscReq::default());
    assert_eq!(query(&sim, c, ContextAttribute::Flags), ContextAttributeValue::Flags(0x1_000C));
    assert_eq!(query(&sim, s, ContextAttribute::Flags), ContextAttributeValue::Flags(0x2_000C));
    let (c, s) = established(&sim, "NTLM", IscReq::default(), AscReq::default());
    assert_eq!(query(&sim, c, ContextAttribute::Flags), ContextAttributeValue::Flags(0));
    assert_eq!(query(&sim, s, ContextAttribute::Flags), ContextAttributeValue::Flags(0));
}

#[test]
fn incomplete_ntlm_contexts_answer_invalid_handle_to_every_attribute() {
    let sim = Simulator::new();
    let (c, s) = creds(&sim, "NTLM");
    let mut client = Client::new(&sim, c, isc_req());
    let mut server = Server::new(&sim, s, asc_req());
    let (_, t1) = client.step(None);
    server.step(&t1);
    for ctx in [client.handle(), server.handle()] {
        for a in ALL_ATTRIBUTES {
            assert_eq!(sim.query_context_attributes(ctx, a), Err(SecStatus::SEC_E_INVALID_HANDLE), "{a:?}");
        }
    }
}

#[test]
fn negotiate_reports_its_progress_then_ntlm() {
    let sim = Simulator::new();
    let (c, s) = creds(&sim, "Negotiate");
    let mut client = Client::new(&sim, c, isc_req());
    let mut server = Server::new(&sim, s, asc_req());
    let in_progress = ("NTLM".to_string(), NegotiationState::InProgress);
    let (_, t1) = client.step(None);
    assert_eq!(negotiation(&sim, client.handle()), in_progress);
    assert_eq!(package_name(&sim, client.handle()), "Negotiate", "before completion (research §4.3, P4)");
    assert_eq!(
        sim.query_context_attributes(client.handle(), ContextAttribute::Sizes),
        Err(SecStatus::SEC_E_INVALID_HANDLE)
    );
    let (_, t2) = server.step(&t1);
    assert_eq!(negotiation(&sim, server.handle()), in_progress);
    assert_eq!(package_name(&sim, server.handle()), "Negotiate");
    let (status, t3) = client.step(Some(&t2));
    assert_eq!(status, SecStatus::SEC_I_CONTINUE_NEEDED);
    // The client has sent its AUTHENTICATE but waits for the server's mechListMIC.
    assert_eq!(negotiation(&sim, client.handle()), in_progress);
    assert_eq!(
        sim.query_context_attributes(client.handle(), ContextAttribute::SessionKey),
        Err(SecStatus::SEC_E_INVALID_HANDLE)
    );
    let (status, t4) = server.step(&t3);
    assert_eq!(status, SecStatus::SEC_E_OK);
    assert_eq!(negotiation(&sim, server.handle()), ("NTLM".to_string(), NegotiationState::Complete));
    assert_eq!(package_name(&sim, server.handle()), "NTLM");
    assert_eq!(client.step(Some(&t4)).0, SecStatus::SEC_E_OK);
    assert_eq!(negotiation(&sim, client.handle()), ("NTLM".to_string(), NegotiationState::Complete));
    assert_eq!(package_name(&sim, client.handle()), "NTLM");
}

#[test]
fn unsupported_attributes_are_unsupported_function() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = established(&sim, package, isc_req(), asc_req());
        // SECPKG_ATTR_STREAM_SIZES (4) on NTLM: W1 [O]; two ids sspi.h does not define.
        for id in [4, 23, 0x1234] {
            for ctx in [c, s] {
                assert_eq!(
                    sim.query_context_attributes(ctx, ContextAttribute::Other(id)),
                    Err(SecStatus::SEC_E_UNSUPPORTED_FUNCTION),
                    "{package} {id}"
                );
            }
        }
    }
}

#[test]
fn query_of_a_handle_never_issued_is_invalid_handle() {
    let sim = Simulator::new();
    for h in [
        CtxtHandle::default(),
        CtxtHandle(SecHandle::INVALID),
        CtxtHandle(SecHandle { dw_lower: 0x1_0000_0010, dw_upper: 3 }),
    ] {
        for a in ALL_ATTRIBUTES {
            assert_eq!(sim.query_context_attributes(h, a), Err(SecStatus::SEC_E_INVALID_HANDLE), "{h:?} {a:?}");
        }
    }
}

// ---- DeleteSecurityContext, CompleteAuthToken (research §6, §8) ----------------------------

#[test]
fn delete_twice_is_ok_and_a_never_issued_handle_is_invalid() {
    let sim = Simulator::new();
    let (c, s) = established(&sim, "NTLM", isc_req(), asc_req());
    assert_eq!(sim.security_contexts(), 2);
    for ctx in [c, s] {
        assert_eq!(sim.delete_security_context(ctx), SecStatus::SEC_E_OK);
        // [D] "succeeds or the handle has already been deleted": SEC_E_OK again.
        assert_eq!(sim.delete_security_context(ctx), SecStatus::SEC_E_OK);
    }
    assert_eq!(sim.security_contexts(), 0);
    for never in [
        CtxtHandle::default(),
        CtxtHandle(SecHandle::INVALID),
        CtxtHandle(SecHandle { dw_lower: 0x7_0000_0003, dw_upper: c.0.dw_upper }),
    ] {
        assert_eq!(sim.delete_security_context(never), SecStatus::SEC_E_INVALID_HANDLE, "{never:?}");
    }
    // A live id under another package's index is not that context.
    let (c2, _) = established(&sim, "NTLM", isc_req(), asc_req());
    let forged = CtxtHandle(SecHandle { dw_lower: c2.0.dw_lower, dw_upper: c2.0.dw_upper + 1 });
    assert_eq!(sim.delete_security_context(forged), SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(sim.security_contexts(), 2);
}

#[test]
fn a_deleted_handle_is_invalid_for_every_other_call() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = creds(&sim, package);
        // Incomplete contexts deleted between legs.
        let mut client = Client::new(&sim, c, isc_req());
        let mut server = Server::new(&sim, s, asc_req());
        let (_, t1) = client.step(None);
        let (_, t2) = server.step(&t1);
        assert_eq!(sim.delete_security_context(client.handle()), SecStatus::SEC_E_OK);
        assert_eq!(sim.delete_security_context(server.handle()), SecStatus::SEC_E_OK);
        assert_eq!(sim.security_contexts(), 0);
        assert_eq!(client.step(Some(&t2)).0, SecStatus::SEC_E_INVALID_HANDLE, "{package}");
        assert_eq!(server.step(&t1).0, SecStatus::SEC_E_INVALID_HANDLE, "{package}");
        // Complete contexts, deleted.
        let (cc, sc) = established(&sim, package, isc_req(), asc_req());
        assert_eq!(sim.delete_security_context(cc), SecStatus::SEC_E_OK);
        for a in ALL_ATTRIBUTES {
            assert_eq!(sim.query_context_attributes(cc, a), Err(SecStatus::SEC_E_INVALID_HANDLE), "{a:?}");
        }
        let mut m = SecBufferDesc::new(vec![SecBuffer::token(vec![0; 16]), SecBuffer::new(SecBufferType::DATA, b"x")]);
        assert_eq!(sim.make_signature(cc, 0, &mut m, 0), SecStatus::SEC_E_INVALID_HANDLE);
        assert_eq!(sim.encrypt_message(cc, 0, &mut m, 0), SecStatus::SEC_E_INVALID_HANDLE);
        assert_eq!(sim.verify_signature(cc, &mut m, 0), Err(SecStatus::SEC_E_INVALID_HANDLE));
        assert_eq!(sim.decrypt_message(cc, &mut m, 0), Err(SecStatus::SEC_E_INVALID_HANDLE));
        assert_eq!(sim.complete_auth_token(cc, &m), SecStatus::SEC_E_INVALID_HANDLE);
        assert_eq!(sim.delete_security_context(sc), SecStatus::SEC_E_OK);
        assert_eq!(sim.impersonate_security_context(sc), SecStatus::SEC_E_INVALID_HANDLE);
        assert_eq!(sim.revert_security_context(sc), SecStatus::SEC_E_INVALID_HANDLE);
        assert_eq!(sim.security_contexts(), 0, "{package}");
    }
}

#[test]
fn complete_auth_token_is_unsupported_on_ntlm_and_negotiate_contexts() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = established(&sim, package, isc_req(), asc_req());
        let token = SecBufferDesc::new(vec![SecBuffer::token(vec![0; 16])]);
        assert_eq!(sim.complete_auth_token(c, &token), SecStatus::SEC_E_UNSUPPORTED_FUNCTION, "{package}");
        assert_eq!(sim.complete_auth_token(s, &token), SecStatus::SEC_E_UNSUPPORTED_FUNCTION, "{package}");
        assert_eq!(sim.complete_auth_token(CtxtHandle::default(), &token), SecStatus::SEC_E_INVALID_HANDLE);
    }
}

// ---- Impersonation (research §7) -----------------------------------------------------------

#[test]
fn impersonating_a_server_context_takes_the_clients_network_identity_until_revert() {
    let sim = Simulator::new();
    let me = (Luid::from_u64(0x10a2f), "CONTOSO\\alice".to_string());
    assert_eq!(sim.thread_identity(), me);
    let e = Handshake::new(outbound(&sim, "NTLM", "bob", "Hunter2!"), inbound(&sim, "NTLM")).run(&sim);
    assert!(e.is_complete());
    assert_eq!(sim.impersonate_security_context(e.server), SecStatus::SEC_E_OK);
    let (luid, name) = sim.thread_identity();
    assert_eq!(name, "CONTOSO\\bob");
    assert_ne!(luid, me.0, "a network logon session of its own");
    // Another thread is not impersonating.
    std::thread::scope(|scope| {
        scope.spawn(|| assert_eq!(sim.thread_identity(), me));
    });
    // A network logon holds no credentials: no outbound credentials from it (double hop).
    let ach = sim.acquire_credentials_handle(AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND));
    assert_eq!(ach.unwrap_err(), SecStatus::SEC_E_NO_CREDENTIALS);
    assert_eq!(sim.revert_security_context(e.server), SecStatus::SEC_E_OK);
    assert_eq!(sim.thread_identity(), me);
    assert!(sim.acquire_credentials_handle(AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND)).is_ok());

    // alice authenticating to her own machine: same name, but the network session.
    let (_, s) = established(&sim, "Negotiate", isc_req(), asc_req());
    assert_eq!(sim.impersonate_security_context(s), SecStatus::SEC_E_OK);
    let (luid, name) = sim.thread_identity();
    assert_eq!(name, "CONTOSO\\alice");
    assert_ne!(luid, me.0);
    assert_ne!(luid, Luid::from_u64(0x10a2f));
    let ach = sim.acquire_credentials_handle(AcquireCredentials::new("Negotiate", CredentialUse::OUTBOUND));
    assert_eq!(ach.unwrap_err(), SecStatus::SEC_E_NO_CREDENTIALS);
    assert_eq!(sim.revert_security_context(s), SecStatus::SEC_E_OK);
    assert_eq!(sim.thread_identity(), me);
}

#[test]
fn client_and_incomplete_contexts_cannot_be_impersonated() {
    let sim = Simulator::new();
    let (c, s) = established(&sim, "NTLM", isc_req(), asc_req());
    assert_eq!(sim.impersonate_security_context(c), SecStatus::SEC_E_INVALID_HANDLE);
    let (cc, sc) = creds(&sim, "NTLM");
    let mut client = Client::new(&sim, cc, isc_req());
    let mut server = Server::new(&sim, sc, asc_req());
    let (_, t1) = client.step(None);
    server.step(&t1);
    assert_eq!(sim.impersonate_security_context(server.handle()), SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(sim.impersonate_security_context(CtxtHandle::default()), SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(sim.thread_identity().0, Luid::from_u64(0x10a2f), "nothing was impersonated");
    assert_eq!(sim.revert_security_context(CtxtHandle::default()), SecStatus::SEC_E_INVALID_HANDLE);
    // Reverting a thread that is not impersonating succeeds, as RevertToSelf does [I].
    assert_eq!(sim.revert_security_context(s), SecStatus::SEC_E_OK);
}

// ---- Anonymous NTLM (research §9) ----------------------------------------------------------

#[test]
fn null_sessions_need_allow_null_session() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = creds(&sim, package);
        let mut h = Handshake::new(c, s);
        h.isc_req = isc_req() | IscReq::NULL_SESSION;
        h.asc_req = asc_req() | AscReq::ALLOW_NULL_SESSION;
        let e = h.run(&sim);
        assert!(e.is_complete(), "{package}: {:?}", e.statuses());
        assert!(IscRet(e.legs[0].attributes).contains(IscRet::NULL_SESSION), "{package}");
        let last_client = e.legs.iter().rev().find(|l| l.function == "InitializeSecurityContext").unwrap();
        assert!(IscRet(last_client.attributes).contains(IscRet::NULL_SESSION), "{package}");
        let last_server = e.legs.iter().rev().find(|l| l.function == "AcceptSecurityContext").unwrap();
        assert!(AscRet(last_server.attributes).contains(AscRet::NULL_SESSION), "{package}");
        assert_eq!(
            query(&sim, e.server, ContextAttribute::Names),
            ContextAttributeValue::Names("NT AUTHORITY\\ANONYMOUS LOGON".into())
        );
        // FLAGS maps NTLMSSP_ANONYMOUS: 0x40000 (client) / 0x100000 (server) [I].
        match (query(&sim, e.client, ContextAttribute::Flags), query(&sim, e.server, ContextAttribute::Flags)) {
            (ContextAttributeValue::Flags(fc), ContextAttributeValue::Flags(fs)) => {
                assert_eq!(fc & 0x4_0000, 0x4_0000, "{fc:#x}");
                assert_eq!(fs & 0x10_0000, 0x10_0000, "{fs:#x}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(session_key(&sim, e.client), session_key(&sim, e.server));
        seal_round_trip(&sim, e.client, e.server, b"anonymous but sealed");

        // Without ASC_REQ_ALLOW_NULL_SESSION the same client is refused.
        let mut h = Handshake::new(c, s);
        h.isc_req = isc_req() | IscReq::NULL_SESSION;
        let e = h.run(&sim);
        assert_eq!(e.server_status, Some(SecStatus::SEC_E_LOGON_DENIED), "{package}");
        assert!(AscRet(e.legs.last().unwrap().attributes).contains(AscRet::THIRD_LEG_FAILED));
    }
}

// ---- Channel bindings (Extended Protection) ------------------------------------------------

fn bindings(cert_hash: &[u8]) -> Vec<u8> {
    channel_bindings_buffer(&[b"tls-server-end-point:".as_slice(), cert_hash].concat())
}

#[test]
fn channel_bindings_must_match_when_sent() {
    for package in ["NTLM", "Negotiate"] {
        let sim = Simulator::new();
        let (c, s) = creds(&sim, package);
        let mut h = Handshake::new(c, s);
        h.client_bindings = Some(bindings(&[0xAA; 32]));
        h.server_bindings = Some(bindings(&[0xAA; 32]));
        assert!(h.run(&sim).is_complete(), "{package}: matching bindings");
        h.server_bindings = Some(bindings(&[0xBB; 32]));
        let e = h.run(&sim);
        assert_eq!(e.server_status, Some(SecStatus::SEC_E_BAD_BINDINGS), "{package}: mismatched bindings");
        assert!(AscRet(e.legs.last().unwrap().attributes).contains(AscRet::THIRD_LEG_FAILED));
        // Bindings on the server only: "missing" from the client, which only Required refuses.
        h.client_bindings = None;
        assert!(h.run(&sim).is_complete(), "{package}: client without bindings, not required");
    }
}

#[test]
fn required_channel_bindings_refuse_a_client_without_them() {
    let sim = sim_of(machine_with("require_channel_bindings = true"));
    assert!(sim.world().machine.require_channel_bindings);
    for package in ["NTLM", "Negotiate"] {
        let (c, s) = creds(&sim, package);
        let mut h = Handshake::new(c, s);
        h.server_bindings = Some(bindings(&[0xAA; 32]));
        let e = h.run(&sim);
        assert_eq!(e.server_status, Some(SecStatus::SEC_E_BAD_BINDINGS), "{package}");
        h.client_bindings = Some(bindings(&[0xAA; 32]));
        assert!(h.run(&sim).is_complete(), "{package}: with bindings it works");
    }
}

// ---- LmCompatibilityLevel across two machines ----------------------------------------------

/// NtChallengeResponse length and the negotiate flags of an AUTHENTICATE_MESSAGE (MS-NLMP §2.2.1.3).
fn authenticate_fields(token: &[u8]) -> (usize, u32) {
    assert!(token.starts_with(b"NTLMSSP\0\x03\0\0\0"));
    let nt_len = u16::from_le_bytes([token[20], token[21]]) as usize;
    let flags = u32::from_le_bytes([token[60], token[61], token[62], token[63]]);
    (nt_len, flags)
}

const ESS: u32 = 0x0008_0000;

#[test]
fn a_level_2_client_is_accepted_by_a_level_3_server_and_refused_by_a_level_5_one() {
    let client_sim = sim_of(machine_with("lm_compatibility_level = 2"));
    let level3 = Simulator::new();
    assert_eq!(level3.world().machine.lm_compatibility_level, 3);
    let level5 = sim_of(machine_with("lm_compatibility_level = 5"));
    let c = outbound(&client_sim, "NTLM", "alice", "Passw0rd!");

    // Against level 3: NTLMv1 with extended session security, accepted.
    let mut client = Client::new(&client_sim, c, isc_req());
    let mut server = Server::new(&level3, inbound(&level3, "NTLM"), asc_req());
    let (_, t1) = client.step(None);
    let (_, t2) = server.step(&t1);
    let (status, t3) = client.step(Some(&t2));
    assert_eq!(status, SecStatus::SEC_E_OK);
    let (nt_len, flags) = authenticate_fields(&t3);
    assert_eq!(nt_len, 24, "an NTLMv1 response");
    assert_eq!(flags & ESS, ESS, "with extended session security");
    assert_eq!(server.step(&t3).0, SecStatus::SEC_E_OK);
    assert_eq!(session_key(&client_sim, client.handle()), session_key(&level3, server.handle()));
    // The two machines' contexts talk to each other.
    let mut m = SecBufferDesc::new(vec![SecBuffer::token(vec![0; 16]), SecBuffer::new(SecBufferType::DATA, b"v1")]);
    assert_eq!(client_sim.encrypt_message(client.handle(), 0, &mut m, 0), SecStatus::SEC_E_OK);
    assert_eq!(level3.decrypt_message(server.handle(), &mut m, 0), Ok(None));
    assert_eq!(m.buffers[1].data, b"v1");

    // Against level 5: the same kind of response is refused.
    let mut client = Client::new(&client_sim, c, isc_req());
    let mut server = Server::new(&level5, inbound(&level5, "NTLM"), asc_req());
    let (_, t1) = client.step(None);
    let (_, t2) = server.step(&t1);
    let (_, t3) = client.step(Some(&t2));
    assert_eq!(authenticate_fields(&t3).0, 24);
    assert_eq!(server.step(&t3).0, SecStatus::SEC_E_LOGON_DENIED);
    assert!(server.attrs().contains(AscRet::THIRD_LEG_FAILED));

    // A level-3 client's NTLMv2 is accepted at level 5.
    let c3 = outbound(&level3, "NTLM", "alice", "Passw0rd!");
    let mut client = Client::new(&level3, c3, isc_req());
    let mut server = Server::new(&level5, inbound(&level5, "NTLM"), asc_req());
    let (_, t1) = client.step(None);
    let (_, t2) = server.step(&t1);
    let (_, t3) = client.step(Some(&t2));
    assert!(authenticate_fields(&t3).0 > 24, "an NTLMv2 response");
    assert_eq!(server.step(&t3).0, SecStatus::SEC_E_OK);
}

#[test]
fn a_tampered_session_key_is_caught_by_the_mic_at_level_3_and_only_by_the_first_message_at_level_2() {
    for level in [3, 2] {
        let sim = if level == 3 { Simulator::new() } else { sim_of(machine_with("lm_compatibility_level = 2")) };
        let (c, s) = creds(&sim, "NTLM");
        let mut client = Client::new(&sim, c, isc_req());
        let mut server = Server::new(&sim, s, asc_req());
        let (_, t1) = client.step(None);
        let (_, t2) = server.step(&t1);
        let (_, mut t3) = client.step(Some(&t2));
        // EncryptedRandomSessionKeyFields: Len at 52, BufferOffset at 56 (MS-NLMP §2.2.1.3).
        assert_eq!(u16::from_le_bytes([t3[52], t3[53]]), 16, "level {level}: key exchange");
        let at = u32::from_le_bytes([t3[56], t3[57], t3[58], t3[59]]) as usize;
        t3[at] ^= 1;
        let (status, _) = server.step(&t3);
        if level == 3 {
            // The MIC, keyed with the exported session key, no longer matches.
            assert_eq!(status, SecStatus::SEC_E_LOGON_DENIED);
            assert!(server.attrs().contains(AscRet::THIRD_LEG_FAILED));
        } else {
            // NTLMv1 has no MIC: the server completes with another key, and the first message
            // tells.
            assert_eq!(status, SecStatus::SEC_E_OK);
            assert_ne!(session_key(&sim, client.handle()), session_key(&sim, server.handle()));
            let mut m =
                SecBufferDesc::new(vec![SecBuffer::token(vec![0; 16]), SecBuffer::new(SecBufferType::DATA, b"hi")]);
            assert_eq!(sim.make_signature(client.handle(), 0, &mut m, 0), SecStatus::SEC_E_OK);
            assert_eq!(sim.verify_signature(server.handle(), &mut m, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED));
        }
    }
}

// ---- Determinism ---------------------------------------------------------------------------

/// A full handshake plus one sealed message each way; every byte that went on the wire.
fn wire_bytes(sim: &Simulator, package: &str) -> Vec<Vec<u8>> {
    let (c, s) = creds(sim, package);
    let e = Handshake::new(c, s).run(sim);
    assert!(e.is_complete());
    let mut out: Vec<Vec<u8>> = e.legs.iter().map(|l| l.token.clone()).collect();
    out.push(seal_round_trip(sim, e.client, e.server, b"GET /index.html"));
    out.push(seal_round_trip(sim, e.server, e.client, b"200 OK"));
    out
}

#[test]
fn the_same_world_gives_byte_identical_tokens_and_ciphertext() {
    for package in ["NTLM", "Negotiate"] {
        let a = wire_bytes(&Simulator::new(), package);
        let b = wire_bytes(&Simulator::new(), package);
        assert_eq!(a, b, "{package}");
        assert_eq!(a.len(), if package == "NTLM" { 6 } else { 7 });
    }
}

#[test]
fn another_seed_changes_the_challenge_the_authenticate_and_the_ciphertext() {
    let reseeded = || sim_of(world_with(|t| t.replacen("seed = 1\n", "seed = 2\n", 1)));
    assert_eq!(reseeded().world().seed, 2);
    for package in ["NTLM", "Negotiate"] {
        let a = wire_bytes(&Simulator::new(), package);
        let b = wire_bytes(&reseeded(), package);
        assert_eq!(a[0], b[0], "{package}: the first token draws no randomness");
        for i in 1..a.len() {
            if !a[i].is_empty() {
                assert_ne!(a[i], b[i], "{package}: token {i}");
            }
        }
        // And the new seed is itself repeatable.
        assert_eq!(b, wire_bytes(&reseeded(), package));
    }
}

/// The acceptor's extra leg (an NTLM MIC but no mechListMIC from the client: accept-incomplete
/// with its own mechListMIC), then the client's mechListMIC: a too-small buffer there changes
/// nothing, and the retry completes.
#[test]
fn the_acceptors_mech_list_mic_leg_waits_for_the_clients_and_survives_a_small_buffer() {
    use sspi_emu::sim::spnego::{self, NegState, NegTokenResp, NegotiationToken, SpnegoToken};
    let sim = Simulator::new();
    let (c, s) = creds(&sim, "Negotiate");
    let isc = IscOutputs::with_token(CAP);
    let asc = AscOutputs::with_token(CAP);
    assert_eq!(
        sim.initialize_security_context(InitializeSecurityContext::new(c, Some(TARGET), isc_req()), &isc),
        SecStatus::SEC_I_CONTINUE_NEEDED
    );
    let client = isc.context();
    assert_eq!(
        sim.accept_security_context(AcceptSecurityContext::new(s, token_input(&isc.token()), asc_req()), &asc),
        SecStatus::SEC_I_CONTINUE_NEEDED
    );
    let server = asc.context();
    let challenge = asc.token();
    isc.reset_token(CAP);
    let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req()).next(client, token_input(&challenge));
    assert_eq!(sim.initialize_security_context(args, &isc), SecStatus::SEC_I_CONTINUE_NEEDED);
    let NegotiationToken::Resp(sent) = spnego::decode(&isc.token()).unwrap().token else { panic!("a NegTokenResp") };
    let client_mic = sent.mech_list_mic.clone().expect("our client sends a mechListMIC");
    // The AUTHENTICATE alone: the acceptor answers accept-incomplete with its mechListMIC.
    let without = NegTokenResp { response_token: sent.response_token.clone(), ..Default::default() };
    let t = SpnegoToken::bare(NegotiationToken::Resp(without)).encode();
    asc.reset_token(CAP);
    let leg = |t: &[u8]| AcceptSecurityContext::new(s, token_input(t), asc_req()).next(server, token_input(t));
    assert_eq!(sim.accept_security_context(leg(&t), &asc), SecStatus::SEC_I_CONTINUE_NEEDED);
    let NegotiationToken::Resp(reply) = spnego::decode(&asc.token()).unwrap().token else { panic!("a NegTokenResp") };
    assert_eq!(reply.neg_state, Some(NegState::AcceptIncomplete));
    assert!(reply.mech_list_mic.is_some(), "the acceptor sends its own mechListMIC");
    assert_eq!(
        sim.query_context_attributes(server, ContextAttribute::Names),
        Err(SecStatus::SEC_E_INVALID_HANDLE),
        "not complete yet"
    );
    // The client's mechListMIC, first into a 2-byte buffer, then into a large one.
    let mic_only = NegTokenResp { mech_list_mic: Some(client_mic), ..Default::default() };
    let t = SpnegoToken::bare(NegotiationToken::Resp(mic_only)).encode();
    asc.reset_token(2);
    assert_eq!(sim.accept_security_context(leg(&t), &asc), SecStatus::SEC_E_BUFFER_TOO_SMALL);
    asc.reset_token(CAP);
    assert_eq!(sim.accept_security_context(leg(&t), &asc), SecStatus::SEC_E_OK, "the retry completes");
    let NegotiationToken::Resp(done) = spnego::decode(&asc.token()).unwrap().token else { panic!("a NegTokenResp") };
    assert_eq!(done.neg_state, Some(NegState::AcceptCompleted));
    assert!(
        matches!(sim.query_context_attributes(server, ContextAttribute::Names), Ok(ContextAttributeValue::Names(n)) if n == "CONTOSO\\alice")
    );
}

/// Deleting the context a thread impersonates does not strand the thread: its identity stays
/// the client's (a token outlives its context) until RevertToSelf.
#[test]
fn a_thread_impersonating_a_deleted_context_keeps_the_identity_until_revert_to_self() {
    let sim = Simulator::new();
    let (client, server) = established(&sim, "NTLM", isc_req(), asc_req());
    let (own_luid, own_name) = sim.thread_identity();
    assert_eq!(sim.impersonate_security_context(server), SecStatus::SEC_E_OK);
    assert_eq!(sim.thread_identity().1, "CONTOSO\\alice");
    assert_eq!(sim.delete_security_context(server), SecStatus::SEC_E_OK);
    assert_eq!(sim.thread_identity().1, "CONTOSO\\alice", "still impersonating");
    assert_eq!(sim.revert_security_context(server), SecStatus::SEC_E_INVALID_HANDLE, "the handle is gone");
    sim.revert_to_self();
    assert_eq!(sim.thread_identity(), (own_luid, own_name));
    sim.delete_security_context(client);
}

/// SECPKG_ATTR_KEY_INFO: HMAC-MD5 with extended session security, RSADSI RC4-CRC32 without;
/// RSADSI RC4 (CALG_RC4) for sealing; 128-bit keys (Wine's tests on Windows [O]).
#[test]
fn key_info_names_the_signature_and_sealing_algorithms() {
    let sim = Simulator::new();
    let (c, s) = established(&sim, "NTLM", isc_req(), asc_req());
    for ctx in [c, s] {
        assert_eq!(
            sim.query_context_attributes(ctx, ContextAttribute::KeyInfo),
            Ok(ContextAttributeValue::KeyInfo {
                signature_algorithm_name: "HMAC-MD5".into(),
                encrypt_algorithm_name: "RSADSI RC4".into(),
                key_size: 128,
                signature_algorithm: 0xFFFF_FF76,
                encrypt_algorithm: 0x6801,
            })
        );
    }
    // A level-0 machine negotiates no extended session security: the v1 signature.
    let v1 = sim_of(machine_with("lm_compatibility_level = 0"));
    let (c, _) = established(&v1, "NTLM", isc_req(), asc_req());
    match v1.query_context_attributes(c, ContextAttribute::KeyInfo) {
        Ok(ContextAttributeValue::KeyInfo { signature_algorithm_name, signature_algorithm, .. }) => {
            assert_eq!((signature_algorithm_name.as_str(), signature_algorithm), ("RSADSI RC4-CRC32", 0xFFFF_FF7C));
        }
        other => panic!("{other:?}"),
    }
    // An incomplete context has none.
    let isc = IscOutputs::with_token(CAP);
    let (cc, _) = creds(&sim, "NTLM");
    sim.initialize_security_context(InitializeSecurityContext::new(cc, Some(TARGET), isc_req()), &isc);
    assert_eq!(
        sim.query_context_attributes(isc.context(), ContextAttribute::KeyInfo),
        Err(SecStatus::SEC_E_INVALID_HANDLE)
    );
}

/// SPNEGO refusals, each with the status the simulator chose where Windows is not documented
/// [I]: no NTLM among the initiator's mechanisms → SEC_E_INVALID_TOKEN; an acceptor's
/// `negState: reject` → SEC_E_LOGON_DENIED; a mechListMIC that does not verify →
/// SEC_E_MESSAGE_ALTERED.
#[test]
fn spnego_refusals_have_their_statuses() {
    use sspi_emu::sim::spnego::{self, KERBEROS, NegState, NegTokenInit, NegTokenResp, NegotiationToken, SpnegoToken};
    let sim = Simulator::new();
    let (c, s) = creds(&sim, "Negotiate");
    // Kerberos only: nothing in common.
    let kerberos = NegTokenInit { mech_types: vec![KERBEROS], mech_token: Some(vec![1, 2, 3]), ..Default::default() };
    let t = SpnegoToken::initial(NegotiationToken::Init(kerberos)).encode();
    let asc = AscOutputs::with_token(CAP);
    assert_eq!(
        sim.accept_security_context(AcceptSecurityContext::new(s, token_input(&t), asc_req()), &asc),
        SecStatus::SEC_E_INVALID_TOKEN
    );
    assert_eq!(sim.security_contexts(), 0, "no context for a refused first token");
    // The acceptor rejects: the client's second leg.
    let isc = IscOutputs::with_token(CAP);
    sim.initialize_security_context(InitializeSecurityContext::new(c, Some(TARGET), isc_req()), &isc);
    let client = isc.context();
    let reject = NegTokenResp { neg_state: Some(NegState::Reject), ..Default::default() };
    let t = SpnegoToken::bare(NegotiationToken::Resp(reject)).encode();
    let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req()).next(client, token_input(&t));
    assert_eq!(sim.initialize_security_context(args, &isc), SecStatus::SEC_E_LOGON_DENIED);
    sim.delete_security_context(client);
    // A full exchange whose client mechListMIC is altered in transit.
    let isc = IscOutputs::with_token(CAP);
    let asc = AscOutputs::with_token(CAP);
    sim.initialize_security_context(InitializeSecurityContext::new(c, Some(TARGET), isc_req()), &isc);
    let client = isc.context();
    sim.accept_security_context(AcceptSecurityContext::new(s, token_input(&isc.token()), asc_req()), &asc);
    let server = asc.context();
    let challenge = asc.token();
    isc.reset_token(CAP);
    let args = InitializeSecurityContext::new(c, Some(TARGET), isc_req()).next(client, token_input(&challenge));
    assert_eq!(sim.initialize_security_context(args, &isc), SecStatus::SEC_I_CONTINUE_NEEDED);
    let NegotiationToken::Resp(mut sent) = spnego::decode(&isc.token()).unwrap().token else {
        panic!("a NegTokenResp")
    };
    if let Some(mic) = sent.mech_list_mic.as_mut() {
        mic[6] ^= 1;
    }
    let t = SpnegoToken::bare(NegotiationToken::Resp(sent)).encode();
    asc.reset_token(CAP);
    let args = AcceptSecurityContext::new(s, token_input(&t), asc_req()).next(server, token_input(&t));
    assert_eq!(sim.accept_security_context(args, &asc), SecStatus::SEC_E_MESSAGE_ALTERED);
    sim.delete_security_context(client);
    sim.delete_security_context(server);
    assert_eq!(sim.security_contexts(), 0);
}
