//! The security-context calls of the simulated LSA: `InitializeSecurityContext`,
//! `AcceptSecurityContext`, `DeleteSecurityContext`, `QueryContextAttributes`, impersonation,
//! and the per-message calls, over the sans-IO NTLM handshakes (`crate::ntlm::context`) and
//! the SPNEGO codec (`crate::spnego`).
//!
//! ```text
//!  ISC/ASC args ─► credential lookup ─► SecurityContext (table, one lock per context)
//!                                          │ Stage: NTLM state machine (client or server)
//!                                          │ Spnego: mechList, mechListMIC bookkeeping (Negotiate)
//!                                          ▼
//!            output token ─► pOutput (SEC_E_BUFFER_TOO_SMALL leaves the context as it was)
//! ```
//!
//! A leg that fails before any context exists leaves every output untouched; a later leg that
//! fails leaves the context in `Failed` (the caller must still delete it, as documented).
//! Every status and its source: `docs/FIDELITY.md`, section "Context calls".

// `Error` has drop glue: built eagerly for `ok_or`, it is dropped on every successful call of
// the handshake path (measured with callgrind, docs/PERFORMANCE.md), so errors are built lazily.
#![allow(clippy::unnecessary_lazy_evaluations)]

use std::borrow::Cow;
use std::sync::Arc;

use parking_lot::Mutex;
use rand_chacha::rand_core::RngCore;
use sspi_emu_api::{
    AcceptSecurityContext, AscOutputs, AscReq, AscRet, ContextAttribute, ContextAttributeValue, ContextSizes,
    CredHandle, CtxtHandle, InitializeSecurityContext, IscOutputs, IscReq, IscRet, Luid, NegotiationState, Out,
    SECQOP_WRAP_NO_ENCRYPT, SecBufferDesc, SecBufferType, SecHandle, SecStatus, TimeStamp,
};

use crate::creds::{CredSecret, Credential};
use crate::engine::Core;
use crate::error::Error;
use crate::ntlm::context::{LmCompatibilityLevel, Session, client, server};
use crate::ntlm::crypto::MessagePart;
use crate::ntlm::{self, NegotiateFlags as F};
use crate::spnego::{self, NegState, NegTokenInit, NegTokenResp, NegotiationToken, SpnegoToken};
use crate::world::{LogonSession, LogonType, Secret};

/// `cbMaxSignature` and `cbSecurityTrailer` of NTLM: an `NTLMSSP_MESSAGE_SIGNATURE` is 16
/// bytes (MS-NLMP §2.2.2.9) \[D\].
pub(crate) const NTLM_SIGNATURE_LEN: usize = 16;

/// Which side of the handshake a context is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Client,
    Server,
}

/// Where the NTLM handshake of a context is.
enum Stage {
    ClientExpectChallenge(client::ExpectChallenge),
    ServerExpectNegotiate(server::ExpectNegotiate),
    ServerExpectAuthenticate(server::ExpectAuthenticate),
    Established(Box<Session>),
    Failed,
}

impl Stage {
    /// A copy of a pre-established stage, to restore when the output buffer is too small.
    fn backup(&self) -> Option<Stage> {
        match self {
            Stage::ClientExpectChallenge(s) => Some(Stage::ClientExpectChallenge(s.clone())),
            Stage::ServerExpectNegotiate(s) => Some(Stage::ServerExpectNegotiate(s.clone())),
            Stage::ServerExpectAuthenticate(s) => Some(Stage::ServerExpectAuthenticate(s.clone())),
            Stage::Established(_) | Stage::Failed => None,
        }
    }
}

/// The SPNEGO layer of a Negotiate context (absent when the peer spoke raw NTLM).
#[derive(Clone, Debug, Default)]
struct Spnego {
    /// The DER of the initiator's `mechTypes`: what a `mechListMIC` covers (RFC 4178 §5).
    mech_list: Vec<u8>,
    /// The acceptor asked for a `mechListMIC` (`request-mic`).
    mic_required: bool,
    mic_sent: bool,
    mic_received: bool,
    /// The SPNEGO exchange is over on this side.
    complete: bool,
}

/// A security context held by the simulated LSA.
pub(crate) struct SecurityContext {
    pub(crate) package: usize,
    side: Side,
    stage: Stage,
    spnego: Option<Spnego>,
    /// Negotiate package, before the first token shows whether the peer speaks SPNEGO.
    negotiate: bool,
    /// `fContextReq` of the first call (ISC_REQ or ASC_REQ bits).
    req: u32,
    /// The `ISC_RET` / `ASC_RET` bits last reported.
    attributes: u32,
    start: TimeStamp,
    expiry: TimeStamp,
    /// `DOMAIN\user` of the client (both sides).
    client_name: String,
    /// The server's name: the target name on the client, the machine on the server.
    server_name: String,
    /// Server: the network logon session created for the authenticated client.
    logon: Option<Luid>,
    anonymous: bool,
}

impl SecurityContext {
    fn complete(&self) -> bool {
        matches!(self.stage, Stage::Established(_)) && self.spnego.as_ref().is_none_or(|s| s.complete)
    }

    /// After a failed later leg: the context is left `Failed`, so the next leg is
    /// `SEC_E_OUT_OF_SEQUENCE` (module docs; Wine's tests on Windows, NT 5 source: research
    /// §3) \[O/I\]. Not when the output buffer was too small (the caller retries with a bigger
    /// one), nor when the context was already complete (a stray token does not break it).
    fn poison(&mut self, e: &Error) {
        if !matches!(e, Error::BufferTooSmall { .. } | Error::ContextComplete) && !self.complete() {
            self.stage = Stage::Failed;
        }
    }

    fn session(&mut self) -> Result<&mut Session, Error> {
        match &mut self.stage {
            Stage::Established(s) if self.spnego.as_ref().is_none_or(|s| s.complete) => Ok(s),
            _ => Err(Error::ContextIncomplete),
        }
    }
}

pub(crate) type SharedContext = Arc<Mutex<SecurityContext>>;

/// The machine's names as its NTLM server announces them in `TargetInfo`: derived once from
/// the world (which does not change), shared by every server context.
#[derive(Clone, Debug)]
pub(crate) struct ServerNames {
    nb_computer: Arc<str>,
    nb_domain: Arc<str>,
    dns_computer: Arc<str>,
    dns_domain: Arc<str>,
}

impl ServerNames {
    /// The NetBIOS names as configured (the computer stands for the domain on a workgroup
    /// machine); the DNS names in lower case.
    pub(crate) fn of(m: &crate::world::Machine) -> Self {
        let dns_domain = m.dns_domain.to_ascii_lowercase();
        let mut dns_computer = m.name.to_ascii_lowercase();
        if !dns_domain.is_empty() {
            dns_computer.push('.');
            dns_computer.push_str(&dns_domain);
        }
        Self {
            nb_computer: m.name.as_str().into(),
            nb_domain: if m.joined { m.domain.as_str() } else { m.name.as_str() }.into(),
            dns_computer: dns_computer.into(),
            dns_domain: dns_domain.into(),
        }
    }
}

/// Packs a table id and the package index into a `CtxtHandle`, as for credentials.
fn ctxt_handle(id: u64, package: usize) -> CtxtHandle {
    CtxtHandle(SecHandle { dw_lower: id as usize, dw_upper: package })
}

/// What a successful leg returns to the engine: the status and the attributes.
pub(crate) struct Leg {
    pub(crate) status: SecStatus,
}

/// The input token of a leg: the first `SECBUFFER_TOKEN` of `pInput`.
fn input_token(input: Option<&SecBufferDesc>) -> Result<&[u8], Error> {
    input
        .and_then(|d| d.find(SecBufferType::TOKEN))
        .map(|b| b.data.as_slice())
        .ok_or_else(|| Error::InvalidToken("pInput has no SECBUFFER_TOKEN"))
}

/// The channel bindings of `pInput` (`SECBUFFER_CHANNEL_BINDINGS`, a `SEC_CHANNEL_BINDINGS`),
/// as the `gss_channel_bindings_struct` bytes whose MD5 NTLM sends (MS-NLMP §3.1.5.1.2).
fn channel_bindings(input: Option<&SecBufferDesc>) -> Result<Option<Vec<u8>>, Error> {
    let Some(buffer) = input.and_then(|d| d.find(SecBufferType::CHANNEL_BINDINGS)) else {
        return Ok(None);
    };
    gss_channel_bindings(&buffer.data).map(Some).ok_or_else(|| Error::InvalidToken("malformed SEC_CHANNEL_BINDINGS"))
}

