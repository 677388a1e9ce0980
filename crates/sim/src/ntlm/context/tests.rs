//! Client ↔ server handshakes: success, every refusal with its status, the levels, anonymous,
//! channel bindings, the MIC, determinism, hostile input, and the MS-NLMP §4.2.3 / §4.2.4
//! samples replayed through the client.

use proptest::prelude::*;
use sspi_emu_api::{SecStatus, TimeStamp};

use super::client::{self, ClientConfig, ClientEstablished, ClientRandom, Requested};
use super::server::{self, AccountLookup, AuthError, ServerConfig, ServerEstablished};
use super::{LmCompatibilityLevel, ResponseKind};
use crate::ntlm::NegotiateFlags as F;
use crate::ntlm::crypto::ntowfv1;
use crate::ntlm::messages::{AuthenticateMessage, ChallengeMessage, Ntlmv2Response};
use crate::world::{Principal, Secret};

const TIME: TimeStamp = TimeStamp::from_unix_seconds(1_700_000_000);
const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
const RANDOM: ClientRandom = ClientRandom { client_challenge: [0xaa; 8], exported_session_key: [0x55; 16] };
const PASSWORD: &str = "Passw0rd!";

fn alice() -> Principal {
    Principal {
        domain: "CONTOSO".into(),
        user: "alice".into(),
        upn: Some("alice@contoso.com".into()),
        secret: Secret::Password(PASSWORD.into()),
        disabled: false,
        locked: false,
        password_expired: false,
    }
}

fn accounts() -> Vec<Principal> {
    vec![alice()]
}

fn server_config() -> ServerConfig {
    ServerConfig {
        nb_computer: "SERVER".into(),
        nb_domain: "CONTOSO".into(),
        dns_computer: "server.contoso.com".into(),
        dns_domain: "contoso.com".into(),
        dns_tree: "contoso.com".into(),
        lm_compatibility_level: LmCompatibilityLevel(3),
        require_channel_bindings: false,
        expected_channel_bindings: None,
        allow_anonymous: false,
    }
}

fn client_config() -> ClientConfig {
    ClientConfig {
        user: "alice".into(),
        domain: "CONTOSO".into(),
        secret: Secret::Password(PASSWORD.into()),
        workstation: "WKS01".into(),
        lm_compatibility_level: LmCompatibilityLevel(3),
        requested: Requested { integrity: true, confidentiality: true, ..Requested::default() },
        target_name: Some("HTTP/server.contoso.com".into()),
        channel_bindings: None,
        use_mic: true,
    }
}

/// The three tokens of one run.
struct Tokens {
    negotiate: Vec<u8>,
    challenge: Vec<u8>,
    authenticate: Vec<u8>,
}

/// Runs the client up to its AUTHENTICATE_MESSAGE; the server waits for it.
fn run_to_authenticate(
    client: ClientConfig,
    server: ServerConfig,
) -> (ClientEstablished, server::ExpectAuthenticate, Tokens) {
    let (expect_challenge, negotiate) = client::start(client, RANDOM).expect("a NEGOTIATE_MESSAGE");
    let (expect_auth, challenge) =
        server::start(server).handle(&negotiate, SERVER_CHALLENGE, TIME).expect("a CHALLENGE_MESSAGE");
    let (established, authenticate) = expect_challenge.handle(&challenge, TIME).expect("an AUTHENTICATE_MESSAGE");
    (established, expect_auth, Tokens { negotiate, challenge, authenticate })
}

fn handshake(
    client: ClientConfig,
    server: ServerConfig,
    accounts: &dyn AccountLookup,
) -> (ClientEstablished, Result<ServerEstablished, AuthError>) {
    let (c, expect_auth, tokens) = run_to_authenticate(client, server);
    (c, expect_auth.handle(&tokens.authenticate, accounts))
}

fn refused_with(client: ClientConfig, server: ServerConfig, accounts: &[Principal]) -> AuthError {
    handshake(client, server, &accounts).1.expect_err("the server refuses")
}

