//! The NTLM computations of MS-NLMP §3.3 (responses) and §3.4 (keys, signing, sealing), over
//! the RustCrypto primitives (MD4, MD5, HMAC-MD5, RC4, DES) and `crc32fast`.
//!
//! Everything here is a pure function of its inputs, except the RC4 handle ([`Rc4Handle`]) and
//! [`SessionSecurity`], which keep the cipher state and sequence numbers between messages.
//!
//! # Windows
//!
//! MS-NLMP §3.3.1 (NTLM v1), §3.3.2 (NTLM v2), §3.4.3 (sealing), §3.4.4 (signatures),
//! §3.4.5 (KXKEY, SIGNKEY, SEALKEY): <https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-nlmp/>

use des::Des;
use des::cipher::{BlockCipherEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use rc4::{Rc4, StreamCipher};

use super::av_pairs::utf16le;
use super::{Error, NegotiateFlags};

/// MD4 of `data`.
pub fn md4(data: &[u8]) -> [u8; 16] {
    Md4::digest(data).into()
}

/// MD5 of the concatenation of `parts`.
pub fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// HMAC-MD5 with `key` of the concatenation of `parts`.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC accepts keys of any length (longer ones are hashed), so this cannot fail.
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// An HMAC-MD5 key, processed once, for several MACs under the same key.
#[derive(Clone)]
pub struct HmacMd5Key(Hmac<Md5>);

impl HmacMd5Key {
    /// Processes `key`.
    pub fn new(key: &[u8]) -> Self {
        Self(<Hmac<Md5> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length"))
    }

    /// HMAC_MD5(key, concatenation of `parts`).
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 16] {
        let mut m = self.0.clone();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for HmacMd5Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacMd5Key(..)")
    }
}

/// DES-ECB of one block with a 7-byte key, expanded to 8 bytes as MS-NLMP §6 describes (the
/// low bit of each key byte is the ignored parity bit).
pub fn des7(key: &[u8; 7], block: &[u8; 8]) -> [u8; 8] {
    let k = key;
    let expanded = [
        k[0] & 0xfe,
        (k[0] << 7) | (k[1] >> 1),
        (k[1] << 6) | (k[2] >> 2),
        (k[2] << 5) | (k[3] >> 3),
        (k[3] << 4) | (k[4] >> 4),
        (k[4] << 3) | (k[5] >> 5),
        (k[5] << 2) | (k[6] >> 6),
        k[6] << 1,
    ];
    // DES keys are exactly 8 bytes, as `expanded` is.
    let cipher = Des::new_from_slice(&expanded).expect("an 8-byte DES key");
    let mut b = des::cipher::Block::<Des>::from(*block);
    cipher.encrypt_block(&mut b);
    b.into()
}

/// `DESL(K, D)` (MS-NLMP §6): three DES encryptions of `data` under the 16-byte key split into
/// 7 + 7 + 2 bytes (the last zero-padded).
pub fn desl(key: &[u8; 16], data: &[u8; 8]) -> [u8; 24] {
    let mut out = [0; 24];
    out[0..8].copy_from_slice(&des7(&sub7(key, 0), data));
    out[8..16].copy_from_slice(&des7(&sub7(key, 7), data));
    let last = [key[14], key[15], 0, 0, 0, 0, 0];
    out[16..24].copy_from_slice(&des7(&last, data));
    out
}

/// Seven bytes of `key` from `at` (`at + 7 <= 16`).
fn sub7(key: &[u8; 16], at: usize) -> [u8; 7] {
    let mut k = [0; 7];
    k.copy_from_slice(&key[at..at + 7]);
    k
}

/// `NTOWFv1(Passwd)` = MD4(UNICODE(Passwd)) (MS-NLMP §3.3.1): the NT hash.
///
/// Memoized per thread (a small memo of recent inputs): the LSA keeps the OWF of a logon session's password
/// instead of hashing it again for every handshake.
pub fn ntowfv1(password: &str) -> [u8; 16] {
    NTOWF_V1.with_borrow_mut(|memo| {
        memo.get_or_insert_with(|k: &String| k == password, || (password.to_owned(), md4(&utf16le(password))))
    })
}

/// How many recent results each per-thread memo of a key derivation keeps.
const MEMO_ENTRIES: usize = 16;

/// A small memo of a pure key derivation: the last [`MEMO_ENTRIES`] inputs and their results,
/// replaced round-robin. A hit returns exactly what the derivation would compute, so callers
/// cannot tell it is there except by the time it saves (docs/PERFORMANCE.md).
struct Memo<K, V> {
    entries: Vec<(K, V)>,
    next: usize,
}

impl<K, V: Clone> Memo<K, V> {
    const fn new() -> Self {
        Self { entries: Vec::new(), next: 0 }
    }

    fn get_or_insert_with(&mut self, matches: impl Fn(&K) -> bool, derive: impl FnOnce() -> (K, V)) -> V {
        if let Some((_, v)) = self.entries.iter().find(|(k, _)| matches(k)) {
            return v.clone();
        }
        let (k, v) = derive();
        if self.entries.len() < MEMO_ENTRIES {
            self.entries.push((k, v.clone()));
        } else {
            self.entries[self.next] = (k, v.clone());
            self.next = (self.next + 1) % MEMO_ENTRIES;
        }
        v
    }
}

/// The inputs of NTOWFv2 a [`Memo`] entry was computed from.
struct Ntowfv2Input {
    nt_hash: [u8; 16],
    user: String,
    domain: String,
}

thread_local! {
    static NTOWF_V1: std::cell::RefCell<Memo<String, [u8; 16]>> = const { std::cell::RefCell::new(Memo::new()) };
    static NTOWF_V2: std::cell::RefCell<Memo<Ntowfv2Input, (HmacMd5Key, [u8; 16])>> =
        const { std::cell::RefCell::new(Memo::new()) };
}

/// `LMOWFv1(Passwd)` (MS-NLMP §3.3.1): DES of `"KGS!@#$%"` under the two halves of the
/// uppercased password, zero-padded to 14 bytes.
///
/// `None` if the password is longer than 14 characters (MS-NLMP: "the LMOWF v1 cannot be
/// computed") or not ASCII: the OEM code page is not simulated **\[I\]**.
pub fn lmowfv1(password: &str) -> Option<[u8; 16]> {
    if !password.is_ascii() || password.len() > 14 {
        return None;
    }
    let mut key = [0u8; 14];
    key[..password.len()].copy_from_slice(password.to_ascii_uppercase().as_bytes());
    const MAGIC: &[u8; 8] = b"KGS!@#$%";
    let mut out = [0; 16];
    let mut half = [0; 7];
    half.copy_from_slice(&key[0..7]);
    out[0..8].copy_from_slice(&des7(&half, MAGIC));
    half.copy_from_slice(&key[7..14]);
    out[8..16].copy_from_slice(&des7(&half, MAGIC));
    Some(out)
}

/// `NTOWFv2(Passwd, User, UserDom)` = HMAC_MD5(MD4(UNICODE(Passwd)),
/// UNICODE(ConcatenationOf(Uppercase(User), UserDom))) (MS-NLMP §3.3.2).
///
/// `Uppercase` is Rust's Unicode uppercase; Windows uses `RtlUpcaseUnicodeString` **\[I\]**.
pub fn ntowfv2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    ntowfv2_from_nt_hash(&ntowfv1(password), user, domain)
}