/// `SEC_CHANNEL_BINDINGS` (eight `ULONG`s: initiator type, length, offset; acceptor type,
/// length, offset; application data length, offset; then the data) to the
/// `gss_channel_bindings_struct` encoding: each address type and length little-endian
/// followed by its bytes, then the application data length and bytes \[D, MS-NLMP §2.2.2.1,
/// RFC 2744 §3.11\].
pub(crate) fn gss_channel_bindings(raw: &[u8]) -> Option<Vec<u8>> {
    let word = |i: usize| raw.get(i * 4..i * 4 + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let part = |len: u32, offset: u32| -> Option<&[u8]> {
        let start = usize::try_from(offset).ok()?;
        raw.get(start..start.checked_add(usize::try_from(len).ok()?)?)
    };
    let (it, il, io) = (word(0)?, word(1)?, word(2)?);
    let (at, al, ao) = (word(3)?, word(4)?, word(5)?);
    let (dl, dof) = (word(6)?, word(7)?);
    let mut out = Vec::new();
    for (t, l, o) in [(it, il, io), (at, al, ao)] {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&l.to_le_bytes());
        out.extend_from_slice(part(l, o)?);
    }
    out.extend_from_slice(&dl.to_le_bytes());
    out.extend_from_slice(part(dl, dof)?);
    Some(out)
}

/// Builds a `SEC_CHANNEL_BINDINGS` buffer holding only application data (what HTTP and LDAP
/// over TLS pass: `tls-server-end-point:` + the certificate hash).
///
/// Application data longer than `u32::MAX` bytes is cut to fit `cbApplicationDataLength`.
pub fn channel_bindings_buffer(application_data: &[u8]) -> Vec<u8> {
    let len = u32::try_from(application_data.len()).unwrap_or(u32::MAX);
    let application_data = &application_data[..len as usize];
    let mut raw = vec![0u8; 32];
    raw[24..28].copy_from_slice(&len.to_le_bytes());
    raw[28..32].copy_from_slice(&32u32.to_le_bytes());
    raw.extend_from_slice(application_data);
    raw
}

/// How the leg writes its token: the capacity of the caller's `SECBUFFER_TOKEN`, or `None`
/// when the package allocates (`*_REQ_ALLOCATE_MEMORY`).
fn output_capacity(output: Option<&Out<SecBufferDesc>>, allocate: bool) -> Result<Option<usize>, Error> {
    // Windows: a NULL pOutput, or one without a SECBUFFER_TOKEN, is SEC_E_BUFFER_TOO_SMALL
    // (Wine's secur32 tests, run on Windows: docs/research/context-calls.md §3) [O].
    let output = output.ok_or_else(|| Error::BufferTooSmall { needed: 1, available: 0 })?;
    let capacity = output.with(|d| d.find(SecBufferType::TOKEN).map(|b| b.data.len()));
    let capacity = capacity.ok_or_else(|| Error::BufferTooSmall { needed: 1, available: 0 })?;
    Ok(if allocate { None } else { Some(capacity) })
}

fn write_token(output: Option<&Out<SecBufferDesc>>, token: Vec<u8>) {
    if let Some(o) = output {
        o.with_mut(|d| {
            if let Some(b) = d.find_mut(SecBufferType::TOKEN) {
                if b.data.capacity() >= token.len() {
                    // The caller's buffer: the token is copied in and cbBuffer set to its length.
                    b.data.clear();
                    b.data.extend_from_slice(&token);
                } else {
                    // ALLOCATE_MEMORY: the package's buffer.
                    b.data = token;
                }
            }
        });
    }
}

fn fits(capacity: Option<usize>, token: &[u8]) -> Result<(), Error> {
    match capacity {
        Some(c) if token.len() > c => Err(Error::BufferTooSmall { needed: token.len(), available: c }),
        _ => Ok(()),
    }
}

/// `ISC_RET_*` of an NTLM client leg (docs/research/context-calls.md §2, from the NT 5
/// source \[I\] and one observed final value \[O\]): the first leg echoes the requested
/// protections; the final leg reports REPLAY, SEQUENCE and INTEGRITY when SIGN was negotiated,
/// CONFIDENTIALITY when SEAL was, and no longer CONNECTION. `negotiated` is `None` on the
/// first leg.
fn isc_ret(req: IscReq, negotiated: Option<F>, allocated: bool, anonymous: bool) -> IscRet {
    let mut r = IscRet::default();
    let echo = |r: &mut IscRet, pairs: &[(IscReq, IscRet)]| {
        for (q, ret) in pairs {
            if req.contains(*q) {
                *r |= *ret;
            }
        }
    };
    echo(
        &mut r,
        &[
            (IscReq::MUTUAL_AUTH, IscRet::MUTUAL_AUTH),
            (IscReq::NULL_SESSION, IscRet::NULL_SESSION),
            (IscReq::IDENTIFY, IscRet::IDENTIFY),
            (IscReq::DATAGRAM, IscRet::DATAGRAM),
        ],
    );
    match negotiated {
        None => echo(
            &mut r,
            &[
                (IscReq::INTEGRITY, IscRet::INTEGRITY),
                (IscReq::SEQUENCE_DETECT, IscRet::SEQUENCE_DETECT),
                (IscReq::REPLAY_DETECT, IscRet::REPLAY_DETECT),
                (IscReq::CONFIDENTIALITY, IscRet::CONFIDENTIALITY),
                (IscReq::CONNECTION, IscRet::CONNECTION),
            ],
        ),
        Some(n) => {
            if n.contains(F::NTLMSSP_NEGOTIATE_SIGN) {
                r |= IscRet::REPLAY_DETECT | IscRet::SEQUENCE_DETECT | IscRet::INTEGRITY;
            }
            if n.contains(F::NTLMSSP_NEGOTIATE_SEAL) {
                r |= IscRet::CONFIDENTIALITY;
            }
        }
    }
    if allocated {
        r |= IscRet::ALLOCATED_MEMORY;
    }
    if anonymous {
        r |= IscRet::NULL_SESSION;
    }
    r
}

/// `ASC_RET_*` of an NTLM server leg (docs/research/context-calls.md §2 \[I\]): the first leg
/// echoes the requested protections plus REPLAY and SEQUENCE when the client asked to sign and
/// CONFIDENTIALITY when it asked to seal; the final leg reports what was negotiated.
fn asc_ret(req: AscReq, negotiated: F, first: bool, allocated: bool, anonymous: bool) -> AscRet {
    let mut r = AscRet::default();
    if first {
        for (q, ret) in [
            (AscReq::CONNECTION, AscRet::CONNECTION),
            (AscReq::INTEGRITY, AscRet::INTEGRITY),
            (AscReq::REPLAY_DETECT, AscRet::REPLAY_DETECT),
            (AscReq::SEQUENCE_DETECT, AscRet::SEQUENCE_DETECT),
            (AscReq::CONFIDENTIALITY, AscRet::CONFIDENTIALITY),
            (AscReq::IDENTIFY, AscRet::IDENTIFY),
            (AscReq::DATAGRAM, AscRet::DATAGRAM),
            (AscReq::ALLOW_NON_USER_LOGONS, AscRet::ALLOW_NON_USER_LOGONS),
        ] {
            if req.contains(q) {
                r |= ret;
            }
        }
        if negotiated.contains(F::NTLMSSP_NEGOTIATE_SIGN) {
            r |= AscRet::REPLAY_DETECT | AscRet::SEQUENCE_DETECT;
        }
    } else {
        if negotiated.contains(F::NTLMSSP_NEGOTIATE_SIGN) {
            r |= AscRet::INTEGRITY | AscRet::REPLAY_DETECT | AscRet::SEQUENCE_DETECT;
        }
        for (q, ret) in
            [(AscReq::REPLAY_DETECT, AscRet::REPLAY_DETECT), (AscReq::SEQUENCE_DETECT, AscRet::SEQUENCE_DETECT)]
        {
            if req.contains(q) {
                r |= ret;
            }
        }
        if negotiated.contains(F::NTLMSSP_NEGOTIATE_DATAGRAM) {
            r |= AscRet::DATAGRAM;
        }
        if negotiated.contains(F::NTLMSSP_NEGOTIATE_IDENTIFY) {
            r |= AscRet::IDENTIFY;
        }
    }
    if negotiated.contains(F::NTLMSSP_NEGOTIATE_SEAL) {
        r |= AscRet::CONFIDENTIALITY;
    }
    if allocated {
        r |= AscRet::ALLOCATED_MEMORY;
    }
    if anonymous {
        r |= AscRet::NULL_SESSION;
    }
    r
}