/// Signs and seals both ways and checks the peer verifies and unseals, with the sequence
/// numbers moving.
fn assert_sessions_interoperate(c: &mut ClientEstablished, s: &mut ServerEstablished) {
    let (cs, ss) = (c.session_mut().security(), s.session_mut().security());
    for i in 0..3u32 {
        let msg = format!("client message {i}").into_bytes();
        let sig = cs.sign(&msg);
        assert_eq!(ss.verify(&msg, &sig), Ok(()), "server verifies client signature {i}");
        let mut data = format!("sealed to server {i}").into_bytes();
        let sig = cs.seal(&mut data);
        assert_ne!(data, format!("sealed to server {i}").into_bytes());
        assert_eq!(ss.unseal(&mut data, &sig), Ok(()));
        assert_eq!(data, format!("sealed to server {i}").into_bytes());

        let msg = format!("server message {i}").into_bytes();
        let sig = ss.sign(&msg);
        assert_eq!(cs.verify(&msg, &sig), Ok(()), "client verifies server signature {i}");
        let mut data = format!("sealed to client {i}").into_bytes();
        let sig = ss.seal(&mut data);
        assert_eq!(cs.unseal(&mut data, &sig), Ok(()));
        assert_eq!(data, format!("sealed to client {i}").into_bytes());
    }
    // Without extended session security one counter serves both directions.
    let n = if cs.has_plain_sequence_numbers() { 6 } else { 12 };
    assert_eq!(cs.sequence_numbers(), (n, n));
    assert_eq!(ss.sequence_numbers(), (n, n));
    // Replaying an old signature fails: the inbound sequence number has moved on.
    let sig = cs.sign(b"once");
    assert_eq!(ss.verify(b"once", &sig), Ok(()));
    assert!(ss.verify(b"once", &sig).is_err());
}

// --- success ----------------------------------------------------------------------------------

#[test]
fn a_full_ntlmv2_handshake_succeeds_and_both_sides_derive_the_same_session_key() {
    let (c, s) = handshake(client_config(), server_config(), &accounts());
    let s = s.expect("the server accepts alice");
    assert_eq!(c.session().exported_session_key(), &RANDOM.exported_session_key);
    assert_eq!(s.session().exported_session_key(), c.session().exported_session_key());
    assert_eq!(s.session().flags(), c.session().flags());
    assert_eq!((c.session().kind(), s.session().kind()), (ResponseKind::Ntlmv2, ResponseKind::Ntlmv2));
    assert!(c.session().has_mic() && s.session().has_mic(), "the server sent MsvAvTimestamp, so a MIC is sent");
    let flags = s.session().flags();
    for f in [
        F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
        F::NTLMSSP_NEGOTIATE_KEY_EXCH,
        F::NTLMSSP_NEGOTIATE_128,
        F::NTLMSSP_NEGOTIATE_SIGN,
        F::NTLMSSP_NEGOTIATE_SEAL,
        F::NTLMSSP_NEGOTIATE_UNICODE,
    ] {
        assert!(flags.contains(f), "{f:?} negotiated");
    }
    assert!(!flags.contains(F::NTLMSSP_NEGOTIATE_LM_KEY) && !flags.contains(F::NTLM_NEGOTIATE_OEM));
    assert_eq!((s.session().user(), s.session().domain(), s.session().workstation()), ("alice", "CONTOSO", "WKS01"));
    assert_eq!(s.account().map(|a| a.nt_hash), Some(ntowfv1(PASSWORD)));
}

#[test]
fn signatures_and_sealed_messages_cross_between_client_and_server_both_ways_with_sequence_numbers() {
    let (mut c, s) = handshake(client_config(), server_config(), &accounts());
    let mut s = s.expect("accepted");
    assert_sessions_interoperate(&mut c, &mut s);
}

#[test]
fn the_server_matches_user_and_domain_case_insensitively_and_reports_the_canonical_names() {
    let client = ClientConfig { user: "ALICE".into(), domain: "contoso".into(), ..client_config() };
    let (_, s) = handshake(client, server_config(), &accounts());
    let s = s.expect("accepted whatever the case");
    assert_eq!((s.session().user(), s.session().domain()), ("alice", "CONTOSO"));
}

#[test]
fn a_upn_with_an_empty_domain_logs_on() {
    let client = ClientConfig { user: "alice@contoso.com".into(), domain: "".into(), ..client_config() };
    let (_, s) = handshake(client, server_config(), &accounts());
    assert_eq!(s.expect("accepted by UPN").session().user(), "alice");
}

#[test]
fn a_client_holding_only_the_nt_hash_logs_on() {
    let client = ClientConfig { secret: Secret::NtHash(ntowfv1(PASSWORD)), ..client_config() };
    let (c, s) = handshake(client, server_config(), &accounts());
    assert_eq!(s.expect("accepted").session().exported_session_key(), c.session().exported_session_key());
}