/// `NTOWFv2` from the NT hash instead of the password. Memoized per thread, as [`ntowfv1`].
pub fn ntowfv2_from_nt_hash(nt_hash: &[u8; 16], user: &str, domain: &str) -> [u8; 16] {
    ntowfv2_memo(nt_hash, user, domain).1
}

/// `NTOWFv2` from the NT hash, as an HMAC key ready for the NTLMv2 responses (ResponseKeyNT
/// and ResponseKeyLM). Memoized per thread, as [`ntowfv1`].
pub fn ntowfv2_key(nt_hash: &[u8; 16], user: &str, domain: &str) -> HmacMd5Key {
    ntowfv2_memo(nt_hash, user, domain).0
}

fn ntowfv2_memo(nt_hash: &[u8; 16], user: &str, domain: &str) -> (HmacMd5Key, [u8; 16]) {
    NTOWF_V2.with_borrow_mut(|memo| {
        memo.get_or_insert_with(
            |k: &Ntowfv2Input| k.nt_hash == *nt_hash && k.user == user && k.domain == domain,
            || {
                let input = Ntowfv2Input { nt_hash: *nt_hash, user: user.to_owned(), domain: domain.to_owned() };
                let key = derive_ntowfv2(nt_hash, user, domain);
                (input, (HmacMd5Key::new(&key), key))
            },
        )
    })
}

fn derive_ntowfv2(nt_hash: &[u8; 16], user: &str, domain: &str) -> [u8; 16] {
    let mut identity = Vec::with_capacity((user.len() + domain.len()) * 2);
    if user.is_ascii() {
        identity.extend(user.bytes().flat_map(|b| [b.to_ascii_uppercase(), 0]));
    } else {
        identity.extend(utf16le(&user.to_uppercase()));
    }
    identity.extend(utf16le(domain));
    hmac_md5(nt_hash, &[&identity])
}

/// `LMOWFv2`: the same function as [`ntowfv2`] (MS-NLMP §3.3.2).
pub fn lmowfv2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    ntowfv2(password, user, domain)
}

/// The outputs of the NTLM v1 `ComputeResponse` (MS-NLMP §3.3.1).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Ntlmv1Responses {
    /// `NtChallengeResponse` (an NTLM_RESPONSE).
    pub nt_challenge_response: [u8; 24],
    /// `LmChallengeResponse` (an LM_RESPONSE).
    pub lm_challenge_response: [u8; 24],
    /// `SessionBaseKey` = MD4(ResponseKeyNT).
    pub session_base_key: [u8; 16],
}

