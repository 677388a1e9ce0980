//! The simulated world: a machine, its principals, logon sessions, packages and authorities.
//!
//! A world is data. It is read from TOML (the format is documented field by field in
//! `fixtures/README.md`) with `deny_unknown_fields`, checked once, and turned into the domain
//! types below. A bad fixture gives a [`FixtureError`] naming the file, the line, the column and
//! the field, never a panic. [`World::default_world`] is embedded, so everything works with no
//! file at all.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use sspi_emu_api::{Luid, PackageCapabilities, SecPkgInfo, SecStatus, TimeStamp};
use toml::Spanned;

use crate::faults::{FaultAction, FaultRule};
use crate::function::FunctionId;

/// The embedded default world (`fixtures/worlds/default.toml`).
pub const DEFAULT_WORLD_TOML: &str = include_str!("../../../fixtures/worlds/default.toml");

/// A loaded, checked world.
#[derive(Clone, Debug)]
pub struct World {
    /// Name, for messages.
    pub name: String,
    /// Seed of the world's random number generator.
    pub seed: u64,
    /// Virtual UTC time at which the world's clock starts.
    pub start_time: TimeStamp,
    /// The simulated machine.
    pub machine: Machine,
    /// Resource limits.
    pub limits: Limits,
    /// The caller's own logon session: the token captured when a call is queued.
    pub caller_session: Luid,
    /// Known accounts.
    pub principals: Vec<Principal>,
    /// Logon sessions on the machine.
    pub sessions: Vec<LogonSession>,
    /// Installed security packages, in `EnumerateSecurityPackages` order.
    pub packages: Vec<Package>,
    /// Authenticating authorities (KDCs, domain controllers).
    pub authorities: Vec<Authority>,
    /// Fault rules active from the start.
    pub faults: Vec<FaultRule>,
}

/// The simulated machine.
#[derive(Clone, Debug)]
pub struct Machine {
    /// NetBIOS computer name.
    pub name: String,
    /// NetBIOS name of the domain the machine belongs to (or its workgroup).
    pub domain: String,
    /// DNS name of the domain (the Kerberos realm, upper-cased).
    pub dns_domain: String,
    /// True when the machine is joined to `domain`.
    pub joined: bool,
    /// Local time = UTC + this many minutes (expiry times are reported in local time \[D\]).
    pub utc_offset_minutes: i32,
    /// False simulates an LSA that cannot be contacted: calls fail with `SEC_E_INTERNAL_ERROR`
    /// (`winerror.h` names the same value `SEC_E_NO_SPM`) \[H\].
    pub lsa_available: bool,
    /// `LmCompatibilityLevel` (0 to 5, default 3): which NTLM responses the machine's clients
    /// send and its servers accept.
    pub lm_compatibility_level: u8,
    /// Extended Protection for Authentication "Required": the machine's NTLM servers refuse
    /// clients that send no channel bindings (`SEC_E_BAD_BINDINGS`).
    pub require_channel_bindings: bool,
}

/// Resource limits; exceeding one gives `SEC_E_INSUFFICIENT_MEMORY` (or a NULL context).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Live credential handles at most.
    pub max_credential_handles: usize,
    /// Live async contexts at most.
    pub max_async_contexts: usize,
    /// Live security contexts (`CtxtHandle`s) at most.
    pub max_security_contexts: usize,
}

/// An account.
#[derive(Clone, Debug)]
pub struct Principal {
    /// NetBIOS domain (or the machine name for local accounts).
    pub domain: String,
    /// SAM account name.
    pub user: String,
    /// User principal name, if any.
    pub upn: Option<String>,
    /// The secret.
    pub secret: Secret,
    /// Account disabled.
    pub disabled: bool,
    /// Account locked out.
    pub locked: bool,
    /// Password expired.
    pub password_expired: bool,
}

/// What a principal's secret is known as.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A clear-text password.
    Password(String),
    /// Only the NT hash (MD4 of the UTF-16LE password).
    NtHash([u8; 16]),
    /// No secret (e.g. the anonymous account).
    None,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::NtHash(_) => f.write_str("NtHash(<redacted>)"),
            Self::None => f.write_str("None"),
        }
    }
}

