//! `AcquireCredentialsHandle` against the world, and the credential table.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sspi_emu_api::{
    AcquireCredentials, AuthData, CredHandle, CredentialUse, Credentials, IdentityError, Luid, SecHandle,
};

use crate::engine::Core;
use crate::error::Error;
use crate::world::{AuthorityKind, Secret};

/// A credential held by the simulated LSA.
#[derive(Debug)]
pub(crate) struct Credential {
    pub(crate) package: usize,
    pub(crate) credential_use: CredentialUse,
    /// `SECPKG_CRED_ATTR_NAMES`: `DOMAIN\user`.
    pub(crate) user_name: String,
    #[allow(dead_code)] // the session the credential belongs to; read by Kerberos (not simulated yet)
    pub(crate) session: Luid,
    pub(crate) secret: CredSecret,
}

/// Where a credential's secret comes from.
#[derive(Debug)]
pub(crate) enum CredSecret {
    /// The logon session's own secret (its principal's).
    Session(usize),
    /// Explicit `SEC_WINNT_AUTH_IDENTITY`.
    Explicit { user: Arc<str>, domain: Arc<str>, password: String },
    /// A key returned by `pGetKeyFn`.
    Key(Vec<u8>),
    /// Inbound-only credentials: validation happens against the world's accounts.
    Server,
}

/// Packs a table id and the package index into a `CredHandle`: `dwLower` = id, `dwUpper` =
/// package index, as Windows keeps the package in `dwUpper` \[I\].
pub(crate) fn cred_handle(id: u64, package: usize) -> CredHandle {
    CredHandle(SecHandle { dw_lower: id as usize, dw_upper: package })
}

impl Core {
    /// The ACH decision procedure. Every step's source is in `docs/FIDELITY.md`.
    pub(crate) fn acquire(&self, args: &AcquireCredentials, caller: Luid) -> Result<Credentials, Error> {
        let world = &self.world;
        if !self.lsa_available.load(Ordering::Acquire) {
            return Err(Error::LsaUnavailable);
        }
        let name = args.package.decode().unwrap_or_default();
        let (package_index, package) =
            world.package(&name).ok_or_else(|| Error::PackageNotFound { name: name.clone() })?;
        if package.failing {
            return Err(Error::PackageFailing { package: package.info.name.clone() });
        }
        let usage = args.credential_use;
        if !usage.is_inbound() && !usage.is_outbound() {
            return Err(Error::BadCredentialUse(usage.0));
        }
        // The caller's session was checked when the world loaded.
        // The caller's session: the world's, or (while impersonating) a network logon.
        let caller_session = self.session(caller).ok_or(Error::NoSuchLogonSession(caller))?;
        let tcb = caller_session.has_privilege("SeTcbPrivilege");
        let mut target = caller_session;
        if let Some(luid) = args.logon_id {
            let session = self.session(luid).ok_or(Error::NoSuchLogonSession(luid))?;
            if session.luid != caller && !tcb {
                return Err(Error::NotOwner { caller, target: luid });
            }
            target = session;
        }
        let principal_name = args.principal.as_ref().and_then(|p| p.decode()).filter(|p| !p.is_empty());
        let explicit = match &args.auth_data {
            None => None,
            Some(AuthData::Identity(id)) => Some(id.decode().map_err(|e| match e {
                IdentityError::BadFlags(f) => Error::BadIdentityFlags(f),
                IdentityError::BadString(field) => Error::BadAuthData(format!("{field} length overruns its buffer")),
            })?),
            Some(_) => {
                return Err(Error::BadAuthData(format!("{} does not understand this structure", package.info.name)));
            }
        };
        if explicit.is_none()
            && package.checks_principal
            && let Some(p) = &principal_name
        {
            let index = world.principal_index(p).ok_or_else(|| Error::UnknownPrincipal(p.clone()))?;
            if world.principals.get(target.principal).is_some_and(|t| t.is_named(p)) {
                // The target session's own principal.
            } else {
                let session = world
                    .sessions
                    .iter()
                    .find(|s| s.principal == index)
                    .ok_or_else(|| Error::PrincipalNotLoggedOn(p.clone()))?;
                if session.luid != caller && !tcb {
                    return Err(Error::NotOwner { caller, target: session.luid });
                }
                target = Cow::Borrowed(session);
            }
        }
        let target_principal = world.principals.get(target.principal);
        let (user_name, mut secret) = match explicit {
            Some(id) => {
                let user_name =
                    if id.domain.is_empty() { id.user.clone() } else { format!("{}\\{}", id.domain, id.user) };
                (
                    user_name,
                    CredSecret::Explicit { user: id.user.into(), domain: id.domain.into(), password: id.password },
                )
            }
            None if usage.is_outbound() => match target_principal {
                Some(p) if target.has_credentials && p.secret != Secret::None => {
                    (p.qualified_name(), CredSecret::Session(target.principal))
                }
                _ => return Err(Error::SessionHasNoCredentials(target.luid)),
            },
            None => (target_principal.map(|p| p.qualified_name()).unwrap_or_default(), CredSecret::Server),
        };
        if let Some(get_key) = &args.get_key {
            let principal = principal_name.as_deref().or(Some(&user_name));
            let key = (get_key.func)(get_key.argument, principal, 0).map_err(Error::GetKeyFailed)?;
            secret = CredSecret::Key(key);
        }
        if usage.is_inbound()
            && let Some(kind) = package.inbound_authority
        {
            let domain = match kind {
                AuthorityKind::Kdc => &world.machine.dns_domain,
                AuthorityKind::DomainController => &world.machine.domain,
            };
            let reachable = world.machine.joined
                && world.authorities.iter().zip(&self.authority_reachable).any(|(a, up)| {
                    a.kind == kind && a.domain.eq_ignore_ascii_case(domain) && up.load(Ordering::Acquire)
                });
            if !reachable {
                return Err(Error::NoAuthority { package: package.info.name.clone(), kind, domain: domain.clone() });
            }
        }
        let expiry = self.package_expiry(package_index);
        let credential =
            Credential { package: package_index, credential_use: usage, user_name, session: target.luid, secret };
        let id = self
            .creds
            .insert(credential, world.limits.max_credential_handles)
            .ok_or(Error::OutOfMemory("max_credential_handles"))?;
        Ok(Credentials { handle: cred_handle(id, package_index), expiry })
    }

    pub(crate) fn cred_id(&self, handle: CredHandle) -> Result<u64, Error> {
        let id = handle.0.dw_lower as u64;
        match self.creds.with(id, |c| c.package == handle.0.dw_upper) {
            Some(true) => Ok(id),
            _ => Err(Error::InvalidHandle("credential")),
        }
    }

    pub(crate) fn free_credentials(&self, handle: CredHandle) -> Result<(), Error> {
        let id = self.cred_id(handle)?;
        self.creds.remove(id).map(|_| ()).ok_or(Error::InvalidHandle("credential"))
    }

    pub(crate) fn credential_names(&self, handle: CredHandle) -> Result<String, Error> {
        let id = self.cred_id(handle)?;
        self.creds.with(id, |c| c.user_name.clone()).ok_or(Error::InvalidHandle("credential"))
    }

    /// The package name of a credential handle, for the journal.
    pub(crate) fn credential_package(&self, handle: CredHandle) -> Option<String> {
        let id = handle.0.dw_lower as u64;
        let index = self.creds.with(id, |c| c.package)?;
        self.world.packages.get(index).map(|p| p.info.name.clone())
    }
}