/// NTLM v1 `ComputeResponse` (MS-NLMP §3.3.1).
///
/// With `NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY` in `flags` it is the "NTLM2 session
/// response": `DESL(ResponseKeyNT, MD5(ServerChallenge ‖ ClientChallenge)[0..7])` and an LM
/// response of `ClientChallenge ‖ Z(16)`. Otherwise `DESL(ResponseKeyNT, ServerChallenge)`, and
/// the LM response is `DESL(ResponseKeyLM, ServerChallenge)`, or a copy of the NT response when
/// `no_lm_response` (`NoLMResponseNTLMv1`) is set.
pub fn ntlmv1_responses(
    flags: NegotiateFlags,
    response_key_nt: &[u8; 16],
    response_key_lm: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    no_lm_response: bool,
) -> Ntlmv1Responses {
    let (nt, lm) = if flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) {
        let digest = md5(&[server_challenge, client_challenge]);
        let mut challenge = [0; 8];
        challenge.copy_from_slice(&digest[0..8]);
        let mut lm = [0; 24];
        lm[0..8].copy_from_slice(client_challenge);
        (desl(response_key_nt, &challenge), lm)
    } else {
        let nt = desl(response_key_nt, server_challenge);
        let lm = if no_lm_response { nt } else { desl(response_key_lm, server_challenge) };
        (nt, lm)
    };
    Ntlmv1Responses { nt_challenge_response: nt, lm_challenge_response: lm, session_base_key: md4(response_key_nt) }
}

/// `KXKEY` for NTLM v1 without extended session security (MS-NLMP §3.4.5.1).
///
/// `NTLMSSP_NEGOTIATE_LM_KEY`: `DES(LMOWF[0..6], LmChallengeResponse[0..7]) ‖
/// DES(LMOWF[7] ‖ 0xBDBDBDBDBDBD, LmChallengeResponse[0..7])`; else
/// `NTLMSSP_REQUEST_NON_NT_SESSION_KEY`: `LMOWF[0..7] ‖ Z(8)`; else the session base key.
pub fn kxkey_v1(
    flags: NegotiateFlags,
    session_base_key: &[u8; 16],
    lmowf: &[u8; 16],
    lm_challenge_response: &[u8; 24],
) -> [u8; 16] {
    let mut out = [0; 16];
    if flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_LM_KEY) {
        let mut block = [0; 8];
        block.copy_from_slice(&lm_challenge_response[0..8]);
        let mut k1 = [0; 7];
        k1.copy_from_slice(&lmowf[0..7]);
        let k2 = [lmowf[7], 0xbd, 0xbd, 0xbd, 0xbd, 0xbd, 0xbd];
        out[0..8].copy_from_slice(&des7(&k1, &block));
        out[8..16].copy_from_slice(&des7(&k2, &block));
    } else if flags.contains(NegotiateFlags::NTLMSSP_REQUEST_NON_NT_SESSION_KEY) {
        out[0..8].copy_from_slice(&lmowf[0..8]);
    } else {
        out = *session_base_key;
    }
    out
}

/// `KXKEY` for NTLM v1 with extended session security (MS-NLMP §3.4.5.1):
/// `HMAC_MD5(SessionBaseKey, ServerChallenge ‖ LmChallengeResponse[0..7])`.
pub fn kxkey_v1_ess(
    session_base_key: &[u8; 16],
    server_challenge: &[u8; 8],
    lm_challenge_response: &[u8; 24],
) -> [u8; 16] {
    hmac_md5(session_base_key, &[server_challenge, &lm_challenge_response[0..8]])
}

/// `KXKEY` for NTLM v2 (MS-NLMP §3.4.5.1): the session base key itself.
pub fn kxkey_v2(session_base_key: &[u8; 16]) -> [u8; 16] {
    *session_base_key
}

/// The outputs of the NTLM v2 `ComputeResponse` (MS-NLMP §3.3.2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Ntlmv2Responses {
    /// `NTProofStr` = HMAC_MD5(ResponseKeyNT, ServerChallenge ‖ temp).
    pub nt_proof_str: [u8; 16],
    /// `NtChallengeResponse` = NTProofStr ‖ temp (an NTLMv2_RESPONSE).
    pub nt_challenge_response: Vec<u8>,
    /// `LmChallengeResponse` = HMAC_MD5(ResponseKeyLM, ServerChallenge ‖ ClientChallenge) ‖
    /// ClientChallenge (an LMv2_RESPONSE).
    pub lm_challenge_response: [u8; 24],
    /// `SessionBaseKey` = HMAC_MD5(ResponseKeyNT, NTProofStr).
    pub session_base_key: [u8; 16],
}

/// `temp` of MS-NLMP §3.3.2, the NTLMv2_CLIENT_CHALLENGE: `0x01 0x01 Z(6) Time ClientChallenge
/// Z(4) ServerName Z(4)`, where `server_name` is the encoded AV_PAIR list (with `MsvAvEOL`).
pub fn ntlmv2_client_challenge(time: u64, client_challenge: &[u8; 8], server_name: &[u8]) -> Vec<u8> {
    let mut temp = Vec::with_capacity(28 + server_name.len() + 4);
    push_client_challenge(&mut temp, time, client_challenge, server_name);
    temp
}

/// Appends `temp` (see [`ntlmv2_client_challenge`]).
fn push_client_challenge(out: &mut Vec<u8>, time: u64, client_challenge: &[u8; 8], server_name: &[u8]) {
    out.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&time.to_le_bytes());
    out.extend_from_slice(client_challenge);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(server_name);
    out.extend_from_slice(&[0; 4]);
}