/// `domain\user`: how an account is named in `DOMAIN\user` form (principals, security
/// contexts' client names).
pub(crate) fn qualified_name(domain: &str, user: &str) -> String {
    let mut name = String::with_capacity(domain.len() + 1 + user.len());
    name.push_str(domain);
    name.push('\\');
    name.push_str(user);
    name
}

impl Principal {
    /// `DOMAIN\user`.
    pub fn qualified_name(&self) -> String {
        qualified_name(&self.domain, &self.user)
    }

    /// True when `name` names this principal as `DOMAIN\user`, `user@upn-suffix` (its UPN) or a
    /// bare `user`; case-insensitive, as Windows account names are.
    pub fn is_named(&self, name: &str) -> bool {
        if let Some((d, u)) = name.split_once('\\') {
            return d.eq_ignore_ascii_case(&self.domain) && u.eq_ignore_ascii_case(&self.user);
        }
        if name.contains('@') {
            return self.upn.as_deref().is_some_and(|upn| upn.eq_ignore_ascii_case(name));
        }
        name.eq_ignore_ascii_case(&self.user)
    }
}

/// `SECURITY_LOGON_TYPE` of a logon session.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogonType {
    /// Console or RDP logon.
    Interactive,
    /// Network logon: no credentials are kept for outbound use.
    Network,
    /// Batch logon.
    Batch,
    /// Service logon.
    Service,
    /// Network logon with clear-text credentials.
    NetworkCleartext,
    /// `runas /netonly`.
    NewCredentials,
}

/// A logon session.
#[derive(Clone, Debug)]
pub struct LogonSession {
    /// Its LUID.
    pub luid: Luid,
    /// Index into [`World::principals`].
    pub principal: usize,
    /// How it logged on.
    pub logon_type: LogonType,
    /// Privileges held by the session's token (`SeTcbPrivilege`, ...).
    pub privileges: Vec<String>,
    /// True when the session holds credentials usable for outbound authentication.
    pub has_credentials: bool,
}

impl LogonSession {
    /// True when the token holds `privilege` (by its `Se...Privilege` name).
    pub fn has_privilege(&self, privilege: &str) -> bool {
        self.privileges.iter().any(|p| p.eq_ignore_ascii_case(privilege))
    }
}

/// Which kind of authority a package needs to validate inbound credentials.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorityKind {
    /// A Kerberos KDC for the machine's realm.
    Kdc,
    /// A domain controller of the machine's domain (Netlogon).
    DomainController,
}

/// An installed security package.
#[derive(Clone, Debug)]
pub struct Package {
    /// What `EnumerateSecurityPackages` reports.
    pub info: SecPkgInfo,
    /// Where the values in `info` come from.
    pub source: String,
    /// The authority inbound credentials need, if any.
    pub inbound_authority: Option<AuthorityKind>,
    /// True when the package resolves `pszPrincipal` (Kerberos); NTLM ignores it \[I\].
    pub checks_principal: bool,
    /// What `ptsExpiry` receives.
    pub expiry: Expiry,
    /// True simulates a package that fails internally (`SEC_E_INTERNAL_ERROR`).
    pub failing: bool,
}

/// How a package computes a credential's expiry time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Expiry {
    /// A fixed value, written as is (msv1_0 writes 0x7FFFFF36D5969FFF \[I\]).
    Fixed(TimeStamp),
    /// Acquisition time plus this many seconds, in the machine's local time.
    Lifetime(i64),
}

/// An authenticating authority.
#[derive(Clone, Debug)]
pub struct Authority {
    /// Host name.
    pub name: String,
    /// KDC or domain controller.
    pub kind: AuthorityKind,
    /// The domain or realm it serves.
    pub domain: String,
    /// Whether it can be reached at start.
    pub reachable: bool,
}