#[test]
fn without_use_mic_no_mic_is_sent_and_the_server_accepts() {
    let client = ClientConfig { use_mic: false, ..client_config() };
    let (c, s) = handshake(client, server_config(), &accounts());
    assert!(!c.session().has_mic());
    assert!(!s.expect("accepted").session().has_mic());
}

#[test]
fn without_sign_or_seal_there_is_no_key_exchange_and_both_use_the_key_exchange_key() {
    let client = ClientConfig { requested: Requested::default(), ..client_config() };
    let (c, expect_auth, tokens) = run_to_authenticate(client, server_config());
    let auth = AuthenticateMessage::decode(&tokens.authenticate).expect("decodes");
    assert!(auth.encrypted_random_session_key.is_empty());
    assert_ne!(c.session().exported_session_key(), &RANDOM.exported_session_key);
    let s = expect_auth.handle(&tokens.authenticate, &accounts()).expect("accepted");
    assert_eq!(s.session().exported_session_key(), c.session().exported_session_key());
}

// --- refusals and their statuses --------------------------------------------------------------

#[test]
fn a_wrong_password_fails_with_wrong_password_and_sec_e_logon_denied() {
    let client = ClientConfig { secret: Secret::Password("nope".into()), ..client_config() };
    let e = refused_with(client, server_config(), &accounts());
    assert_eq!(e, AuthError::WrongPassword);
    assert_eq!(e.status(), SecStatus::SEC_E_LOGON_DENIED);
}

#[test]
fn an_unknown_user_fails_with_unknown_user_and_sec_e_logon_denied() {
    let client = ClientConfig { user: "mallory".into(), ..client_config() };
    let e = refused_with(client, server_config(), &accounts());
    assert_eq!(e, AuthError::UnknownUser { domain: "CONTOSO".into(), user: "mallory".into() });
    assert_eq!(e.status(), SecStatus::SEC_E_LOGON_DENIED);
}

#[test]
fn a_disabled_account_fails_with_account_disabled_and_sec_e_logon_denied() {
    let e = refused_with(client_config(), server_config(), &[Principal { disabled: true, ..alice() }]);
    assert_eq!(e, AuthError::AccountDisabled);
    assert_eq!(e.status(), SecStatus::SEC_E_LOGON_DENIED);
}

#[test]
fn a_locked_account_fails_with_account_locked_and_sec_e_logon_denied_even_with_a_wrong_password() {
    let locked = [Principal { locked: true, ..alice() }];
    let e = refused_with(client_config(), server_config(), &locked);
    assert_eq!(e, AuthError::AccountLocked);
    assert_eq!(e.status(), SecStatus::SEC_E_LOGON_DENIED);
    let client = ClientConfig { secret: Secret::Password("nope".into()), ..client_config() };
    assert_eq!(refused_with(client, server_config(), &locked), AuthError::AccountLocked);
}

#[test]
fn an_expired_password_fails_with_password_expired_and_sec_e_logon_denied() {
    let e = refused_with(client_config(), server_config(), &[Principal { password_expired: true, ..alice() }]);
    assert_eq!(e, AuthError::PasswordExpired);
    assert_eq!(e.status(), SecStatus::SEC_E_LOGON_DENIED);
}

#[test]
fn a_disabled_account_with_a_wrong_password_reports_the_wrong_password() {
    let client = ClientConfig { secret: Secret::Password("nope".into()), ..client_config() };
    let e = refused_with(client, server_config(), &[Principal { disabled: true, ..alice() }]);
    assert_eq!(e, AuthError::WrongPassword);
}

#[test]
fn a_flipped_byte_in_the_authenticate_mic_fails_with_mic_mismatch() {
    let (_, expect_auth, mut tokens) = run_to_authenticate(client_config(), server_config());
    tokens.authenticate[AuthenticateMessage::MIC_OFFSET + 3] ^= 0x01;
    let e = expect_auth.handle(&tokens.authenticate, &accounts()).expect_err("refused");
    assert_eq!(e, AuthError::MicMismatch);
    assert_eq!(e.status(), SecStatus::SEC_E_LOGON_DENIED);
}