/// NTLM v2 `ComputeResponse` (MS-NLMP §3.3.2). `server_name` is the encoded AV_PAIR list the
/// client puts in its NTLMv2_CLIENT_CHALLENGE; `time` is a FILETIME.
pub fn ntlmv2_responses(
    response_key_nt: &[u8; 16],
    response_key_lm: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    time: u64,
    server_name: &[u8],
) -> Ntlmv2Responses {
    // One keyed HMAC state serves the three MACs under ResponseKeyNT (= ResponseKeyLM for v2).
    let keyed_nt = HmacMd5Key::new(response_key_nt);
    let nt = ntlmv2_nt_response(&keyed_nt, server_challenge, client_challenge, time, server_name);
    let lm_challenge_response = if response_key_lm == response_key_nt {
        lmv2_response(&keyed_nt, server_challenge, client_challenge)
    } else {
        lmv2_response(&HmacMd5Key::new(response_key_lm), server_challenge, client_challenge)
    };
    Ntlmv2Responses {
        nt_proof_str: nt.nt_proof_str,
        nt_challenge_response: nt.nt_challenge_response,
        lm_challenge_response,
        session_base_key: nt.session_base_key,
    }
}

/// The NT half of NTLM v2 `ComputeResponse`: what [`ntlmv2_responses`] returns less the LMv2
/// response, which a client does not compute when the server sent `MsvAvTimestamp` (it sends
/// Z(24) instead, MS-NLMP §3.1.5.1.2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Ntlmv2NtResponse {
    /// `NTProofStr`.
    pub nt_proof_str: [u8; 16],
    /// `NtChallengeResponse` = NTProofStr ‖ temp.
    pub nt_challenge_response: Vec<u8>,
    /// `SessionBaseKey` = HMAC_MD5(ResponseKeyNT, NTProofStr).
    pub session_base_key: [u8; 16],
}

/// The NT half of NTLM v2 `ComputeResponse` under the keyed `ResponseKeyNT`.
pub fn ntlmv2_nt_response(
    response_key_nt: &HmacMd5Key,
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    time: u64,
    server_name: &[u8],
) -> Ntlmv2NtResponse {
    // NtChallengeResponse = NTProofStr ‖ temp: temp is written in place after room for the proof.
    let mut nt_challenge_response = Vec::with_capacity(16 + 28 + server_name.len() + 4);
    nt_challenge_response.extend_from_slice(&[0; 16]);
    push_client_challenge(&mut nt_challenge_response, time, client_challenge, server_name);
    let nt_proof_str = response_key_nt.mac(&[server_challenge, &nt_challenge_response[16..]]);
    nt_challenge_response[..16].copy_from_slice(&nt_proof_str);
    Ntlmv2NtResponse { nt_proof_str, nt_challenge_response, session_base_key: response_key_nt.mac(&[&nt_proof_str]) }
}

/// `LmChallengeResponse` of NTLM v2: HMAC_MD5(ResponseKeyLM, ServerChallenge ‖
/// ClientChallenge) ‖ ClientChallenge.
pub fn lmv2_response(response_key_lm: &HmacMd5Key, server_challenge: &[u8; 8], client_challenge: &[u8; 8]) -> [u8; 24] {
    let lm = response_key_lm.mac(&[server_challenge, client_challenge]);
    let mut out = [0; 24];
    out[0..16].copy_from_slice(&lm);
    out[16..24].copy_from_slice(client_challenge);
    out
}

/// `RC4K(K, D)`: RC4 of `data` under a fresh key `key` (MS-NLMP §6). With the key exchange key
/// and the exported session key it is the `EncryptedRandomSessionKey` (and, being RC4, its
/// own inverse).
pub fn rc4k(key: &[u8; 16], data: &[u8; 16]) -> [u8; 16] {
    let mut out = *data;
    Rc4Handle::new(key).apply(&mut out);
    out
}

/// Which side computes a key or signs a message: the client (initiator) or the server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// The client (initiator).
    Client,
    /// The server (acceptor).
    Server,
}

impl Mode {
    fn other(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }
}

const CLIENT_SIGN: &[u8] = b"session key to client-to-server signing key magic constant\0";
const SERVER_SIGN: &[u8] = b"session key to server-to-client signing key magic constant\0";
const CLIENT_SEAL: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const SERVER_SEAL: &[u8] = b"session key to server-to-client sealing key magic constant\0";

/// `SIGNKEY(NegFlg, ExportedSessionKey, Mode)` (MS-NLMP §3.4.5.2): the signing key of the side
/// `mode`, or `None` without extended session security (NTLM v1 signs with the sealing RC4
/// handle only).
pub fn signkey(flags: NegotiateFlags, exported_session_key: &[u8; 16], mode: Mode) -> Option<[u8; 16]> {
    flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY).then(|| {
        let magic = match mode {
            Mode::Client => CLIENT_SIGN,
            Mode::Server => SERVER_SIGN,
        };
        md5(&[exported_session_key, magic])
    })
}

