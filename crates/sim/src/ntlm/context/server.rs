//! The server (acceptor) handshake of MS-NLMP §3.2.5: NEGOTIATE in, CHALLENGE out,
//! AUTHENTICATE in.
//!
//! ```text
//!  start(config) ─► ExpectNegotiate
//!  ExpectNegotiate::handle(NEGOTIATE, server_challenge, time) ─► (ExpectAuthenticate, CHALLENGE)
//!  ExpectAuthenticate::handle(AUTHENTICATE, accounts) ─► ServerEstablished | AuthError
//! ```
//!
//! The server plays the domain controller too (MS-APDS pass-through is not simulated): it
//! looks the account up itself and checks the response against the account's NT hash.
//!
//! # Windows
//!
//! Not checked, as documented: the NTLMv2 timestamp's skew (MS-NLMP §3.2.5.1.2 lets the
//! server reject a response older than `MaxLifetime`, 36 hours by default; Windows does so
//! through the DC, and a deterministic simulator has no "now" to compare against) **\[I\]**;
//! the LMv2 response (only the NTLMv2 response is verified, as Windows does when both are
//! sent **\[I\]**).

use std::fmt;
use std::sync::Arc;

use sspi_emu_api::{SecStatus, TimeStamp};

use super::super::av_pairs::{AvId, AvPairsRef, MSV_AV_FLAG_MIC_PRESENT, push_pair, push_text_pair};
use super::super::crypto::{
    Mode, desl, kxkey_v1, kxkey_v1_ess, md4, md5, ntlmv1_responses, ntowfv1, ntowfv2_key, rc4k,
};
use super::super::messages::{
    AuthenticateRef, ChallengeRef, Field, NegotiateMessage, decode_text, ntlmv2_response_pairs,
};
use super::super::{Error, NegotiateFlags as F};
use super::{LmCompatibilityLevel, ResponseKind, Session, VERSION, compute_mic, ct_eq, filetime};
use crate::world::{Principal, Secret};

/// What the server is configured with: its names (for `TargetInfo`), its policy and the
/// channel it is bound to.
#[derive(Clone, Debug, Default)]
pub struct ServerConfig {
    /// NetBIOS computer name (`MsvAvNbComputerName`).
    pub nb_computer: Arc<str>,
    /// NetBIOS domain name (`MsvAvNbDomainName`); the computer name on a workgroup machine.
    pub nb_domain: Arc<str>,
    /// DNS computer name (`MsvAvDnsComputerName`).
    pub dns_computer: Arc<str>,
    /// DNS domain name (`MsvAvDnsDomainName`).
    pub dns_domain: Arc<str>,
    /// DNS forest name (`MsvAvDnsTreeName`); not sent when empty.
    pub dns_tree: Arc<str>,
    /// The server's `LmCompatibilityLevel`: 4 refuses LM, 5 refuses LM and NTLMv1.
    pub lm_compatibility_level: LmCompatibilityLevel,
    /// Extended Protection "Required": a client without channel bindings fails.
    pub require_channel_bindings: bool,
    /// The channel bindings' application data of the server's side of the channel (the
    /// `SECBUFFER_CHANNEL_BINDINGS` passed to `AcceptSecurityContext`), if any.
    pub expected_channel_bindings: Option<Vec<u8>>,
    /// Whether anonymous AUTHENTICATE_MESSAGEs are accepted.
    pub allow_anonymous: bool,
}

/// An account as the server (standing in for the DC) sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// The NT hash (`NTOWFv1`).
    pub nt_hash: [u8; 16],
    /// The account is disabled (`STATUS_ACCOUNT_DISABLED`).
    pub disabled: bool,
    /// The account is locked out (`STATUS_ACCOUNT_LOCKED_OUT`).
    pub locked: bool,
    /// The password has expired (`STATUS_PASSWORD_EXPIRED`).
    pub password_expired: bool,
    /// The canonical user name (as stored, whatever case the client used).
    pub user: String,
    /// The canonical domain name.
    pub domain: String,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("nt_hash", &"<redacted>")
            .field("disabled", &self.disabled)
            .field("locked", &self.locked)
            .field("password_expired", &self.password_expired)
            .field("user", &self.user)
            .field("domain", &self.domain)
            .finish()
    }
}

