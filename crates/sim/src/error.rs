//! Why a simulated call failed, and the one place that maps each reason to a status.

use std::fmt;

use sspi_emu_api::{Luid, SecStatus};

use crate::world::AuthorityKind;

/// Why a call failed. [`Error::status`] is the only mapping to `SECURITY_STATUS`.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The world's LSA is down (`lsa_available = false`).
    LsaUnavailable,
    /// No package of that name is installed.
    PackageNotFound {
        /// The name asked for.
        name: String,
    },
    /// The package is marked `failing` in the world.
    PackageFailing {
        /// Package name.
        package: String,
    },
    /// `fCredentialUse` asks for neither inbound nor outbound use.
    BadCredentialUse(u32),
    /// `pvLogonId` names no logon session.
    NoSuchLogonSession(Luid),
    /// Another session's credentials were asked for without `SeTcbPrivilege`.
    NotOwner {
        /// The caller's session.
        caller: Luid,
        /// The session asked for.
        target: Luid,
    },
    /// `pszPrincipal` names no known account.
    UnknownPrincipal(String),
    /// `pszPrincipal` names an account with no logon session on the machine.
    PrincipalNotLoggedOn(String),
    /// The session holds no credentials usable for this use (e.g. a network logon).
    SessionHasNoCredentials(Luid),
    /// `SEC_WINNT_AUTH_IDENTITY::Flags` names no encoding.
    BadIdentityFlags(u32),
    /// `pAuthData` could not be read.
    BadAuthData(String),
    /// `pGetKeyFn` returned a failure.
    GetKeyFailed(SecStatus),
    /// Inbound credentials need an authority and none is reachable.
    NoAuthority {
        /// Package name.
        package: String,
        /// What kind of authority.
        kind: AuthorityKind,
        /// For which domain or realm.
        domain: String,
    },
    /// A world limit was reached.
    OutOfMemory(&'static str),
    /// The handle is stale, freed, or was never issued.
    InvalidHandle(&'static str),
    /// The attribute is not supported.
    UnsupportedAttribute,
    /// A fault rule made the call fail.
    Fault(SecStatus),
    /// The credential's package has no security contexts in the simulator (yet).
    PackageUnsupported(String),
    /// The credential cannot be used this way (inbound for ISC, outbound for ASC).
    WrongCredentialUse(&'static str),
    /// A token or buffer is missing or malformed.
    InvalidToken(&'static str),
    /// An NTLM message or signature could not be decoded.
    Ntlm(crate::ntlm::Error),
    /// A SPNEGO token could not be decoded.
    Spnego(crate::spnego::Error),
    /// The server refused the client's AUTHENTICATE_MESSAGE.
    Logon(crate::ntlm::context::server::AuthError),
    /// The output buffer is smaller than the token or signature.
    BufferTooSmall {
        /// Bytes the package needs.
        needed: usize,
        /// Bytes the caller supplied.
        available: usize,
    },
    /// The context's handshake is not complete.
    ContextIncomplete,
    /// The context's handshake is already complete; no more tokens are expected.
    ContextComplete,
    /// An earlier leg of this context failed; only `DeleteSecurityContext` is left.
    ContextFailed,
    /// The SPNEGO peer offered no mechanism in common (NTLM).
    NoCommonMechanism,
    /// The SPNEGO peer sent `negState: reject`.
    Rejected,
    /// The SPNEGO `mechListMIC` does not verify.
    MechListMicMismatch,
    /// A signature does not match its message.
    MessageAltered,
    /// A message arrived out of order (or was replayed).
    OutOfSequence,
    /// `fQOP` is not a value the package supports.
    #[allow(dead_code)] // NTLM ignores fQOP; kept for packages that read it
    QopNotSupported(u32),
    /// The context cannot be impersonated (a client context, or no logon).
    NoImpersonation,
    /// The thread is not impersonating.
    NotImpersonating,
    /// The operation is not supported in this configuration.
    Unsupported(&'static str),
}

impl Error {
    /// The `SECURITY_STATUS` Windows returns for this reason; sources in `docs/FIDELITY.md`.
    pub fn status(&self) -> SecStatus {
        match self {
            // winerror.h: SEC_E_NO_SPM ("the LSA cannot be contacted") = SEC_E_INTERNAL_ERROR [H].
            Error::LsaUnavailable | Error::PackageFailing { .. } => SecStatus::SEC_E_INTERNAL_ERROR,
            Error::PackageNotFound { .. } => SecStatus::SEC_E_SECPKG_NOT_FOUND,
            // msv1_0 rejects a use with neither bit as SEC_E_INVALID_CREDENTIAL_USE, which
            // ntlmssp.h defines as SEC_E_NOT_SUPPORTED (research S8, S10) [I].
            Error::BadCredentialUse(_) => SecStatus::SEC_E_UNSUPPORTED_FUNCTION,
            // msv1_0 (NT 5 source) answers an identity without ANSI/UNICODE with
            // SEC_E_INVALID_TOKEN (research S10) [I].
            Error::BadIdentityFlags(_) => SecStatus::SEC_E_INVALID_TOKEN,
            Error::NoSuchLogonSession(_) | Error::PrincipalNotLoggedOn(_) | Error::SessionHasNoCredentials(_) => {
                SecStatus::SEC_E_NO_CREDENTIALS
            }
            Error::NotOwner { .. } => SecStatus::SEC_E_NOT_OWNER,
            Error::UnknownPrincipal(_) | Error::BadAuthData(_) => SecStatus::SEC_E_UNKNOWN_CREDENTIALS,
            Error::GetKeyFailed(s) => match *s {
                SecStatus::SEC_E_NO_CREDENTIALS
                | SecStatus::SEC_E_UNKNOWN_CREDENTIALS
                | SecStatus::SEC_E_INSUFFICIENT_MEMORY
                | SecStatus::SEC_E_NOT_OWNER => *s,
                _ => SecStatus::SEC_E_INTERNAL_ERROR,
            },
            Error::NoAuthority { .. } => SecStatus::SEC_E_NO_AUTHENTICATING_AUTHORITY,
            Error::OutOfMemory(_) => SecStatus::SEC_E_INSUFFICIENT_MEMORY,
            Error::InvalidHandle(_) => SecStatus::SEC_E_INVALID_HANDLE,
            Error::UnsupportedAttribute => SecStatus::SEC_E_UNSUPPORTED_FUNCTION,
            Error::Fault(s) => *s,
            Error::PackageUnsupported(_) | Error::Unsupported(_) => SecStatus::SEC_E_UNSUPPORTED_FUNCTION,
            // msv1_0 answers SEC_E_INVALID_CREDENTIAL_USE, which ntlmssp.h defines as
            // SEC_E_NOT_SUPPORTED = SEC_E_UNSUPPORTED_FUNCTION (NT 5 source) [I].
            Error::WrongCredentialUse(_) => SecStatus::SEC_E_UNSUPPORTED_FUNCTION,
            Error::InvalidToken(_) | Error::Ntlm(_) | Error::Spnego(_) | Error::NoCommonMechanism => {
                SecStatus::SEC_E_INVALID_TOKEN
            }
            Error::Logon(e) => e.status(),
            Error::BufferTooSmall { .. } => SecStatus::SEC_E_BUFFER_TOO_SMALL,
            Error::ContextIncomplete => SecStatus::SEC_E_INVALID_HANDLE,
            // A leg after a failed one, or after SEC_E_OK: the context is no longer in the state
            // the message belongs to (Wine's tests on Windows; NT 5 source) [O].
            Error::ContextComplete | Error::ContextFailed => SecStatus::SEC_E_OUT_OF_SEQUENCE,
            Error::Rejected => SecStatus::SEC_E_LOGON_DENIED,
            Error::MechListMicMismatch | Error::MessageAltered => SecStatus::SEC_E_MESSAGE_ALTERED,
            Error::OutOfSequence => SecStatus::SEC_E_OUT_OF_SEQUENCE,
            Error::QopNotSupported(_) => SecStatus::SEC_E_QOP_NOT_SUPPORTED,
            Error::NoImpersonation => SecStatus::SEC_E_NO_IMPERSONATION,
            Error::NotImpersonating => SecStatus::SEC_E_INVALID_HANDLE,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LsaUnavailable => write!(f, "the LSA cannot be contacted (world: lsa_available = false)"),
            Error::PackageNotFound { name } => write!(f, "no security package named `{name}` is installed"),
            Error::PackageFailing { package } => write!(f, "package `{package}` is failing (world: failing = true)"),
            Error::BadCredentialUse(v) => {
                write!(f, "fCredentialUse 0x{v:x} has neither SECPKG_CRED_INBOUND nor SECPKG_CRED_OUTBOUND")
            }
            Error::NoSuchLogonSession(l) => write!(f, "no logon session has LUID {l}"),
            Error::NotOwner { caller, target } => {
                write!(f, "caller session {caller} lacks SeTcbPrivilege to use logon session {target}")
            }
            Error::UnknownPrincipal(p) => write!(f, "no account is named `{p}`"),
            Error::PrincipalNotLoggedOn(p) => write!(f, "account `{p}` has no logon session on this machine"),
            Error::SessionHasNoCredentials(l) => write!(f, "logon session {l} holds no credentials"),
            Error::BadIdentityFlags(v) => {
                write!(f, "SEC_WINNT_AUTH_IDENTITY Flags 0x{v:x} has neither ANSI nor UNICODE")
            }
            Error::BadAuthData(why) => write!(f, "pAuthData cannot be read: {why}"),
            Error::GetKeyFailed(s) => write!(f, "pGetKeyFn returned {s}"),
            Error::NoAuthority { package, kind, domain } => {
                write!(f, "{package} inbound credentials need a {kind:?} for `{domain}` and none is reachable")
            }
            Error::OutOfMemory(what) => write!(f, "world limit reached: {what}"),
            Error::InvalidHandle(what) => write!(f, "{what} handle is stale, freed, or was never issued"),
            Error::UnsupportedAttribute => write!(f, "attribute not supported"),
            Error::Fault(s) => write!(f, "fault rule: {s}"),
            Error::PackageUnsupported(p) => write!(f, "security contexts of package `{p}` are not simulated"),
            Error::WrongCredentialUse(why) | Error::InvalidToken(why) | Error::Unsupported(why) => f.write_str(why),
            Error::Ntlm(e) => write!(f, "NTLM: {e}"),
            Error::Spnego(e) => write!(f, "SPNEGO: {e}"),
            Error::Logon(e) => write!(f, "logon refused: {e}"),
            Error::BufferTooSmall { needed, available } => {
                write!(f, "the output buffer holds {available} bytes; {needed} are needed")
            }
            Error::ContextIncomplete => f.write_str("the security context is not complete"),
            Error::ContextComplete => f.write_str("the security context is already complete"),
            Error::ContextFailed => f.write_str("an earlier leg of this security context failed; delete it"),
            Error::NoCommonMechanism => f.write_str("no SPNEGO mechanism in common (NTLM is the only one simulated)"),
            Error::Rejected => f.write_str("the SPNEGO peer rejected the negotiation"),
            Error::MechListMicMismatch => f.write_str("the SPNEGO mechListMIC does not verify"),
            Error::MessageAltered => f.write_str("the signature does not match the message"),
            Error::OutOfSequence => f.write_str("the message is out of sequence"),
            Error::QopNotSupported(q) => write!(f, "fQOP 0x{q:x} is not supported"),
            Error::NoImpersonation => f.write_str("the context has no client token to impersonate"),
            Error::NotImpersonating => f.write_str("the thread is not impersonating"),
        }
    }
}

impl std::error::Error for Error {}