#[test]
fn a_tampered_negotiate_is_caught_by_the_mic() {
    // A man in the middle strips SEAL from the NEGOTIATE; the server sees the tampered one,
    // the client's MIC covers the original.
    let (expect_challenge, negotiate) = client::start(client_config(), RANDOM).expect("negotiate");
    let mut tampered = negotiate.clone();
    tampered[12] &= !0x20;
    let (expect_auth, challenge) =
        server::start(server_config()).handle(&tampered, SERVER_CHALLENGE, TIME).expect("challenge");
    let (_, authenticate) = expect_challenge.handle(&challenge, TIME).expect("authenticate");
    let e = expect_auth.handle(&authenticate, &accounts()).expect_err("refused");
    assert_eq!(e, AuthError::MicMismatch);
}

#[test]
fn a_tampered_ntlmv2_response_fails_as_a_wrong_password() {
    let (_, expect_auth, mut tokens) = run_to_authenticate(client_config(), server_config());
    let auth = AuthenticateMessage::decode(&tokens.authenticate).expect("decodes");
    // The last byte of the NtChallengeResponse (inside the client's AV_PAIR list trailer).
    let nt_offset = u32::from_le_bytes(tokens.authenticate[24..28].try_into().expect("4 bytes")) as usize;
    tokens.authenticate[nt_offset + auth.nt_challenge_response.len() - 1] ^= 0x80;
    let e = expect_auth.handle(&tokens.authenticate, &accounts()).expect_err("refused");
    assert_eq!(e, AuthError::WrongPassword);
}

#[test]
fn matching_channel_bindings_succeed() {
    let cb = b"tls-server-end-point:0123456789abcdef".to_vec();
    let client = ClientConfig { channel_bindings: Some(cb.clone()), ..client_config() };
    let server =
        ServerConfig { expected_channel_bindings: Some(cb), require_channel_bindings: true, ..server_config() };
    let (_, s) = handshake(client, server, &accounts());
    assert!(s.is_ok());
}

#[test]
fn mismatched_channel_bindings_fail_with_sec_e_bad_bindings() {
    let client = ClientConfig { channel_bindings: Some(b"tls-server-end-point:AAAA".to_vec()), ..client_config() };
    let server =
        ServerConfig { expected_channel_bindings: Some(b"tls-server-end-point:BBBB".to_vec()), ..server_config() };
    let e = refused_with(client, server, &accounts());
    assert_eq!(e, AuthError::ChannelBindingsMismatch);
    assert_eq!(e.status(), SecStatus::SEC_E_BAD_BINDINGS);
}

#[test]
fn missing_channel_bindings_fail_with_sec_e_bad_bindings_only_when_required() {
    let expected = Some(b"tls-server-end-point:BBBB".to_vec());
    let required =
        ServerConfig { expected_channel_bindings: expected.clone(), require_channel_bindings: true, ..server_config() };
    let e = refused_with(client_config(), required, &accounts());
    assert_eq!(e, AuthError::ChannelBindingsMissing);
    assert_eq!(e.status(), SecStatus::SEC_E_BAD_BINDINGS);
    let when_supported = ServerConfig { expected_channel_bindings: expected, ..server_config() };
    assert!(handshake(client_config(), when_supported, &accounts()).1.is_ok());
}

#[test]
fn the_client_puts_target_name_channel_bindings_and_mic_flag_in_its_ntlmv2_response() {
    let cb = b"tls-server-end-point:CB".to_vec();
    let client = ClientConfig { channel_bindings: Some(cb.clone()), ..client_config() };
    let (_, _, tokens) = run_to_authenticate(client, server_config());
    let auth = AuthenticateMessage::decode(&tokens.authenticate).expect("decodes");
    let resp = Ntlmv2Response::decode(&auth.nt_challenge_response).expect("an NTLMv2 response");
    use crate::ntlm::av_pairs::{AvId, AvPair};
    assert_eq!(resp.av_pairs.flags(), Some(0x2));
    assert_eq!(resp.av_pairs.find(AvId::MsvAvTargetName), Some(&AvPair::TargetName("HTTP/server.contoso.com".into())));
    assert_eq!(
        resp.av_pairs.find(AvId::MsvAvChannelBindings),
        Some(&AvPair::ChannelBindings(crate::ntlm::crypto::md5(&[&cb])))
    );
    // The server's MsvAvTimestamp is the response's timestamp, and the LM response is Z(24).
    let challenge = ChallengeMessage::decode(&tokens.challenge).expect("decodes");
    assert_eq!(Some(resp.timestamp), challenge.target_info.and_then(|t| t.timestamp()));
    assert_eq!(auth.lm_challenge_response, vec![0; 24]);
    assert!(auth.mic.is_some());
}