impl Account {
    /// The account of a world principal; `None` for one without a secret (it cannot log on
    /// with NTLM) **\[I\]**.
    pub fn from_principal(p: &Principal) -> Option<Self> {
        let nt_hash = match &p.secret {
            Secret::Password(pw) => ntowfv1(pw),
            Secret::NtHash(h) => *h,
            Secret::None => return None,
        };
        Some(Self {
            nt_hash,
            disabled: p.disabled,
            locked: p.locked,
            password_expired: p.password_expired,
            user: p.user.clone(),
            domain: p.domain.clone(),
        })
    }
}

/// Finds the account a `DomainName` / `UserName` pair names.
pub trait AccountLookup {
    /// The account of `user` in `domain` (both as the client sent them), if any. Windows
    /// matches names case-insensitively; an empty domain means the server's own or, with a
    /// `user@suffix` user name, the UPN's.
    fn find(&self, domain: &str, user: &str) -> Option<Account>;
}

/// World principals: `user` matches the SAM name case-insensitively (or the UPN when the
/// domain is empty and `user` has an `@`); `domain` matches case-insensitively or is empty.
impl AccountLookup for [Principal] {
    fn find(&self, domain: &str, user: &str) -> Option<Account> {
        self.iter()
            .find(|p| {
                if domain.is_empty() && user.contains('@') {
                    return p.upn.as_deref().is_some_and(|upn| upn.eq_ignore_ascii_case(user));
                }
                p.user.eq_ignore_ascii_case(user) && (domain.is_empty() || p.domain.eq_ignore_ascii_case(domain))
            })
            .and_then(Account::from_principal)
    }
}

/// A slice of principals, behind a reference (so `&principals[..]` is a `&dyn AccountLookup`).
impl<T: AccountLookup + ?Sized> AccountLookup for &T {
    fn find(&self, domain: &str, user: &str) -> Option<Account> {
        (**self).find(domain, user)
    }
}

/// World principals in a `Vec`, as `[Principal]`.
impl AccountLookup for Vec<Principal> {
    fn find(&self, domain: &str, user: &str) -> Option<Account> {
        self.as_slice().find(domain, user)
    }
}

/// Starts the server handshake.
pub fn start(config: ServerConfig) -> ExpectNegotiate {
    ExpectNegotiate { config }
}

/// The server before any message, waiting for the NEGOTIATE_MESSAGE.
#[derive(Clone, Debug)]
pub struct ExpectNegotiate {
    config: ServerConfig,
}