/// A sealing key: 16 bytes, or 8 for the weakened NTLM v1 keys of `NTLMSSP_NEGOTIATE_LM_KEY`
/// and `NTLMSSP_NEGOTIATE_DATAGRAM`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SealKey {
    bytes: [u8; 16],
    len: usize,
}

impl SealKey {
    /// The key bytes (8 or 16).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// `SEALKEY(NegFlg, ExportedSessionKey, Mode)` (MS-NLMP §3.4.5.3), with its key weakening:
///
/// * extended session security: MD5 of the first 16 (`NTLMSSP_NEGOTIATE_128`), 7
///   (`NTLMSSP_NEGOTIATE_56`) or 5 bytes of the key and the side's magic constant;
/// * else `NTLMSSP_NEGOTIATE_LM_KEY` or `NTLMSSP_NEGOTIATE_DATAGRAM`: the first 7 bytes and
///   `0xA0` (56-bit), or the first 5 and `0xE5 0x38 0xB0` (40-bit);
/// * else the exported session key itself.
pub fn sealkey(flags: NegotiateFlags, exported_session_key: &[u8; 16], mode: Mode) -> SealKey {
    let k = exported_session_key;
    if flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) {
        let used: &[u8] = if flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_128) {
            k
        } else if flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_56) {
            &k[0..7]
        } else {
            &k[0..5]
        };
        let magic = match mode {
            Mode::Client => CLIENT_SEAL,
            Mode::Server => SERVER_SEAL,
        };
        SealKey { bytes: md5(&[used, magic]), len: 16 }
    } else if flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_LM_KEY)
        || flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_DATAGRAM)
    {
        let mut bytes = [0; 16];
        if flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_56) {
            bytes[0..7].copy_from_slice(&k[0..7]);
            bytes[7] = 0xa0;
        } else {
            bytes[0..5].copy_from_slice(&k[0..5]);
            bytes[5..8].copy_from_slice(&[0xe5, 0x38, 0xb0]);
        }
        SealKey { bytes, len: 8 }
    } else {
        SealKey { bytes: *k, len: 16 }
    }
}

/// An RC4 cipher state (`RC4Init` / `RC4` of MS-NLMP §6): the keystream continues across calls.
pub struct Rc4Handle(Rc4);

impl Rc4Handle {
    /// `RC4Init(key)`.
    pub fn new(key: &[u8; 16]) -> Self {
        Self::from_seal_key(&SealKey { bytes: *key, len: 16 })
    }

    /// `RC4Init(SealKey)`.
    pub fn from_seal_key(key: &SealKey) -> Self {
        // A SealKey is 8 or 16 bytes; RC4 takes keys of 1 to 256 bytes.
        Self(Rc4::new_from_slice(key.as_bytes()).expect("RC4 takes 1..=256-byte keys"))
    }

    /// Encrypts (or decrypts) `data` in place, continuing the keystream.
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

impl std::fmt::Debug for Rc4Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rc4Handle(..)")
    }
}

/// An `NTLMSSP_MESSAGE_SIGNATURE` (MS-NLMP §2.2.2.9).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MessageSignature {
    /// Without extended session security (§2.2.2.9.1): RC4-encrypted CRC32 and SeqNum.
    V1 {
        /// `RandomPad` as sent (zero: §3.4.4.1 ends by setting it to 0).
        random_pad: [u8; 4],
        /// `Checksum`: RC4(Handle, CRC32(Message)).
        checksum: [u8; 4],
        /// `SeqNum`: RC4(Handle, 0) XOR SeqNum.
        seq_num: [u8; 4],
    },
    /// With extended session security (§2.2.2.9.2): HMAC-MD5 checksum and plain SeqNum.
    Ess {
        /// `Checksum`: the first 8 bytes of the HMAC-MD5, RC4-encrypted under key exchange.
        checksum: [u8; 8],
        /// `SeqNum`.
        seq_num: u32,
    },
}

impl MessageSignature {
    /// The 16 bytes on the wire (`Version` = 1 first).
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut out = [0; 16];
        out[0..4].copy_from_slice(&1u32.to_le_bytes());
        match self {
            Self::V1 { random_pad, checksum, seq_num } => {
                out[4..8].copy_from_slice(random_pad);
                out[8..12].copy_from_slice(checksum);
                out[12..16].copy_from_slice(seq_num);
            }
            Self::Ess { checksum, seq_num } => {
                out[4..12].copy_from_slice(checksum);
                out[12..16].copy_from_slice(&seq_num.to_le_bytes());
            }
        }
        out
    }
}

/// Every intermediate value of the NTLM v1 `MAC` (MS-NLMP §3.4.4.1), as the §4.2.2.4 example
/// lists them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MacV1Trace {
    /// CRC32(Message), little-endian.
    pub crc32: [u8; 4],
    /// RC4(Handle, RandomPad).
    pub random_pad: [u8; 4],
    /// RC4(Handle, CRC32(Message)).
    pub checksum: [u8; 4],
    /// RC4(Handle, 0x00000000) XOR SeqNum.
    pub seq_num: [u8; 4],
}

