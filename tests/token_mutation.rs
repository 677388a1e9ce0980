//! Mutated handshakes: NTLM and Negotiate tokens flipped, truncated, extended, swapped for an
//! earlier leg's token, or delivered twice, on four worlds (domain member, workgroup,
//! `LmCompatibilityLevel` 2 and 0). Every call must return a status of the documented set of its
//! function; a replayed or swapped-in token is never accepted; a handshake left alone completes;
//! a handshake that completes despite a mutation authenticated alice and, where a MIC protects
//! the messages (NTLMv2), has one session key on both sides and seals both ways; without a MIC
//! (NTLMv1) a mismatch shows as SEC_E_MESSAGE_ALTERED on the first message. Deleting every
//! context brings `security_contexts()` back to 0.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use sspi_emu::sim::ntlm::messages::ChallengeMessage;
use sspi_emu::sim::{Simulator, World};
use sspi_emu::*;
use sspi_emu_testkit::fixtures_dir;

/// What `InitializeSecurityContext` may return here: the two successes, the token errors
/// (research §3), a leg after a failed or final one (§3), a SPNEGO `reject` (LOGON_DENIED) and
/// a `mechListMIC` that does not verify (MESSAGE_ALTERED), as `crates/sim/src/error.rs` maps them.
const ISC_STATUSES: [SecStatus; 6] = [
    SecStatus::SEC_I_CONTINUE_NEEDED,
    SecStatus::SEC_E_OK,
    SecStatus::SEC_E_INVALID_TOKEN,
    SecStatus::SEC_E_OUT_OF_SEQUENCE,
    SecStatus::SEC_E_LOGON_DENIED,
    SecStatus::SEC_E_MESSAGE_ALTERED,
];

/// What `AcceptSecurityContext` may return here: as above, LOGON_DENIED also for a refused
/// AUTHENTICATE (MIC, response, account). No channel bindings are configured, so no
/// SEC_E_BAD_BINDINGS; the output buffers are large, so no SEC_E_BUFFER_TOO_SMALL.
const ASC_STATUSES: [SecStatus; 6] = ISC_STATUSES;

/// The worlds: default (domain member: Negotiate wraps NTLM in SPNEGO with mechListMICs),
/// workgroup (raw NTLM under Negotiate), level 2 (NTLMv1 + ESS, no MIC), level 0 (no ESS).
fn worlds() -> &'static [Arc<World>; 4] {
    static WORLDS: OnceLock<[Arc<World>; 4]> = OnceLock::new();
    WORLDS.get_or_init(|| {
        let text = std::fs::read_to_string(fixtures_dir().join("worlds/default.toml")).unwrap();
        let load = |t: String| Arc::new(World::from_toml_str(&t, "mutation.toml").unwrap());
        let machine = |line: &str| text.replacen("[machine]\n", &format!("[machine]\n{line}\n"), 1);
        [
            load(text.clone()),
            load(text.replacen("joined = true", "joined = false", 1)),
            load(machine("lm_compatibility_level = 2")),
            load(machine("lm_compatibility_level = 0")),
        ]
    })
}

/// What happens to one delivered token.
#[derive(Clone, Debug)]
enum Op {
    Keep,
    /// XOR these bytes (positions taken modulo the length) with non-zero masks.
    Flip(Vec<(usize, u8)>),
    /// Cut the token to a shorter length (modulo its length; possibly 0).
    Truncate(usize),
    /// Append bytes.
    Extend(Vec<u8>),
    /// Deliver an earlier leg's token instead (modulo their number).
    Swap(usize),
    /// Deliver the token, then deliver it again.
    Replay,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Keep),
        4 => prop::collection::vec((any::<usize>(), 1u8..), 1..4).prop_map(Op::Flip),
        1 => any::<usize>().prop_map(Op::Truncate),
        1 => prop::collection::vec(any::<u8>(), 1..24).prop_map(Op::Extend),
        1 => any::<usize>().prop_map(Op::Swap),
        1 => Just(Op::Replay),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Client,
    Server,
}

