//! `sspi-emu-sspi-peer`: one side of an NTLM or Negotiate handshake through the simulator's SSPI
//! calls (`AcquireCredentialsHandle`, `InitializeSecurityContext` / `AcceptSecurityContext`,
//! `QueryContextAttributes`, `EncryptMessage` / `DecryptMessage`, `MakeSignature` /
//! `VerifySignature` of the [`Backend`] trait) behind a line protocol on stdin/stdout, so that
//! another implementation (the interop tests drive pyspnego with `tests/interop/pyspnego_sspi.py`)
//! can talk to it. `ntlm_peer.rs` does the same one layer down, on the sans-IO NTLM.
//!
//! # Protocol
//!
//! One JSON object per line in, exactly one JSON object per line out. Byte strings are
//! lower-case hex. Every answer has `"ok": true|false`. A failed SSPI call answers `"ok": false`
//! with `"function"` (the SSPI function), `"status"` (the `SECURITY_STATUS` name),
//! `"status_code"` (hex) and `"error"` (why, in the simulator's words: the journal's detail of
//! the call); a failed leg adds `"attributes"` (what `*pfContextAttr` holds after it). A request
//! the peer cannot run (bad JSON, a missing field, no context yet) answers `"ok": false` with
//! `"error"` only. The peer keeps going after a failure: the next call goes to the same context,
//! as a real caller's would, and the simulator decides what it answers.
//!
//! | request | answer |
//! |---|---|
//! | `{"op":"client","package":K,"user":U,"domain":D,"password":P}` | the first ISC leg (below) |
//! | `{"op":"server","package":K,"user":U,"domain":D,"password":P}` | `{"ok":true}` |
//! | `{"op":"token","token":T}` | the next leg, `T` as the input `SECBUFFER_TOKEN` |
//! | `{"op":"wrap","data":M}` | `{"ok":true,"token":S‖C}` (`EncryptMessage`) |
//! | `{"op":"unwrap","token":S‖C}` | `{"ok":true,"data":M,"qop":null}` (`DecryptMessage`) |
//! | `{"op":"sign","data":M}` | `{"ok":true,"signature":S}` (`MakeSignature`) |
//! | `{"op":"verify","data":M,"signature":S}` | `{"ok":true,"qop":null}` (`VerifySignature`) |
//!
//! `K` is `NTLM` or `Negotiate`. `client` and `server` set the role, once; both also take
//! `"joined": false` (default true) for a machine outside a domain, whose Negotiate client sends
//! raw NTLM. The next leg is `InitializeSecurityContext` on the client and
//! `AcceptSecurityContext` on the server (its first call on the first token). `wrap` passes
//! `[TOKEN, DATA]` and answers the 16-byte signature then the ciphertext, the wire format of
//! pyspnego's NTLM `wrap`; `unwrap` passes `[TOKEN = S, DATA = C]`, or with `"stream": true`
//! `[STREAM = S‖C, DATA = empty]`; `sign` and `verify` pass `[DATA, TOKEN]`. `qop` is what
//! `pfQOP` received (`null`: not written, as NTLM never does).
//!
//! A leg answers `"status"`, `"status_code"`, `"token"` (hex, or `null` when the call wrote
//! none), `"attributes"` (`*pfContextAttr`, hex) and `"attribute_names"` (`ISC_RET_*` /
//! `ASC_RET_*`), and `"complete"` (the status is `SEC_E_OK`). A complete leg adds what
//! `QueryContextAttributes` says: `"names"` (`SECPKG_ATTR_NAMES`), `"native_names"`
//! (`{"client","server"}`), `"session_key"` (`SECPKG_ATTR_SESSION_KEY`), `"package"`
//! (`SECPKG_ATTR_PACKAGE_INFO` name), `"negotiation"` (`{"package","state"}` of
//! `SECPKG_ATTR_NEGOTIATION_INFO`, when the package answers it), `"flags"` (`SECPKG_ATTR_FLAGS`, hex) and
//! `"sizes"` (`[cbMaxToken, cbMaxSignature, cbBlockSize, cbSecurityTrailer]`).
//!
//! # The world
//!
//! Each role runs a fresh [`Simulator`] over a world built in memory: domain `SSPIEMU` (DNS
//! `SSPIEMU.TEST`), joined, `LmCompatibilityLevel` 3, the Negotiate and NTLM packages as
//! `fixtures/worlds/tiny.toml` has them, the account `DOMAIN\USER` with password `P`, and the
//! machine's account.
//! The client's machine is `SSPIEMU-CLI` and the caller is the account's interactive logon; the
//! server's machine is `SSPIEMU-SRV` and the caller is SYSTEM (the machine account). The client
//! acquires outbound credentials with an explicit `SEC_WINNT_AUTH_IDENTITY_W` (user, domain,
//! password) and targets `host/sspiemu-srv`; the server acquires inbound credentials of its own
//! logon. Both ask for confidentiality, integrity, replay and sequence detection and a
//! connection, and pass output buffers of the package's `cbMaxToken`. The world's seed is fixed,
//! so the simulator's challenges and keys are the same on every run; pyspnego draws its own.