impl MacV1Trace {
    /// The signature as §4.2.2.4 "Assembled Signature" shows it, with the encrypted RandomPad.
    pub fn assembled(&self) -> [u8; 16] {
        MessageSignature::V1 { random_pad: self.random_pad, checksum: self.checksum, seq_num: self.seq_num }.to_bytes()
    }

    /// The signature as sent: §3.4.4.1 ends with "Set RandomPad to 0".
    pub fn signature(&self) -> MessageSignature {
        MessageSignature::V1 { random_pad: [0; 4], checksum: self.checksum, seq_num: self.seq_num }
    }
}

/// NTLM v1 `MAC(Handle, SigningKey, SeqNum, Message)` without extended session security
/// (MS-NLMP §3.4.4.1), connection-oriented, with a RandomPad of zero.
pub fn mac_v1(handle: &mut Rc4Handle, seq_num: u32, message: &[u8]) -> MacV1Trace {
    let crc32 = crc32fast::hash(message).to_le_bytes();
    let mut random_pad = [0; 4];
    handle.apply(&mut random_pad);
    let mut checksum = crc32;
    handle.apply(&mut checksum);
    let mut seq = [0; 4];
    handle.apply(&mut seq);
    let seq_num = (u32::from_le_bytes(seq) ^ seq_num).to_le_bytes();
    MacV1Trace { crc32, random_pad, checksum, seq_num }
}

/// `MAC` with extended session security (MS-NLMP §3.4.4.2): the first 8 bytes of
/// HMAC_MD5(SigningKey, SeqNum ‖ Message), RC4-encrypted with `handle` when
/// `NTLMSSP_NEGOTIATE_KEY_EXCH` is in `flags`.
pub fn mac_ess(
    flags: NegotiateFlags,
    handle: &mut Rc4Handle,
    signing_key: &[u8; 16],
    seq_num: u32,
    message: &[u8],
) -> MessageSignature {
    let digest = hmac_md5(signing_key, &[&seq_num.to_le_bytes(), message]);
    let mut checksum = [0; 8];
    checksum.copy_from_slice(&digest[0..8]);
    if flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_KEY_EXCH) {
        handle.apply(&mut checksum);
    }
    MessageSignature::Ess { checksum, seq_num }
}

/// One buffer of a multi-buffer message: the bytes, whether they are encrypted, and whether
/// the signature covers them.
#[derive(Debug)]
pub struct MessagePart<'a> {
    /// The bytes (encrypted or decrypted in place).
    pub data: &'a mut [u8],
    /// Whether the bytes are encrypted.
    pub encrypt: bool,
    /// Whether the signature covers the bytes.
    pub signed: bool,
}

/// One direction of a session: its RC4 handle, its signing key and its next sequence number.
#[derive(Debug)]
struct Direction {
    /// The RC4 state; `None` until first used after creation or a reset (the key schedule is
    /// run lazily, so a handshake that never seals pays nothing for it).
    handle: Option<Rc4Handle>,
    seal_key: SealKey,
    signing_key: Option<[u8; 16]>,
    seq_num: u32,
}

impl Direction {
    fn new(flags: NegotiateFlags, exported_session_key: &[u8; 16], mode: Mode) -> Self {
        let seal_key = sealkey(flags, exported_session_key, mode);
        Self { handle: None, seal_key, signing_key: signkey(flags, exported_session_key, mode), seq_num: 0 }
    }

    fn rc4(&mut self) -> &mut Rc4Handle {
        let key = &self.seal_key;
        self.handle.get_or_insert_with(|| Rc4Handle::from_seal_key(key))
    }

    fn reset_cipher(&mut self) {
        self.handle = None;
    }

    fn mac(&mut self, flags: NegotiateFlags, message: &[u8]) -> MessageSignature {
        let digest = self.digest(&[message]);
        self.finish(flags, digest)
    }

    /// The keyless part of `MAC` over the concatenation of `parts` (which must be plaintext):
    /// HMAC_MD5(SigningKey, SeqNum ‖ Message) with ESS, CRC32(Message) without.
    fn digest(&self, parts: &[&[u8]]) -> [u8; 16] {
        match &self.signing_key {
            Some(key) => {
                let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
                mac.update(&self.seq_num.to_le_bytes());
                for p in parts {
                    mac.update(p);
                }
                mac.finalize().into_bytes().into()
            }
            None => {
                let mut crc = crc32fast::Hasher::new();
                for p in parts {
                    crc.update(p);
                }
                let mut out = [0; 16];
                out[..4].copy_from_slice(&crc.finalize().to_le_bytes());
                out
            }
        }
    }

