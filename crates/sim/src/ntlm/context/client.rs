//! The client (initiator) handshake of MS-NLMP §3.1.5: NEGOTIATE out, CHALLENGE in,
//! AUTHENTICATE out.
//!
//! ```text
//!  start(config, random) ─► (ExpectChallenge, NEGOTIATE)
//!  ExpectChallenge::handle(CHALLENGE, time) ─► (ClientEstablished, AUTHENTICATE)
//! ```

use sspi_emu_api::TimeStamp;

use std::borrow::Cow;
use std::sync::Arc;

use super::super::av_pairs::{AvId, AvPairsRef, MSV_AV_FLAG_MIC_PRESENT, push_pair, push_text_pair};
use super::super::crypto::{
    Mode, kxkey_v1, kxkey_v1_ess, kxkey_v2, lmowfv1, lmv2_response, md5, ntlmv1_responses, ntlmv2_nt_response, ntowfv1,
    ntowfv2_key, rc4k,
};
use super::super::messages::{AuthenticateMessage, AuthenticateRef, ChallengeRef, Field, NegotiateMessage};
use super::super::{Error, NegotiateFlags as F};
use super::{LmCompatibilityLevel, ResponseKind, Session, VERSION, compute_mic, filetime};
use crate::world::Secret;

/// What the client is configured with: the credentials (`AcquireCredentialsHandle`) and the
/// request (`InitializeSecurityContext`'s target name, `fContextReq` and channel bindings).
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The user name (SAM account name, or a UPN with an empty domain). Empty with an empty
    /// password: an anonymous logon.
    pub user: Arc<str>,
    /// The user's domain (NetBIOS name), or empty.
    pub domain: Arc<str>,
    /// The password or NT hash. `Secret::None` and an empty password are the same.
    pub secret: Secret,
    /// The client's computer name, sent in the AUTHENTICATE_MESSAGE.
    pub workstation: Arc<str>,
    /// The client's `LmCompatibilityLevel`: which responses it sends.
    pub lm_compatibility_level: LmCompatibilityLevel,
    /// The protections asked for (`ISC_REQ_*`).
    pub requested: Requested,
    /// The SPN of the target (`pszTargetName`), sent as `MsvAvTargetName` under NTLMv2.
    pub target_name: Option<String>,
    /// The channel bindings' application data (`SEC_CHANNEL_BINDINGS`, e.g.
    /// `tls-server-end-point:<hash>`); its MD5 is sent as `MsvAvChannelBindings` under NTLMv2.
    pub channel_bindings: Option<Vec<u8>>,
    /// Whether to send a MIC (and `MsvAvFlags` 0x2) when the server sent `MsvAvTimestamp`.
    pub use_mic: bool,
}

/// The context requirements of `InitializeSecurityContext` that change the NTLM flags.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Requested {
    /// `ISC_REQ_INTEGRITY`: asks for `NTLMSSP_NEGOTIATE_SIGN`.
    pub integrity: bool,
    /// `ISC_REQ_CONFIDENTIALITY`: asks for `NTLMSSP_NEGOTIATE_SEAL` (and SIGN).
    pub confidentiality: bool,
    /// `ISC_REQ_REPLAY_DETECT`: asks for SIGN.
    pub replay_detect: bool,
    /// `ISC_REQ_SEQUENCE_DETECT`: asks for SIGN.
    pub sequence_detect: bool,
    /// `ISC_REQ_DATAGRAM`: asks for `NTLMSSP_NEGOTIATE_DATAGRAM` (passed through only: the
    /// connectionless message flow is not simulated).
    pub datagram: bool,
    /// `ISC_REQ_IDENTIFY`: asks for `NTLMSSP_NEGOTIATE_IDENTIFY`.
    pub identify: bool,
}

/// The client's random inputs, drawn by the caller.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ClientRandom {
    /// `ClientChallenge` (MS-NLMP §3.1.5.1.2): 8 random bytes.
    pub client_challenge: [u8; 8],
    /// `ExportedSessionKey` when `NTLMSSP_NEGOTIATE_KEY_EXCH` is negotiated: 16 random bytes.
    pub exported_session_key: [u8; 16],
}