impl ExpectNegotiate {
    /// Handles the NEGOTIATE_MESSAGE and returns the CHALLENGE_MESSAGE.
    ///
    /// Flags (MS-NLMP §3.2.5.1.1): UNICODE if asked, else OEM; REQUEST_TARGET answered with
    /// `TargetName` (the NetBIOS domain, `NTLMSSP_TARGET_TYPE_DOMAIN`, or the computer,
    /// `..._SERVER`, when the domain is the computer); SIGN, SEAL, DATAGRAM, ALWAYS_SIGN,
    /// IDENTIFY, EXTENDED_SESSIONSECURITY, 128, 56, KEY_EXCH as asked; NTLM, TARGET_INFO and
    /// VERSION always. `NTLMSSP_NEGOTIATE_LM_KEY` is never granted: the server knows NT hashes
    /// only (Windows since Vista stores no LM hash, `NoLMHash`) **\[I\]**.
    ///
    /// `TargetInfo` holds the five names (the tree when set) and `MsvAvTimestamp` = `time`.
    ///
    /// # Errors
    ///
    /// The decoding errors of [`NegotiateMessage::decode`]; [`Error::UnacceptableFlags`] when
    /// the client offers neither UNICODE nor OEM (Windows: `SEC_E_INVALID_TOKEN`).
    pub fn handle(
        self,
        negotiate_bytes: &[u8],
        server_challenge: [u8; 8],
        time: TimeStamp,
    ) -> Result<(ExpectAuthenticate, Vec<u8>), Error> {
        let negotiate = NegotiateMessage::decode(negotiate_bytes)?;
        let c = negotiate.flags;
        let cfg = &self.config;
        let mut flags = F::NTLMSSP_NEGOTIATE_NTLM | F::NTLMSSP_NEGOTIATE_TARGET_INFO | F::NTLMSSP_NEGOTIATE_VERSION;
        if c.contains(F::NTLMSSP_NEGOTIATE_UNICODE) {
            flags |= F::NTLMSSP_NEGOTIATE_UNICODE;
        } else if c.contains(F::NTLM_NEGOTIATE_OEM) {
            flags |= F::NTLM_NEGOTIATE_OEM;
        } else {
            return Err(Error::UnacceptableFlags { flags: c, reason: "neither UNICODE nor OEM is offered" });
        }
        flags |= c
            & (F::NTLMSSP_NEGOTIATE_SIGN
                | F::NTLMSSP_NEGOTIATE_SEAL
                | F::NTLMSSP_NEGOTIATE_DATAGRAM
                | F::NTLMSSP_NEGOTIATE_ALWAYS_SIGN
                | F::NTLMSSP_NEGOTIATE_IDENTIFY
                | F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
                | F::NTLMSSP_NEGOTIATE_128
                | F::NTLMSSP_NEGOTIATE_56
                | F::NTLMSSP_NEGOTIATE_KEY_EXCH);
        let mut target_name = Field::Bytes(&[]);
        if c.contains(F::NTLMSSP_REQUEST_TARGET) {
            flags |= F::NTLMSSP_REQUEST_TARGET;
            let workgroup = cfg.nb_domain.is_empty() || cfg.nb_domain.eq_ignore_ascii_case(&cfg.nb_computer);
            let name = if workgroup {
                flags |= F::NTLMSSP_TARGET_TYPE_SERVER;
                &cfg.nb_computer
            } else {
                flags |= F::NTLMSSP_TARGET_TYPE_DOMAIN;
                &cfg.nb_domain
            };
            target_name = if flags.contains(F::NTLMSSP_NEGOTIATE_UNICODE) {
                Field::Utf16(name)
            } else {
                Field::Bytes(name.as_bytes())
            };
        }
        let names = [
            (AvId::MsvAvNbDomainName, &cfg.nb_domain),
            (AvId::MsvAvNbComputerName, &cfg.nb_computer),
            (AvId::MsvAvDnsDomainName, &cfg.dns_domain),
            (AvId::MsvAvDnsComputerName, &cfg.dns_computer),
            (AvId::MsvAvDnsTreeName, &cfg.dns_tree),
        ];
        let mut info = Vec::with_capacity(names.iter().map(|(_, n)| 4 + 2 * n.len()).sum::<usize>() + 12 + 4);
        for (id, name) in names {
            // The forest name is sent only when set.
            if id != AvId::MsvAvDnsTreeName || !name.is_empty() {
                push_text_pair(&mut info, id, name);
            }
        }
        push_pair(&mut info, AvId::MsvAvTimestamp, &filetime(time).to_le_bytes());
        info.extend_from_slice(&[0, 0, 0, 0]);
        let challenge = ChallengeRef {
            flags,
            // Written by `encode_with_target_name`.
            target_name: &[],
            server_challenge,
            reserved: [0; 8],
            target_info: &info,
            version: Some(VERSION),
        }
        .encode_with_target_name(target_name)?;
        let next = ExpectAuthenticate {
            config: self.config,
            flags,
            server_challenge,
            transcript: [negotiate_bytes, &challenge].concat(),
        };
        Ok((next, challenge))
    }
}

/// The server after its CHALLENGE_MESSAGE, waiting for the AUTHENTICATE_MESSAGE.
#[derive(Clone, Debug)]
pub struct ExpectAuthenticate {
    config: ServerConfig,
    flags: F,
    server_challenge: [u8; 8],
    /// NEGOTIATE ‖ CHALLENGE, as the MIC covers them.
    transcript: Vec<u8>,
}

impl ExpectAuthenticate {
    /// The flags the CHALLENGE_MESSAGE offered.
    pub fn offered_flags(&self) -> F {
        self.flags
    }

    /// Sets the server's channel bindings (`SECBUFFER_CHANNEL_BINDINGS` of the call that
    /// carries the AUTHENTICATE_MESSAGE), replacing the configured ones when `Some`.
    pub fn set_expected_channel_bindings(&mut self, channel_bindings: Option<Vec<u8>>) {
        if channel_bindings.is_some() {
            self.config.expected_channel_bindings = channel_bindings;
        }
    }

