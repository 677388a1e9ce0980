//! Every MS-NLMP §4.2 test vector of `fixtures/vectors/ms-nlmp-4.2.toml`, byte for byte, each
//! as its own test; then round trips of the session security between a client and a server.

use std::sync::OnceLock;

use super::av_pairs::{AvPair, AvPairs};
use super::crypto::*;
use super::messages::*;
use super::{Error, NegotiateFlags as F};

const VECTORS: &str = include_str!("../../../../fixtures/vectors/ms-nlmp-4.2.toml");

fn vectors() -> &'static toml::Table {
    static TABLE: OnceLock<toml::Table> = OnceLock::new();
    TABLE.get_or_init(|| VECTORS.parse().expect("the vectors file is valid TOML"))
}

/// The `hex` of table `group.name`, decoded.
fn v(path: &str) -> Vec<u8> {
    let (group, name) = path.split_once('.').expect("group.name");
    let s = vectors()[group][name]["hex"].as_str().unwrap_or_else(|| panic!("{path}.hex is a string"));
    unhex(s)
}

fn va<const N: usize>(path: &str) -> [u8; N] {
    v(path).try_into().unwrap_or_else(|b: Vec<u8>| panic!("{path} is {} bytes, not {N}", b.len()))
}

fn common(key: &str) -> &'static str {
    vectors()["common"][key].as_str().expect("a string")
}