/// Starts the client handshake: the NEGOTIATE_MESSAGE and the state waiting for the
/// CHALLENGE_MESSAGE.
///
/// The flags are what Windows sends (a Windows 10 NEGOTIATE is `0xe2088297` with
/// integrity): UNICODE, OEM, REQUEST_TARGET, NTLM, ALWAYS_SIGN, VERSION, 128, 56, KEY_EXCH;
/// EXTENDED_SESSIONSECURITY from level 1; LM_KEY at levels 0 to 2 when an LM hash can be
/// computed; SIGN, SEAL, DATAGRAM, IDENTIFY as [`Requested`] asks **\[I\]**.
///
/// # Errors
///
/// None in practice: [`Error::FieldTooLong`] cannot happen (the NEGOTIATE carries no names).
///
/// # Windows
///
/// MS-NLMP §3.1.5.1.1.
pub fn start(config: ClientConfig, random: ClientRandom) -> Result<(ExpectChallenge, Vec<u8>), Error> {
    let level = config.lm_compatibility_level;
    let r = config.requested;
    let mut flags = F::NTLMSSP_NEGOTIATE_UNICODE
        | F::NTLM_NEGOTIATE_OEM
        | F::NTLMSSP_REQUEST_TARGET
        | F::NTLMSSP_NEGOTIATE_NTLM
        | F::NTLMSSP_NEGOTIATE_ALWAYS_SIGN
        | F::NTLMSSP_NEGOTIATE_VERSION
        | F::NTLMSSP_NEGOTIATE_128
        | F::NTLMSSP_NEGOTIATE_56
        | F::NTLMSSP_NEGOTIATE_KEY_EXCH;
    if level.requests_extended_session_security() {
        flags |= F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY;
    }
    if !level.sends_ntlmv2() && lm_hash(&config.secret).is_some() {
        flags |= F::NTLMSSP_NEGOTIATE_LM_KEY;
    }
    if r.integrity || r.replay_detect || r.sequence_detect || r.confidentiality {
        flags |= F::NTLMSSP_NEGOTIATE_SIGN;
    }
    if r.confidentiality {
        flags |= F::NTLMSSP_NEGOTIATE_SEAL;
    }
    if r.datagram {
        flags |= F::NTLMSSP_NEGOTIATE_DATAGRAM;
    }
    if r.identify {
        flags |= F::NTLMSSP_NEGOTIATE_IDENTIFY;
    }
    let negotiate = NegotiateMessage { flags, version: Some(VERSION), ..Default::default() }.encode()?;
    Ok((ExpectChallenge { config, random, requested: flags, negotiate: negotiate.clone() }, negotiate))
}

/// The client after its NEGOTIATE_MESSAGE, waiting for the CHALLENGE_MESSAGE.
#[derive(Clone, Debug)]
pub struct ExpectChallenge {
    config: ClientConfig,
    random: ClientRandom,
    requested: F,
    negotiate: Vec<u8>,
}

impl ExpectChallenge {
    /// The flags the NEGOTIATE_MESSAGE asked for.
    pub fn requested_flags(&self) -> F {
        self.requested
    }

    /// Sets the channel bindings (`SECBUFFER_CHANNEL_BINDINGS` of the call that carries the
    /// CHALLENGE_MESSAGE), replacing the configured ones when `Some`.
    pub fn set_channel_bindings(&mut self, channel_bindings: Option<Vec<u8>>) {
        if channel_bindings.is_some() {
            self.config.channel_bindings = channel_bindings;
        }
    }

