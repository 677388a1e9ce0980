//! `sspi-emu-ntlm-peer`: the sans-IO NTLM client or server of `sspi_emu::sim::ntlm::context`
//! behind a line protocol on stdin/stdout, so that another implementation (the interop tests
//! drive pyspnego with `tests/interop/pyspnego_peer.py`) can talk to it.
//!
//! # Protocol
//!
//! One JSON object per line in, exactly one JSON object per line out. Byte strings are
//! lower-case hex. Every answer has `"ok": true|false`; a failure carries `"error"` (text) and,
//! for a refused AUTHENTICATE_MESSAGE, `"status"` (the `SECURITY_STATUS` name) and
//! `"status_code"` (hex). A failed request leaves the peer as it was, except that a failed
//! handshake step ends the handshake (later `token` requests fail).
//!
//! | request | answer |
//! |---|---|
//! | `{"op":"client","user":U,"domain":D,"password":P}` | `{"ok":true,"token":NEGOTIATE}` |
//! | `{"op":"server","user":U,"domain":D,"password":P}` (the one account) | `{"ok":true}` |
//! | `{"op":"token","token":T}` | the next token (`"token"`); when established also `"complete":true` and the session (below) |
//! | `{"op":"sign","data":M}` | `{"ok":true,"signature":S}` (16 bytes) |
//! | `{"op":"verify","data":M,"signature":S}` | `{"ok":true}` |
//! | `{"op":"wrap","data":M}` | `{"ok":true,"token":S‖C}`: signature then ciphertext, as GSS_Wrap / pyspnego |
//! | `{"op":"unwrap","token":S‖C}` | `{"ok":true,"data":M}` |
//!
//! The session in a `complete` answer: `"flags"` (hex u32), `"session_key"` (ExportedSessionKey),
//! `"user"`, `"domain"`, `"workstation"`, `"kind"` (`Ntlmv2`, ...), `"mic"` (bool). The client
//! sends `"token"` (AUTHENTICATE) with it; the server none.
//!
//! # Fixed inputs
//!
//! Nothing is random: the client challenge is `aa` × 8 and the random session key `55` × 16
//! (the MS-NLMP §4.2 sample values), the server challenge `0123456789abcdef`, and the time
//! FILETIME 133485408000000000 (2024-01-01T00:00:00Z). The client is at `LmCompatibilityLevel`
//! 3, asks for integrity, confidentiality, replay and sequence detection, sends a MIC, and names
//! itself `SSPIEMU-CLI`; the server is `SSPIEMU-SRV` in domain `SSPIEMU` (DNS
//! `sspiemu-srv.sspiemu.test`), level 3.

use std::io::{self, BufRead, Write};

use serde_json::{Map, Value, json};
use sspi_emu::TimeStamp;
use sspi_emu::sim::ntlm::context::client::{self, ClientConfig, ClientRandom, Requested};
use sspi_emu::sim::ntlm::context::server::{self, ServerConfig};
use sspi_emu::sim::ntlm::context::{LmCompatibilityLevel, Session};
use sspi_emu::sim::world::{Principal, Secret};

/// The client challenge (MS-NLMP §4.2.1).
const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];
/// The random session key (MS-NLMP §4.2.1).
const RANDOM_SESSION_KEY: [u8; 16] = [0x55; 16];
/// The server challenge.
const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
/// 2024-01-01T00:00:00Z as a FILETIME.
const TIME: TimeStamp = TimeStamp(133_485_408_000_000_000);

/// Where the peer is.
enum State {
    /// No role yet.
    Idle,
    /// Client, NEGOTIATE sent.
    ExpectChallenge(client::ExpectChallenge),
    /// Server, waiting for the NEGOTIATE.
    ExpectNegotiate(server::ExpectNegotiate, Vec<Principal>),
    /// Server, CHALLENGE sent.
    ExpectAuthenticate(server::ExpectAuthenticate, Vec<Principal>),
    /// Established, either side.
    Established(Box<Session>),
    /// A handshake step failed.
    Failed,
}

fn main() -> io::Result<()> {
    let stdin = io::stdin();
    let mut stdout = io::stdout().lock();
    let mut state = State::Idle;
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(request)) => handle(&mut state, &request).unwrap_or_else(|error| error.into_json()),
            Ok(_) => Failure::new("a request is a JSON object").into_json(),
            Err(e) => Failure::new(format!("not JSON: {e}")).into_json(),
        };
        writeln!(stdout, "{answer}")?;
        stdout.flush()?;
    }
    Ok(())
}

/// A failed request.
struct Failure {
    error: String,
    status: Option<sspi_emu::SecStatus>,
}

impl Failure {
    fn new(error: impl Into<String>) -> Self {
        Self { error: error.into(), status: None }
    }

    fn into_json(self) -> Value {
        let mut v = json!({ "ok": false, "error": self.error });
        if let Some(status) = self.status {
            v["status"] = json!(status.name().unwrap_or("?"));
            v["status_code"] = json!(format!("{:#010x}", status.as_u32()));
        }
        v
    }
}