    /// Handles the AUTHENTICATE_MESSAGE: identifies the response, looks the account up,
    /// verifies the response against its NT hash, recovers the session key, and checks the
    /// MIC and the channel bindings (MS-NLMP §3.2.5.1.2).
    ///
    /// The negotiated flags are the AUTHENTICATE's, limited to what the CHALLENGE offered.
    /// NTLMv2 is verified with `NTOWFv2(UserName as sent, upper-cased; DomainName as sent)`.
    ///
    /// Order of checks **\[I\]**: the message; anonymous; the level (LM, NTLMv1); the account
    /// (unknown, locked out — even with a wrong password, as SAM does); the response (wrong
    /// password); disabled; password expired; then, with the session key, the MIC and the
    /// channel bindings.
    ///
    /// # Errors
    ///
    /// An [`AuthError`]; [`AuthError::status`] gives what `AcceptSecurityContext` returns.
    pub fn handle(
        &self,
        authenticate_bytes: &[u8],
        accounts: &dyn AccountLookup,
    ) -> Result<ServerEstablished, AuthError> {
        let auth = AuthenticateRef::decode(authenticate_bytes).map_err(AuthError::Malformed)?;
        let flags = (auth.flags & self.flags) | (auth.flags & F::NTLMSSP_ANONYMOUS);
        let text = |bytes: &[u8], field| decode_text(bytes, auth.flags, field).map_err(AuthError::Malformed);
        let user = text(auth.user_name, "UserName")?;
        let domain = text(auth.domain_name, "DomainName")?;
        let workstation = text(auth.workstation, "Workstation")?;
        let level = self.config.lm_compatibility_level;
        let lm = auth.lm_challenge_response;
        let nt = auth.nt_challenge_response;

        // Anonymous: MS-NLMP §3.2.5.1.2 ("UserName, NtChallengeResponse empty and
        // LmChallengeResponse Z(1) or empty").
        if user.is_empty() && nt.is_empty() && (lm.is_empty() || lm[..] == [0]) {
            if !self.config.allow_anonymous {
                return Err(AuthError::AnonymousRefused);
            }
            let exported = self.exported_session_key(flags, auth.encrypted_random_session_key, [0; 16])?;
            let session = Session::new(
                Mode::Server,
                flags,
                exported,
                String::new(),
                String::new(),
                workstation,
                ResponseKind::Anonymous,
                false,
            );
            return Ok(ServerEstablished { session, account: None });
        }

        let kind = match nt.len() {
            0 if lm.len() == 24 => {
                // An LM response alone: refused at 4 and 5; below, it cannot verify without the
                // LM hash Windows no longer stores (NoLMHash) **[I]**.
                return Err(if level.refuses_lm() { AuthError::LmRefused } else { AuthError::WrongPassword });
            }
            24 if flags.contains(F::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) => ResponseKind::Ntlmv1Ess,
            24 => ResponseKind::Ntlmv1,
            n if n > 24 => ResponseKind::Ntlmv2,
            n => {
                return Err(AuthError::Malformed(Error::Truncated {
                    what: "NtChallengeResponse",
                    needed: 24,
                    available: n,
                }));
            }
        };
        let v2 = match kind {
            ResponseKind::Ntlmv2 => Some(ntlmv2_response_pairs(nt).map_err(AuthError::Malformed)?),
            _ if level.refuses_ntlmv1() => return Err(AuthError::Ntlmv1Refused),
            _ => None,
        };
        let lm24: Option<[u8; 24]> = lm.try_into().ok();
        if kind == ResponseKind::Ntlmv1Ess && lm24.is_none() {
            return Err(AuthError::Malformed(Error::Truncated {
                what: "LmChallengeResponse",
                needed: 24,
                available: lm.len(),
            }));
        }
        let lm24 = lm24.unwrap_or([0; 24]);

        let account = accounts
            .find(&domain, &user)
            .ok_or_else(|| AuthError::UnknownUser { domain: domain.clone(), user: user.clone() })?;
        if account.locked {
            return Err(AuthError::AccountLocked);
        }
        let sc = &self.server_challenge;
        let key_exchange_key = match kind {
            ResponseKind::Ntlmv2 => {
                let key = ntowfv2_key(&account.nt_hash, &user, &domain);
                let proof = key.mac(&[sc, &nt[16..]]);
                if !ct_eq(&proof, &nt[..16]) {
                    return Err(AuthError::WrongPassword);
                }
                key.mac(&[&proof])
            }
            ResponseKind::Ntlmv1Ess => {
                let mut client_challenge = [0; 8];
                client_challenge.copy_from_slice(&lm24[..8]);
                let r = ntlmv1_responses(flags, &account.nt_hash, &[0; 16], sc, &client_challenge, true);
                if !ct_eq(&r.nt_challenge_response, nt) {
                    return Err(AuthError::WrongPassword);
                }
                kxkey_v1_ess(&r.session_base_key, sc, &lm24)
            }
            _ => {
                if !ct_eq(&desl(&account.nt_hash, sc), nt) {
                    return Err(AuthError::WrongPassword);
                }
                kxkey_v1(flags, &md4(&account.nt_hash), &[0; 16], &lm24)
            }
        };
        if account.disabled {
            return Err(AuthError::AccountDisabled);
        }
        if account.password_expired {
            return Err(AuthError::PasswordExpired);
        }
        let exported = self.exported_session_key(flags, auth.encrypted_random_session_key, key_exchange_key)?;

        let pairs = v2;
        let mic_present = pairs.and_then(|p| p.flags()).is_some_and(|f| f & MSV_AV_FLAG_MIC_PRESENT != 0);
        if mic_present {
            let expected = compute_mic(&exported, &self.transcript, &[], authenticate_bytes);
            if !auth.mic.is_some_and(|mic| ct_eq(&mic, &expected)) {
                return Err(AuthError::MicMismatch);
            }
        }
        self.check_channel_bindings(pairs)?;

        let session = Session::new(
            Mode::Server,
            flags,
            exported,
            account.user.as_str(),
            account.domain.as_str(),
            workstation,
            kind,
            mic_present,
        );
        Ok(ServerEstablished { session, account: Some(account) })
    }