    /// Handles the CHALLENGE_MESSAGE: negotiates the flags, computes the responses and keys,
    /// and returns the established client and the AUTHENTICATE_MESSAGE.
    ///
    /// * Flags (MS-NLMP §3.1.5.1.2): what both asked for; UNICODE over OEM;
    ///   EXTENDED_SESSIONSECURITY over LM_KEY.
    /// * Anonymous (empty user and password): `NtChallengeResponse` empty, `LmChallengeResponse`
    ///   one zero byte, `NTLMSSP_ANONYMOUS`, session base key Z(16).
    /// * Level 3 to 5: NTLMv2 over the server's `TargetInfo` plus `MsvAvFlags` (MIC present),
    ///   `MsvAvChannelBindings` and `MsvAvTargetName` when configured; the timestamp is the
    ///   server's `MsvAvTimestamp` when sent (and the LM response then Z(24)), else `time`.
    /// * Level 0 to 2: NTLMv1, with extended session security when negotiated; an LM response
    ///   at levels 0 and 1 when the password has an LM hash, else a copy of the NT response.
    /// * Key exchange when `NTLMSSP_NEGOTIATE_KEY_EXCH` and SIGN or SEAL are negotiated.
    /// * MIC over the three messages when [`ClientConfig::use_mic`] and the server sent
    ///   `MsvAvTimestamp`.
    ///
    /// # Errors
    ///
    /// The decoding errors of [`ChallengeRef::decode`];
    /// [`Error::UnacceptableFlags`] when the server picked neither UNICODE nor OEM.
    pub fn handle(&self, challenge_bytes: &[u8], time: TimeStamp) -> Result<(ClientEstablished, Vec<u8>), Error> {
        let challenge = ChallengeRef::decode(challenge_bytes)?;
        let flags = negotiate_flags(self.requested, challenge.flags)?;
        let cfg = &self.config;
        let level = cfg.lm_compatibility_level;
        let server_challenge = challenge.server_challenge;
        let client_challenge = self.random.client_challenge;
        let anonymous = cfg.user.is_empty() && secret_is_empty(&cfg.secret);

        let mut flags = flags;
        let mut mic_wanted = false;
        let (kind, lm, nt, key_exchange_key) = if anonymous {
            flags |= F::NTLMSSP_ANONYMOUS;
            (ResponseKind::Anonymous, Cow::Borrowed(&[0u8][..]), Vec::new(), [0; 16])
        } else if level.sends_ntlmv2() {
            let response_key = ntowfv2_key(&nt_hash(&cfg.secret), &cfg.user, &cfg.domain);
            let server_pairs = challenge.av_pairs();
            let server_time = server_pairs.and_then(|p| p.timestamp());
            mic_wanted = cfg.use_mic && server_time.is_some();
            let pairs = client_pairs(server_pairs, mic_wanted, cfg);
            let timestamp = server_time.unwrap_or_else(|| filetime(time));
            let r = ntlmv2_nt_response(&response_key, &server_challenge, &client_challenge, timestamp, &pairs);
            // MS-NLMP §3.1.5.1.2: with MsvAvTimestamp the client sends Z(24) as LmChallengeResponse.
            let lm = match server_time {
                Some(_) => Cow::Borrowed(&[0u8; 24][..]),
                None => Cow::Owned(lmv2_response(&response_key, &server_challenge, &client_challenge).to_vec()),
            };
            (ResponseKind::Ntlmv2, lm, r.nt_challenge_response, kxkey_v2(&r.session_base_key))
        } else {
            let nt_hash = nt_hash(&cfg.secret);
            let lm_hash = lm_hash(&cfg.secret);
            let no_lm_response = !level.sends_lm() || lm_hash.is_none();
            let lmowf = lm_hash.unwrap_or([0; 16]);
            let r = ntlmv1_responses(flags, &nt_hash, &lmowf, &server_challenge, &client_challenge, no_lm_response);
            let ess = flags.contains(F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY);
            let (kind, kxkey) = if ess {
                (
                    ResponseKind::Ntlmv1Ess,
                    kxkey_v1_ess(&r.session_base_key, &server_challenge, &r.lm_challenge_response),
                )
            } else {
                (ResponseKind::Ntlmv1, kxkey_v1(flags, &r.session_base_key, &lmowf, &r.lm_challenge_response))
            };
            (kind, Cow::Owned(r.lm_challenge_response.to_vec()), r.nt_challenge_response.to_vec(), kxkey)
        };

        let exchange = flags.contains(F::NTLMSSP_NEGOTIATE_KEY_EXCH)
            && (flags.contains(F::NTLMSSP_NEGOTIATE_SIGN) || flags.contains(F::NTLMSSP_NEGOTIATE_SEAL));
        let (exported_session_key, encrypted) = if exchange {
            let key = self.random.exported_session_key;
            (key, Some(rc4k(&key_exchange_key, &key)))
        } else {
            (key_exchange_key, None)
        };

        let unicode = flags.contains(F::NTLMSSP_NEGOTIATE_UNICODE);
        let message = AuthenticateRef {
            flags,
            lm_challenge_response: &lm,
            nt_challenge_response: &nt,
            // Written by `encode_with_names`.
            domain_name: &[],
            user_name: &[],
            workstation: &[],
            encrypted_random_session_key: encrypted.as_ref().map_or(&[], |e| &e[..]),
            version: flags.contains(F::NTLMSSP_NEGOTIATE_VERSION).then_some(VERSION),
            mic: mic_wanted.then_some([0; 16]),
        };
        let mut authenticate = message.encode_with_names([
            text(&cfg.domain, unicode),
            text(&cfg.user, unicode),
            text(&cfg.workstation, unicode),
        ])?;
        if mic_wanted {
            let mic = compute_mic(&exported_session_key, &self.negotiate, challenge_bytes, &authenticate);
            let at = AuthenticateMessage::MIC_OFFSET;
            authenticate[at..at + 16].copy_from_slice(&mic);
        }
        let session = Session::new(
            Mode::Client,
            flags,
            exported_session_key,
            cfg.user.clone(),
            cfg.domain.clone(),
            cfg.workstation.clone(),
            kind,
            mic_wanted,
        );
        Ok((ClientEstablished { session }, authenticate))
    }
}