use std::io::{self, BufRead, Write};

use serde_json::{Map, Value, json};
use sspi_emu::sim::{Simulator, World};
use sspi_emu::{
    AcceptSecurityContext, AcquireCredentials, AscOutputs, AscReq, AuthIdentity, Backend, ContextAttribute,
    ContextAttributeValue, CredHandle, CredentialUse, CtxtHandle, InitializeSecurityContext, IscOutputs, IscReq,
    NegotiationState, SecBuffer, SecBufferDesc, SecBufferType, SecStatus, SecString,
};

/// The SPN the client targets.
const TARGET: &str = "host/sspiemu-srv";
/// The size of an NTLM signature (`NTLMSSP_MESSAGE_SIGNATURE`, MS-NLMP §2.2.2.9).
const SIGNATURE_LEN: usize = 16;

/// Which side the peer plays.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// The peer after `client` or `server`.
struct Peer {
    sim: Simulator,
    side: Side,
    credential: CredHandle,
    /// The context handle, once the first leg has returned one.
    context: Option<CtxtHandle>,
    /// `cbMaxToken` of the package: the capacity of every output token buffer.
    max_token: usize,
}

fn main() -> io::Result<()> {
    let stdin = io::stdin();
    let mut stdout = io::stdout().lock();
    let mut peer: Option<Peer> = None;
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(request)) => handle(&mut peer, &request).unwrap_or_else(Failure::into_json),
            Ok(_) => Failure::new("a request is a JSON object").into_json(),
            Err(e) => Failure::new(format!("not JSON: {e}")).into_json(),
        };
        writeln!(stdout, "{answer}")?;
        stdout.flush()?;
    }
    if let Some(peer) = peer {
        if let Some(context) = peer.context {
            peer.sim.delete_security_context(context);
        }
        peer.sim.free_credentials_handle(peer.credential);
    }
    Ok(())
}

/// A failed request: a failed SSPI call carries its function, status and attributes.
struct Failure {
    error: String,
    function: Option<&'static str>,
    status: Option<SecStatus>,
    attributes: Option<u32>,
}

impl Failure {
    fn new(error: impl Into<String>) -> Self {
        Self { error: error.into(), function: None, status: None, attributes: None }
    }

    /// A failed SSPI call, with the simulator's reason from its journal.
    fn call(sim: &Simulator, function: &'static str, status: SecStatus) -> Self {
        let detail = sim.journal().last().and_then(|e| e.detail.clone());
        Self {
            error: detail.unwrap_or_else(|| status.description().unwrap_or_default().to_owned()),
            function: Some(function),
            status: Some(status),
            attributes: None,
        }
    }

    fn into_json(self) -> Value {
        let mut v = json!({ "ok": false, "error": self.error });
        if let Some(function) = self.function {
            v["function"] = json!(function);
        }
        if let Some(status) = self.status {
            v["status"] = json!(status.name().unwrap_or("?"));
            v["status_code"] = json!(format!("{:#010x}", status.as_u32()));
        }
        if let Some(attributes) = self.attributes {
            v["attributes"] = json!(format!("{attributes:#010x}"));
        }
        v
    }
}