    /// The rest of `MAC`, after any sealing of the same message: the checksum's RC4 (ESS with
    /// key exchange) or the v1 RandomPad / Checksum / SeqNum encryption; the sequence number
    /// moves on.
    fn finish(&mut self, flags: NegotiateFlags, digest: [u8; 16]) -> MessageSignature {
        let seq_num = self.seq_num;
        self.seq_num = self.seq_num.wrapping_add(1);
        match &self.signing_key {
            Some(_) => {
                let mut checksum = [0; 8];
                checksum.copy_from_slice(&digest[0..8]);
                if flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_KEY_EXCH) {
                    self.rc4().apply(&mut checksum);
                }
                MessageSignature::Ess { checksum, seq_num }
            }
            None => {
                let mut pad_and_sum = [0; 8];
                pad_and_sum[4..].copy_from_slice(&digest[..4]);
                self.rc4().apply(&mut pad_and_sum);
                let mut seq = [0; 4];
                self.rc4().apply(&mut seq);
                let checksum = [pad_and_sum[4], pad_and_sum[5], pad_and_sum[6], pad_and_sum[7]];
                let seq_num = (u32::from_le_bytes(seq) ^ seq_num).to_le_bytes();
                MessageSignature::V1 { random_pad: [0; 4], checksum, seq_num }
            }
        }
    }
}

/// Connection-oriented message integrity and confidentiality (MS-NLMP §3.4.2 to §3.4.4) for
/// one side: the outbound direction signs and seals with this side's keys, the inbound one
/// verifies and unseals with the peer's. Sequence numbers start at 0 and go up by one per
/// message in each direction.
///
/// # Windows
///
/// Without extended session security the two directions are one: SEALKEY does not depend on
/// the side, and one RC4 handle and one sequence number serve sending and receiving (half
/// duplex), as the NT 5 msv1_0 source (`SpInitUserModeContext`), Samba's and pyspnego's NTLM do;
/// pyspnego cannot read the second message otherwise (`tests/interop_sspi.rs`, case f1)
/// **\[I\]**. MS-NLMP §3.1.5.1.2 initialises separate client and server handles from that
/// one key **\[D\]**; the two readings agree until both sides have sent.
#[derive(Debug)]
pub struct SessionSecurity {
    flags: NegotiateFlags,
    exported_session_key: [u8; 16],
    mode: Mode,
    /// This side's direction, derived on first use: a handshake that never signs or seals
    /// never pays for the key derivations and RC4 key schedules.
    outbound: Option<Direction>,
    /// The peer's direction with extended session security; unused without it, where the
    /// outbound direction serves both ways.
    inbound: Option<Direction>,
}

impl SessionSecurity {
    /// The session of side `mode` with the negotiated `flags` and the exported session key.
    pub fn new(flags: NegotiateFlags, exported_session_key: &[u8; 16], mode: Mode) -> Self {
        Self { flags, exported_session_key: *exported_session_key, mode, outbound: None, inbound: None }
    }