// --- LmCompatibilityLevel ---------------------------------------------------------------------

fn at_levels(client: u8, server: u8) -> (ClientEstablished, Result<ServerEstablished, AuthError>) {
    let c = ClientConfig { lm_compatibility_level: LmCompatibilityLevel(client), ..client_config() };
    let s = ServerConfig { lm_compatibility_level: LmCompatibilityLevel(server), ..server_config() };
    handshake(c, s, &accounts())
}

#[test]
fn a_level_2_client_is_refused_by_a_level_5_server_with_sec_e_logon_denied() {
    let e = at_levels(2, 5).1.expect_err("NTLMv1 refused");
    assert_eq!(e, AuthError::Ntlmv1Refused);
    assert_eq!(e.status(), SecStatus::SEC_E_LOGON_DENIED);
}

#[test]
fn a_level_2_client_is_accepted_by_a_level_4_server_with_an_ess_ntlmv1_response() {
    let (mut c, s) = at_levels(2, 4);
    let mut s = s.expect("NTLMv1 accepted at 4");
    assert_eq!(s.session().kind(), ResponseKind::Ntlmv1Ess);
    assert_eq!(s.session().exported_session_key(), c.session().exported_session_key());
    assert_sessions_interoperate(&mut c, &mut s);
}

#[test]
fn a_level_1_client_completes_an_ess_handshake_with_a_level_3_server() {
    let (mut c, s) = at_levels(1, 3);
    let mut s = s.expect("accepted");
    assert_eq!((c.session().kind(), s.session().kind()), (ResponseKind::Ntlmv1Ess, ResponseKind::Ntlmv1Ess));
    assert!(!c.session().has_mic(), "NTLMv1 carries no MsvAvFlags, so no MIC");
    assert_sessions_interoperate(&mut c, &mut s);
}

#[test]
fn a_level_0_client_completes_a_plain_ntlmv1_handshake_with_a_level_3_server() {
    let (mut c, s) = at_levels(0, 3);
    let mut s = s.expect("accepted");
    assert_eq!(s.session().kind(), ResponseKind::Ntlmv1);
    assert!(!s.session().flags().contains(F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY));
    assert!(!s.session().flags().contains(F::NTLMSSP_NEGOTIATE_LM_KEY), "the server never grants LM_KEY");
    assert_sessions_interoperate(&mut c, &mut s);
}

#[test]
fn a_level_0_client_is_refused_by_a_level_5_server() {
    assert_eq!(at_levels(0, 5).1.expect_err("refused"), AuthError::Ntlmv1Refused);
}

#[test]
fn ntlmv2_clients_are_accepted_at_every_server_level() {
    for server in 0..=5 {
        assert!(at_levels(3, server).1.is_ok(), "server level {server}");
    }
}

#[test]
fn an_lm_only_response_is_refused_at_level_4_and_fails_to_verify_below() {
    for (level, expected) in [(4, AuthError::LmRefused), (5, AuthError::LmRefused), (3, AuthError::WrongPassword)] {
        let client = ClientConfig { lm_compatibility_level: LmCompatibilityLevel(0), ..client_config() };
        let server = ServerConfig { lm_compatibility_level: LmCompatibilityLevel(level), ..server_config() };
        let (_, expect_auth, tokens) = run_to_authenticate(client, server);
        let mut auth = AuthenticateMessage::decode(&tokens.authenticate).expect("decodes");
        auth.nt_challenge_response.clear();
        let bytes = auth.encode().expect("encodes");
        let e = expect_auth.handle(&bytes, &accounts()).expect_err("refused");
        assert_eq!(e, expected, "server level {level}");
        assert_eq!(e.status(), SecStatus::SEC_E_LOGON_DENIED);
    }
}

// --- anonymous --------------------------------------------------------------------------------

fn anonymous_client() -> ClientConfig {
    ClientConfig { user: "".into(), domain: "".into(), secret: Secret::Password(String::new()), ..client_config() }
}

#[test]
fn an_anonymous_authenticate_has_empty_responses_and_the_anonymous_flag() {
    let (c, _, tokens) = run_to_authenticate(anonymous_client(), server_config());
    let auth = AuthenticateMessage::decode(&tokens.authenticate).expect("decodes");
    assert!(auth.nt_challenge_response.is_empty());
    assert_eq!(auth.lm_challenge_response, vec![0]);
    assert!(auth.flags.contains(F::NTLMSSP_ANONYMOUS));
    assert!(auth.mic.is_none());
    assert_eq!(c.session().kind(), ResponseKind::Anonymous);
}