fn handle(peer: &mut Option<Peer>, request: &Map<String, Value>) -> Result<Value, Failure> {
    let op = text(request, "op")?;
    match op {
        "client" | "server" if peer.is_some() => Err(Failure::new("the role is already set")),
        "client" | "server" => {
            let side = if op == "client" { Side::Client } else { Side::Server };
            let (new, answer) = start(side, request)?;
            *peer = Some(new);
            Ok(answer)
        }
        "token" | "wrap" | "unwrap" | "sign" | "verify" => {
            let peer = peer.as_mut().ok_or_else(|| Failure::new("no role yet: send client or server first"))?;
            match op {
                "token" => {
                    let token = bytes(request, "token")?;
                    match peer.side {
                        Side::Client => peer.initialize(Some(token)),
                        Side::Server => peer.accept(token),
                    }
                }
                "wrap" => peer.wrap(bytes(request, "data")?),
                "unwrap" => {
                    let stream = request.get("stream").and_then(Value::as_bool).unwrap_or(false);
                    peer.unwrap(bytes(request, "token")?, stream)
                }
                "sign" => peer.sign(bytes(request, "data")?),
                _ => peer.verify(bytes(request, "data")?, bytes(request, "signature")?),
            }
        }
        other => Err(Failure::new(format!("unknown op {other:?}"))),
    }
}

/// Builds the world and the credentials of a role; the client also runs its first leg.
fn start(side: Side, request: &Map<String, Value>) -> Result<(Peer, Value), Failure> {
    let package = text(request, "package")?;
    if package != "NTLM" && package != "Negotiate" {
        return Err(Failure::new(format!("package {package:?}: NTLM or Negotiate")));
    }
    let user = text(request, "user")?;
    let domain = text(request, "domain")?;
    let password = text(request, "password")?;
    let joined = request.get("joined").and_then(Value::as_bool).unwrap_or(true);
    let toml = world_toml(side, user, domain, password, joined);
    let world = World::from_toml_str(&toml, "sspi_peer world").map_err(|e| Failure::new(format!("world: {e}")))?;
    let sim = Simulator::builder().world(world).build();
    let info = sim
        .query_security_package_info(&SecString::wide(package))
        .map_err(|s| Failure::call(&sim, "QuerySecurityPackageInfo", s))?;
    let args = match side {
        Side::Client => AcquireCredentials::new(package, CredentialUse::OUTBOUND)
            .identity(AuthIdentity::unicode(user, domain, password)),
        Side::Server => AcquireCredentials::new(package, CredentialUse::INBOUND),
    };
    let credential =
        sim.acquire_credentials_handle(args).map_err(|s| Failure::call(&sim, "AcquireCredentialsHandle", s))?.handle;
    let mut peer = Peer { sim, side, credential, context: None, max_token: info.max_token as usize };
    let answer = match side {
        Side::Client => peer.initialize(None)?,
        Side::Server => json!({ "ok": true }),
    };
    Ok((peer, answer))
}

/// The world of a role (see the module documentation).
fn world_toml(side: Side, user: &str, domain: &str, password: &str, joined: bool) -> String {
    let s = |v: &str| toml::Value::String(v.to_owned()).to_string();
    let (machine, caller) = match side {
        Side::Client => ("SSPIEMU-CLI", "0x10a2f"),
        Side::Server => ("SSPIEMU-SRV", "0x3e7"),
    };
    format!(
        r#"name = "sspi-peer"
seed = 7
start_time = "2026-01-01T09:00:00Z"

[machine]
name = "{machine}"
domain = "SSPIEMU"
dns_domain = "SSPIEMU.TEST"
joined = {joined}
lm_compatibility_level = 3

[caller]
session = "{caller}"

[[principals]]
domain = {domain}
user = {user}
password = {password}

[[principals]]
domain = "SSPIEMU"
user = "{machine}$"
password = "machine-account-secret-0123456789"

[[sessions]]
luid = "0x3e7"
principal = "SSPIEMU\\{machine}$"
logon_type = "service"
privileges = ["SeTcbPrivilege", "SeImpersonatePrivilege", "SeChangeNotifyPrivilege"]

[[sessions]]
luid = "0x10a2f"
principal = {qualified}
logon_type = "interactive"
privileges = ["SeChangeNotifyPrivilege"]

[[packages]]
name = "Negotiate"
comment = "Microsoft Package Negotiator"
capabilities = 0x00883BB3
version = 1
rpc_id = 9
max_token = 48256
expiry = "0x7FFFFF36D5969FFF"

[[packages]]
name = "NTLM"
comment = "NTLM Security Package"
capabilities = 0x02882B37
version = 1
rpc_id = 10
max_token = 2888
expiry = "0x7FFFFF36D5969FFF"
"#,
        domain = s(domain),
        user = s(user),
        password = s(password),
        qualified = s(&format!("{domain}\\{user}")),
    )
}