/// `SecPkgContext_Flags` of a completed NTLM context, from the negotiated flags: SEAL 0x10;
/// SIGN 0x1000C (client) / 0x2000C (server); anonymous 0x40000 / 0x100000; DATAGRAM 0x400;
/// IDENTIFY 0x20000 / 0x80000 (decompiled msv1_0, docs/research/context-calls.md §4.2) \[I\].
fn flags_attribute(side: Side, n: F) -> u32 {
    let client = side == Side::Client;
    let mut f = 0;
    if n.contains(F::NTLMSSP_NEGOTIATE_SEAL) {
        f |= 0x10;
    }
    if n.contains(F::NTLMSSP_NEGOTIATE_SIGN) {
        f |= if client { 0x1_000C } else { 0x2_000C };
    }
    if n.contains(F::NTLMSSP_ANONYMOUS) {
        f |= if client { 0x4_0000 } else { 0x10_0000 };
    }
    if n.contains(F::NTLMSSP_NEGOTIATE_DATAGRAM) {
        f |= 0x400;
    }
    if n.contains(F::NTLMSSP_NEGOTIATE_IDENTIFY) {
        f |= if client { 0x2_0000 } else { 0x8_0000 };
    }
    f
}

/// `SecPkgContext_KeyInfo` of a completed NTLM context: with extended session security the
/// signature is "HMAC-MD5" (0xFFFFFF76), without it "RSADSI RC4-CRC32" (0xFFFFFF7C); encryption
/// "RSADSI RC4", `CALG_RC4` (0x6801) (Wine's tests on Windows \[O\]); the key size 128, 56 or 40
/// bits by NEGOTIATE_128 / NEGOTIATE_56 (decompiled msv1_0 \[I\]).
fn key_info(n: F) -> ContextAttributeValue {
    let ess = n.contains(F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY);
    let (name, alg) = if ess { ("HMAC-MD5", 0xFFFF_FF76) } else { ("RSADSI RC4-CRC32", 0xFFFF_FF7C) };
    let key_size = if n.contains(F::NTLMSSP_NEGOTIATE_128) {
        128
    } else if n.contains(F::NTLMSSP_NEGOTIATE_56) {
        56
    } else {
        40
    };
    ContextAttributeValue::KeyInfo {
        signature_algorithm_name: name.to_string(),
        encrypt_algorithm_name: "RSADSI RC4".to_string(),
        key_size,
        signature_algorithm: alg,
        encrypt_algorithm: 0x6801,
    }
}

/// `SecPkgContext_Sizes` of a completed NTLM context: cbMaxSignature 16 when signing (SIGN,
/// SEAL or ALWAYS_SIGN), cbBlockSize 1 with SEAL, cbSecurityTrailer 16 when signing
/// (observed 2888 / 16 / 0 / 16 without SEAL \[O\]; the rule from msv1_0 \[I\]).
fn sizes(max_token: u32, n: F) -> ContextSizes {
    let signs = n.contains(F::NTLMSSP_NEGOTIATE_SIGN)
        || n.contains(F::NTLMSSP_NEGOTIATE_SEAL)
        || n.contains(F::NTLMSSP_NEGOTIATE_ALWAYS_SIGN);
    let sig = if signs { NTLM_SIGNATURE_LEN as u32 } else { 0 };
    ContextSizes {
        max_token,
        max_signature: sig,
        block_size: u32::from(n.contains(F::NTLMSSP_NEGOTIATE_SEAL)),
        security_trailer: sig,
    }
}

/// The package kinds that have contexts here.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Ntlm,
    Negotiate,
}

impl Core {
    fn package_kind(&self, package: usize) -> Result<Kind, Error> {
        let name = self.world.packages.get(package).map(|p| p.info.name.as_str()).unwrap_or_default();
        if name.eq_ignore_ascii_case("NTLM") {
            Ok(Kind::Ntlm)
        } else if name.eq_ignore_ascii_case("Negotiate") {
            Ok(Kind::Negotiate)
        } else {
            Err(Error::PackageUnsupported(name.to_string()))
        }
    }

    /// The expiry a package reports for its credentials and contexts.
    pub(crate) fn package_expiry(&self, package: usize) -> TimeStamp {
        match self.world.packages.get(package).map(|p| p.expiry) {
            Some(crate::world::Expiry::Fixed(t)) => t,
            Some(crate::world::Expiry::Lifetime(secs)) => {
                let local = self.now().plus_seconds(i64::from(self.world.machine.utc_offset_minutes) * 60);
                local.plus_seconds(secs)
            }
            None => TimeStamp(i64::MAX),
        }
    }

    fn context(&self, handle: CtxtHandle) -> Result<SharedContext, Error> {
        let id = handle.0.dw_lower as u64;
        self.security
            .with(id, |c| Arc::clone(c))
            .filter(|c| c.lock().package == handle.0.dw_upper)
            .ok_or_else(|| Error::InvalidHandle("context"))
    }

    pub(crate) fn check_context(&self, handle: CtxtHandle) -> Result<(), Error> {
        self.context(handle).map(|_| ())
    }

    fn insert_context(&self, ctx: SecurityContext) -> Result<CtxtHandle, Error> {
        let package = ctx.package;
        let id = self
            .security
            .insert(Arc::new(Mutex::new(ctx)), self.world.limits.max_security_contexts)
            .ok_or_else(|| Error::OutOfMemory("max_security_contexts"))?;
        Ok(ctxt_handle(id, package))
    }

    fn random<const N: usize>(&self) -> [u8; N] {
        let mut out = [0; N];
        self.rng.lock().fill_bytes(&mut out);
        out
    }

    fn lm_level(&self) -> LmCompatibilityLevel {
        LmCompatibilityLevel(self.world.machine.lm_compatibility_level)
    }

    /// A leg after the first on the context `handle` of `side`: a failure other than a
    /// too-small buffer ends the context; success writes `phNewContext`.
    fn next_leg(
        &self,
        handle: CtxtHandle,
        side: Side,
        new_context: Option<&Out<CtxtHandle>>,
        leg: impl FnOnce(&mut SecurityContext) -> Result<Leg, Error>,
    ) -> Result<Leg, Error> {
        let shared = self.context(handle)?;
        let mut ctx = shared.lock();
        if ctx.side != side {
            return Err(Error::InvalidHandle(match side {
                Side::Client => "context (a server context passed to InitializeSecurityContext)",
                Side::Server => "context (a client context passed to AcceptSecurityContext)",
            }));
        }
        let leg = leg(&mut ctx).inspect_err(|e| ctx.poison(e))?;
        if let Some(n) = new_context {
            n.set(handle);
        }
        Ok(leg)
    }