#[test]
fn anonymous_is_accepted_when_allowed() {
    let server = ServerConfig { allow_anonymous: true, ..server_config() };
    let (mut c, s) = handshake(anonymous_client(), server, &accounts());
    let mut s = s.expect("anonymous allowed");
    assert_eq!(s.session().kind(), ResponseKind::Anonymous);
    assert!(s.account().is_none());
    assert_eq!(s.session().user(), "");
    assert_eq!(s.session().exported_session_key(), c.session().exported_session_key());
    assert_sessions_interoperate(&mut c, &mut s);
}

#[test]
fn anonymous_is_refused_when_not_allowed() {
    let e = refused_with(anonymous_client(), server_config(), &accounts());
    assert_eq!(e, AuthError::AnonymousRefused);
    assert_eq!(e.status(), SecStatus::SEC_E_LOGON_DENIED);
}

// --- determinism and hostile input ------------------------------------------------------------

#[test]
fn the_same_inputs_give_byte_identical_tokens() {
    let run = || {
        let (_, _, t) = run_to_authenticate(client_config(), server_config());
        (t.negotiate, t.challenge, t.authenticate)
    };
    assert_eq!(run(), run());
}

#[test]
fn a_different_client_challenge_or_time_changes_the_authenticate() {
    let (_, _, a) = run_to_authenticate(client_config(), server_config());
    let (expect_challenge, negotiate) =
        client::start(client_config(), ClientRandom { client_challenge: [0xbb; 8], ..RANDOM }).expect("negotiate");
    let (_, challenge) = server::start(server_config()).handle(&negotiate, SERVER_CHALLENGE, TIME).expect("challenge");
    let (_, b) = expect_challenge.handle(&challenge, TIME).expect("authenticate");
    assert_ne!(a.authenticate, b);
}

#[test]
fn a_malformed_authenticate_fails_with_sec_e_invalid_token() {
    let (_, expect_auth, tokens) = run_to_authenticate(client_config(), server_config());
    let e = expect_auth.handle(&tokens.authenticate[..40], &accounts()).expect_err("refused");
    assert!(matches!(e, AuthError::Malformed(_)));
    assert_eq!(e.status(), SecStatus::SEC_E_INVALID_TOKEN);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_truncated_or_mutated_challenge_never_panics_the_client(
        cut in 0usize..400,
        flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..8),
    ) {
        let (_, _, tokens) = run_to_authenticate(client_config(), server_config());
        let mut bytes = tokens.challenge.clone();
        for (at, x) in flips {
            if let Some(b) = bytes.get_mut(at) { *b ^= x; }
        }
        bytes.truncate(cut);
        let (expect_challenge, _) = client::start(client_config(), RANDOM).expect("negotiate");
        let _ = expect_challenge.handle(&bytes, TIME);
    }

    #[test]
    fn a_truncated_or_mutated_authenticate_never_panics_the_server(
        cut in 0usize..600,
        flips in proptest::collection::vec((0usize..600, any::<u8>()), 0..8),
    ) {
        let (_, expect_auth, tokens) = run_to_authenticate(client_config(), server_config());
        let mut bytes = tokens.authenticate.clone();
        for (at, x) in flips {
            if let Some(b) = bytes.get_mut(at) { *b ^= x; }
        }
        bytes.truncate(cut);
        let _ = expect_auth.handle(&bytes, &accounts());
    }

    #[test]
    fn random_bytes_never_panic_either_side(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (expect_challenge, _) = client::start(client_config(), RANDOM).expect("negotiate");
        let _ = expect_challenge.handle(&bytes, TIME);
        let _ = server::start(server_config()).handle(&bytes, SERVER_CHALLENGE, TIME);
        let (_, expect_auth, _) = run_to_authenticate(client_config(), server_config());
        let _ = expect_auth.handle(&bytes, &accounts());
    }
}

// --- MS-NLMP §4.2 samples replayed through the client -----------------------------------------

const VECTORS: &str = include_str!("../../../../../fixtures/vectors/ms-nlmp-4.2.toml");

fn vectors() -> toml::Table {
    VECTORS.parse().expect("the vectors file is valid TOML")
}