/// The `fContextReq` both sides pass.
fn isc_req() -> IscReq {
    IscReq::CONFIDENTIALITY | IscReq::INTEGRITY | IscReq::REPLAY_DETECT | IscReq::SEQUENCE_DETECT | IscReq::CONNECTION
}

fn asc_req() -> AscReq {
    AscReq::CONFIDENTIALITY | AscReq::INTEGRITY | AscReq::REPLAY_DETECT | AscReq::SEQUENCE_DETECT | AscReq::CONNECTION
}

impl Peer {
    fn context(&self) -> Result<CtxtHandle, Failure> {
        self.context.ok_or_else(|| Failure::new("no security context yet"))
    }

    /// One `InitializeSecurityContext` leg: the first without input, the next with `token`.
    fn initialize(&mut self, token: Option<Vec<u8>>) -> Result<Value, Failure> {
        let mut args = InitializeSecurityContext::new(self.credential, Some(TARGET), isc_req());
        if let Some(token) = token {
            args = args.next(self.context()?, SecBufferDesc::new(vec![SecBuffer::token(token)]));
        }
        let out = IscOutputs::with_token(self.max_token);
        let status = self.sim.initialize_security_context(args, &out);
        let attributes = out.attributes();
        if status.is_error() {
            let mut failure = Failure::call(&self.sim, "InitializeSecurityContext", status);
            failure.attributes = Some(attributes.0);
            return Err(failure);
        }
        self.context = Some(out.context());
        self.leg(status, out.token(), attributes.0, format!("{attributes:?}"))
    }

    /// One `AcceptSecurityContext` leg: the first call on the first token, then the next.
    fn accept(&mut self, token: Vec<u8>) -> Result<Value, Failure> {
        let input = SecBufferDesc::new(vec![SecBuffer::token(token)]);
        let args = match self.context {
            None => AcceptSecurityContext::new(self.credential, input, asc_req()),
            Some(c) => AcceptSecurityContext::new(self.credential, input.clone(), asc_req()).next(c, input),
        };
        let out = AscOutputs::with_token(self.max_token);
        let status = self.sim.accept_security_context(args, &out);
        let attributes = out.attributes();
        if status.is_error() {
            let mut failure = Failure::call(&self.sim, "AcceptSecurityContext", status);
            failure.attributes = Some(attributes.0);
            return Err(failure);
        }
        self.context = Some(out.context());
        self.leg(status, out.token(), attributes.0, format!("{attributes:?}"))
    }

    /// The answer of a successful leg; a complete one adds the context's attributes.
    fn leg(&self, status: SecStatus, token: Vec<u8>, attributes: u32, names: String) -> Result<Value, Failure> {
        let complete = status == SecStatus::SEC_E_OK;
        let mut answer = json!({
            "ok": true,
            "status": status.name().unwrap_or("?"),
            "status_code": format!("{:#010x}", status.as_u32()),
            "token": if token.is_empty() { Value::Null } else { json!(hex(&token)) },
            "attributes": format!("{attributes:#010x}"),
            "attribute_names": names,
            "complete": complete,
        });
        if complete {
            let context = self.context()?;
            let query = |attribute| {
                self.sim
                    .query_context_attributes(context, attribute)
                    .map_err(|s| Failure::call(&self.sim, "QueryContextAttributes", s))
            };
            if let ContextAttributeValue::Names(n) = query(ContextAttribute::Names)? {
                answer["names"] = json!(n);
            }
            if let ContextAttributeValue::NativeNames { client, server } = query(ContextAttribute::NativeNames)? {
                answer["native_names"] = json!({ "client": client, "server": server });
            }
            if let ContextAttributeValue::SessionKey(k) = query(ContextAttribute::SessionKey)? {
                answer["session_key"] = json!(hex(&k));
            }
            if let ContextAttributeValue::PackageInfo(p) = query(ContextAttribute::PackageInfo)? {
                answer["package"] = json!(p.name);
            }
            if let Ok(ContextAttributeValue::NegotiationInfo { package, state }) =
                self.sim.query_context_attributes(context, ContextAttribute::NegotiationInfo)
            {
                let state = match state {
                    NegotiationState::Complete => "complete",
                    NegotiationState::Optimistic => "optimistic",
                    NegotiationState::InProgress => "in-progress",
                    _ => "?",
                };
                answer["negotiation"] = json!({ "package": package.name, "state": state });
            }
            if let ContextAttributeValue::Flags(f) = query(ContextAttribute::Flags)? {
                answer["flags"] = json!(format!("{f:#010x}"));
            }
            if let ContextAttributeValue::Sizes(s) = query(ContextAttribute::Sizes)? {
                answer["sizes"] = json!([s.max_token, s.max_signature, s.block_size, s.security_trailer]);
            }
        }
        Ok(answer)
    }

