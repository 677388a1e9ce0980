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
        }
    }
}

impl std::error::Error for Error {}