struct Run<'a> {
    sim: &'a Simulator,
    client_cred: CredHandle,
    server_cred: CredHandle,
    req: IscReq,
    asc_req: AscReq,
    client: Option<CtxtHandle>,
    server: Option<CtxtHandle>,
}

impl Run<'_> {
    /// One call of `side` with `input`: its status and output token.
    fn call(&mut self, side: Side, input: Option<&[u8]>) -> (SecStatus, Vec<u8>) {
        let desc = input.map(|t| SecBufferDesc::new(vec![SecBuffer::token(t.to_vec())]));
        match side {
            Side::Client => {
                let out = IscOutputs::with_token(48_256);
                let mut args = InitializeSecurityContext::new(self.client_cred, Some("HTTP/web.contoso.com"), self.req);
                args.context = self.client;
                args.input = desc;
                let status = self.sim.initialize_security_context(args, &out);
                if !status.is_error() {
                    self.client = Some(out.context());
                }
                (status, if status.is_error() { Vec::new() } else { out.token() })
            }
            Side::Server => {
                let out = AscOutputs::with_token(48_256);
                let mut args = AcceptSecurityContext::new(self.server_cred, desc.unwrap_or_default(), self.asc_req);
                args.context = self.server;
                let status = self.sim.accept_security_context(args, &out);
                if !status.is_error() {
                    self.server = Some(out.context());
                }
                (status, if status.is_error() { Vec::new() } else { out.token() })
            }
        }
    }
}

fn allowed(side: Side, status: SecStatus) -> bool {
    match side {
        Side::Client => ISC_STATUSES.contains(&status),
        Side::Server => ASC_STATUSES.contains(&status),
    }
}

fn mutate(op: &Op, token: &[u8], history: &[Vec<u8>]) -> Vec<u8> {
    match op {
        Op::Keep | Op::Replay => token.to_vec(),
        Op::Flip(flips) => {
            let mut t = token.to_vec();
            if !t.is_empty() {
                for (at, mask) in flips {
                    let i = at % t.len();
                    t[i] ^= mask;
                }
            }
            t
        }
        Op::Truncate(at) => token[..at % token.len().max(1)].to_vec(),
        Op::Extend(bytes) => [token, bytes].concat(),
        // Nothing earlier on the first delivery: the token goes through unchanged.
        Op::Swap(_) if history.is_empty() => token.to_vec(),
        Op::Swap(at) => history[at % history.len()].clone(),
    }
}

