//! # The NTLM handshakes, sans I/O
//!
//! The client ([`client`]) and server ([`server`]) state machines of MS-NLMP §3.1 and §3.2, as
//! the SSPI layer drives them from `InitializeSecurityContext` and `AcceptSecurityContext`:
//! tokens in, tokens out. Each state is one struct named after what it waits for; a transition
//! consumes it, so a finished or failed handshake cannot be driven again.
//!
//! ```text
//!  client                                              server
//!  client::start(config, random) ─► NEGOTIATE ───────► server::start(config)
//!    │ ExpectChallenge                                   │ ExpectNegotiate::handle(.., challenge, time)
//!    │                             CHALLENGE ◄─────────  │ ExpectAuthenticate
//!  ExpectChallenge::handle(.., time)                     │
//!    │                          AUTHENTICATE ────────►  ExpectAuthenticate::handle(.., accounts)
//!  ClientEstablished                                   ServerEstablished
//!    └─ Session (flags, keys, names, SessionSecurity) ◄─► Session
//! ```
//!
//! Deterministic: nothing here reads a clock or a random source. The caller passes the time
//! (a FILETIME as [`TimeStamp`]), the client challenge and random session key
//! ([`client::ClientRandom`]) and the server challenge.
//!
//! # Windows
//!
//! MS-NLMP §3.1.5 (client), §3.2.5 (server):
//! <https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-nlmp/>. The
//! `LmCompatibilityLevel` semantics are those of the registry value
//! (<https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-10/security/threat-protection/security-policy-settings/network-security-lan-manager-authentication-level>).

use std::sync::Arc;

use sspi_emu_api::TimeStamp;

use super::NegotiateFlags;
use super::crypto::{Mode, SessionSecurity, hmac_md5};
use super::messages::{AuthenticateMessage, Version};

pub mod client;
pub mod server;

#[cfg(test)]
mod tests;

/// `LmCompatibilityLevel` (`HKLM\SYSTEM\CurrentControlSet\Control\Lsa`), 0 to 5.
///
/// | level | client sends                    | server accepts                |
/// |-------|---------------------------------|-------------------------------|
/// | 0     | LM + NTLMv1                     | LM, NTLMv1, NTLMv2            |
/// | 1     | LM + NTLMv1, NTLMv2 session security (ESS) if negotiated | as 0 |
/// | 2     | NTLMv1 only (ESS if negotiated) | as 0                          |
/// | 3     | NTLMv2 only                     | as 0                          |
/// | 4     | NTLMv2 only                     | refuses LM                    |
/// | 5     | NTLMv2 only                     | refuses LM and NTLMv1         |
///
/// A newtype so any registry value round-trips; values above 5 behave as 5 **\[I\]**.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct LmCompatibilityLevel(pub u8);

impl LmCompatibilityLevel {
    /// The default since Windows Vista / Server 2008: 3 **\[D\]**.
    pub const DEFAULT: Self = Self(3);

    /// Whether a client at this level answers with NTLMv2 (levels 3 to 5).
    pub const fn sends_ntlmv2(self) -> bool {
        self.0 >= 3
    }

    /// Whether a client at this level asks for extended session security (levels 1 and up).
    pub const fn requests_extended_session_security(self) -> bool {
        self.0 >= 1
    }

    /// Whether a client at this level sends an LM response beside its NTLMv1 one (0 and 1).
    pub const fn sends_lm(self) -> bool {
        self.0 <= 1
    }

    /// Whether a server at this level refuses LM responses (4 and 5).
    pub const fn refuses_lm(self) -> bool {
        self.0 >= 4
    }

    /// Whether a server at this level refuses NTLMv1 responses (5).
    pub const fn refuses_ntlmv1(self) -> bool {
        self.0 >= 5
    }
}