fn common_bytes<const N: usize>(key: &str) -> [u8; N] {
    unhex(common(key)).try_into().expect("the right length")
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn key() -> [u8; 16] {
    common_bytes("random_session_key")
}
fn server_challenge() -> [u8; 8] {
    common_bytes("server_challenge")
}
fn client_challenge() -> [u8; 8] {
    common_bytes("client_challenge")
}
fn time() -> u64 {
    u64::from_le_bytes(common_bytes("time"))
}
fn plaintext() -> Vec<u8> {
    unhex(common("plaintext"))
}
fn nt_v1() -> [u8; 16] {
    ntowfv1(common("password"))
}
fn lm_v1() -> [u8; 16] {
    lmowfv1(common("password")).expect("'Password' has an LM hash")
}
fn flags(path: &str) -> F {
    F(u32::from_le_bytes(va(path)))
}

fn v1_flags() -> F {
    F::NTLMSSP_NEGOTIATE_KEY_EXCH
        | F::NTLMSSP_NEGOTIATE_56
        | F::NTLMSSP_NEGOTIATE_128
        | F::NTLMSSP_NEGOTIATE_VERSION
        | F::NTLMSSP_TARGET_TYPE_SERVER
        | F::NTLMSSP_NEGOTIATE_ALWAYS_SIGN
        | F::NTLMSSP_NEGOTIATE_NTLM
        | F::NTLMSSP_NEGOTIATE_SEAL
        | F::NTLMSSP_NEGOTIATE_SIGN
        | F::NTLM_NEGOTIATE_OEM
        | F::NTLMSSP_NEGOTIATE_UNICODE
}

fn ess_flags() -> F {
    F::NTLMSSP_NEGOTIATE_56
        | F::NTLMSSP_NEGOTIATE_VERSION
        | F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
        | F::NTLMSSP_TARGET_TYPE_SERVER
        | F::NTLMSSP_NEGOTIATE_ALWAYS_SIGN
        | F::NTLMSSP_NEGOTIATE_NTLM
        | F::NTLMSSP_NEGOTIATE_SEAL
        | F::NTLMSSP_NEGOTIATE_SIGN
        | F::NTLM_NEGOTIATE_OEM
        | F::NTLMSSP_NEGOTIATE_UNICODE
}

fn v2_flags() -> F {
    v1_flags() | F::NTLMSSP_NEGOTIATE_TARGET_INFO | F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
}

fn v1_responses(flags: F, no_lm_response: bool) -> Ntlmv1Responses {
    ntlmv1_responses(flags, &nt_v1(), &lm_v1(), &server_challenge(), &client_challenge(), no_lm_response)
}

fn v2_responses() -> Ntlmv2Responses {
    let k = ntowfv2(common("password"), common("user"), common("user_dom"));
    ntlmv2_responses(&k, &k, &server_challenge(), &client_challenge(), time(), &v("v2.target_info"))
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

// --- 4.2.2 NTLM v1 ---------------------------------------------------------------------------

#[test]
fn v1_challenge_flags_match_ms_nlmp_4_2_2() {
    assert_eq!(flags("v1.flags"), v1_flags());
}

#[test]
fn lmowfv1_matches_ms_nlmp_4_2_2_1_1() {
    assert_eq!(lm_v1(), va("v1.lmowfv1"));
}

#[test]
fn ntowfv1_matches_ms_nlmp_4_2_2_1_2() {
    assert_eq!(nt_v1(), va("v1.ntowfv1"));
}

#[test]
fn v1_session_base_key_and_key_exchange_key_match_ms_nlmp_4_2_2_1_3() {
    let r = v1_responses(v1_flags(), false);
    assert_eq!(r.session_base_key, va("v1.session_base_key"));
    let kxkey = kxkey_v1(v1_flags(), &r.session_base_key, &lm_v1(), &r.lm_challenge_response);
    assert_eq!(kxkey, va("v1.session_base_key"));
}

#[test]
fn v1_key_exchange_key_with_lm_key_matches_ms_nlmp_4_2_2_1_3() {
    let flags = v1_flags() | F::NTLMSSP_NEGOTIATE_LM_KEY;
    let r = v1_responses(flags, false);
    assert_eq!(
        kxkey_v1(flags, &r.session_base_key, &lm_v1(), &r.lm_challenge_response),
        va("v1.key_exchange_key_lm_key")
    );
}

#[test]
fn ntlmv1_response_matches_ms_nlmp_4_2_2_2_1() {
    assert_eq!(v1_responses(v1_flags(), false).nt_challenge_response.to_vec(), v("v1.ntlmv1_response"));
}

#[test]
fn lmv1_response_matches_ms_nlmp_4_2_2_2_2() {
    assert_eq!(v1_responses(v1_flags(), false).lm_challenge_response.to_vec(), v("v1.lmv1_response"));
    // With NoLMResponseNTLMv1 the LM response is a copy of the NT response.
    let r = v1_responses(v1_flags(), true);
    assert_eq!(r.lm_challenge_response, r.nt_challenge_response);
}

#[test]
fn v1_encrypted_session_key_matches_ms_nlmp_4_2_2_2_3() {
    let r = v1_responses(v1_flags(), false);
    let kxkey = kxkey_v1(v1_flags(), &r.session_base_key, &lm_v1(), &r.lm_challenge_response);
    assert_eq!(rc4k(&kxkey, &key()), va("v1.encrypted_session_key"));
    // And the server gets the exported session key back.
    assert_eq!(rc4k(&kxkey, &va("v1.encrypted_session_key")), key());
}

#[test]
fn v1_encrypted_session_key_with_non_nt_session_key_matches_ms_nlmp_4_2_2_2_3() {
    let flags = v1_flags() | F::NTLMSSP_REQUEST_NON_NT_SESSION_KEY;
    let r = v1_responses(flags, false);
    let kxkey = kxkey_v1(flags, &r.session_base_key, &lm_v1(), &r.lm_challenge_response);
    assert_eq!(rc4k(&kxkey, &key()), va("v1.encrypted_session_key_non_nt_session_key"));
}

#[test]
fn v1_encrypted_session_key_with_lm_key_matches_ms_nlmp_4_2_2_2_3() {
    let flags = v1_flags() | F::NTLMSSP_NEGOTIATE_LM_KEY;
    let r = v1_responses(flags, false);
    let kxkey = kxkey_v1(flags, &r.session_base_key, &lm_v1(), &r.lm_challenge_response);
    assert_eq!(rc4k(&kxkey, &key()), va("v1.encrypted_session_key_lm_key"));
}

fn v1_challenge() -> ChallengeMessage {
    ChallengeMessage {
        flags: v1_flags(),
        target_name: utf16(common("server")),
        server_challenge: server_challenge(),
        reserved: [0; 8],
        target_info: None,
        version: Some(Version::new(6, 0, 6000)),
    }
}

#[test]
fn v1_challenge_message_matches_ms_nlmp_4_2_2_3() {
    let bytes = v("v1.challenge_message");
    assert_eq!(ChallengeMessage::decode(&bytes), Ok(v1_challenge()));
    assert_eq!(v1_challenge().encode(), Ok(bytes));
}

#[test]
fn v1_authenticate_message_matches_ms_nlmp_4_2_2_3() {
    let bytes = v("v1.authenticate_message");
    let r = v1_responses(v1_flags(), false);
    let kxkey = kxkey_v1(v1_flags(), &r.session_base_key, &lm_v1(), &r.lm_challenge_response);
    let expected = AuthenticateMessage {
        // As the sample sends them: not the challenge's (no OEM, no TARGET_TYPE_SERVER; REQUEST_TARGET
        // and TARGET_INFO set).
        flags: F(0xe280_8235),
        lm_challenge_response: r.lm_challenge_response.to_vec(),
        nt_challenge_response: r.nt_challenge_response.to_vec(),
        domain_name: utf16(common("user_dom")),
        user_name: utf16(common("user")),
        workstation: utf16(common("workstation")),
        encrypted_random_session_key: rc4k(&kxkey, &key()).to_vec(),
        version: Some(Version::new(5, 1, 2600)),
        mic: None,
    };
    assert_eq!(AuthenticateMessage::decode(&bytes), Ok(expected.clone()));
    assert_eq!(expected.encode(), Ok(bytes));
}

#[test]
fn v1_wrap_intermediate_values_match_ms_nlmp_4_2_2_4() {
    let mut handle = Rc4Handle::from_seal_key(&sealkey(v1_flags(), &key(), Mode::Client));
    let mut data = plaintext();
    handle.apply(&mut data);
    assert_eq!(data, v("v1.wrap_sealed_data"));
    let trace = mac_v1(&mut handle, 0, &plaintext());
    assert_eq!(trace.crc32, va("v1.wrap_crc32"));
    assert_eq!(trace.random_pad, va("v1.wrap_random_pad"));
    assert_eq!(trace.checksum, va("v1.wrap_checksum"));
    assert_eq!(trace.seq_num, va("v1.wrap_seq_num"));
    assert_eq!(trace.assembled(), va("v1.wrap_assembled_signature"));
}

/// Seals the §4.2 plaintext as the client with `flags`, compares the sealed data and signature with
/// the vectors, and checks that the server unseals it back.
fn check_wrap(flags: F, sealed: &str, signature_vector: &str) {
    let mut client = SessionSecurity::new(flags, &key(), Mode::Client);
    let mut data = plaintext();
    let signature = client.seal(&mut data);
    assert_eq!(data, v(sealed));
    assert_eq!(signature, va(signature_vector));
    let mut server = SessionSecurity::new(flags, &key(), Mode::Server);
    assert_eq!(server.unseal(&mut data, &signature), Ok(()));
    assert_eq!(data, plaintext());
}

#[test]
fn v1_wrap_sealed_data_and_signature_match_ms_nlmp_4_2_2_4() {
    check_wrap(v1_flags(), "v1.wrap_sealed_data", "v1.wrap_signature_on_the_wire");
}

// --- 4.2.3 NTLM v1 with client challenge (extended session security) -------------------------

#[test]
fn ess_challenge_flags_match_ms_nlmp_4_2_3() {
    assert_eq!(flags("ess.flags"), ess_flags());
}

#[test]
fn ess_key_exchange_key_matches_ms_nlmp_4_2_3_1_3() {
    let r = v1_responses(ess_flags(), false);
    assert_eq!(r.session_base_key, va("v1.session_base_key"));
    assert_eq!(
        kxkey_v1_ess(&r.session_base_key, &server_challenge(), &r.lm_challenge_response),
        va("ess.key_exchange_key")
    );
}

#[test]
fn ess_lmv1_response_matches_ms_nlmp_4_2_3_2_1() {
    assert_eq!(v1_responses(ess_flags(), false).lm_challenge_response.to_vec(), v("ess.lmv1_response"));
}

#[test]
fn ess_ntlmv1_response_matches_ms_nlmp_4_2_3_2_2() {
    assert_eq!(v1_responses(ess_flags(), false).nt_challenge_response.to_vec(), v("ess.ntlmv1_response"));
}

#[test]
fn ess_challenge_message_matches_ms_nlmp_4_2_3_3() {
    let bytes = v("ess.challenge_message");
    let expected = ChallengeMessage { flags: ess_flags(), ..v1_challenge() };
    assert_eq!(ChallengeMessage::decode(&bytes), Ok(expected.clone()));
    assert_eq!(expected.encode(), Ok(bytes));
}

#[test]
fn ess_authenticate_message_matches_ms_nlmp_4_2_3_3() {
    let bytes = v("ess.authenticate_message");
    let r = v1_responses(ess_flags(), false);
    let expected = AuthenticateMessage {
        // As the sample sends them: no OEM, no TARGET_TYPE_SERVER, REQUEST_TARGET set.
        flags: F(0x8208_8235),
        lm_challenge_response: r.lm_challenge_response.to_vec(),
        nt_challenge_response: r.nt_challenge_response.to_vec(),
        domain_name: utf16(common("user_dom")),
        user_name: utf16(common("user")),
        workstation: utf16(common("workstation")),
        encrypted_random_session_key: Vec::new(),
        version: Some(Version::new(5, 1, 2600)),
        mic: None,
    };
    assert_eq!(AuthenticateMessage::decode(&bytes), Ok(expected.clone()));
    assert_eq!(expected.encode(), Ok(bytes));
}

fn ess_exported_session_key() -> [u8; 16] {
    // No NTLMSSP_NEGOTIATE_KEY_EXCH: the exported session key is the key exchange key.
    let r = v1_responses(ess_flags(), false);
    kxkey_v1_ess(&r.session_base_key, &server_challenge(), &r.lm_challenge_response)
}

#[test]
fn ess_sealing_and_signing_keys_match_ms_nlmp_4_2_3_4() {
    let k = ess_exported_session_key();
    assert_eq!(sealkey(ess_flags(), &k, Mode::Client).as_bytes(), v("ess.sealing_key"));
    assert_eq!(signkey(ess_flags(), &k, Mode::Client), Some(va("ess.signing_key")));
}

#[test]
fn ess_wrap_matches_ms_nlmp_4_2_3_4() {
    let k = ess_exported_session_key();
    let mut client = SessionSecurity::new(ess_flags(), &k, Mode::Client);
    let mut data = plaintext();
    let signature = client.seal(&mut data);
    assert_eq!(data, v("ess.wrap_sealed_data"));
    assert_eq!(signature, va("ess.wrap_signature"));
    let mut server = SessionSecurity::new(ess_flags(), &k, Mode::Server);
    assert_eq!(server.unseal(&mut data, &signature), Ok(()));
    assert_eq!(data, plaintext());
}

// --- 4.2.4 NTLMv2 ----------------------------------------------------------------------------

#[test]
fn v2_challenge_flags_match_ms_nlmp_4_2_4() {
    assert_eq!(flags("v2.flags"), v2_flags());
}

fn v2_target_info() -> AvPairs {
    AvPairs(vec![AvPair::NbDomainName(common("user_dom").into()), AvPair::NbComputerName(common("server").into())])
}

#[test]
fn v2_target_info_matches_ms_nlmp_4_2_4() {
    assert_eq!(AvPairs::decode(&v("v2.target_info")), Ok(v2_target_info()));
    assert_eq!(v2_target_info().encode(), v("v2.target_info"));
}

#[test]
fn ntowfv2_matches_ms_nlmp_4_2_4_1_1() {
    assert_eq!(ntowfv2(common("password"), common("user"), common("user_dom")), va("v2.ntowfv2"));
    assert_eq!(lmowfv2(common("password"), common("user"), common("user_dom")), va("v2.ntowfv2"));
}

#[test]
fn v2_session_base_key_matches_ms_nlmp_4_2_4_1_2() {
    assert_eq!(v2_responses().session_base_key, va("v2.session_base_key"));
    assert_eq!(kxkey_v2(&v2_responses().session_base_key), va("v2.session_base_key"));
}

#[test]
fn v2_temp_matches_ms_nlmp_4_2_4_1_3() {
    assert_eq!(ntlmv2_client_challenge(time(), &client_challenge(), &v("v2.target_info")), v("v2.temp"));
}

#[test]
fn lmv2_response_matches_ms_nlmp_4_2_4_2_1() {
    assert_eq!(v2_responses().lm_challenge_response.to_vec(), v("v2.lmv2_response"));
}

#[test]
fn ntlmv2_response_matches_ms_nlmp_4_2_4_2_2() {
    let r = v2_responses();
    assert_eq!(r.nt_proof_str, va("v2.nt_proof_str"));
    let mut expected = v("v2.nt_proof_str");
    expected.extend(v("v2.temp"));
    assert_eq!(r.nt_challenge_response, expected);
}

#[test]
fn v2_encrypted_session_key_matches_ms_nlmp_4_2_4_2_3() {
    let kxkey = kxkey_v2(&v2_responses().session_base_key);
    assert_eq!(rc4k(&kxkey, &key()), va("v2.encrypted_session_key"));
}

#[test]
fn v2_challenge_message_matches_ms_nlmp_4_2_4_3() {
    let bytes = v("v2.challenge_message");
    let expected = ChallengeMessage { flags: v2_flags(), target_info: Some(v2_target_info()), ..v1_challenge() };
    assert_eq!(ChallengeMessage::decode(&bytes), Ok(expected.clone()));
    assert_eq!(expected.encode(), Ok(bytes));
}

#[test]
fn v2_authenticate_message_matches_ms_nlmp_4_2_4_3() {
    let bytes = v("v2.authenticate_message");
    let r = v2_responses();
    let expected = AuthenticateMessage {
        // As the sample sends them: no OEM, no TARGET_TYPE_SERVER, REQUEST_TARGET set.
        flags: F(0xe288_8235),
        lm_challenge_response: r.lm_challenge_response.to_vec(),
        nt_challenge_response: r.nt_challenge_response.clone(),
        domain_name: utf16(common("user_dom")),
        user_name: utf16(common("user")),
        workstation: utf16(common("workstation")),
        encrypted_random_session_key: rc4k(&kxkey_v2(&r.session_base_key), &key()).to_vec(),
        version: Some(Version::new(5, 1, 2600)),
        mic: None,
    };
    let decoded = AuthenticateMessage::decode(&bytes);
    assert_eq!(decoded, Ok(expected.clone()));
    assert_eq!(expected.encode(), Ok(bytes));
    // The NTLMv2_RESPONSE inside parses back to its parts.
    let resp = Ntlmv2Response::decode(&r.nt_challenge_response).expect("a valid NTLMv2 response");
    assert_eq!(resp.nt_proof_str, va("v2.nt_proof_str"));
    assert_eq!((resp.timestamp, resp.challenge_from_client), (time(), client_challenge()));
    assert_eq!(resp.av_pairs, v2_target_info());
    assert_eq!(resp.trailing, vec![0; 4]);
}

#[test]
fn v2_sealing_and_signing_keys_match_ms_nlmp_4_2_4_4() {
    assert_eq!(sealkey(v2_flags(), &key(), Mode::Client).as_bytes(), v("v2.sealing_key"));
    assert_eq!(signkey(v2_flags(), &key(), Mode::Client), Some(va("v2.signing_key")));
}

#[test]
fn v2_wrap_checksums_match_ms_nlmp_4_2_4_4() {
    let digest = hmac_md5(&va::<16>("v2.signing_key"), &[&0u32.to_le_bytes(), &plaintext()]);
    assert_eq!(digest[0..8], v("v2.wrap_checksum_hmac")[..]);
    let mut handle = Rc4Handle::from_seal_key(&sealkey(v2_flags(), &key(), Mode::Client));
    let mut data = plaintext();
    handle.apply(&mut data);
    let sig = mac_ess(v2_flags(), &mut handle, &va("v2.signing_key"), 0, &plaintext());
    assert_eq!(sig, MessageSignature::Ess { checksum: va("v2.wrap_checksum_rc4"), seq_num: 0 });
}

#[test]
fn v2_wrap_sealed_data_and_signature_match_ms_nlmp_4_2_4_4() {
    check_wrap(v2_flags(), "v2.wrap_sealed_data", "v2.wrap_signature");
}

// --- values from a public test suite, for paths §4.2 has no example of ------------------------

#[test]
fn crc32_of_check_string_matches_the_crc_catalogue() {
    assert_eq!(crc32fast::hash(b"123456789").to_le_bytes(), va("extra.crc32_check"));
}

#[test]
fn v1_key_exchange_key_with_non_nt_session_key_is_lmowf_half() {
    let flags = v1_flags() | F::NTLMSSP_REQUEST_NON_NT_SESSION_KEY;
    let r = v1_responses(flags, false);
    assert_eq!(
        kxkey_v1(flags, &r.session_base_key, &lm_v1(), &r.lm_challenge_response),
        va("extra.key_exchange_key_non_nt_session_key")
    );
}

#[test]
fn ess_sealing_keys_are_weakened_to_56_and_40_bits() {
    let ess = F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY;
    let cases = [
        (ess | F::NTLMSSP_NEGOTIATE_128, Mode::Server, "extra.sealkey_ess_128_server"),
        (ess | F::NTLMSSP_NEGOTIATE_56, Mode::Client, "extra.sealkey_ess_56_client"),
        (ess | F::NTLMSSP_NEGOTIATE_56, Mode::Server, "extra.sealkey_ess_56_server"),
        (ess, Mode::Client, "extra.sealkey_ess_40_client"),
        (ess, Mode::Server, "extra.sealkey_ess_40_server"),
    ];
    for (flags, mode, path) in cases {
        assert_eq!(sealkey(flags, &key(), mode).as_bytes(), v(path), "{path}");
    }
}

#[test]
fn lm_key_and_datagram_sealing_keys_are_weakened_to_56_and_40_bits() {
    for extra in [F::NTLMSSP_NEGOTIATE_LM_KEY, F::NTLMSSP_NEGOTIATE_DATAGRAM] {
        assert_eq!(
            sealkey(extra | F::NTLMSSP_NEGOTIATE_56, &key(), Mode::Client).as_bytes(),
            v("extra.sealkey_lm_key_56")
        );
        assert_eq!(sealkey(extra, &key(), Mode::Client).as_bytes(), v("extra.sealkey_lm_key_40"));
    }
    assert_eq!(sealkey(F::empty(), &key(), Mode::Client).as_bytes(), key());
}

#[test]
fn server_signing_key_matches_and_v1_has_none() {
    let ess = F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY;
    assert_eq!(signkey(ess, &key(), Mode::Server), Some(va("extra.signkey_server")));
    assert_eq!(signkey(F::empty(), &key(), Mode::Client), None);
}

#[test]
fn v2_signature_without_key_exchange_is_the_plain_hmac() {
    let flags = v2_flags().without(F::NTLMSSP_NEGOTIATE_KEY_EXCH);
    let mut client = SessionSecurity::new(flags, &key(), Mode::Client);
    let mut data = plaintext();
    let signature = client.seal(&mut data);
    assert_eq!(data, v("v2.wrap_sealed_data"));
    assert_eq!(signature, va("extra.v2_wrap_signature_no_key_exch"));
}

// --- behaviour beyond the vectors -------------------------------------------------------------

#[test]
fn lmowfv1_cannot_be_computed_for_long_or_non_ascii_passwords() {
    assert_eq!(lmowfv1("fifteen-chars!!"), None);
    assert_eq!(lmowfv1("pässword"), None);
    assert!(lmowfv1("fourteen-chars").is_some());
}

#[test]
fn sessions_sign_seal_and_verify_both_ways_with_sequence_numbers() {
    for flags in [v1_flags(), ess_flags(), v2_flags(), v2_flags().without(F::NTLMSSP_NEGOTIATE_KEY_EXCH)] {
        let mut client = SessionSecurity::new(flags, &key(), Mode::Client);
        let mut server = SessionSecurity::new(flags, &key(), Mode::Server);
        for i in 0..3u8 {
            let msg = vec![i; 5 + usize::from(i)];
            let sig = client.sign(&msg);
            assert_eq!(server.verify(&msg, &sig), Ok(()), "{flags:?} message {i}");
            let mut sealed = msg.clone();
            let sig = server.seal(&mut sealed);
            assert_ne!(sealed, msg);
            assert_eq!(client.unseal(&mut sealed, &sig), Ok(()));
            assert_eq!(sealed, msg);
        }
        // Without extended session security one counter serves both directions.
        let n = if flags.contains(F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) { 3 } else { 6 };
        assert_eq!(client.sequence_numbers(), (n, n));
        assert_eq!(server.sequence_numbers(), (n, n));
    }
}

#[test]
fn a_tampered_message_or_signature_fails_to_verify() {
    for flags in [v1_flags(), v2_flags()] {
        let mut client = SessionSecurity::new(flags, &key(), Mode::Client);
        let mut server = SessionSecurity::new(flags, &key(), Mode::Server);
        let sig = client.sign(b"hello");
        assert_eq!(server.verify(b"hellO", &sig), Err(Error::SignatureMismatch));
        let sig = client.sign(b"hello");
        assert_eq!(server.verify(b"hello", &sig[..15]), Err(Error::BadMessageSignature));
        // Out of step: the server has consumed sequence number 1 already.
        let mut replayed = *b"again";
        let sig = client.seal(&mut replayed);
        let mut other = SessionSecurity::new(flags, &key(), Mode::Server);
        assert_eq!(other.unseal(&mut replayed, &sig), Err(Error::SignatureMismatch));
    }
}

#[test]
fn decoders_name_what_is_wrong() {
    let bytes = v("v2.challenge_message");
    assert!(matches!(ChallengeMessage::decode(&bytes[..5]), Err(Error::Truncated { .. })));
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(matches!(ChallengeMessage::decode(&bad), Err(Error::BadSignature(_))));
    assert!(matches!(
        NegotiateMessage::decode(&bytes),
        Err(Error::WrongMessageType { expected: MessageType::NtLmNegotiate, found: MessageType::NtLmChallenge })
    ));
    // TargetInfoFields.Len grown past the end.
    let mut bad = bytes.clone();
    bad[40] = 0x40;
    assert!(matches!(ChallengeMessage::decode(&bad), Err(Error::FieldOutOfBounds { field: "TargetInfoFields", .. })));
    // TargetNameFields.BufferOffset moved into the header.
    let mut bad = bytes.clone();
    bad[16] = 0x10;
    assert!(matches!(
        ChallengeMessage::decode(&bad),
        Err(Error::FieldOverlapsHeader { field: "TargetNameFields", .. })
    ));
    // The AV_PAIR list without its MsvAvEOL (TargetInfoFields.Len shortened by 4).
    let mut bad = bytes.clone();
    bad[40] -= 4;
    assert_eq!(ChallengeMessage::decode(&bad), Err(Error::MissingAvEol));
    // An MsvAvFlags of the wrong size.
    assert!(matches!(AvPairs::decode(&[6, 0, 2, 0, 1, 2, 0, 0, 0, 0]), Err(Error::BadAvPair { .. })));
    assert!(matches!(AvPairs::decode(&[1, 0, 9, 0, 1, 2]), Err(Error::AvPairOutOfBounds { .. })));
    assert!(matches!(AvPairs::decode(&[0, 0, 0, 0, 1]), Err(Error::TrailingBytes { .. })));
}

#[test]
fn negotiate_message_with_names_round_trips() {
    let m = NegotiateMessage {
        flags: F::NTLMSSP_NEGOTIATE_UNICODE
            | F::NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED
            | F::NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED
            | F::NTLMSSP_NEGOTIATE_VERSION,
        domain_name: b"DOMAIN".to_vec(),
        workstation: b"COMPUTER".to_vec(),
        version: Some(Version::new(10, 0, 19041)),
    };
    let bytes = m.encode().expect("small fields");
    assert_eq!(NegotiateMessage::decode(&bytes), Ok(m.clone()));
    assert_eq!(decode_text(&m.domain_name, F::empty(), "DomainName"), Ok("DOMAIN".into()));
}

#[test]
fn authenticate_message_with_mic_round_trips() {
    let m = AuthenticateMessage {
        flags: v2_flags(),
        nt_challenge_response: v2_responses().nt_challenge_response,
        user_name: utf16("User"),
        version: Some(Version::new(10, 0, 1)),
        mic: Some([7; 16]),
        ..AuthenticateMessage::default()
    };
    let bytes = m.encode().expect("small fields");
    assert_eq!(bytes[AuthenticateMessage::MIC_OFFSET..AuthenticateMessage::MIC_OFFSET + 16], [7; 16]);
    assert_eq!(AuthenticateMessage::decode(&bytes), Ok(m));
}

/// The per-thread memos of NTOWFv1 and NTOWFv2 answer exactly what the derivations compute:
/// for 40 distinct inputs (more than a memo holds), asked twice in a row and again after the
/// memo has cycled, against MD4 and HMAC-MD5 computed here directly.
#[test]
fn memoized_owfs_answer_what_the_derivations_compute() {
    use hmac::{KeyInit, Mac};
    use md4::Digest;
    let direct_v1 = |p: &str| -> [u8; 16] {
        let units: Vec<u8> = p.encode_utf16().flat_map(u16::to_le_bytes).collect();
        md4::Md4::digest(&units).into()
    };
    let direct_v2 = |p: &str, user: &str, domain: &str| -> [u8; 16] {
        let mut mac = <hmac::Hmac<md5::Md5> as KeyInit>::new_from_slice(&direct_v1(p)).expect("any key");
        let text: Vec<u8> = (user.to_uppercase() + domain).encode_utf16().flat_map(u16::to_le_bytes).collect();
        mac.update(&text);
        mac.finalize().into_bytes().into()
    };
    let inputs: Vec<(String, String, String)> =
        (0..40).map(|i| (format!("Passw0rd{i}"), format!("user{}", i % 7), format!("DOM{}", i % 3))).collect();
    for _round in 0..2 {
        for (p, u, d) in &inputs {
            for _ in 0..2 {
                assert_eq!(ntowfv1(p), direct_v1(p), "NTOWFv1({p})");
                assert_eq!(ntowfv2(p, u, d), direct_v2(p, u, d), "NTOWFv2({p}, {u}, {d})");
                assert_eq!(ntowfv2_key(&direct_v1(p), u, d).mac(&[b"x"]), hmac_md5(&direct_v2(p, u, d), &[b"x"]));
            }
        }
    }
    // One input changed at a time, right after the other: never the memo's previous answer.
    for (p, u, d) in [("same", "alice", "CONTOSO"), ("same", "bob", "CONTOSO"), ("same", "alice", "FABRIKAM")] {
        assert_eq!(ntowfv2(p, u, d), direct_v2(p, u, d), "NTOWFv2({p}, {u}, {d})");
    }
    // The same user and domain with another password, right after the first: not the memo's
    // previous answer.
    assert_ne!(ntowfv2("one", "alice", "CONTOSO"), ntowfv2("two", "alice", "CONTOSO"));
    assert_eq!(ntowfv2("two", "alice", "CONTOSO"), direct_v2("two", "alice", "CONTOSO"));
}