/// The client once the AUTHENTICATE_MESSAGE is built: the handshake is over for NTLM (the
/// server's verdict comes through the application protocol, or SPNEGO).
#[derive(Debug)]
pub struct ClientEstablished {
    session: Session,
}

impl ClientEstablished {
    /// The negotiated flags, keys and names.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session, mutably (signing and sealing move the sequence numbers).
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The session, consuming the state.
    pub fn into_session(self) -> Session {
        self.session
    }
}

/// The flags of the AUTHENTICATE_MESSAGE: what both sides asked for, with the server's
/// target flags, UNICODE over OEM and EXTENDED_SESSIONSECURITY over LM_KEY (MS-NLMP §2.2.2.5,
/// §3.1.5.1.2).
fn negotiate_flags(requested: F, server: F) -> Result<F, Error> {
    let mut flags = requested & server;
    flags |= server
        & (F::NTLMSSP_NEGOTIATE_TARGET_INFO
            | F::NTLMSSP_TARGET_TYPE_SERVER
            | F::NTLMSSP_TARGET_TYPE_DOMAIN
            | F::NTLMSSP_REQUEST_TARGET);
    if flags.contains(F::NTLMSSP_NEGOTIATE_UNICODE) {
        flags = flags.without(F::NTLM_NEGOTIATE_OEM);
    } else if !flags.contains(F::NTLM_NEGOTIATE_OEM) {
        return Err(Error::UnacceptableFlags { flags: server, reason: "neither UNICODE nor OEM was chosen" });
    }
    if flags.contains(F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) {
        flags = flags.without(F::NTLMSSP_NEGOTIATE_LM_KEY);
    }
    Ok(flags)
}