    /// `ExportedSessionKey`: RC4K(KeyExchangeKey, EncryptedRandomSessionKey) under key
    /// exchange when the client sent one, else the key exchange key.
    fn exported_session_key(&self, flags: F, esk: &[u8], kxkey: [u8; 16]) -> Result<[u8; 16], AuthError> {
        if !flags.contains(F::NTLMSSP_NEGOTIATE_KEY_EXCH) || esk.is_empty() {
            return Ok(kxkey);
        }
        let esk: [u8; 16] = esk.try_into().map_err(|_| {
            AuthError::Malformed(Error::Truncated {
                what: "EncryptedRandomSessionKey",
                needed: 16,
                available: esk.len(),
            })
        })?;
        Ok(rc4k(&kxkey, &esk))
    }

    /// MS-NLMP §3.2.5.1.2: an all-zero or absent `MsvAvChannelBindings` is "missing", which
    /// only Extended Protection "Required" refuses; a present one must match the MD5 of the
    /// server's bindings.
    fn check_channel_bindings(&self, pairs: Option<AvPairsRef<'_>>) -> Result<(), AuthError> {
        // The first non-zero MsvAvChannelBindings.
        let sent = pairs.and_then(|p| {
            p.iter().find_map(|(id, value, _)| match <[u8; 16]>::try_from(value) {
                Ok(h) if id == AvId::MsvAvChannelBindings && h != [0; 16] => Some(h),
                _ => None,
            })
        });
        let expected = self.config.expected_channel_bindings.as_ref().map(|cb| md5(&[cb]));
        match (sent, expected) {
            (None, _) if self.config.require_channel_bindings => Err(AuthError::ChannelBindingsMissing),
            (None, _) => Ok(()),
            (Some(s), Some(e)) if ct_eq(&s, &e) => Ok(()),
            (Some(_), Some(_)) => Err(AuthError::ChannelBindingsMismatch),
            // Bindings sent, but the server has no channel to compare with: only "Required"
            // refuses **[I]**.
            (Some(_), None) if self.config.require_channel_bindings => Err(AuthError::ChannelBindingsMismatch),
            (Some(_), None) => Ok(()),
        }
    }
}

/// The server once the client is authenticated.
#[derive(Debug)]
pub struct ServerEstablished {
    session: Session,
    account: Option<Account>,
}

impl ServerEstablished {
    /// The negotiated flags, keys and the authenticated names.
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

    /// The authenticated account; `None` for an anonymous logon.
    pub fn account(&self) -> Option<&Account> {
        self.account.as_ref()
    }
}