    fn half_duplex(&self) -> bool {
        !self.flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)
    }

    /// The direction that signs and seals this side's messages.
    fn outbound(&mut self) -> &mut Direction {
        let (flags, key, mode) = (self.flags, self.exported_session_key, self.mode);
        self.outbound.get_or_insert_with(|| Direction::new(flags, &key, mode))
    }

    /// The direction that verifies and unseals the peer's messages.
    fn inbound(&mut self) -> &mut Direction {
        if self.half_duplex() {
            return self.outbound();
        }
        let (flags, key, mode) = (self.flags, self.exported_session_key, self.mode.other());
        self.inbound.get_or_insert_with(|| Direction::new(flags, &key, mode))
    }

    /// The next outbound and inbound sequence numbers (one counter without extended session
    /// security).
    pub fn sequence_numbers(&self) -> (u32, u32) {
        let out = self.outbound.as_ref().map_or(0, |d| d.seq_num);
        let inb = if self.half_duplex() { out } else { self.inbound.as_ref().map_or(0, |d| d.seq_num) };
        (out, inb)
    }

    /// Whether signatures carry a plain sequence number (extended session security), so an
    /// out-of-order message can be told from an altered one.
    pub fn has_plain_sequence_numbers(&self) -> bool {
        !self.half_duplex()
    }

    /// Re-initialises the outbound RC4 handle with its sealing key, keeping the sequence
    /// number: what SPNEGO does after the NTLM `mechListMIC` is produced (pyspnego
    /// `_reset_ntlm_crypto_state`, matching Windows) **\[I\]**.
    pub fn reset_outbound_cipher(&mut self) {
        self.outbound().reset_cipher();
    }

    /// Re-initialises the inbound RC4 handle, after the peer's `mechListMIC` is verified.
    pub fn reset_inbound_cipher(&mut self) {
        self.inbound().reset_cipher();
    }

    /// `GSS_WrapEx` over several buffers (`EncryptMessage` / `MakeSignature` with several
    /// `SECBUFFER_DATA` buffers): the parts marked `encrypt` are encrypted in place with one
    /// continuing keystream; the parts marked `signed` are covered by the signature, in order.
    pub fn seal_parts(&mut self, parts: &mut [MessagePart<'_>]) -> [u8; 16] {
        let flags = self.flags;
        let out = self.outbound();
        // The checksum covers the plaintext; the keystream encrypts the data first, then the
        // checksum (MS-NLMP §3.4.3).
        let digest = {
            let signed: Vec<&[u8]> = parts.iter().filter(|p| p.signed).map(|p| &*p.data).collect();
            out.digest(&signed)
        };
        for p in parts.iter_mut().filter(|p| p.encrypt) {
            out.rc4().apply(p.data);
        }
        out.finish(flags, digest).to_bytes()
    }

    /// The inverse of [`SessionSecurity::seal_parts`]: decrypts the parts marked `encrypt`,
    /// then checks the signature over the parts marked `signed`.
    ///
    /// # Errors
    ///
    /// As [`SessionSecurity::verify_sequenced`].
    pub fn unseal_parts(&mut self, parts: &mut [MessagePart<'_>], signature: &[u8]) -> Result<(), Error> {
        // A malformed signature is refused before the keystream or the sequence number moves.
        check_signature_form(signature)?;
        for p in parts.iter_mut().filter(|p| p.encrypt) {
            self.inbound().rc4().apply(p.data);
        }
        let signed: Vec<&[u8]> = parts.iter().filter(|p| p.signed).map(|p| &*p.data).collect();
        self.verify_parts(&signed, signature)
    }

    /// `GSS_VerifyMICEx` checking the fields in the order of the Windows NTLM package: the
    /// `Version`, then the checksum (which depends on the expected sequence number), then the
    /// sequence number field.
    ///
    /// # Errors
    ///
    /// [`Error::BadMessageSignature`] (not 16 bytes, or `Version` not 1);
    /// [`Error::SignatureMismatch`] (the checksum differs: an altered, replayed or reordered
    /// message); [`Error::OutOfSequence`] (the checksum matches and only the sequence number
    /// field differs).
    pub fn verify_sequenced(&mut self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        self.verify_parts(&[message], signature)
    }

    /// [`SessionSecurity::verify_sequenced`] of the concatenation of `parts`.
    fn verify_parts(&mut self, parts: &[&[u8]], signature: &[u8]) -> Result<(), Error> {
        check_signature_form(signature)?;
        let flags = self.flags;
        let inbound = self.inbound();
        let expected_seq = inbound.seq_num;
        let digest = inbound.digest(parts);
        let expected = inbound.finish(flags, digest).to_bytes();
        let v1 = inbound.signing_key.is_none();
        let received: &[u8; 16] = signature.try_into().map_err(|_| Error::BadMessageSignature)?;
        if received[0..4] != expected[0..4] {
            return Err(Error::BadMessageSignature);
        }
        // NTLM v1 ignores the RandomPad; ESS's checksum is bytes 4..12.
        let from = if v1 { 8 } else { 4 };
        if received[from..12] != expected[from..12] {
            return Err(Error::SignatureMismatch);
        }
        if received[12..16] != expected[12..16] {
            let found = u32::from_le_bytes([received[12], received[13], received[14], received[15]]);
            return Err(Error::OutOfSequence { expected: expected_seq, found });
        }
        Ok(())
    }

    /// `GSS_GetMICEx`: the signature of `message` (MS-NLMP §3.4.4).
    pub fn sign(&mut self, message: &[u8]) -> [u8; 16] {
        let flags = self.flags;
        self.outbound().mac(flags, message).to_bytes()
    }

    /// `GSS_VerifyMICEx`: checks the peer's signature of `message`.
    ///
    /// # Errors
    ///
    /// [`Error::BadMessageSignature`] if `signature` is not 16 bytes with `Version` 1;
    /// [`Error::SignatureMismatch`] if it does not match. The inbound sequence number moves on
    /// either way.
    pub fn verify(&mut self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        let flags = self.flags;
        let inbound = self.inbound();
        let expected = inbound.mac(flags, message).to_bytes();
        compare(&expected, signature, inbound.signing_key.is_none())
    }

    /// `GSS_WrapEx`: encrypts `message` in place and returns its signature (MS-NLMP §3.4.3).
    pub fn seal(&mut self, message: &mut [u8]) -> [u8; 16] {
        let plain = message.to_vec();
        self.outbound().rc4().apply(message);
        let flags = self.flags;
        self.outbound().mac(flags, &plain).to_bytes()
    }

    /// `GSS_UnwrapEx`: decrypts the peer's `message` in place and checks its signature.
    ///
    /// # Errors
    ///
    /// As [`SessionSecurity::verify`]; the message is decrypted either way.
    pub fn unseal(&mut self, message: &mut [u8], signature: &[u8]) -> Result<(), Error> {
        self.inbound().rc4().apply(message);
        self.verify(message, signature)
    }
}

/// A signature must be 16 bytes with `Version` 1 (MS-NLMP §2.2.2.9): checked before any
/// state moves, so a malformed one leaves the context able to read the next genuine message.
fn check_signature_form(signature: &[u8]) -> Result<(), Error> {
    match signature {
        [1, 0, 0, 0, ..] if signature.len() == 16 => Ok(()),
        _ => Err(Error::BadMessageSignature),
    }
}

/// Compares a computed signature with a received one; NTLM v1 ignores the `RandomPad`.
fn compare(expected: &[u8; 16], received: &[u8], v1: bool) -> Result<(), Error> {
    let received: &[u8; 16] = received.try_into().map_err(|_| Error::BadMessageSignature)?;
    if received[0..4] != expected[0..4] {
        return Err(Error::BadMessageSignature);
    }
    let from = if v1 { 8 } else { 4 };
    if received[from..] == expected[from..] { Ok(()) } else { Err(Error::SignatureMismatch) }
}