fn handle(state: &mut State, request: &Map<String, Value>) -> Result<Value, Failure> {
    let op = text(request, "op")?;
    match op {
        "client" | "server" if !matches!(state, State::Idle) => Err(Failure::new("the role is already set")),
        "client" => {
            let config = ClientConfig {
                user: text(request, "user")?.into(),
                domain: text(request, "domain")?.into(),
                secret: Secret::Password(text(request, "password")?.to_owned()),
                workstation: "SSPIEMU-CLI".into(),
                lm_compatibility_level: LmCompatibilityLevel::DEFAULT,
                requested: Requested {
                    integrity: true,
                    confidentiality: true,
                    replay_detect: true,
                    sequence_detect: true,
                    ..Requested::default()
                },
                target_name: Some("host/sspiemu-srv".to_owned()),
                channel_bindings: None,
                use_mic: true,
            };
            let random = ClientRandom { client_challenge: CLIENT_CHALLENGE, exported_session_key: RANDOM_SESSION_KEY };
            let (next, negotiate) = client::start(config, random).map_err(|e| Failure::new(e.to_string()))?;
            *state = State::ExpectChallenge(next);
            Ok(json!({ "ok": true, "token": hex(&negotiate) }))
        }
        "server" => {
            let account = Principal {
                domain: text(request, "domain")?.to_owned(),
                user: text(request, "user")?.to_owned(),
                upn: None,
                secret: Secret::Password(text(request, "password")?.to_owned()),
                disabled: false,
                locked: false,
                password_expired: false,
            };
            let config = ServerConfig {
                nb_computer: "SSPIEMU-SRV".into(),
                nb_domain: "SSPIEMU".into(),
                dns_computer: "sspiemu-srv.sspiemu.test".into(),
                dns_domain: "sspiemu.test".into(),
                ..ServerConfig::default()
            };
            *state = State::ExpectNegotiate(server::start(config), vec![account]);
            Ok(json!({ "ok": true }))
        }
        "token" => {
            let token = bytes(request, "token")?;
            step(state, &token)
        }
        "sign" | "verify" | "wrap" | "unwrap" => {
            let State::Established(session) = state else {
                return Err(Failure::new("the handshake is not complete"));
            };
            let security = session.security();
            match op {
                "sign" => Ok(json!({ "ok": true, "signature": hex(&security.sign(&bytes(request, "data")?)) })),
                "verify" => {
                    security
                        .verify(&bytes(request, "data")?, &bytes(request, "signature")?)
                        .map_err(|e| Failure::new(e.to_string()))?;
                    Ok(json!({ "ok": true }))
                }
                "wrap" => {
                    let mut data = bytes(request, "data")?;
                    let signature = security.seal(&mut data);
                    Ok(json!({ "ok": true, "token": format!("{}{}", hex(&signature), hex(&data)) }))
                }
                _ => {
                    let token = bytes(request, "token")?;
                    if token.len() < 16 {
                        return Err(Failure::new("a wrap token starts with a 16-byte signature"));
                    }
                    let (signature, data) = token.split_at(16);
                    let mut data = data.to_vec();
                    security.unseal(&mut data, signature).map_err(|e| Failure::new(e.to_string()))?;
                    Ok(json!({ "ok": true, "data": hex(&data) }))
                }
            }
        }
        other => Err(Failure::new(format!("unknown op {other:?}"))),
    }
}

/// One handshake token in, the next state and token out.
fn step(state: &mut State, token: &[u8]) -> Result<Value, Failure> {
    match std::mem::replace(state, State::Failed) {
        State::ExpectChallenge(c) => {
            let (established, authenticate) = c.handle(token, TIME).map_err(|e| Failure::new(e.to_string()))?;
            let session = established.into_session();
            let mut answer = session_json(&session);
            answer["token"] = json!(hex(&authenticate));
            *state = State::Established(Box::new(session));
            Ok(answer)
        }
        State::ExpectNegotiate(s, accounts) => {
            let (next, challenge) = s.handle(token, SERVER_CHALLENGE, TIME).map_err(|e| Failure::new(e.to_string()))?;
            *state = State::ExpectAuthenticate(next, accounts);
            Ok(json!({ "ok": true, "token": hex(&challenge) }))
        }
        State::ExpectAuthenticate(s, accounts) => {
            let established =
                s.handle(token, &accounts).map_err(|e| Failure { status: Some(e.status()), error: e.to_string() })?;
            let session = established.into_session();
            let answer = session_json(&session);
            *state = State::Established(Box::new(session));
            Ok(answer)
        }
        other @ (State::Idle | State::Established(_)) => {
            *state = other;
            Err(Failure::new("no handshake in progress"))
        }
        State::Failed => Err(Failure::new("the handshake failed")),
    }
}

fn session_json(session: &Session) -> Value {
    json!({
        "ok": true,
        "complete": true,
        "flags": format!("{:#010x}", session.flags().bits()),
        "session_key": hex(session.exported_session_key()),
        "user": session.user(),
        "domain": session.domain(),
        "workstation": session.workstation(),
        "kind": format!("{:?}", session.kind()),
        "mic": session.has_mic(),
    })
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