fn mutated_handshake(world: usize, package: &str, ops: &[Op]) -> Result<(), TestCaseError> {
    let sim = Simulator::builder().world(Arc::clone(&worlds()[world])).build();
    let id = AuthIdentity::unicode("alice", "CONTOSO", "Passw0rd!");
    let client_cred = sim
        .acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::OUTBOUND).identity(id))
        .unwrap()
        .handle;
    let server_cred = sim.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::INBOUND)).unwrap();
    let mut run = Run {
        sim: &sim,
        client_cred,
        server_cred: server_cred.handle,
        req: IscReq::CONFIDENTIALITY | IscReq::INTEGRITY | IscReq::REPLAY_DETECT | IscReq::SEQUENCE_DETECT,
        asc_req: AscReq::CONFIDENTIALITY | AscReq::INTEGRITY,
        client: None,
        server: None,
    };
    let mut ops = ops.iter();
    let mut mutated = false;
    let (status, token) = run.call(Side::Client, None);
    prop_assert_eq!(status, SecStatus::SEC_I_CONTINUE_NEEDED);
    let mut history = vec![token.clone()];
    let mut last = (status, SecStatus::SEC_I_CONTINUE_NEEDED);
    let mut pending = Some((Side::Server, token));
    // The CHALLENGE as the client received it: the client sends a MIC only when it carries an
    // MsvAvTimestamp (MS-NLMP §3.1.5.1.2), and only NTLMv2 (levels 3 to 5) has one.
    let mut challenge_received: Option<Vec<u8>> = None;
    for _ in 0..8 {
        let Some((to, token)) = pending.take() else { break };
        let op = ops.next().cloned().unwrap_or(Op::Keep);
        // History holds the tokens before this one.
        let delivered = mutate(&op, &token, &history[..history.len() - 1]);
        mutated |= delivered != token || matches!(op, Op::Replay);
        if to == Side::Client && challenge_received.is_none() {
            challenge_received = Some(delivered.clone());
        }
        let (status, out) = run.call(to, Some(&delivered));
        prop_assert!(allowed(to, status), "{to:?} returned {status:?} after {op:?}");
        if matches!(op, Op::Swap(_)) && delivered != token {
            prop_assert!(status.is_error(), "{to:?} accepted an earlier leg's token: {status:?}");
        }
        if matches!(op, Op::Replay) {
            let (again, _) = run.call(to, Some(&delivered));
            prop_assert!(allowed(to, again), "{to:?} returned {again:?} on a replay");
            prop_assert!(again.is_error(), "{to:?} accepted a replayed token: {again:?}");
        }
        match to {
            Side::Client => last.0 = status,
            Side::Server => last.1 = status,
        }
        if status.is_error() {
            break;
        }
        history.push(out.clone());
        if !out.is_empty() {
            pending = Some((if to == Side::Client { Side::Server } else { Side::Client }, out));
        }
    }
    let complete = last == (SecStatus::SEC_E_OK, SecStatus::SEC_E_OK);
    if !mutated {
        prop_assert!(complete, "an untouched handshake ends with {last:?}");
    }
    if complete {
        let (c, s) = (run.client.unwrap(), run.server.unwrap());
        let query = |ctx, a| sim.query_context_attributes(ctx, a);
        // Whatever the mutation, a completed handshake authenticated alice.
        prop_assert_eq!(query(s, ContextAttribute::Names), Ok(ContextAttributeValue::Names("CONTOSO\\alice".into())));
        let same_key = query(c, ContextAttribute::SessionKey) == query(s, ContextAttribute::SessionKey);
        if world < 2 && challenge_received.as_deref().is_some_and(carries_timestamp) {
            check_protected_session(&sim, c, s)?;
            prop_assert!(same_key);
        } else {
            // No MIC (NTLMv1, or a CHALLENGE whose MsvAvTimestamp was mutated away, which
            // MS-NLMP lets switch the MIC off): a tampered EncryptedRandomSessionKey, NEGOTIATE
            // or flags can go unnoticed until the first message, which then fails as altered.
            let mut m = SecBufferDesc::new(vec![
                SecBuffer::token(vec![0; 16]),
                SecBuffer::new(SecBufferType::DATA, b"after the mutation"),
            ]);
            prop_assert_eq!(sim.make_signature(c, 0, &mut m, 0), SecStatus::SEC_E_OK);
            let verified = sim.verify_signature(s, &mut m, 0);
            prop_assert!(
                verified == Ok(None) || verified == Err(SecStatus::SEC_E_MESSAGE_ALTERED),
                "VerifySignature returned {verified:?}"
            );
            // Without SIGN and SEAL the signature is the fixed dummy and the keys do not matter.
            let client_signs =
                matches!(query(c, ContextAttribute::Flags), Ok(ContextAttributeValue::Flags(f)) if f & 0x1_001C != 0);
            if !same_key && client_signs {
                prop_assert_eq!(verified, Err(SecStatus::SEC_E_MESSAGE_ALTERED));
            }
        }
    }
    for ctx in [run.client, run.server].into_iter().flatten() {
        prop_assert_eq!(sim.delete_security_context(ctx), SecStatus::SEC_E_OK);
        prop_assert_eq!(sim.delete_security_context(ctx), SecStatus::SEC_E_OK);
    }
    prop_assert_eq!(sim.security_contexts(), 0);
    Ok(())
}