/// The client's AV_PAIR list (MS-NLMP §3.1.5.1.2): the server's pairs as sent, with the MIC
/// bit set in the first `MsvAvFlags` (or a new one), and `MsvAvChannelBindings` and
/// `MsvAvTargetName` replacing the server's when configured; then `MsvAvEOL`.
fn client_pairs(server: Option<AvPairsRef<'_>>, mic: bool, cfg: &ClientConfig) -> Vec<u8> {
    let server_len = server.map_or(0, |p| p.as_bytes().len());
    let spn_len = cfg.target_name.as_ref().map_or(0, |t| 4 + 2 * t.len());
    let mut out = Vec::with_capacity(server_len + 8 + 20 + spn_len + 4);
    let mut flags_set = !mic;
    for (id, value, pair) in server.iter().flat_map(|p| p.iter()) {
        match id {
            AvId::MsvAvFlags if !flags_set => {
                let old = value.try_into().map_or(0, u32::from_le_bytes);
                push_pair(&mut out, id, &(old | MSV_AV_FLAG_MIC_PRESENT).to_le_bytes());
                flags_set = true;
            }
            AvId::MsvAvChannelBindings if cfg.channel_bindings.is_some() => {}
            AvId::MsvAvTargetName if cfg.target_name.is_some() => {}
            _ => out.extend_from_slice(pair),
        }
    }
    if !flags_set {
        push_pair(&mut out, AvId::MsvAvFlags, &MSV_AV_FLAG_MIC_PRESENT.to_le_bytes());
    }
    if let Some(cb) = &cfg.channel_bindings {
        push_pair(&mut out, AvId::MsvAvChannelBindings, &md5(&[cb]));
    }
    if let Some(spn) = &cfg.target_name {
        push_text_pair(&mut out, AvId::MsvAvTargetName, spn);
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

/// A name as the AUTHENTICATE_MESSAGE carries it: UTF-16LE under UNICODE, else as is (OEM).
fn text(s: &str, unicode: bool) -> Field<'_> {
    if unicode { Field::Utf16(s) } else { Field::Bytes(s.as_bytes()) }
}

/// The NT hash of the secret (of the empty password for `Secret::None`).
fn nt_hash(secret: &Secret) -> [u8; 16] {
    match secret {
        Secret::Password(p) => ntowfv1(p),
        Secret::NtHash(h) => *h,
        Secret::None => ntowfv1(""),
    }
}

/// The LM hash, when the password is known and has one.
fn lm_hash(secret: &Secret) -> Option<[u8; 16]> {
    match secret {
        Secret::Password(p) => lmowfv1(p),
        Secret::NtHash(_) | Secret::None => None,
    }
}

fn secret_is_empty(secret: &Secret) -> bool {
    match secret {
        Secret::Password(p) => p.is_empty(),
        Secret::NtHash(_) => false,
        Secret::None => true,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::super::av_pairs::{AvPair, AvPairs};
    use super::*;

    /// What `client_pairs` must produce, through the owned AV_PAIR types: the server's list
    /// decoded, the MIC bit set in its first `MsvAvFlags` (or a new pair), the configured
    /// bindings and SPN replacing the server's, encoded again.
    fn reference(server: Option<&AvPairs>, mic: bool, cfg: &ClientConfig) -> Vec<u8> {
        let mut pairs = server.cloned().unwrap_or_default();
        if mic {
            match pairs.0.iter_mut().find_map(|p| match p {
                AvPair::Flags(f) => Some(f),
                _ => None,
            }) {
                Some(f) => *f |= MSV_AV_FLAG_MIC_PRESENT,
                None => pairs.0.push(AvPair::Flags(MSV_AV_FLAG_MIC_PRESENT)),
            }
        }
        if let Some(cb) = &cfg.channel_bindings {
            pairs.0.retain(|p| !matches!(p, AvPair::ChannelBindings(_)));
            pairs.0.push(AvPair::ChannelBindings(md5(&[cb])));
        }
        if let Some(spn) = &cfg.target_name {
            pairs.0.retain(|p| !matches!(p, AvPair::TargetName(_)));
            pairs.0.push(AvPair::TargetName(spn.clone()));
        }
        pairs.encode()
    }

    fn pair() -> impl Strategy<Value = AvPair> {
        prop_oneof![
            "\\PC{0,8}".prop_map(AvPair::NbComputerName),
            "\\PC{0,8}".prop_map(AvPair::TargetName),
            any::<u32>().prop_map(AvPair::Flags),
            any::<u64>().prop_map(AvPair::Timestamp),
            any::<[u8; 16]>().prop_map(AvPair::ChannelBindings),
        ]
    }

    proptest! {
        #[test]
        fn client_pairs_edit_the_servers_list_as_the_owned_types_would(
            server in proptest::option::of(proptest::collection::vec(pair(), 0..6).prop_map(AvPairs)),
            mic in any::<bool>(),
            spn in proptest::option::of("\\PC{0,10}"),
            bindings in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        ) {
            let cfg = ClientConfig {
                user: "alice".into(),
                domain: "CONTOSO".into(),
                secret: Secret::None,
                workstation: "WS01".into(),
                lm_compatibility_level: LmCompatibilityLevel::DEFAULT,
                requested: Requested::default(),
                target_name: spn,
                channel_bindings: bindings,
                use_mic: true,
            };
            let encoded = server.as_ref().map(AvPairs::encode);
            let view = encoded.as_deref().map(|e| AvPairsRef::read(e).expect("encoded by AvPairs"));
            prop_assert_eq!(client_pairs(view, mic, &cfg), reference(server.as_ref(), mic, &cfg));
        }
    }
}