impl Default for LmCompatibilityLevel {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which response proved the client's identity.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ResponseKind {
    /// An NTLMv2 response (MS-NLMP §3.3.2).
    Ntlmv2,
    /// An NTLMv1 response with extended session security (the "NTLM2 session response").
    Ntlmv1Ess,
    /// A plain NTLMv1 response (MS-NLMP §3.3.1).
    Ntlmv1,
    /// An anonymous AUTHENTICATE (empty responses, `NTLMSSP_ANONYMOUS`).
    Anonymous,
}

/// An established NTLM session, on either side: what was negotiated and the keys for
/// `MakeSignature` / `EncryptMessage` and their inverses.
#[derive(Debug)]
pub struct Session {
    flags: NegotiateFlags,
    exported_session_key: [u8; 16],
    user: Arc<str>,
    domain: Arc<str>,
    workstation: Arc<str>,
    kind: ResponseKind,
    mic_verified: bool,
    security: SessionSecurity,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    fn new(
        mode: Mode,
        flags: NegotiateFlags,
        exported_session_key: [u8; 16],
        user: impl Into<Arc<str>>,
        domain: impl Into<Arc<str>>,
        workstation: impl Into<Arc<str>>,
        kind: ResponseKind,
        mic_verified: bool,
    ) -> Self {
        Self {
            flags,
            exported_session_key,
            user: user.into(),
            domain: domain.into(),
            workstation: workstation.into(),
            kind,
            mic_verified,
            security: SessionSecurity::new(flags, &exported_session_key, mode),
        }
    }

    /// The negotiated flags (as the AUTHENTICATE_MESSAGE carries them).
    pub fn flags(&self) -> NegotiateFlags {
        self.flags
    }

    /// `ExportedSessionKey` (MS-NLMP §3.1.5.1.2): what `SECPKG_ATTR_SESSION_KEY` returns.
    pub fn exported_session_key(&self) -> &[u8; 16] {
        &self.exported_session_key
    }

    /// The user name: on the client as configured; on the server the account's canonical name
    /// (empty for anonymous).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The domain name: on the client as configured; on the server the account's canonical
    /// domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The client's workstation name, as the client sent it.
    pub fn workstation(&self) -> &str {
        &self.workstation
    }

    /// Which response authenticated the client.
    pub fn kind(&self) -> ResponseKind {
        self.kind
    }

    /// Whether the AUTHENTICATE_MESSAGE carried a MIC (sent by the client; checked by the
    /// server).
    pub fn has_mic(&self) -> bool {
        self.mic_verified
    }

    /// Signing and sealing for this side (MS-NLMP §3.4).
    pub fn security(&mut self) -> &mut SessionSecurity {
        &mut self.security
    }

    /// The signing and sealing state, consuming the session.
    pub fn into_security(self) -> SessionSecurity {
        self.security
    }
}

/// The VERSION both sides put in their messages: Windows 10 / Server 2019, build 17763
/// **\[I\]** (debugging only: MS-NLMP §2.2.2.10).
pub const VERSION: Version = Version::new(10, 0, 17763);

/// A TimeStamp as a FILETIME (negative times, which no caller passes, become 0).
fn filetime(time: TimeStamp) -> u64 {
    u64::try_from(time.0).unwrap_or(0)
}

/// The MIC (MS-NLMP §3.1.5.1.2): HMAC_MD5(ExportedSessionKey, NEGOTIATE ‖ CHALLENGE ‖
/// AUTHENTICATE), the AUTHENTICATE's MIC field zeroed.
fn compute_mic(exported_session_key: &[u8; 16], negotiate: &[u8], challenge: &[u8], authenticate: &[u8]) -> [u8; 16] {
    let at = AuthenticateMessage::MIC_OFFSET;
    match (authenticate.get(..at), authenticate.get(at + 16..)) {
        (Some(head), Some(tail)) => hmac_md5(exported_session_key, &[negotiate, challenge, head, &[0; 16], tail]),
        // Too short to hold a MIC: nothing to zero.
        _ => hmac_md5(exported_session_key, &[negotiate, challenge, authenticate]),
    }
}

/// Constant-time equality of two byte strings of the same length.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