/// Whether the NTLM CHALLENGE_MESSAGE in `token` (bare, or inside a SPNEGO token) decodes and
/// carries an `MsvAvTimestamp`.
fn carries_timestamp(token: &[u8]) -> bool {
    let Some(at) = token.windows(12).position(|w| w == b"NTLMSSP\0\x02\0\0\0") else { return false };
    ChallengeMessage::decode(&token[at..]).is_ok_and(|c| c.target_info.is_some_and(|t| t.timestamp().is_some()))
}

/// Both sides of a completed handshake with a MIC: one session key, one view of SEAL, and
/// messages that seal (or, without SEAL, sign) and verify both ways.
fn check_protected_session(sim: &Simulator, c: CtxtHandle, s: CtxtHandle) -> Result<(), TestCaseError> {
    let query = |ctx, a| sim.query_context_attributes(ctx, a);
    prop_assert_eq!(query(c, ContextAttribute::SessionKey), query(s, ContextAttribute::SessionKey));
    let seal = |ctx| match query(ctx, ContextAttribute::Flags) {
        Ok(ContextAttributeValue::Flags(f)) => Ok(f & 0x10 != 0),
        other => Err(TestCaseError::fail(format!("{other:?}"))),
    };
    let sealing = seal(c)?;
    prop_assert_eq!(sealing, seal(s)?, "the two sides disagree on SEAL");
    for (from, to) in [(c, s), (s, c)] {
        let mut m = SecBufferDesc::new(vec![
            SecBuffer::token(vec![0; 16]),
            SecBuffer::new(SecBufferType::DATA, b"after the mutation"),
        ]);
        if sealing {
            prop_assert_eq!(sim.encrypt_message(from, 0, &mut m, 0), SecStatus::SEC_E_OK);
            prop_assert_eq!(sim.decrypt_message(to, &mut m, 0), Ok(None));
        } else {
            prop_assert_eq!(sim.encrypt_message(from, 0, &mut m, 0), SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
            prop_assert_eq!(sim.make_signature(from, 0, &mut m, 0), SecStatus::SEC_E_OK);
            prop_assert_eq!(sim.verify_signature(to, &mut m, 0), Ok(None));
        }
        prop_assert_eq!(&m.buffers[1].data[..], b"after the mutation");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_handshakes_return_documented_statuses(
        world in 0..4usize,
        negotiate in any::<bool>(),
        ops in prop::collection::vec(op(), 0..6),
    ) {
        mutated_handshake(world, if negotiate { "Negotiate" } else { "NTLM" }, &ops)?;
    }
}

#[test]
fn untouched_handshakes_complete_on_every_world() {
    for world in 0..worlds().len() {
        for package in ["NTLM", "Negotiate"] {
            mutated_handshake(world, package, &[]).unwrap();
        }
    }
}

#[test]
fn every_single_byte_flip_of_every_leg_is_handled() {
    // Exhaustive over positions for the default world (the proptest samples): each byte of each
    // token flipped in turn.
    for package in ["NTLM", "Negotiate"] {
        let base = {
            let sim = Simulator::new();
            let id = AuthIdentity::unicode("alice", "CONTOSO", "Passw0rd!");
            let c =
                sim.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::OUTBOUND).identity(id));
            let s = sim.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::INBOUND));
            Handshake::new(c.unwrap().handle, s.unwrap().handle).run(&sim)
        };
        for (leg, l) in base.legs.iter().enumerate().filter(|(_, l)| !l.token.is_empty()) {
            for at in 0..l.token.len() {
                let mut ops = vec![Op::Keep; leg];
                ops.push(Op::Flip(vec![(at, 0x01)]));
                mutated_handshake(0, package, &ops).unwrap();
            }
        }
    }
}