/// Why the server refused an AUTHENTICATE_MESSAGE.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum AuthError {
    /// The message (or the NTLMv2 response inside) does not decode.
    Malformed(Error),
    /// No account has this name (`STATUS_NO_SUCH_USER`).
    UnknownUser {
        /// `DomainName` as sent.
        domain: String,
        /// `UserName` as sent.
        user: String,
    },
    /// The response does not match the account's NT hash (`STATUS_WRONG_PASSWORD`).
    WrongPassword,
    /// The account is disabled (`STATUS_ACCOUNT_DISABLED`).
    AccountDisabled,
    /// The account is locked out (`STATUS_ACCOUNT_LOCKED_OUT`).
    AccountLocked,
    /// The password has expired (`STATUS_PASSWORD_EXPIRED`).
    PasswordExpired,
    /// `MsvAvFlags` announces a MIC and it does not match the three messages (or is absent).
    MicMismatch,
    /// The client sent no channel bindings and the server requires them.
    ChannelBindingsMissing,
    /// The client's channel bindings do not match the server's channel.
    ChannelBindingsMismatch,
    /// An anonymous AUTHENTICATE and the server does not allow anonymous logons.
    AnonymousRefused,
    /// Only an LM response, and the server's level (4, 5) refuses LM.
    LmRefused,
    /// An NTLMv1 response, and the server's level (5) refuses NTLMv1.
    Ntlmv1Refused,
}

impl AuthError {
    /// The `SECURITY_STATUS` `AcceptSecurityContext` returns for this failure. Sources and
    /// fidelity per arm; the research is in `docs/research/ntlm-statuses.md`.
    pub fn status(&self) -> SecStatus {
        match self {
            // [D] AcceptSecurityContext (NTLM), return values: SEC_E_INVALID_TOKEN "The function
            // failed. The token passed to the function is invalid." (research note N1; the NTLM
            // SSP's own STATUS_INVALID_PARAMETER maps here too, N4, N5).
            Self::Malformed(_) => SecStatus::SEC_E_INVALID_TOKEN,
            // [D] N1 (SEC_E_LOGON_DENIED "The logon failed.") and KB 180548's SSPLogonUser
            // sample, N2: "AcceptSecurityContext fails with SEC_E_LOGON_DENIED in the case of bad
            // szUser or szPassword"; [I] N4, N5 map STATUS_NO_SUCH_USER and
            // STATUS_WRONG_PASSWORD / STATUS_LOGON_FAILURE to it.
            Self::UnknownUser { .. } | Self::WrongPassword => SecStatus::SEC_E_LOGON_DENIED,
            // [I] N4 (NT 5 SspNtStatusToSecStatus) and N5 (decompiled current mapping) send
            // STATUS_ACCOUNT_DISABLED, STATUS_ACCOUNT_LOCKED_OUT, STATUS_PASSWORD_EXPIRED (and
            // STATUS_ACCOUNT_RESTRICTION) to SEC_E_LOGON_DENIED; the NTSTATUS shows only in the
            // 4625 audit event (N3). No Windows run seen.
            Self::AccountDisabled | Self::AccountLocked | Self::PasswordExpired => SecStatus::SEC_E_LOGON_DENIED,
            // [I] nothing found (research note, "MIC mismatch").
            Self::MicMismatch => SecStatus::SEC_E_LOGON_DENIED,
            // [H] winerror.h SEC_E_BAD_BINDINGS "Client's supplied SSPI channel bindings were
            // incorrect."; [I] N5 maps STATUS_BAD_BINDINGS (0xC000035B) to it.
            Self::ChannelBindingsMissing | Self::ChannelBindingsMismatch => SecStatus::SEC_E_BAD_BINDINGS,
            // [I] nothing found.
            Self::AnonymousRefused => SecStatus::SEC_E_LOGON_DENIED,
            // [I] nothing found for the level refusal itself; the DC's failure is a logon
            // failure status, which N4, N5 map to SEC_E_LOGON_DENIED.
            Self::LmRefused | Self::Ntlmv1Refused => SecStatus::SEC_E_LOGON_DENIED,
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed AUTHENTICATE_MESSAGE: {e}"),
            Self::UnknownUser { domain, user } => write!(f, "no account {domain}\\{user}"),
            Self::WrongPassword => f.write_str("the response does not match the password"),
            Self::AccountDisabled => f.write_str("the account is disabled"),
            Self::AccountLocked => f.write_str("the account is locked out"),
            Self::PasswordExpired => f.write_str("the password has expired"),
            Self::MicMismatch => f.write_str("the MIC does not match the messages"),
            Self::ChannelBindingsMissing => f.write_str("channel bindings are required and missing"),
            Self::ChannelBindingsMismatch => f.write_str("channel bindings do not match"),
            Self::AnonymousRefused => f.write_str("anonymous logons are not allowed"),
            Self::LmRefused => f.write_str("LM responses are refused by LmCompatibilityLevel"),
            Self::Ntlmv1Refused => f.write_str("NTLMv1 responses are refused by LmCompatibilityLevel"),
        }
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Malformed(e) => Some(e),
            _ => None,
        }
    }
}