    /// `EncryptMessage` of `[TOKEN, DATA]`: signature ‖ ciphertext.
    fn wrap(&self, data: Vec<u8>) -> Result<Value, Failure> {
        let mut message =
            SecBufferDesc::new(vec![SecBuffer::output_token(SIGNATURE_LEN), SecBuffer::new(SecBufferType::DATA, data)]);
        let status = self.sim.encrypt_message(self.context()?, 0, &mut message, 0);
        if status != SecStatus::SEC_E_OK {
            return Err(Failure::call(&self.sim, "EncryptMessage", status));
        }
        let token: Vec<u8> = message.buffers.iter().flat_map(|b| b.data.iter().copied()).collect();
        Ok(json!({ "ok": true, "token": hex(&token) }))
    }

    /// `DecryptMessage` of signature ‖ ciphertext, as `[TOKEN, DATA]` or `[STREAM, DATA]`.
    fn unwrap(&self, token: Vec<u8>, stream: bool) -> Result<Value, Failure> {
        // The DATA buffer is the second either way.
        let buffers = if stream {
            vec![SecBuffer::new(SecBufferType::STREAM, token), SecBuffer::new(SecBufferType::DATA, Vec::new())]
        } else {
            if token.len() < SIGNATURE_LEN {
                return Err(Failure::new("a wrap token starts with a 16-byte signature"));
            }
            let (signature, data) = token.split_at(SIGNATURE_LEN);
            vec![SecBuffer::token(signature), SecBuffer::new(SecBufferType::DATA, data)]
        };
        let mut message = SecBufferDesc::new(buffers);
        match self.sim.decrypt_message(self.context()?, &mut message, 0) {
            Ok(qop) => Ok(json!({ "ok": true, "data": hex(&message.buffers[1].data), "qop": qop })),
            Err(status) => Err(Failure::call(&self.sim, "DecryptMessage", status)),
        }
    }

    /// `MakeSignature` of `[DATA, TOKEN]`.
    fn sign(&self, data: Vec<u8>) -> Result<Value, Failure> {
        let mut message =
            SecBufferDesc::new(vec![SecBuffer::new(SecBufferType::DATA, data), SecBuffer::output_token(SIGNATURE_LEN)]);
        let status = self.sim.make_signature(self.context()?, 0, &mut message, 0);
        if status != SecStatus::SEC_E_OK {
            return Err(Failure::call(&self.sim, "MakeSignature", status));
        }
        Ok(json!({ "ok": true, "signature": hex(&message.buffers[1].data) }))
    }

    /// `VerifySignature` of `[DATA, TOKEN]`.
    fn verify(&self, data: Vec<u8>, signature: Vec<u8>) -> Result<Value, Failure> {
        let mut message =
            SecBufferDesc::new(vec![SecBuffer::new(SecBufferType::DATA, data), SecBuffer::token(signature)]);
        match self.sim.verify_signature(self.context()?, &mut message, 0) {
            Ok(qop) => Ok(json!({ "ok": true, "qop": qop })),
            Err(status) => Err(Failure::call(&self.sim, "VerifySignature", status)),
        }
    }
}

fn text<'a>(request: &'a Map<String, Value>, key: &str) -> Result<&'a str, Failure> {
    request.get(key).and_then(Value::as_str).ok_or_else(|| Failure::new(format!("missing string field {key:?}")))
}

fn bytes(request: &Map<String, Value>, key: &str) -> Result<Vec<u8>, Failure> {
    let s = text(request, key)?;
    if s.len() % 2 != 0 {
        return Err(Failure::new(format!("{key:?}: odd-length hex")));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| Failure::new(format!("{key:?}: not hex")))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