impl World {
    /// The embedded default world, parsed once.
    pub fn default_world() -> Arc<World> {
        static DEFAULT: OnceLock<Arc<World>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                // The embedded fixture is checked by the `embedded_default_world_loads` test;
                // failing here would mean the crate was built from a broken checkout.
                #[allow(clippy::expect_used)]
                Arc::new(
                    World::from_toml_str(DEFAULT_WORLD_TOML, "fixtures/worlds/default.toml")
                        .expect("the embedded default world is valid"),
                )
            })
            .clone()
    }

    /// Loads a world from a TOML file.
    ///
    /// # Errors
    /// A [`FixtureError`] naming the file, line and field.
    pub fn load(path: impl AsRef<Path>) -> Result<World, FixtureError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| FixtureError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        World::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses a world from TOML text; `file` names it in errors.
    ///
    /// # Errors
    /// A [`FixtureError`] naming the file, line and field.
    pub fn from_toml_str(text: &str, file: &str) -> Result<World, FixtureError> {
        let raw: raw::WorldFile = toml::from_str(text).map_err(|e| FixtureError::from_toml(&e, text, file))?;
        raw.check(text, file)
    }

    /// The session with this LUID.
    pub fn session(&self, luid: Luid) -> Option<&LogonSession> {
        self.sessions.iter().find(|s| s.luid == luid)
    }

    /// The package with this name (case-insensitive), with its index.
    pub fn package(&self, name: &str) -> Option<(usize, &Package)> {
        self.packages.iter().enumerate().find(|(_, p)| p.info.name.eq_ignore_ascii_case(name))
    }

    /// The index of the principal named `name` (see [`Principal::is_named`]).
    pub fn principal_index(&self, name: &str) -> Option<usize> {
        self.principals.iter().position(|p| p.is_named(name))
    }
}

/// An error in a fixture file: where it is and what is wrong.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FixtureError {
    /// The file.
    pub file: String,
    /// 1-based line (0 when the file could not be read).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The field (key) at fault, as it is spelled in the file.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: ", self.file)?;
        } else {
            write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for FixtureError {}

impl FixtureError {
    /// An error at a byte span of `text`.
    pub fn at(text: &str, file: &str, span: std::ops::Range<usize>, field: &str, message: String) -> Self {
        let (line, column) = line_col(text, span.start);
        Self { file: file.to_string(), line, column, field: field.to_string(), message }
    }

    /// Converts a TOML parse or schema error, recovering the field from the source line.
    pub fn from_toml(e: &toml::de::Error, text: &str, file: &str) -> Self {
        let span = e.span().unwrap_or(0..0);
        let (line, column) = line_col(text, span.start);
        let message = e.message().trim().to_string();
        // serde names unknown and missing fields itself; otherwise the key is the one on the line.
        let field = backticked(&message, "unknown field `")
            .or_else(|| backticked(&message, "missing field `"))
            .or_else(|| key_at(text, span.start))
            .unwrap_or_default();
        Self { file: file.to_string(), line, column, field, message }
    }
}

fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The key of the `key = value` line holding `offset`, or the table header on that line.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[start..end].trim();
    if let Some((key, _)) = line.split_once('=') {
        return Some(key.trim().trim_matches('"').to_string());
    }
    line.starts_with('[').then(|| line.trim_matches(|c| c == '[' || c == ']').to_string())
}

/// Privilege names a world may grant (`winnt.h` `SE_*_NAME`) \[H\].
pub const KNOWN_PRIVILEGES: &[&str] = &[
    "SeAssignPrimaryTokenPrivilege",
    "SeAuditPrivilege",
    "SeBackupPrivilege",
    "SeChangeNotifyPrivilege",
    "SeCreateGlobalPrivilege",
    "SeCreatePagefilePrivilege",
    "SeCreatePermanentPrivilege",
    "SeCreateSymbolicLinkPrivilege",
    "SeCreateTokenPrivilege",
    "SeDebugPrivilege",
    "SeDelegateSessionUserImpersonatePrivilege",
    "SeEnableDelegationPrivilege",
    "SeImpersonatePrivilege",
    "SeIncreaseBasePriorityPrivilege",
    "SeIncreaseQuotaPrivilege",
    "SeIncreaseWorkingSetPrivilege",
    "SeLoadDriverPrivilege",
    "SeLockMemoryPrivilege",
    "SeMachineAccountPrivilege",
    "SeManageVolumePrivilege",
    "SeProfileSingleProcessPrivilege",
    "SeRelabelPrivilege",
    "SeRemoteShutdownPrivilege",
    "SeRestorePrivilege",
    "SeSecurityPrivilege",
    "SeShutdownPrivilege",
    "SeSyncAgentPrivilege",
    "SeSystemEnvironmentPrivilege",
    "SeSystemProfilePrivilege",
    "SeSystemtimePrivilege",
    "SeTakeOwnershipPrivilege",
    "SeTcbPrivilege",
    "SeTimeZonePrivilege",
    "SeTrustedCredManAccessPrivilege",
    "SeUndockPrivilege",
    "SeUnsolicitedInputPrivilege",
];