    /// `InitializeSecurityContext`: one client leg. Writes the outputs on success.
    pub(crate) fn initialize(&self, args: &InitializeSecurityContext, out: &IscOutputs) -> Result<Leg, Error> {
        if !self.lsa_available.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::LsaUnavailable);
        }
        let allocate = args.context_req.contains(IscReq::ALLOCATE_MEMORY);
        match args.context {
            None => self.initialize_first(args, out, allocate),
            Some(handle) => self.next_leg(handle, Side::Client, out.new_context.as_ref(), |ctx| {
                self.initialize_next(ctx, args, out, allocate)
            }),
        }
    }

    fn initialize_first(
        &self,
        args: &InitializeSecurityContext,
        out: &IscOutputs,
        allocate: bool,
    ) -> Result<Leg, Error> {
        let credential = args.credential.ok_or_else(|| Error::InvalidHandle("credential (phCredential is NULL)"))?;
        let id = self.cred_id(credential)?;
        let config = self
            .creds
            .with(id, |c| self.client_config(c, args))
            .ok_or_else(|| Error::InvalidHandle("credential"))??;
        let package = credential.0.dw_upper;
        let kind = self.package_kind(package)?;
        if args.context_req.contains(IscReq::PROMPT_FOR_CREDS) {
            // [D] InitializeSecurityContext (NTLM): SEC_E_UNSUPPORTED_FUNCTION for
            // ISC_REQ_PROMPT_FOR_CREDS. ISC_REQ_DELEGATE, which the page names too, is ignored,
            // as the NT 5 source does, because real Negotiate clients pass it [I].
            return Err(Error::Unsupported("ISC_REQ_PROMPT_FOR_CREDS is not supported by NTLM"));
        }
        let capacity = output_capacity(out.output.as_ref(), allocate)?;
        let anonymous = config.user.is_empty() && matches!(config.secret, Secret::None);
        let target = config.target_name.clone().unwrap_or_default();
        let client_name = if config.domain.is_empty() || anonymous {
            config.user.to_string()
        } else {
            crate::world::qualified_name(&config.domain, &config.user)
        };
        let random = client::ClientRandom { client_challenge: self.random(), exported_session_key: self.random() };
        let (state, negotiate) = client::start(config, random).map_err(Error::Ntlm)?;
        // A Negotiate client on a machine outside a domain has no Kerberos and sends raw NTLM
        // (observed: docs/research/context-calls.md §1.2) [O]; a domain member wraps NTLM in
        // SPNEGO (MS-SPNG) [I].
        let raw = kind == Kind::Ntlm || !self.world.machine.joined;
        let (token, spnego) = match raw {
            true => (negotiate, None),
            false => {
                let init = NegTokenInit {
                    mech_types: vec![spnego::NTLMSSP],
                    mech_token: Some(negotiate),
                    ..Default::default()
                };
                let s = Spnego { mech_list: init.mech_list_der(), ..Default::default() };
                (SpnegoToken::initial(NegotiationToken::Init(init)).encode(), Some(s))
            }
        };
        fits(capacity, &token)?;
        let attributes = isc_ret(args.context_req, None, allocate, anonymous);
        let expiry = self.package_expiry(package);
        let ctx = SecurityContext {
            package,
            side: Side::Client,
            stage: Stage::ClientExpectChallenge(state),
            spnego,
            negotiate: kind == Kind::Negotiate,
            req: args.context_req.0,
            attributes: attributes.0,
            start: self.now(),
            expiry,
            client_name,
            server_name: target,
            logon: None,
            anonymous,
        };
        let handle = self.insert_context(ctx)?;
        write_token(out.output.as_ref(), token);
        if let Some(n) = &out.new_context {
            n.set(handle);
        }
        out.context_attr.set(attributes);
        if let Some(e) = &out.expiry {
            e.set(expiry);
        }
        Ok(Leg { status: SecStatus::SEC_I_CONTINUE_NEEDED })
    }

    /// The NTLM client configuration of a credential and an ISC call.
    fn client_config(&self, c: &Credential, args: &InitializeSecurityContext) -> Result<client::ClientConfig, Error> {
        if !c.credential_use.is_outbound() {
            return Err(Error::WrongCredentialUse("InitializeSecurityContext needs outbound credentials"));
        }
        let null_session = args.context_req.contains(IscReq::NULL_SESSION);
        let (user, domain, secret): (Arc<str>, Arc<str>, Secret) = if null_session {
            ("".into(), "".into(), Secret::None)
        } else {
            match &c.secret {
                CredSecret::Session(p) => {
                    let p = &self.world.principals[*p];
                    (p.user.as_str().into(), p.domain.as_str().into(), p.secret.clone())
                }
                CredSecret::Explicit { user, domain, password } => {
                    let secret = if password.is_empty() { Secret::None } else { Secret::Password(password.clone()) };
                    (user.clone(), domain.clone(), secret)
                }
                CredSecret::Key(k) => {
                    let hash: [u8; 16] = k.as_slice().try_into().map_err(|_| {
                        Error::WrongCredentialUse("an NTLM key from pGetKeyFn must be a 16-byte NT hash")
                    })?;
                    let (user, domain) = match c.user_name.split_once('\\') {
                        Some((d, u)) => (u.into(), d.into()),
                        None => (c.user_name.as_str().into(), "".into()),
                    };
                    (user, domain, Secret::NtHash(hash))
                }
                CredSecret::Server => {
                    return Err(Error::WrongCredentialUse("inbound-only credentials cannot initiate"));
                }
            }
        };
        Ok(client::ClientConfig {
            user,
            domain,
            secret,
            // The machine's NetBIOS name, shared.
            workstation: self.server_names.nb_computer.clone(),
            lm_compatibility_level: self.lm_level(),
            requested: client::Requested {
                integrity: args.context_req.contains(IscReq::INTEGRITY),
                confidentiality: args.context_req.contains(IscReq::CONFIDENTIALITY),
                replay_detect: args.context_req.contains(IscReq::REPLAY_DETECT),
                sequence_detect: args.context_req.contains(IscReq::SEQUENCE_DETECT),
                datagram: args.context_req.contains(IscReq::DATAGRAM),
                identify: args.context_req.contains(IscReq::IDENTIFY),
            },
            target_name: args.target_name.as_ref().and_then(|t| t.decode()).filter(|t| !t.is_empty()),
            channel_bindings: channel_bindings(args.input.as_ref())?,
            use_mic: true,
        })
    }

    fn initialize_next(
        &self,
        ctx: &mut SecurityContext,
        args: &InitializeSecurityContext,
        out: &IscOutputs,
        allocate: bool,
    ) -> Result<Leg, Error> {
        let input = input_token(args.input.as_ref())?;
        let bindings = channel_bindings(args.input.as_ref())?;
        let req = IscReq(ctx.req);
        if let Stage::ClientExpectChallenge(_) = ctx.stage {
            return self.client_authenticate(ctx, input, bindings, out, allocate, req);
        }
        match std::mem::replace(&mut ctx.stage, Stage::Failed) {
            Stage::Established(mut session) if ctx.spnego.as_ref().is_some_and(|s| !s.complete) => {
                // The acceptor's final NegTokenResp: accept-completed with its mechListMIC.
                let s = ctx.spnego.as_mut().ok_or_else(|| Error::ContextIncomplete)?;
                let resp = match spnego::decode(input).map_err(Error::Spnego)?.token {
                    NegotiationToken::Resp(r) => r,
                    _ => return Err(Error::InvalidToken("expected a NegTokenResp")),
                };
                match resp.neg_state {
                    Some(NegState::AcceptCompleted) => {}
                    Some(NegState::Reject) => return Err(Error::Rejected),
                    _ => return Err(Error::InvalidToken("the acceptor did not complete")),
                }
                match (resp.mech_list_mic, s.mic_sent) {
                    (Some(mic), _) => {
                        session
                            .security()
                            .verify_sequenced(&s.mech_list, &mic)
                            .map_err(|_| Error::MechListMicMismatch)?;
                        session.security().reset_inbound_cipher();
                        s.mic_received = true;
                    }
                    (None, true) => return Err(Error::InvalidToken("the acceptor sent no mechListMIC")),
                    (None, false) => {}
                }
                s.complete = true;
                ctx.stage = Stage::Established(session);
                write_token(out.output.as_ref(), Vec::new());
                out.context_attr.set(IscRet(ctx.attributes));
                if let Some(e) = &out.expiry {
                    e.set(ctx.expiry);
                }
                Ok(Leg { status: SecStatus::SEC_E_OK })
            }
            other => {
                let done = matches!(other, Stage::Established(_));
                ctx.stage = other;
                Err(if done { Error::ContextComplete } else { Error::ContextFailed })
            }
        }
    }

    /// The client's leg on the CHALLENGE: the AUTHENTICATE (in a NegTokenResp with the
    /// mechListMIC under SPNEGO). The NTLM state is read, not consumed: a too-small output
    /// buffer leaves the context exactly as it was; any other failure ends it.
    fn client_authenticate(
        &self,
        ctx: &mut SecurityContext,
        input: &[u8],
        bindings: Option<Vec<u8>>,
        out: &IscOutputs,
        allocate: bool,
        req: IscReq,
    ) -> Result<Leg, Error> {
        let capacity = output_capacity(out.output.as_ref(), allocate)?;
        let result = (|| {
            // The server's reply: a bare CHALLENGE, or a NegTokenResp carrying one.
            let mut spnego = ctx.spnego.clone();
            let challenge = match &mut spnego {
                None => std::borrow::Cow::Borrowed(input),
                Some(s) => std::borrow::Cow::Owned(
                    read_server_reply(s, input)?
                        .ok_or_else(|| Error::InvalidToken("the NegTokenResp carries no NTLM token"))?,
                ),
            };
            let Stage::ClientExpectChallenge(state) = &mut ctx.stage else {
                return Err(Error::ContextFailed);
            };
            state.set_channel_bindings(bindings);
            let (established, authenticate) = state.handle(&challenge, self.now()).map_err(Error::Ntlm)?;
            let mut session = established.into_session();
            let token = match &mut spnego {
                None => authenticate,
                Some(s) => {
                    let mic = (session.has_mic() || s.mic_required).then(|| {
                        let mic = session.security().sign(&s.mech_list).to_vec();
                        session.security().reset_outbound_cipher();
                        s.mic_sent = true;
                        mic
                    });
                    let resp =
                        NegTokenResp { response_token: Some(authenticate), mech_list_mic: mic, ..Default::default() };
                    SpnegoToken::bare(NegotiationToken::Resp(resp)).encode()
                }
            };
            Ok((session, spnego, token))
        })();
        let (session, spnego, token) = match result {
            Ok(r) => r,
            Err(e) => {
                ctx.stage = Stage::Failed;
                return Err(e);
            }
        };
        // Too small: nothing changes, the caller may retry with a larger buffer.
        fits(capacity, &token)?;
        ctx.spnego = spnego;
        ctx.attributes = isc_ret(req, Some(session.flags()), allocate, ctx.anonymous).0;
        ctx.stage = Stage::Established(Box::new(session));
        write_token(out.output.as_ref(), token);
        out.context_attr.set(IscRet(ctx.attributes));
        if let Some(e) = &out.expiry {
            e.set(ctx.expiry);
        }
        // Raw NTLM is done once the AUTHENTICATE is built; SPNEGO waits for the acceptor's
        // accept-completed (and its mechListMIC).
        let status = if ctx.spnego.is_some() { SecStatus::SEC_I_CONTINUE_NEEDED } else { SecStatus::SEC_E_OK };
        Ok(Leg { status })
    }

    /// `AcceptSecurityContext`: one server leg.
    pub(crate) fn accept(&self, args: &AcceptSecurityContext, out: &AscOutputs) -> Result<Leg, Error> {
        if !self.lsa_available.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::LsaUnavailable);
        }
        let allocate = args.context_req.contains(AscReq::ALLOCATE_MEMORY);
        match args.context {
            None => self.accept_first(args, out, allocate),
            Some(handle) => self.next_leg(handle, Side::Server, out.new_context.as_ref(), |ctx| {
                self.accept_next(ctx, args, out, allocate)
            }),
        }
    }

    fn server_config(&self, args: &AcceptSecurityContext) -> Result<server::ServerConfig, Error> {
        let n = &self.server_names;
        Ok(server::ServerConfig {
            nb_computer: n.nb_computer.clone(),
            nb_domain: n.nb_domain.clone(),
            dns_computer: n.dns_computer.clone(),
            dns_domain: n.dns_domain.clone(),
            dns_tree: n.dns_domain.clone(),
            lm_compatibility_level: self.lm_level(),
            require_channel_bindings: self.world.machine.require_channel_bindings,
            expected_channel_bindings: channel_bindings(args.input.as_ref())?,
            allow_anonymous: args.context_req.contains(AscReq::ALLOW_NULL_SESSION),
        })
    }

    fn accept_first(&self, args: &AcceptSecurityContext, out: &AscOutputs, allocate: bool) -> Result<Leg, Error> {
        let credential = args.credential.ok_or_else(|| Error::InvalidHandle("credential (phCredential is NULL)"))?;
        let id = self.cred_id(credential)?;
        let inbound =
            self.creds.with(id, |c| c.credential_use.is_inbound()).ok_or_else(|| Error::InvalidHandle("credential"))?;
        if !inbound {
            return Err(Error::WrongCredentialUse("AcceptSecurityContext needs inbound credentials"));
        }
        let package = credential.0.dw_upper;
        let kind = self.package_kind(package)?;
        let input = input_token(args.input.as_ref())?;
        let capacity = output_capacity(out.output.as_ref(), allocate)?;
        let config = self.server_config(args)?;
        let raw_ntlm = input.starts_with(b"NTLMSSP\0");
        let mut ctx = SecurityContext {
            package,
            side: Side::Server,
            stage: Stage::ServerExpectNegotiate(server::start(config)),
            spnego: None,
            negotiate: kind == Kind::Negotiate,
            req: args.context_req.0,
            attributes: 0,
            start: self.now(),
            expiry: self.package_expiry(package),
            client_name: String::new(),
            server_name: self.world.machine.name.clone(),
            logon: None,
            anonymous: false,
        };
        let token = if kind == Kind::Ntlm || raw_ntlm {
            self.server_negotiate(&mut ctx, input)?
        } else {
            let init = match spnego::decode(input).map_err(Error::Spnego)?.token {
                NegotiationToken::Init(i) => i,
                _ => return Err(Error::InvalidToken("the first Negotiate token is not a NegTokenInit")),
            };
            if !init.mech_types.contains(&spnego::NTLMSSP) {
                return Err(Error::NoCommonMechanism);
            }
            let mut s = Spnego { mech_list: init.mech_list_der(), ..Default::default() };
            let optimistic = init.mech_types.first() == Some(&spnego::NTLMSSP);
            let (state, response_token) = match (optimistic, &init.mech_token) {
                (true, Some(t)) => (NegState::AcceptIncomplete, Some(self.server_negotiate(&mut ctx, t)?)),
                // NTLM is acceptable but not the initiator's first choice (or no optimistic
                // token): ask for NTLM's first token and a mechListMIC (RFC 4178 §5).
                _ => {
                    s.mic_required = true;
                    (NegState::RequestMic, None)
                }
            };
            ctx.spnego = Some(s);
            let resp = NegTokenResp {
                neg_state: Some(state),
                supported_mech: Some(spnego::NTLMSSP),
                response_token,
                mech_list_mic: None,
            };
            SpnegoToken::bare(NegotiationToken::Resp(resp)).encode()
        };
        fits(capacity, &token)?;
        let negotiated = match &ctx.stage {
            Stage::ServerExpectAuthenticate(s) => s.offered_flags(),
            _ => F::default(),
        };
        let attributes = asc_ret(args.context_req, negotiated, true, allocate, false);
        ctx.attributes = attributes.0;
        let expiry = ctx.expiry;
        let handle = self.insert_context(ctx)?;
        write_token(out.output.as_ref(), token);
        if let Some(n) = &out.new_context {
            n.set(handle);
        }
        out.context_attr.set(attributes);
        if let Some(e) = &out.expiry {
            e.set(expiry);
        }
        Ok(Leg { status: SecStatus::SEC_I_CONTINUE_NEEDED })
    }

    /// Runs NTLM's NEGOTIATE → CHALLENGE on a context waiting for it.
    fn server_negotiate(&self, ctx: &mut SecurityContext, negotiate: &[u8]) -> Result<Vec<u8>, Error> {
        let Stage::ServerExpectNegotiate(state) = std::mem::replace(&mut ctx.stage, Stage::Failed) else {
            return Err(Error::ContextFailed);
        };
        let challenge: [u8; 8] = self.random();
        let (next, token) = state.handle(negotiate, challenge, self.now()).map_err(Error::Ntlm)?;
        ctx.stage = Stage::ServerExpectAuthenticate(next);
        Ok(token)
    }

    fn accept_next(
        &self,
        ctx: &mut SecurityContext,
        args: &AcceptSecurityContext,
        out: &AscOutputs,
        allocate: bool,
    ) -> Result<Leg, Error> {
        let input = input_token(args.input.as_ref())?;
        let bindings = channel_bindings(args.input.as_ref())?;
        let capacity = output_capacity(out.output.as_ref(), allocate)?;
        let req = AscReq(ctx.req);
        // Only the NEGOTIATE leg consumes its state; the AUTHENTICATE leg restores its own.
        let (backup, spnego_backup) = match &ctx.stage {
            Stage::ServerExpectNegotiate(_) => (ctx.stage.backup(), ctx.spnego.clone()),
            _ => (None, None),
        };
        let result = self.accept_step(ctx, input, bindings, capacity);
        match result {
            Ok((status, token)) => {
                let negotiated = match &ctx.stage {
                    Stage::ServerExpectAuthenticate(s) => s.offered_flags(),
                    Stage::Established(s) => s.flags(),
                    _ => F::default(),
                };
                let first = !matches!(ctx.stage, Stage::Established(_));
                ctx.attributes = asc_ret(req, negotiated, first, allocate, ctx.anonymous).0;
                write_token(out.output.as_ref(), token);
                out.context_attr.set(AscRet(ctx.attributes));
                if let Some(e) = &out.expiry {
                    e.set(ctx.expiry);
                }
                Ok(Leg { status })
            }
            Err(e @ Error::BufferTooSmall { .. }) => {
                if let Some(b) = backup {
                    ctx.stage = b;
                    ctx.spnego = spnego_backup;
                    if let Some(luid) = ctx.logon.take() {
                        self.network_sessions.lock().remove(&luid);
                    }
                }
                Err(e)
            }
            Err(e @ Error::Logon(_)) => {
                // The failed final leg reports ASC_RET_THIRD_LEG_FAILED (msv1_0, NT 5 source) [I].
                out.context_attr.set(AscRet(ctx.attributes) | AscRet::THIRD_LEG_FAILED);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// The server's leg after the first: the NTLM token inside, the SPNEGO reply around it.
    fn accept_step(
        &self,
        ctx: &mut SecurityContext,
        input: &[u8],
        bindings: Option<Vec<u8>>,
        capacity: Option<usize>,
    ) -> Result<(SecStatus, Vec<u8>), Error> {
        let (mech_token, client_mic) = match &ctx.spnego {
            None => (Some(input.to_vec()), None),
            Some(_) => match spnego::decode(input).map_err(Error::Spnego)?.token {
                NegotiationToken::Resp(r) => {
                    if r.neg_state == Some(NegState::Reject) {
                        ctx.stage = Stage::Failed;
                        return Err(Error::Rejected);
                    }
                    (r.response_token, r.mech_list_mic)
                }
                _ => return Err(Error::InvalidToken("expected a NegTokenResp")),
            },
        };
        let no_token = || Error::InvalidToken("the NegTokenResp carries no NTLM token");
        if mech_token.is_none() && !matches!(ctx.stage, Stage::Established(_)) {
            return Err(no_token());
        }
        let mech_token = mech_token.unwrap_or_default();
        match std::mem::replace(&mut ctx.stage, Stage::Failed) {
            Stage::ServerExpectNegotiate(state) => {
                ctx.stage = Stage::ServerExpectNegotiate(state);
                let challenge = self.server_negotiate(ctx, &mech_token)?;
                let resp = NegTokenResp {
                    neg_state: Some(NegState::AcceptIncomplete),
                    response_token: Some(challenge),
                    ..Default::default()
                };
                let token = SpnegoToken::bare(NegotiationToken::Resp(resp)).encode();
                fits(capacity, &token)?;
                Ok((SecStatus::SEC_I_CONTINUE_NEEDED, token))
            }
            Stage::ServerExpectAuthenticate(mut state) => {
                // The state is only read: a too-small buffer puts it back untouched.
                let spnego_before = ctx.spnego.clone();
                state.set_expected_channel_bindings(bindings);
                let accounts: &[crate::world::Principal] = &self.world.principals;
                let established = state.handle(&mech_token, &accounts).map_err(Error::Logon)?;
                // The session names the account as stored (empty for an anonymous logon).
                let mut session = Box::new(established.into_session());
                ctx.anonymous = session.user().is_empty();
                ctx.client_name = if ctx.anonymous {
                    "NT AUTHORITY\\ANONYMOUS LOGON".to_string()
                } else {
                    crate::world::qualified_name(session.domain(), session.user())
                };
                let mut status = SecStatus::SEC_E_OK;
                let token = match &mut ctx.spnego {
                    None => Vec::new(),
                    Some(s) => {
                        if let Some(mic) = client_mic {
                            session
                                .security()
                                .verify_sequenced(&s.mech_list, &mic)
                                .map_err(|_| Error::MechListMicMismatch)?;
                            session.security().reset_inbound_cipher();
                            s.mic_received = true;
                        }
                        // An NTLM MIC makes the mechListMIC mandatory: without the client's,
                        // the acceptor sends its own and waits (accept-incomplete), as a Windows
                        // Server 2025 DC was seen to do (research §1.2) [O].
                        let needs_client_mic = (session.has_mic() || s.mic_required) && !s.mic_received;
                        let our_mic = (s.mic_received || s.mic_required || session.has_mic()).then(|| {
                            let mic = session.security().sign(&s.mech_list).to_vec();
                            session.security().reset_outbound_cipher();
                            s.mic_sent = true;
                            mic
                        });
                        let neg_state = if needs_client_mic {
                            status = SecStatus::SEC_I_CONTINUE_NEEDED;
                            NegState::AcceptIncomplete
                        } else {
                            s.complete = true;
                            NegState::AcceptCompleted
                        };
                        let resp =
                            NegTokenResp { neg_state: Some(neg_state), mech_list_mic: our_mic, ..Default::default() };
                        SpnegoToken::bare(NegotiationToken::Resp(resp)).encode()
                    }
                };
                if let Err(e) = fits(capacity, &token) {
                    ctx.stage = Stage::ServerExpectAuthenticate(state);
                    ctx.spnego = spnego_before;
                    return Err(e);
                }
                let principal = self.world.principal_index(&ctx.client_name);
                let luid = self.new_network_session(principal);
                ctx.logon = Some(luid);
                ctx.stage = Stage::Established(session);
                Ok((status, token))
            }
            Stage::Established(mut session) if ctx.spnego.as_ref().is_some_and(|s| !s.complete) => {
                // The client's mechListMIC, after the acceptor asked for it. The reply does not
                // depend on the MIC, so a too-small buffer is found before anything changes.
                let resp = NegTokenResp { neg_state: Some(NegState::AcceptCompleted), ..Default::default() };
                let token = SpnegoToken::bare(NegotiationToken::Resp(resp)).encode();
                if let Err(e) = fits(capacity, &token) {
                    ctx.stage = Stage::Established(session);
                    return Err(e);
                }
                let s = ctx.spnego.as_mut().ok_or_else(|| Error::ContextFailed)?;
                let mic = client_mic.ok_or_else(|| Error::InvalidToken("the initiator sent no mechListMIC"))?;
                session.security().verify_sequenced(&s.mech_list, &mic).map_err(|_| Error::MechListMicMismatch)?;
                session.security().reset_inbound_cipher();
                s.mic_received = true;
                s.complete = true;
                ctx.stage = Stage::Established(session);
                Ok((SecStatus::SEC_E_OK, token))
            }
            other => {
                let done = matches!(other, Stage::Established(_));
                ctx.stage = other;
                Err(if done { Error::ContextComplete } else { Error::ContextFailed })
            }
        }
    }

    /// A network logon session for a client authenticated by a server context: it holds no
    /// credentials (an NTLM network logon cannot authenticate onward) \[D, "double hop"\].
    fn new_network_session(&self, principal: Option<usize>) -> Luid {
        let low = self.next_luid.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let luid = Luid { low_part: low, high_part: 0 };
        let session = LogonSession {
            luid,
            principal: principal.unwrap_or(usize::MAX),
            logon_type: LogonType::Network,
            privileges: Vec::new(),
            has_credentials: false,
        };
        self.network_sessions.lock().insert(luid, session);
        luid
    }

    /// The logon session `luid`: one of the world's, or a network logon created by a server
    /// context.
    pub(crate) fn session(&self, luid: Luid) -> Option<Cow<'_, LogonSession>> {
        match self.world.session(luid) {
            Some(s) => Some(Cow::Borrowed(s)),
            None => self.network_sessions.lock().get(&luid).cloned().map(Cow::Owned),
        }
    }

    /// `DeleteSecurityContext`.
    pub(crate) fn delete_context(&self, handle: CtxtHandle) -> Result<(), Error> {
        let id = handle.0.dw_lower as u64;
        match self.security.with(id, |c| c.lock().package == handle.0.dw_upper) {
            Some(true) => {
                if let Some(ctx) = self.security.remove(id) {
                    let logon = ctx.lock().logon;
                    // A thread still impersonating the client keeps its logon session, as a
                    // token outlives the context it came from; RevertToSelf releases it.
                    if let Some(luid) = logon
                        && !self.impersonation.lock().values().any(|l| *l == luid)
                    {
                        self.network_sessions.lock().remove(&luid);
                    }
                }
                Ok(())
            }
            // [D] "If the function succeeds or the handle has already been deleted, the return
            // value is SEC_E_OK": a handle this simulator issued and deleted.
            _ if self.security.was_issued(id) => Ok(()),
            _ => Err(Error::InvalidHandle("context")),
        }
    }

    /// Whether a live context created the network logon session `luid`.
    pub(crate) fn logon_in_use(&self, luid: Luid) -> bool {
        let mut used = false;
        self.security.for_each(|c| used |= c.lock().logon == Some(luid));
        used
    }

    /// `CompleteAuthToken`: NTLM and Negotiate never ask for it (they never return
    /// `SEC_I_COMPLETE_NEEDED` \[O\]); on a valid context it is `SEC_E_UNSUPPORTED_FUNCTION`
    /// (Digest only, D4; msv1_0 NT 5 source) \[I\].
    pub(crate) fn complete_auth_token(&self, handle: CtxtHandle, _token: &SecBufferDesc) -> Result<(), Error> {
        let _ = self.context(handle)?;
        Err(Error::Unsupported("CompleteAuthToken: NTLM and Negotiate never ask for it"))
    }

    /// `QueryContextAttributes`.
    pub(crate) fn query_context(
        &self,
        handle: CtxtHandle,
        attribute: ContextAttribute,
    ) -> Result<ContextAttributeValue, Error> {
        let shared = self.context(handle)?;
        let mut ctx = shared.lock();
        let own = self
            .world
            .packages
            .get(ctx.package)
            .map(|p| p.info.clone())
            .ok_or_else(|| Error::InvalidHandle("context"))?;
        let ntlm = self.world.package("NTLM").map(|(_, p)| p.info.clone()).unwrap_or_else(|| own.clone());
        if !ctx.complete() {
            // An incomplete NTLM context has no user-mode part yet: every attribute is
            // SEC_E_INVALID_HANDLE [I]. Negotiate answers its own package and the progress [I].
            return match attribute {
                ContextAttribute::PackageInfo if ctx.negotiate => Ok(ContextAttributeValue::PackageInfo(own)),
                ContextAttribute::NegotiationInfo if ctx.negotiate => {
                    Ok(ContextAttributeValue::NegotiationInfo { package: ntlm, state: NegotiationState::InProgress })
                }
                _ => Err(Error::ContextIncomplete),
            };
        }
        let side = ctx.side;
        let session = ctx.session()?;
        let negotiated = session.flags();
        let key = session.exported_session_key().to_vec();
        Ok(match attribute {
            // A completed Negotiate context reports NTLM's values [O].
            ContextAttribute::Sizes => ContextAttributeValue::Sizes(sizes(ntlm.max_token, negotiated)),
            ContextAttribute::PackageInfo => ContextAttributeValue::PackageInfo(ntlm),
            // NTLM answers too: COMPLETE and its own package (Wine's testAuth on Windows, W1) [O].
            ContextAttribute::NegotiationInfo => {
                ContextAttributeValue::NegotiationInfo { package: ntlm, state: NegotiationState::Complete }
            }
            ContextAttribute::Flags => ContextAttributeValue::Flags(flags_attribute(side, negotiated)),
            ContextAttribute::Names => ContextAttributeValue::Names(ctx.client_name.clone()),
            ContextAttribute::NativeNames => {
                ContextAttributeValue::NativeNames { client: ctx.client_name.clone(), server: ctx.server_name.clone() }
            }
            ContextAttribute::SessionKey => ContextAttributeValue::SessionKey(key),
            ContextAttribute::KeyInfo => key_info(negotiated),
            ContextAttribute::Lifespan => ContextAttributeValue::Lifespan { start: ctx.start, expiry: ctx.expiry },
            _ => return Err(Error::UnsupportedAttribute),
        })
    }

    /// The logon session a server context created, for `ImpersonateSecurityContext`.
    pub(crate) fn context_logon(&self, handle: CtxtHandle) -> Result<Luid, Error> {
        let shared = self.context(handle)?;
        let ctx = shared.lock();
        // A client context holds no token: the NT 5 source finds none and answers
        // STATUS_INVALID_HANDLE [I]; so does an incomplete server context.
        if ctx.side != Side::Server || !ctx.complete() {
            return Err(Error::InvalidHandle("context (no client token to impersonate)"));
        }
        ctx.logon.ok_or_else(|| Error::NoImpersonation)
    }

    /// `MakeSignature` (`seal` false) and `EncryptMessage` (`seal` true).
    pub(crate) fn protect(
        &self,
        handle: CtxtHandle,
        qop: u32,
        message: &mut SecBufferDesc,
        seal: bool,
    ) -> Result<(), Error> {
        let shared = self.context(handle)?;
        let mut ctx = shared.lock();
        let session = ctx.session()?;
        let n = session.flags();
        let signs = n.contains(F::NTLMSSP_NEGOTIATE_SIGN) || n.contains(F::NTLMSSP_NEGOTIATE_SEAL);
        // fQOP is not read by NTLM: SECQOP_WRAP_NO_ENCRYPT is ignored when SEAL was negotiated
        // [O]; without SEAL it asks for a signed, unencrypted wrap [I].
        let encrypt = seal && n.contains(F::NTLMSSP_NEGOTIATE_SEAL);
        if seal && !encrypt && !(qop == SECQOP_WRAP_NO_ENCRYPT && signs) {
            // Current Windows refuses EncryptMessage without confidentiality [O].
            return Err(Error::Unsupported("EncryptMessage without confidentiality negotiated"));
        }
        let token_index =
            find_index(message, SecBufferType::TOKEN).ok_or_else(|| Error::InvalidToken("no SECBUFFER_TOKEN"))?;
        if message.buffers[token_index].data.len() < NTLM_SIGNATURE_LEN {
            // A signature buffer shorter than 16 bytes is SEC_E_INVALID_TOKEN (NT 5 source) [I].
            return Err(Error::InvalidToken("the SECBUFFER_TOKEN is shorter than a signature"));
        }
        let signature = if signs {
            let ess = session.security().has_plain_sequence_numbers();
            let mut parts = data_parts(message, encrypt, ess);
            session.security().seal_parts(&mut parts)
        } else {
            // ALWAYS_SIGN only: a fixed dummy signature (Wine's tests on Windows) [O].
            DUMMY_SIGNATURE
        };
        if seal
            && let Some(padding) = message.buffers.iter_mut().find(|b| b.buffer_type.base() == SecBufferType::PADDING)
        {
            // RC4 needs no padding (NT 5 SpSealMessage) [I].
            padding.data.clear();
        }
        let token = &mut message.buffers[token_index].data;
        token.truncate(NTLM_SIGNATURE_LEN);
        token.copy_from_slice(&signature);
        Ok(())
    }

    /// `VerifySignature` (`seal` false) and `DecryptMessage` (`seal` true). NTLM never writes
    /// `pfQOP` \[O\], so the answer is always `None`.
    pub(crate) fn unprotect(
        &self,
        handle: CtxtHandle,
        message: &mut SecBufferDesc,
        seal: bool,
    ) -> Result<Option<u32>, Error> {
        let shared = self.context(handle)?;
        let mut ctx = shared.lock();
        let session = ctx.session()?;
        let n = session.flags();
        let signs = n.contains(F::NTLMSSP_NEGOTIATE_SIGN) || n.contains(F::NTLMSSP_NEGOTIATE_SEAL);
        let decrypt = seal && n.contains(F::NTLMSSP_NEGOTIATE_SEAL);
        if seal && let Some(stream) = find_index(message, SecBufferType::STREAM) {
            // SECBUFFER_STREAM + an empty SECBUFFER_DATA: the signature is the stream's first 16
            // bytes and DATA receives the rest (NT 5 SpUnsealMessage; pyspnego on Windows) [O].
            if find_index(message, SecBufferType::TOKEN).is_some() {
                return Err(Error::InvalidToken("SECBUFFER_STREAM and SECBUFFER_TOKEN together"));
            }
            let bytes = message.buffers[stream].data.clone();
            if bytes.len() < NTLM_SIGNATURE_LEN {
                return Err(Error::InvalidToken("the SECBUFFER_STREAM is shorter than a signature"));
            }
            let data =
                find_index(message, SecBufferType::DATA).ok_or_else(|| Error::InvalidToken("no SECBUFFER_DATA"))?;
            message.buffers[data].data = bytes[NTLM_SIGNATURE_LEN..].to_vec();
            let mut part = [MessagePart { data: &mut message.buffers[data].data, encrypt: decrypt, signed: true }];
            return verify(session, &mut part, &bytes[..NTLM_SIGNATURE_LEN], signs).map(|()| None);
        }
        let token_index =
            find_index(message, SecBufferType::TOKEN).ok_or_else(|| Error::InvalidToken("no SECBUFFER_TOKEN"))?;
        let signature = message.buffers[token_index].data.clone();
        if signature.len() < NTLM_SIGNATURE_LEN {
            return Err(Error::InvalidToken("the SECBUFFER_TOKEN is shorter than a signature"));
        }
        let ess = session.security().has_plain_sequence_numbers();
        let mut parts = data_parts(message, decrypt, ess);
        verify(session, &mut parts, &signature[..NTLM_SIGNATURE_LEN], signs).map(|()| None)
    }
}

/// The signature NTLM gives when neither SIGN nor SEAL was negotiated: `Version` 1, then zeros.
const DUMMY_SIGNATURE: [u8; 16] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// Checks a signature in the order of the NTLM package: `Version` (`SEC_E_INVALID_TOKEN`),
/// checksum (`SEC_E_MESSAGE_ALTERED`, also for a replayed or reordered message), then the
/// sequence number (`SEC_E_OUT_OF_SEQUENCE`) (NT 5 `SpVerifySignature`) \[I\].
fn verify(session: &mut Session, parts: &mut [MessagePart<'_>], signature: &[u8], signs: bool) -> Result<(), Error> {
    if !signs {
        return if signature == DUMMY_SIGNATURE { Ok(()) } else { Err(Error::MessageAltered) };
    }
    session.security().unseal_parts(parts, signature).map_err(|e| match e {
        ntlm::Error::OutOfSequence { .. } => Error::OutOfSequence,
        ntlm::Error::BadMessageSignature => Error::InvalidToken("malformed NTLMSSP_MESSAGE_SIGNATURE"),
        _ => Error::MessageAltered,
    })
}

fn find_index(message: &SecBufferDesc, t: SecBufferType) -> Option<usize> {
    message.buffers.iter().position(|b| b.buffer_type.base() == t)
}

/// The `SECBUFFER_DATA` buffers of a message: read-only buffers (`SECBUFFER_READONLY`,
/// `SECBUFFER_READONLY_WITH_CHECKSUM`) are never encrypted; with extended session security every
/// DATA buffer is signed, without it only the writable ones (NT 5 `SspSignSealHelper`,
/// MS-NLMP §3.4.6) \[I\].
fn data_parts(message: &mut SecBufferDesc, encrypt: bool, ess: bool) -> Vec<MessagePart<'_>> {
    message
        .buffers
        .iter_mut()
        .filter(|b| b.buffer_type.base() == SecBufferType::DATA)
        .map(|b| {
            let readonly = b.buffer_type.is_readonly();
            MessagePart { data: b.data.as_mut_slice(), encrypt: encrypt && !readonly, signed: ess || !readonly }
        })
        .collect()
}

/// Reads the acceptor's first NegTokenResp: checks the chosen mechanism and returns NTLM's
/// token (the CHALLENGE).
fn read_server_reply(s: &mut Spnego, input: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let resp = match spnego::decode(input).map_err(Error::Spnego)?.token {
        NegotiationToken::Resp(r) => r,
        _ => return Err(Error::InvalidToken("expected a NegTokenResp")),
    };
    if let Some(mech) = &resp.supported_mech
        && *mech != spnego::NTLMSSP
    {
        return Err(Error::NoCommonMechanism);
    }
    match resp.neg_state {
        Some(NegState::Reject) => return Err(Error::Rejected),
        Some(NegState::RequestMic) => s.mic_required = true,
        _ => {}
    }
    Ok(resp.response_token)
}

/// For the journal: a token's length and CRC-32, never its bytes.
pub(crate) fn describe_buffers(desc: Option<&SecBufferDesc>) -> String {
    match desc {
        None => "NULL".into(),
        Some(d) => {
            let parts: Vec<String> = d
                .buffers
                .iter()
                .map(|b| format!("{:?} {} B crc32 {:08x}", b.buffer_type, b.data.len(), crc32fast::hash(&b.data)))
                .collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

impl Core {
    /// The package a handle names (`dwUpper`), for fault rules and the journal.
    pub(crate) fn handle_package(&self, handle: SecHandle) -> Option<String> {
        self.world.packages.get(handle.dw_upper).map(|p| p.info.name.clone())
    }

    /// The package a handle belongs to as the engine sees it (the journal): the executor's
    /// answer when the engine runs one, else the world's.
    pub(crate) fn engine_package(&self, handle: SecHandle) -> Option<String> {
        match &self.executor {
            Some(e) => e.package(handle),
            None => self.handle_package(handle),
        }
    }

    /// The package of the handle an async ISC, ASC or delete names (the context, else the
    /// credential), for fault rules.
    pub(crate) fn queued_package(&self, handle: Option<SecHandle>) -> Option<String> {
        handle.and_then(|h| self.engine_package(h))
    }

    /// The package of the credential an async free names, for fault rules: the executor's
    /// answer, else the live credential's (none for a stale handle).
    pub(crate) fn queued_credential_package(&self, credential: CredHandle) -> Option<String> {
        match &self.executor {
            Some(e) => e.package(credential.0),
            None => self.credential_package(credential),
        }
    }

    pub(crate) fn isc_package(&self, args: &InitializeSecurityContext) -> Option<String> {
        args.context.map(|c| c.0).or(args.credential.map(|c| c.0)).and_then(|h| self.handle_package(h))
    }

    pub(crate) fn asc_package(&self, args: &AcceptSecurityContext) -> Option<String> {
        args.context.map(|c| c.0).or(args.credential.map(|c| c.0)).and_then(|h| self.handle_package(h))
    }

    /// The queue-time checks of `SspiInitializeSecurityContextAsync` and
    /// `SspiAcceptSecurityContextAsync`, after the async-context checks (spec §4.8 steps 2-4,
    /// §4.9 steps 3-5) \[I, DECOMP\]. Whether `phContext` is live is the executor's answer when
    /// the engine runs one.
    pub(crate) fn context_call_invalid(
        &self,
        credential: Option<CredHandle>,
        context: Option<CtxtHandle>,
        has_new_context: bool,
        output: Option<&Out<SecBufferDesc>>,
    ) -> Option<(SecStatus, &'static str)> {
        if (context.is_none() && credential.is_none()) || !has_new_context {
            return Some((
                SecStatus::SEC_E_INVALID_HANDLE,
                "phContext and phCredential are NULL, or phNewContext is NULL",
            ));
        }
        let live = |c| match &self.executor {
            Some(e) => e.is_context(c),
            None => self.context(c).is_ok(),
        };
        if let Some(c) = context
            && !live(c)
        {
            return Some((SecStatus::SEC_E_INVALID_HANDLE, "phContext is not a context handle"));
        }
        match output {
            // ksecdd dereferences pOutput (a NULL would crash it); refused here [I].
            None => Some((SecStatus::SEC_E_INVALID_PARAMETER, "pOutput is NULL")),
            Some(o) if o.with(|d| d.buffers.len()) > MAX_OUTPUT_BUFFERS => {
                Some((SecStatus::SEC_E_INVALID_PARAMETER, "pOutput->cBuffers is more than 18"))
            }
            Some(_) => None,
        }
    }

    /// Whether `DeleteSecurityContext` of `handle` would fail (a handle never issued): the
    /// executor's answer when the engine runs one.
    pub(crate) fn delete_would_fail(&self, handle: CtxtHandle) -> bool {
        if let Some(e) = &self.executor {
            return e.delete_would_fail(handle);
        }
        let id = handle.0.dw_lower as u64;
        self.security.with(id, |_| ()).is_none() && !self.security.was_issued(id)
    }
}

/// `pOutput->cBuffers` above this is refused at queue time by ksecdd (spec §4.8 step 4) \[I\].
const MAX_OUTPUT_BUFFERS: usize = 18;