fn hex(path: &str) -> Vec<u8> {
    let t = vectors();
    let (group, name) = path.split_once('.').expect("group.name");
    let s = match name {
        _ if group == "common" => t["common"][name].as_str(),
        _ => t[group][name]["hex"].as_str(),
    }
    .unwrap_or_else(|| panic!("{path} is a string"));
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn common(key: &str) -> String {
    vectors()["common"][key].as_str().expect("a string").to_owned()
}

/// A client configured with the §4.2.1 values, at `level`, asking for sealing.
fn sample_client(level: u8) -> (client::ExpectChallenge, ClientRandom) {
    let random = ClientRandom {
        client_challenge: hex("common.client_challenge").try_into().expect("8 bytes"),
        exported_session_key: hex("common.random_session_key").try_into().expect("16 bytes"),
    };
    let config = ClientConfig {
        user: common("user").into(),
        domain: common("user_dom").into(),
        secret: Secret::Password(common("password")),
        workstation: common("workstation").into(),
        lm_compatibility_level: LmCompatibilityLevel(level),
        requested: Requested { integrity: true, confidentiality: true, ..Requested::default() },
        target_name: None,
        channel_bindings: None,
        use_mic: true,
    };
    (client::start(config, random).expect("negotiate").0, random)
}

fn sample_time() -> TimeStamp {
    TimeStamp(i64::from_le_bytes(hex("common.time").try_into().expect("8 bytes")))
}

#[test]
fn the_client_answers_the_ms_nlmp_4_2_4_challenge_with_the_sample_ntlmv2_responses() {
    let (expect_challenge, _) = sample_client(3);
    let (mut c, bytes) = expect_challenge.handle(&hex("v2.challenge_message"), sample_time()).expect("authenticate");
    let auth = AuthenticateMessage::decode(&bytes).expect("decodes");
    assert_eq!(auth.lm_challenge_response, hex("v2.lmv2_response"), "§4.2.4.2.1 LMv2 response");
    let mut nt = hex("v2.nt_proof_str");
    nt.extend(hex("v2.temp"));
    assert_eq!(auth.nt_challenge_response, nt, "§4.2.4.2.2 NTLMv2 response");
    assert_eq!(auth.encrypted_random_session_key, hex("v2.encrypted_session_key"), "§4.2.4.2.3");
    assert!(auth.mic.is_none(), "no MsvAvTimestamp in the sample CHALLENGE, so no MIC");
    // The sample AUTHENTICATE (§4.2.4.3) carries the same fields.
    let sample = AuthenticateMessage::decode(&hex("v2.authenticate_message")).expect("decodes");
    assert_eq!(
        (&auth.lm_challenge_response, &auth.nt_challenge_response, &auth.encrypted_random_session_key),
        (&sample.lm_challenge_response, &sample.nt_challenge_response, &sample.encrypted_random_session_key)
    );
    assert_eq!(
        (&auth.user_name, &auth.domain_name, &auth.workstation),
        (&sample.user_name, &sample.domain_name, &sample.workstation)
    );
    // §4.2.4.4: sealing "Plaintext" gives the sample's sealed data and signature.
    let mut data = hex("common.plaintext");
    let signature = c.session_mut().security().seal(&mut data);
    assert_eq!(data, hex("v2.wrap_sealed_data"));
    assert_eq!(signature.to_vec(), hex("v2.wrap_signature"));
}

#[test]
fn a_level_1_client_answers_the_ms_nlmp_4_2_3_challenge_with_the_sample_ess_responses() {
    let (expect_challenge, _) = sample_client(1);
    let (mut c, bytes) = expect_challenge.handle(&hex("ess.challenge_message"), sample_time()).expect("authenticate");
    let auth = AuthenticateMessage::decode(&bytes).expect("decodes");
    assert_eq!(auth.lm_challenge_response, hex("ess.lmv1_response"), "§4.2.3.2.1");
    assert_eq!(auth.nt_challenge_response, hex("ess.ntlmv1_response"), "§4.2.3.2.2");
    assert!(auth.encrypted_random_session_key.is_empty(), "the sample negotiates no KEY_EXCH");
    assert_eq!(c.session().exported_session_key().to_vec(), hex("ess.key_exchange_key"));
    let mut data = hex("common.plaintext");
    let signature = c.session_mut().security().seal(&mut data);
    assert_eq!(data, hex("ess.wrap_sealed_data"), "§4.2.3.4");
    assert_eq!(signature.to_vec(), hex("ess.wrap_signature"));
}