/// The file format: serde structs with `deny_unknown_fields`, checked into [`World`].
mod raw {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct WorldFile {
        name: String,
        #[serde(default)]
        seed: u64,
        start_time: Spanned<String>,
        machine: MachineFile,
        #[serde(default)]
        limits: LimitsFile,
        caller: CallerFile,
        #[serde(default)]
        principals: Vec<PrincipalFile>,
        #[serde(default)]
        sessions: Vec<SessionFile>,
        #[serde(default)]
        packages: Vec<PackageFile>,
        #[serde(default)]
        authorities: Vec<AuthorityFile>,
        #[serde(default)]
        faults: Vec<FaultSpec>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct MachineFile {
        name: String,
        domain: String,
        #[serde(default)]
        dns_domain: String,
        #[serde(default)]
        joined: bool,
        #[serde(default)]
        utc_offset_minutes: Option<Spanned<i32>>,
        #[serde(default = "yes")]
        lsa_available: bool,
        #[serde(default)]
        lm_compatibility_level: Option<Spanned<u8>>,
        #[serde(default)]
        require_channel_bindings: bool,
    }

    fn yes() -> bool {
        true
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct LimitsFile {
        #[serde(default = "default_max_creds")]
        max_credential_handles: usize,
        #[serde(default = "default_max_ctx")]
        max_async_contexts: usize,
        #[serde(default = "default_max_ctx")]
        max_security_contexts: usize,
    }

    fn default_max_creds() -> usize {
        4_000_000
    }

    fn default_max_ctx() -> usize {
        4_000_000
    }

    impl Default for LimitsFile {
        fn default() -> Self {
            Self {
                max_credential_handles: default_max_creds(),
                max_async_contexts: default_max_ctx(),
                max_security_contexts: default_max_ctx(),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CallerFile {
        session: Spanned<Luid>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PrincipalFile {
        domain: String,
        user: String,
        #[serde(default)]
        upn: Option<String>,
        #[serde(default)]
        password: Option<String>,
        #[serde(default)]
        nt_hash: Option<Spanned<String>>,
        #[serde(default)]
        disabled: bool,
        #[serde(default)]
        locked: bool,
        #[serde(default)]
        password_expired: bool,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SessionFile {
        luid: Spanned<Luid>,
        principal: Spanned<String>,
        logon_type: LogonType,
        #[serde(default)]
        privileges: Vec<Spanned<String>>,
        #[serde(default)]
        credentials: Option<bool>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PackageFile {
        name: Spanned<String>,
        comment: String,
        capabilities: u32,
        version: u16,
        rpc_id: u16,
        max_token: u32,
        #[serde(default)]
        source: String,
        #[serde(default)]
        inbound_authority: Option<AuthorityKind>,
        #[serde(default)]
        checks_principal: bool,
        #[serde(default)]
        credential_lifetime_seconds: Option<Spanned<i64>>,
        #[serde(default)]
        expiry: Option<Spanned<String>>,
        #[serde(default)]
        failing: bool,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AuthorityFile {
        name: String,
        kind: AuthorityKind,
        domain: String,
        #[serde(default = "yes")]
        reachable: bool,
    }

    /// A fault rule as written in a world or scenario file (`[[faults]]`), not yet checked.
    ///
    /// Deserialise it as part of a larger document, then [`FaultSpec::check`] it against that
    /// document's text, so that errors point at the right line.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct FaultSpec {
        function: Spanned<String>,
        #[serde(default)]
        package: Option<String>,
        #[serde(default)]
        calls: Vec<Spanned<u64>>,
        action: Spanned<String>,
        #[serde(default)]
        status: Option<Spanned<String>>,
        #[serde(default)]
        seconds: Option<Spanned<f64>>,
    }

    impl FaultSpec {
        /// Checks the rule; `text` is the document it was read from, `file` names it.
        ///
        /// # Errors
        /// A [`FixtureError`] naming the line and field.
        pub fn check(self, text: &str, file: &str) -> Result<FaultRule, FixtureError> {
            let err =
                |span: std::ops::Range<usize>, field: &str, msg: String| FixtureError::at(text, file, span, field, msg);
            let function = FunctionId::matching(self.function.get_ref());
            if function.is_empty() {
                return Err(err(
                    self.function.span(),
                    "function",
                    format!("`{}` is not a function the simulator knows", self.function.get_ref()),
                ));
            }
            if let Some(f) = function.iter().find(|f| !f.takes_faults()) {
                return Err(err(
                    self.function.span(),
                    "function",
                    format!("fault rules do not apply to {f}: it only reports the state of a context"),
                ));
            }
            if let Some(c) = self.calls.iter().find(|c| *c.get_ref() == 0) {
                return Err(err(c.span(), "calls", "call numbers count from 1".into()));
            }
            let status = match &self.status {
                Some(s) => {
                    let status = s.get_ref().parse::<SecStatus>().map_err(|m| err(s.span(), "status", m))?;
                    if !status.is_error() {
                        return Err(err(s.span(), "status", format!("{status} is not a failure status")));
                    }
                    Some(status)
                }
                None => None,
            };
            let action = match self.action.get_ref().as_str() {
                "fail" | "fail_queue" => {
                    let Some(status) = status else {
                        return Err(err(
                            self.action.span(),
                            "status",
                            format!("action `{}` needs a `status`", self.action.get_ref()),
                        ));
                    };
                    if self.action.get_ref() == "fail" {
                        FaultAction::Fail(status)
                    } else {
                        FaultAction::FailQueue(status)
                    }
                }
                "delay" => {
                    let Some(s) = &self.seconds else {
                        return Err(err(self.action.span(), "seconds", "action `delay` needs `seconds`".into()));
                    };
                    if !(s.get_ref().is_finite() && *s.get_ref() >= 0.0) {
                        return Err(err(s.span(), "seconds", "must be a finite number >= 0".into()));
                    }
                    FaultAction::Delay { ticks: (s.get_ref() * TimeStamp::TICKS_PER_SECOND as f64) as i64 }
                }
                "never" => FaultAction::Never,
                other => {
                    return Err(err(
                        self.action.span(),
                        "action",
                        format!("`{other}` is not one of fail, fail_queue, delay, never"),
                    ));
                }
            };
            if matches!(action, FaultAction::Never | FaultAction::FailQueue(_))
                && !function.iter().all(|f| f.is_async_op())
            {
                return Err(err(
                    self.action.span(),
                    "action",
                    format!("`{}` applies only to queued async calls (Sspi*Async)", self.action.get_ref()),
                ));
            }
            Ok(FaultRule::new(
                function,
                self.package,
                self.calls.into_iter().map(Spanned::into_inner).collect(),
                action,
            ))
        }
    }

    impl WorldFile {
        pub(super) fn check(self, text: &str, file: &str) -> Result<World, FixtureError> {
            let err =
                |span: std::ops::Range<usize>, field: &str, msg: String| FixtureError::at(text, file, span, field, msg);
            let start_time = TimeStamp::parse_utc(self.start_time.get_ref())
                .ok_or_else(|| err(self.start_time.span(), "start_time", "expected `YYYY-MM-DDThh:mm:ssZ`".into()))?;
            let offset = self.machine.utc_offset_minutes.as_ref().map_or(0, |o| *o.get_ref());
            if let Some(o) =
                self.machine.utc_offset_minutes.as_ref().filter(|_| !(-14 * 60..=14 * 60).contains(&offset))
            {
                return Err(err(o.span(), "utc_offset_minutes", "must be within -840..=840 (UTC-14 to UTC+14)".into()));
            }
            let level = self.machine.lm_compatibility_level.as_ref().map_or(3, |l| *l.get_ref());
            if let Some(l) = self.machine.lm_compatibility_level.as_ref().filter(|_| level > 5) {
                return Err(err(l.span(), "lm_compatibility_level", "must be 0 to 5".into()));
            }
            let mut principals = Vec::new();
            for p in self.principals {
                let secret = match (p.password, p.nt_hash) {
                    (Some(pw), None) => Secret::Password(pw),
                    (None, Some(h)) => Secret::NtHash(
                        parse_hash(h.get_ref())
                            .ok_or_else(|| err(h.span(), "nt_hash", "expected 32 hex digits".into()))?,
                    ),
                    (None, None) => Secret::None,
                    (Some(_), Some(h)) => {
                        return Err(err(h.span(), "nt_hash", "give `password` or `nt_hash`, not both".into()));
                    }
                };
                principals.push(Principal {
                    domain: p.domain,
                    user: p.user,
                    upn: p.upn,
                    secret,
                    disabled: p.disabled,
                    locked: p.locked,
                    password_expired: p.password_expired,
                });
            }
            let mut sessions: Vec<LogonSession> = Vec::new();
            for s in self.sessions {
                let luid = *s.luid.get_ref();
                if sessions.iter().any(|o| o.luid == luid) {
                    return Err(err(s.luid.span(), "luid", format!("logon session {luid} is defined twice")));
                }
                let name = s.principal.get_ref();
                let principal = principals.iter().position(|p| p.is_named(name)).ok_or_else(|| {
                    err(s.principal.span(), "principal", format!("no principal named `{name}` in [[principals]]"))
                })?;
                let mut privileges = Vec::new();
                for p in s.privileges {
                    if !KNOWN_PRIVILEGES.iter().any(|k| k.eq_ignore_ascii_case(p.get_ref())) {
                        return Err(err(
                            p.span(),
                            "privileges",
                            format!("`{}` is not a Windows privilege name", p.get_ref()),
                        ));
                    }
                    privileges.push(p.into_inner());
                }
                let has_credentials = s.credentials.unwrap_or(s.logon_type != LogonType::Network);
                sessions.push(LogonSession { luid, principal, logon_type: s.logon_type, privileges, has_credentials });
            }
            let caller = *self.caller.session.get_ref();
            if !sessions.iter().any(|s| s.luid == caller) {
                return Err(err(
                    self.caller.session.span(),
                    "session",
                    format!("no logon session {caller} in [[sessions]]"),
                ));
            }
            let mut packages: Vec<Package> = Vec::new();
            for p in self.packages {
                if packages.iter().any(|o| o.info.name.eq_ignore_ascii_case(p.name.get_ref())) {
                    return Err(err(
                        p.name.span(),
                        "name",
                        format!("package `{}` is installed twice", p.name.get_ref()),
                    ));
                }
                let expiry = match (p.credential_lifetime_seconds, p.expiry) {
                    (Some(l), None) if *l.get_ref() > 0 => Expiry::Lifetime(*l.get_ref()),
                    (Some(l), None) => {
                        return Err(err(l.span(), "credential_lifetime_seconds", "must be positive".into()));
                    }
                    (None, Some(e)) => {
                        let v = e.get_ref().trim_start_matches("0x").replace('_', "");
                        let v =
                            u64::from_str_radix(&v, 16).ok().filter(|v| *v <= i64::MAX as u64).ok_or_else(|| {
                                err(
                                    e.span(),
                                    "expiry",
                                    "expected a hex TimeStamp such as \"0x7FFFFFFFFFFFFFFF\"".into(),
                                )
                            })?;
                        Expiry::Fixed(TimeStamp(v as i64))
                    }
                    (None, None) => Expiry::Fixed(TimeStamp::NEVER),
                    (Some(_), Some(e)) => {
                        return Err(err(
                            e.span(),
                            "expiry",
                            "give `expiry` or `credential_lifetime_seconds`, not both".into(),
                        ));
                    }
                };
                packages.push(Package {
                    info: SecPkgInfo {
                        capabilities: PackageCapabilities(p.capabilities),
                        version: p.version,
                        rpc_id: p.rpc_id,
                        max_token: p.max_token,
                        name: p.name.into_inner(),
                        comment: p.comment,
                    },
                    source: p.source,
                    inbound_authority: p.inbound_authority,
                    checks_principal: p.checks_principal,
                    expiry,
                    failing: p.failing,
                });
            }
            let authorities = self
                .authorities
                .into_iter()
                .map(|a| Authority { name: a.name, kind: a.kind, domain: a.domain, reachable: a.reachable })
                .collect();
            let faults = self.faults.into_iter().map(|f| f.check(text, file)).collect::<Result<_, _>>()?;
            Ok(World {
                name: self.name,
                seed: self.seed,
                start_time,
                machine: Machine {
                    name: self.machine.name,
                    domain: self.machine.domain,
                    dns_domain: self.machine.dns_domain,
                    joined: self.machine.joined,
                    utc_offset_minutes: offset,
                    lsa_available: self.machine.lsa_available,
                    lm_compatibility_level: level,
                    require_channel_bindings: self.machine.require_channel_bindings,
                },
                limits: Limits {
                    max_credential_handles: self.limits.max_credential_handles,
                    max_async_contexts: self.limits.max_async_contexts,
                    max_security_contexts: self.limits.max_security_contexts,
                },
                caller_session: caller,
                principals,
                sessions,
                packages,
                authorities,
                faults,
            })
        }
    }

    fn parse_hash(s: &str) -> Option<[u8; 16]> {
        if s.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(out)
    }
}

pub use raw::FaultSpec;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_world_loads() {
        let w = World::default_world();
        assert_eq!(w.name, "default");
        assert!(w.package("negotiate").is_some(), "package names match case-insensitively");
        assert!(w.session(w.caller_session).is_some());
    }

    fn broken(replace: &str, with: &str) -> FixtureError {
        assert!(DEFAULT_WORLD_TOML.contains(replace), "fixture lacks `{replace}`");
        let text = DEFAULT_WORLD_TOML.replacen(replace, with, 1);
        World::from_toml_str(&text, "w.toml").expect_err("must be rejected")
    }

    fn line_of(needle: &str) -> usize {
        DEFAULT_WORLD_TOML[..DEFAULT_WORLD_TOML.find(needle).unwrap()].matches('\n').count() + 1
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let e = broken("joined = true", "joinned = true");
        assert_eq!((e.file.as_str(), e.field.as_str(), e.line), ("w.toml", "joinned", line_of("joined = true")));
        assert!(e.to_string().starts_with(&format!("w.toml:{}:", e.line)), "{e}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = broken("seed = 1", "seed = \"one\"");
        assert_eq!((e.field.as_str(), e.line), ("seed", line_of("seed = 1")));
    }

    #[test]
    fn dangling_reference_names_the_field() {
        let e = broken("principal = \"CONTOSO\\\\alice\"", "principal = \"CONTOSO\\\\nobody\"");
        assert_eq!(e.field, "principal");
        assert_eq!(e.line, line_of("principal = \"CONTOSO\\\\alice\""));
        assert!(e.message.contains("CONTOSO\\nobody"), "{e}");
    }

    #[test]
    fn bad_values_are_rejected_with_their_field() {
        assert_eq!(broken("\"SeTcbPrivilege\"", "\"SeTcbPriviledge\"").field, "privileges");
        assert_eq!(broken("start_time = \"2026-01-01T09:00:00Z\"", "start_time = \"yesterday\"").field, "start_time");
        assert_eq!(broken("utc_offset_minutes = 60", "utc_offset_minutes = 6000").field, "utc_offset_minutes");
        assert_eq!(broken("[caller]\nsession = \"0x10a2f\"", "[caller]\nsession = \"0x99\"").field, "session");
    }

    #[test]
    fn garbage_gives_an_error_not_a_panic() {
        for text in ["", "[[[", "name = 1", "\u{0}", "name = \"x\"\nstart_time = 5"] {
            let e = World::from_toml_str(text, "g.toml").expect_err(text);
            assert_eq!(e.file, "g.toml");
            assert!(e.line >= 1, "{e}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Any edit of the default world either loads or gives a located error; never a panic.
        #[test]
        fn mutated_worlds_never_panic(at in 0usize..DEFAULT_WORLD_TOML.len(), len in 0usize..40, with in "[ -~\n]{0,12}") {
            let mut text = DEFAULT_WORLD_TOML.to_string();
            let start = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            let end = (start + len..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
            text.replace_range(start..end, &with);
            if let Err(e) = World::from_toml_str(&text, "m.toml") {
                proptest::prop_assert!(e.line >= 1 && e.line <= text.lines().count() + 1, "{}", e);
                proptest::prop_assert!(e.to_string().starts_with("m.toml:"));
            }
        }
    }
}
