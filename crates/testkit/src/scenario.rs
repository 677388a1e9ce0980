//! Scenarios: a TOML description of SSPI calls, driver steps and expected statuses, run
//! through the facade's [`Backend`] so that the same corpus can run on every backend.
//!
//! The format is documented field by field in `fixtures/README.md`. In short:
//!
//! ```toml
//! name = "ach-async-success"
//! description = "An async acquisition is queued, pending, completed, then polled."
//! source = "DOC-ACHA; spec §4.7"
//! driver = "manual"                # inline | manual | threaded
//! [[steps]]
//! call = "SspiCreateAsyncContext"
//! ctx = "c"
//! [[steps]]
//! call = "SspiGetAsyncCallStatus"
//! ctx = "c"
//! expect = "SEC_E_UNSUPPORTED_FUNCTION"
//! ```
//!
//! A scenario that needs simulator-only control (a world file, fault rules, the manual driver,
//! LSA or authority switches, misuse checks) says so through [`Scenario::requirements`]; a
//! backend without that control skips it with the reason, never silently.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Deserialize;
use sspi_emu::sim::{DriverKind, FaultRule, FaultSpec, MisuseKind, Profile, Simulator, World};
use sspi_emu::{
    AcquireCredentials, AsyncContextHandle, AuthIdentity, Backend, CredHandle, CredentialUse, CredentialsAttribute,
    CredentialsAttributeValue, GetKeyFn, Luid, NtStatus, Out, SecHandle, SecStatus, SecString, TimeStamp,
    UnicodeString,
};
use toml::Spanned;

mod contexts;

/// A parsed scenario.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (the file stem by convention).
    pub name: String,
    /// What the scenario shows, in one or two sentences.
    pub description: String,
    /// Where the expected behaviour comes from (documentation page, spec section).
    #[serde(default)]
    pub source: String,
    /// A world file under `fixtures/worlds/` (default: the embedded default world).
    #[serde(default)]
    pub world: Option<String>,
    /// `documented` (default) or `observed_kernel`.
    #[serde(default)]
    pub profile: Option<String>,
    /// `inline` (default), `manual` or `threaded`.
    #[serde(default)]
    pub driver: Option<String>,
    /// Fault rules, as in a world's `[[faults]]`.
    #[serde(default)]
    faults: Vec<FaultSpec>,
    #[serde(skip)]
    rules: Vec<FaultRule>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    #[serde(skip)]
    file: PathBuf,
    #[serde(skip)]
    text: String,
}

/// An identity for `pAuthData`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    user: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    password: String,
    /// `unicode` (default), `ansi`, `none` (Flags = 0), or a number.
    #[serde(default)]
    flags: Option<String>,
}

/// A `pGetKeyFn` the scenario observes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetKeySpec {
    name: String,
    /// The status the function reports (default `SEC_E_OK`, returning a 16-byte key).
    #[serde(default)]
    status: Option<SecStatus>,
}

/// One step: an SSPI call, a driver action, or a check. Which fields apply depends on `call`
/// (see `fixtures/README.md`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    call: Spanned<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    ctx: Option<String>,
    #[serde(default)]
    callback: Option<String>,
    #[serde(default)]
    data: Option<u64>,
    #[serde(default)]
    cred: Option<String>,
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    malformed_package: bool,
    #[serde(default)]
    credential_use: Option<String>,
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    logon_id: Option<String>,
    #[serde(default)]
    identity: Option<IdentitySpec>,
    #[serde(default)]
    get_key: Option<GetKeySpec>,
    #[serde(default)]
    expiry: bool,
    #[serde(default)]
    expect: Option<String>,
    #[serde(default)]
    names: Option<String>,
    #[serde(default)]
    written: Option<bool>,
    #[serde(default)]
    expiry_is: Option<String>,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    seconds: Option<f64>,
    #[serde(default)]
    up: Option<bool>,
    #[serde(default)]
    name: Option<String>,
    /// Context steps (`scenario/contexts.rs`): the `CtxtHandle` variable.
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    target: Option<String>,
    /// `ISC_REQ_*` / `ASC_REQ_*` names without the prefix.
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    capacity: Option<u64>,
    #[serde(default)]
    tamper: bool,
    #[serde(default)]
    attribute: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

/// Calls that need the simulator's own controls.
/// (Driver steps need only [`Backend::driver`], which a real backend running the same engine
/// also offers.)
const SIM_ONLY_CALLS: &[&str] = &["expect_misuse", "set_lsa_available", "set_authority_reachable"];

/// How a scenario run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// The backend lacks what the scenario needs; the reason is printed by the runner.
    Skipped(String),
    /// An expectation failed: file, line, step and what differed.
    Failed(String),
}

impl Scenario {
    /// Reads and parses a scenario file.
    ///
    /// # Errors
    /// A message naming the file, line and field.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, String> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Parses a scenario; `path` names it in messages and anchors its relative world file.
    ///
    /// # Errors
    /// A message naming the file, line and field.
    pub fn parse(text: &str, path: &Path) -> Result<Self, String> {
        let mut s: Scenario = toml::from_str(text)
            .map_err(|e| sspi_emu::sim::FixtureError::from_toml(&e, text, &path.display().to_string()).to_string())?;
        s.file = path.to_path_buf();
        s.text = text.to_string();
        let file = path.display().to_string();
        s.rules = std::mem::take(&mut s.faults)
            .into_iter()
            .map(|f| f.check(text, &file).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        for (i, step) in s.steps.iter().enumerate() {
            if !KNOWN_CALLS.contains(&step.call.get_ref().as_str()) {
                return Err(format!(
                    "{}:{}: step {}: unknown call `{}`",
                    path.display(),
                    s.line(step),
                    i + 1,
                    step.call.get_ref()
                ));
            }
        }
        Ok(s)
    }

    fn line(&self, step: &Step) -> usize {
        self.text[..step.call.span().start.min(self.text.len())].matches('\n').count() + 1
    }

    /// What the scenario needs that only the simulator has (a world, its controls): it cannot
    /// run on a real backend even with the engine configured; empty means it can.
    pub fn simulator_requirements(&self) -> Vec<String> {
        let mut r = Vec::new();
        if let Some(w) = &self.world {
            r.push(format!("the simulated world `{w}`"));
        }
        for s in &self.steps {
            let c = s.call.get_ref().as_str();
            if SIM_ONLY_CALLS.contains(&c) && c != "expect_misuse" && !r.iter().any(|x| x.ends_with(&format!("`{c}`")))
            {
                r.push(format!("simulator control `{c}`"));
            }
        }
        r
    }

    /// The engine configuration the scenario asks for (driver, profile, fault rules), on the
    /// default world: what [`sspi_emu::EngineBackend::new`] takes to run it on any backend.
    ///
    /// # Errors
    /// A message naming the bad profile or driver.
    pub fn engine_builder(&self) -> Result<sspi_emu::sim::SimulatorBuilder, String> {
        let (profile, driver) = self.profile_and_driver()?;
        let mut world = (*World::default_world()).clone();
        world.faults.extend(self.rules.iter().cloned());
        Ok(Simulator::builder().world(Arc::new(world)).profile(profile).driver(driver))
    }

    fn profile_and_driver(&self) -> Result<(Profile, DriverKind), String> {
        let profile = match self.profile.as_deref() {
            None | Some("documented") => Profile::Documented,
            Some("observed_kernel") => Profile::ObservedKernel,
            Some(p) => return Err(format!("{}: unknown profile `{p}`", self.file.display())),
        };
        let driver = match self.driver.as_deref() {
            None | Some("inline") => DriverKind::Inline,
            Some("manual") => DriverKind::Manual,
            Some("threaded") => DriverKind::Threaded { workers: 2 },
            Some(d) => return Err(format!("{}: unknown driver `{d}`", self.file.display())),
        };
        Ok((profile, driver))
    }

    /// What the scenario needs beyond the plain SSPI surface; empty means it runs on any
    /// backend.
    pub fn requirements(&self) -> Vec<String> {
        let mut r = Vec::new();
        if let Some(w) = &self.world {
            r.push(format!("the simulated world `{w}`"));
        }
        if !self.rules.is_empty() {
            r.push("fault rules".into());
        }
        if self.driver.as_deref() == Some("manual") {
            r.push("the manual driver".into());
        }
        if self.profile.as_deref() == Some("observed_kernel") {
            r.push("the ObservedKernel profile".into());
        }
        for s in &self.steps {
            let c = s.call.get_ref().as_str();
            if SIM_ONLY_CALLS.contains(&c) && !r.iter().any(|x| x.ends_with(&format!("`{c}`"))) {
                r.push(format!("simulator control `{c}`"));
            }
        }
        r
    }

    /// Builds a simulator configured as the scenario says. `fixtures` is the `fixtures/`
    /// directory (for `world` files).
    ///
    /// # Errors
    /// A message naming the bad world, profile, driver or fault.
    pub fn simulator(&self, fixtures: &Path) -> Result<Simulator, String> {
        self.simulator_with(&|name| {
            World::load(fixtures.join("worlds").join(name)).map(Arc::new).map_err(|e| e.to_string())
        })
    }

    /// Like [`Scenario::simulator`], with `worlds` resolving a `world = "..."` name (for worlds
    /// held in memory, as the CLI's embedded demo does).
    ///
    /// # Errors
    /// A message naming the bad world, profile, driver or fault.
    pub fn simulator_with(&self, worlds: &WorldLoader<'_>) -> Result<Simulator, String> {
        let world = match &self.world {
            Some(w) => worlds(w)?,
            None => World::default_world(),
        };
        let (profile, driver) = self.profile_and_driver()?;
        let sim = Simulator::builder().world(world).profile(profile).driver(driver).build();
        for rule in &self.rules {
            sim.add_fault(rule.clone());
        }
        Ok(sim)
    }
}

const KNOWN_CALLS: &[&str] = &[
    "SspiCreateAsyncContext",
    "SspiFreeAsyncContext",
    "SspiReinitAsyncContext",
    "SspiSetAsyncNotifyCallback",
    "SspiAsyncContextRequiresNotify",
    "SspiGetAsyncCallStatus",
    "SspiAcquireCredentialsHandleAsyncW",
    "SspiAcquireCredentialsHandleAsyncA",
    "SspiFreeCredentialsHandleAsync",
    "AcquireCredentialsHandleW",
    "AcquireCredentialsHandleA",
    "FreeCredentialsHandle",
    "QueryCredentialsAttributesW",
    "EnumerateSecurityPackagesW",
    "QuerySecurityPackageInfoW",
    "step",
    "complete",
    "run_until_idle",
    "advance",
    "expect_callbacks",
    "expect_output",
    "expect_misuse",
    "expect_in_flight",
    "expect_get_key",
    "set_lsa_available",
    "set_authority_reachable",
    "InitializeSecurityContextW",
    "InitializeSecurityContextA",
    "SspiInitializeSecurityContextAsyncW",
    "SspiInitializeSecurityContextAsyncA",
    "AcceptSecurityContext",
    "SspiAcceptSecurityContextAsync",
    "DeleteSecurityContext",
    "SspiDeleteSecurityContextAsync",
    "QueryContextAttributesW",
    "EncryptMessage",
    "DecryptMessage",
    "expect_token",
];

/// What the runner can reach: the SSPI surface, and the simulator when there is one.
pub struct Harness<'a> {
    /// The backend under test.
    pub backend: &'a dyn Backend,
    /// The simulator's own controls (`None` on a real backend).
    pub sim: Option<&'a Simulator>,
    /// The async engine configured as the scenario says (driver, profile, fault rules), when
    /// the backend runs one a test can read: the simulator, or the Windows backend's engine.
    /// Its misuse reports answer `expect_misuse`.
    pub engine: Option<&'a Simulator>,
}

#[derive(Default)]
struct CallbackLog {
    /// (callback name, ctx) per firing.
    fired: Vec<(String, AsyncContextHandle)>,
}

/// Runs scenarios, keeping a transcript a person can read.
pub struct Runner<'a> {
    h: Harness<'a>,
    ctxs: HashMap<String, AsyncContextHandle>,
    creds: HashMap<String, Out<CredHandle>>,
    expiries: HashMap<String, Out<TimeStamp>>,
    callbacks: Arc<Mutex<CallbackLog>>,
    get_keys: Arc<Mutex<HashMap<String, Vec<Option<String>>>>>,
    transcript: String,
    sec: HashMap<String, Out<sspi_emu::CtxtHandle>>,
    tokens: HashMap<String, contexts::TokenSource>,
    messages: HashMap<String, sspi_emu::SecBufferDesc>,
    /// The step being run (1-based), for the recording.
    current: usize,
    recorded: Vec<crate::record::RecordedStep>,
    keep_going: bool,
    first_failure: Option<usize>,
}

fn parse_use(s: &str) -> Option<CredentialUse> {
    Some(match s {
        "inbound" => CredentialUse::INBOUND,
        "outbound" => CredentialUse::OUTBOUND,
        "both" => CredentialUse::BOTH,
        other => CredentialUse(parse_num(other)? as u32),
    })
}

fn parse_num(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

impl<'a> Runner<'a> {
    /// A runner over `h`.
    pub fn new(h: Harness<'a>) -> Self {
        Self {
            h,
            ctxs: HashMap::new(),
            creds: HashMap::new(),
            expiries: HashMap::new(),
            callbacks: Arc::new(Mutex::new(CallbackLog::default())),
            get_keys: Arc::new(Mutex::new(HashMap::new())),
            transcript: String::new(),
            sec: HashMap::new(),
            tokens: HashMap::new(),
            messages: HashMap::new(),
            current: 0,
            recorded: Vec::new(),
            keep_going: false,
            first_failure: None,
        }
    }

    /// The transcript so far: one line per step, with the virtual time when known.
    pub fn transcript(&self) -> &str {
        &self.transcript
    }

    /// Every status (and token kind) the steps saw, in order: what a recording stores.
    pub fn recorded(&self) -> &[crate::record::RecordedStep] {
        &self.recorded
    }

    /// Runs every step even after an expectation fails (to record a backend's whole run);
    /// the outcome still reports the first failure.
    pub fn keep_going(&mut self, keep_going: bool) {
        self.keep_going = keep_going;
    }

    /// The step (1-based) whose expectation failed first, if any.
    pub fn first_failure(&self) -> Option<usize> {
        self.first_failure
    }

    fn record(&mut self, step: &Step, status: Option<SecStatus>, token: Option<String>) {
        self.recorded.push(crate::record::RecordedStep {
            step: self.current,
            call: step.call.get_ref().clone(),
            status: status.map(|s| s.name().map_or_else(|| s.to_string(), str::to_string)),
            token,
            detail: None,
        });
    }

    /// Runs `s`. Skips (with the reason) when it needs simulator control the harness lacks.
    /// With an engine (but no simulator) only the world and the simulator's controls are
    /// missing: the engine was configured from the scenario.
    pub fn run(&mut self, s: &Scenario) -> Outcome {
        if self.h.sim.is_none() {
            let req = if self.h.engine.is_some() { s.simulator_requirements() } else { s.requirements() };
            if !req.is_empty() {
                return Outcome::Skipped(format!("needs {}", req.join(", ")));
            }
        }
        let mut first: Option<Outcome> = None;
        for (i, step) in s.steps.iter().enumerate() {
            let seen = self.callbacks.lock().fired.len();
            self.current = i + 1;
            let result = self.step(step);
            let fired: Vec<(String, AsyncContextHandle)> = self.callbacks.lock().fired[seen..].to_vec();
            for (name, ctx) in fired {
                self.say(&format!("    callback `{name}` fired for {ctx}: the call is complete"));
            }
            if let Err(msg) = result {
                let failed = Outcome::Failed(format!(
                    "{}:{}: step {} ({}): {msg}",
                    s.file.display(),
                    s.line(step),
                    i + 1,
                    step.call.get_ref()
                ));
                self.first_failure.get_or_insert(i + 1);
                if !self.keep_going {
                    return failed;
                }
                first.get_or_insert(failed);
            }
        }
        first.unwrap_or(Outcome::Passed)
    }

    fn ctx(&mut self, step: &Step) -> Result<AsyncContextHandle, String> {
        let name = step.ctx.as_deref().ok_or("needs `ctx`")?;
        if name == "null" {
            return Ok(AsyncContextHandle::NULL);
        }
        self.ctxs.get(name).copied().ok_or_else(|| format!("no context named `{name}` was created"))
    }

    /// A fresh output slot bound to `cred`: each call writes its own `*phCredential`.
    fn cred_slot(&mut self, step: &Step) -> Result<Out<CredHandle>, String> {
        let name = step.cred.as_deref().ok_or("needs `cred`")?;
        let slot = Out::new(CredHandle(SecHandle::INVALID));
        self.creds.insert(name.to_string(), slot.clone());
        self.expiries.remove(name);
        Ok(slot)
    }

    fn cred(&self, step: &Step) -> Result<CredHandle, String> {
        let name = step.cred.as_deref().ok_or("needs `cred`")?;
        if name == "invalid" {
            return Ok(CredHandle(SecHandle::INVALID));
        }
        self.creds.get(name).map(Out::get).ok_or_else(|| format!("no credential named `{name}`"))
    }

    fn say(&mut self, line: &str) {
        let t = self.h.sim.map(|s| s.now().to_civil_string());
        match t {
            Some(t) => {
                let _ = writeln!(self.transcript, "[{}] {line}", &t[11..]);
            }
            None => {
                let _ = writeln!(self.transcript, "{line}");
            }
        }
    }

    fn expect_status(&mut self, step: &Step, got: SecStatus, what: &str) -> Result<(), String> {
        self.record(step, Some(got), None);
        let call = step.call.get_ref();
        let queued = call.starts_with("Sspi") && (call.contains("Handle") || call.contains("SecurityContext"));
        let explain = if queued && got == SecStatus::SEC_E_OK {
            "Queued: the call was accepted; its result comes later."
        } else {
            got.description().unwrap_or("")
        };
        self.say(&format!("{what} -> {got}  {explain}"));
        if let Some(note) = &step.note {
            self.say(&format!("    ({note})"));
        }
        match &step.expect {
            None => Ok(()),
            Some(e) => {
                let want: SecStatus = e.parse()?;
                if want == got { Ok(()) } else { Err(format!("expected {want}, got {got}")) }
            }
        }
    }

    fn acquire_args(&self, step: &Step, ansi: bool, counted: bool) -> Result<AcquireCredentials, String> {
        let package = step.package.as_deref().ok_or("needs `package`")?;
        let usage = step.credential_use.as_deref().unwrap_or("outbound");
        let usage = parse_use(usage).ok_or_else(|| format!("bad credential_use `{usage}`"))?;
        let mut args =
            if ansi { AcquireCredentials::new_ansi(package, usage) } else { AcquireCredentials::new(package, usage) };
        if counted {
            args.package = SecString::counted(package);
        }
        if step.malformed_package {
            let units: Vec<u16> = package.encode_utf16().collect();
            args.package = SecString::Counted(UnicodeString::from_raw(units.len() as u16 * 2 + 1, 4, units));
        }
        if let Some(p) = &step.principal {
            args = args.principal(p);
            if counted {
                args.principal = Some(SecString::counted(p));
            }
        }
        if let Some(l) = &step.logon_id {
            args = args.logon_id(l.parse::<Luid>()?);
        }
        if let Some(id) = &step.identity {
            let mut identity = match id.flags.as_deref() {
                Some("ansi") => AuthIdentity::ansi(&id.user, &id.domain, &id.password),
                _ => AuthIdentity::unicode(&id.user, &id.domain, &id.password),
            };
            match id.flags.as_deref() {
                None | Some("unicode") | Some("ansi") => {}
                Some("none") => identity.flags = 0,
                Some(n) => identity.flags = parse_num(n).ok_or_else(|| format!("bad flags `{n}`"))? as u32,
            }
            args = args.identity(identity);
        }
        if let Some(k) = &step.get_key {
            let log = Arc::clone(&self.get_keys);
            let name = k.name.clone();
            log.lock().entry(name.clone()).or_default();
            let status = k.status.unwrap_or(SecStatus::SEC_E_OK);
            args = args.get_key(GetKeyFn {
                func: Arc::new(move |_arg, principal, _ver| {
                    log.lock().entry(name.clone()).or_default().push(principal.map(str::to_string));
                    if status == SecStatus::SEC_E_OK { Ok(vec![0x4B; 16]) } else { Err(status) }
                }),
                argument: 0x5eed,
            });
        }
        Ok(args)
    }

    fn driver(&self) -> Result<&'a dyn sspi_emu::DriverControl, String> {
        self.h.backend.driver().ok_or_else(|| "the backend offers no driver control".to_string())
    }

    fn sim(&self) -> Result<&'a Simulator, String> {
        self.h.sim.ok_or_else(|| "needs the simulator".to_string())
    }

    fn engine(&self) -> Result<&'a Simulator, String> {
        self.h.sim.or(self.h.engine).ok_or_else(|| "needs the async engine's reports".to_string())
    }

    fn step(&mut self, step: &Step) -> Result<(), String> {
        let b = self.h.backend;
        if let Some(result) = self.context_step(step.call.get_ref(), step) {
            return result;
        }
        match step.call.get_ref().as_str() {
            "SspiCreateAsyncContext" => {
                let name = step.ctx.clone().ok_or("needs `ctx`")?;
                let ctx = b.sspi_create_async_context();
                self.say(&format!("SspiCreateAsyncContext() -> {ctx}"));
                if let Some(note) = &step.note {
                    self.say(&format!("    ({note})"));
                }
                match step.expect.as_deref() {
                    Some("NULL") if !ctx.is_null() => return Err(format!("expected NULL, got {ctx}")),
                    Some("NULL") => {}
                    Some(other) => return Err(format!("`expect` here takes only \"NULL\", not `{other}`")),
                    None if ctx.is_null() => return Err("SspiCreateAsyncContext returned NULL".into()),
                    None => {}
                }
                self.ctxs.insert(name, ctx);
            }
            "SspiFreeAsyncContext" => {
                let ctx = self.ctx(step)?;
                b.sspi_free_async_context(ctx);
                self.say(&format!("SspiFreeAsyncContext({ctx})"));
            }
            "SspiReinitAsyncContext" => {
                let ctx = self.ctx(step)?;
                let got = b.sspi_reinit_async_context(ctx);
                self.say(&format!("SspiReinitAsyncContext({ctx}) -> {got}"));
                if let Some(e) = &step.expect {
                    let want = NtStatus::from_name(e).ok_or_else(|| format!("`{e}` is not a known NTSTATUS name"))?;
                    if want != got {
                        return Err(format!("expected {want}, got {got}"));
                    }
                }
            }
            "SspiSetAsyncNotifyCallback" => {
                let ctx = self.ctx(step)?;
                let data = step.data.unwrap_or(0) as usize;
                let cb: Option<sspi_emu::NotifyCallback> = step.callback.clone().map(|name| {
                    let log = Arc::clone(&self.callbacks);
                    Arc::new(move |ctx: AsyncContextHandle, _data: usize| {
                        log.lock().fired.push((name.clone(), ctx));
                    }) as sspi_emu::NotifyCallback
                });
                let what = format!(
                    "SspiSetAsyncNotifyCallback({ctx}, {}, 0x{data:x})",
                    step.callback.as_deref().unwrap_or("NULL")
                );
                let got = b.sspi_set_async_notify_callback(ctx, cb, data);
                self.expect_status(step, got, &what)?;
            }
            "SspiAsyncContextRequiresNotify" => {
                let ctx = self.ctx(step)?;
                let got = b.sspi_async_context_requires_notify(ctx);
                self.say(&format!("SspiAsyncContextRequiresNotify({ctx}) -> {}", if got { "TRUE" } else { "FALSE" }));
                if let Some(e) = &step.expect {
                    let want = match e.as_str() {
                        "TRUE" | "true" => true,
                        "FALSE" | "false" => false,
                        other => return Err(format!("expect TRUE or FALSE, not `{other}`")),
                    };
                    if want != got {
                        return Err(format!("expected {want}, got {got}"));
                    }
                }
            }
            "SspiGetAsyncCallStatus" => {
                let ctx = self.ctx(step)?;
                let got = b.sspi_get_async_call_status(ctx);
                self.expect_status(step, got, &format!("SspiGetAsyncCallStatus({ctx})"))?;
            }
            call @ ("SspiAcquireCredentialsHandleAsyncW" | "SspiAcquireCredentialsHandleAsyncA") => {
                let ctx = self.ctx(step)?;
                if step.expiry_is.is_some() {
                    return Err("`expiry_is` is checked at completion: use an `expect_output` step".into());
                }
                let ansi = call.ends_with('A');
                let args = self.acquire_args(step, ansi, !ansi)?;
                let slot = self.cred_slot(step)?;
                let expiry = step.expiry.then(|| {
                    let name = step.cred.clone().unwrap_or_default();
                    self.expiries.entry(name).or_insert_with(|| Out::new(TimeStamp(0))).clone()
                });
                let what = format!(
                    "{call}({ctx}, principal={}, package={:?}, {:?}{})",
                    step.principal.as_deref().map_or_else(|| "NULL".to_string(), |p| format!("{p:?}")),
                    step.package.as_deref().unwrap_or(""),
                    args.credential_use,
                    step.logon_id.as_deref().map(|l| format!(", LUID {l}")).unwrap_or_default()
                );
                let got = b.sspi_acquire_credentials_handle_async(ctx, args, &slot, expiry.as_ref());
                self.expect_status(step, got, &what)?;
            }
            "SspiFreeCredentialsHandleAsync" => {
                let ctx = self.ctx(step)?;
                let cred = self.cred(step)?;
                let got = b.sspi_free_credentials_handle_async(ctx, cred);
                self.expect_status(step, got, &format!("SspiFreeCredentialsHandleAsync({ctx}, {:?})", cred.0))?;
            }
            call @ ("AcquireCredentialsHandleW" | "AcquireCredentialsHandleA") => {
                let args = self.acquire_args(step, call.ends_with('A'), false)?;
                let slot = self.cred_slot(step)?;
                let what =
                    format!("{call}(package={:?}, {:?})", step.package.as_deref().unwrap_or(""), args.credential_use);
                let got = match b.acquire_credentials_handle(args) {
                    Ok(c) => {
                        slot.set(c.handle);
                        let name = step.cred.clone().unwrap_or_default();
                        self.expiries.entry(name).or_insert_with(|| Out::new(TimeStamp(0))).set(c.expiry);
                        SecStatus::SEC_E_OK
                    }
                    Err(s) => s,
                };
                self.expect_status(step, got, &what)?;
                if let Some(want) = &step.expiry_is {
                    self.check_expiry(step, want)?;
                }
            }
            "FreeCredentialsHandle" => {
                let cred = self.cred(step)?;
                let got = b.free_credentials_handle(cred);
                self.expect_status(step, got, &format!("FreeCredentialsHandle({:?})", cred.0))?;
            }
            "QueryCredentialsAttributesW" => {
                let cred = self.cred(step)?;
                let r = b.query_credentials_attributes(cred, CredentialsAttribute::Names);
                let (got, names) = match r {
                    Ok(CredentialsAttributeValue::Names(n)) => (SecStatus::SEC_E_OK, Some(n)),
                    Ok(_) => (SecStatus::SEC_E_OK, None),
                    Err(s) => (s, None),
                };
                self.expect_status(step, got, &format!("QueryCredentialsAttributesW(NAMES) = {names:?}"))?;
                if let Some(want) = &step.names
                    && names.as_deref() != Some(want.as_str())
                {
                    return Err(format!("expected names {want:?}, got {names:?}"));
                }
            }
            "EnumerateSecurityPackagesW" => {
                let r = b.enumerate_security_packages();
                let got = r.as_ref().map_or_else(|s| *s, |_| SecStatus::SEC_E_OK);
                let n = r.as_ref().map_or(0, Vec::len) as u64;
                self.expect_status(step, got, &format!("EnumerateSecurityPackagesW() = {n} packages"))?;
                if let Some(last) = self.recorded.last_mut() {
                    last.detail = Some(format!("{n} packages"));
                }
                if let Some(want) = step.count
                    && want != n
                {
                    return Err(format!("expected {want} packages, got {n}"));
                }
            }
            "QuerySecurityPackageInfoW" => {
                let p = step.package.as_deref().ok_or("needs `package`")?;
                let r = b.query_security_package_info(&SecString::wide(p));
                let got = r.as_ref().map_or_else(|s| *s, |_| SecStatus::SEC_E_OK);
                self.expect_status(step, got, &format!("QuerySecurityPackageInfoW({p:?})"))?;
                if let (Some(want), Ok(info)) = (&step.name, &r)
                    && &info.name != want
                {
                    return Err(format!("expected package name {want:?}, got {:?}", info.name));
                }
            }
            "step" => {
                let done = self.driver()?.step();
                self.say(&format!("driver: step -> {}", if done { "completed one call" } else { "nothing ready" }));
            }
            "complete" => {
                let ctx = self.ctx(step)?;
                let done = self.driver()?.complete(ctx);
                self.say(&format!(
                    "driver: complete the call on {ctx} -> {}",
                    if done { "done" } else { "nothing ready" }
                ));
                if !done {
                    return Err(format!("no ready call on {ctx}"));
                }
            }
            "run_until_idle" => {
                let n = self.driver()?.run_until_idle();
                self.say(&format!("driver: run until idle -> {n} call(s) completed"));
                if let Some(want) = step.count
                    && want != n as u64
                {
                    return Err(format!("expected {want} completions, got {n}"));
                }
            }
            "advance" => {
                let s = step.seconds.ok_or("needs `seconds`")?;
                self.driver()?.advance_seconds(s);
                self.say(&format!("clock: advance {s} s"));
            }
            "expect_in_flight" => {
                let want = step.count.ok_or("needs `count`")?;
                let got = b.driver().map_or(0, |d| d.in_flight()) as u64;
                self.say(&format!("check: {got} call(s) in flight"));
                if want != got {
                    return Err(format!("expected {want} in flight, got {got}"));
                }
            }
            "expect_callbacks" => {
                let name = step.callback.as_deref().ok_or("needs `callback`")?;
                let want = step.count.ok_or("needs `count`")?;
                let got = self.callbacks.lock().fired.iter().filter(|(n, _)| n == name).count() as u64;
                self.say(&format!("check: callback `{name}` fired {got} time(s)"));
                if want != got {
                    return Err(format!("expected callback `{name}` to fire {want} time(s), it fired {got}"));
                }
            }
            "expect_output" => {
                let name = step.cred.as_deref().ok_or("needs `cred`")?;
                let value = self.creds.get(name).map(Out::get);
                let written = value.is_some_and(|h| h.0 != SecHandle::INVALID);
                self.say(&format!(
                    "check: *phCredential `{name}` = {} ({})",
                    value.map_or("<none>".into(), |h| format!("{:?}", h.0)),
                    if written { "written" } else { "not written" }
                ));
                if let Some(want) = step.written
                    && want != written
                {
                    return Err(format!("expected `{name}` written = {want}, got {written}"));
                }
                if let Some(want) = &step.expiry_is {
                    self.check_expiry(step, want)?;
                }
            }
            "expect_misuse" => {
                let kind = step.kind.as_deref().ok_or("needs `kind`")?;
                let misuses = self.engine()?.misuses();
                let got = misuses.iter().filter(|m| format!("{:?}", m.kind) == kind).count() as u64;
                let want = step.count.unwrap_or(1);
                if let Some(m) = misuses.iter().rev().find(|m| format!("{:?}", m.kind) == kind) {
                    self.say(&format!("check: misuse reported: {m}"));
                }
                if !MISUSE_KINDS.iter().any(|k| format!("{k:?}") == kind) {
                    return Err(format!("unknown misuse kind `{kind}`"));
                }
                if want != got {
                    return Err(format!("expected {want} misuse(s) of kind {kind}, got {got}"));
                }
            }
            "expect_get_key" => {
                let name = step.name.as_deref().ok_or("needs `name`")?;
                let calls = self.get_keys.lock().get(name).cloned().unwrap_or_default();
                self.record(step, None, None);
                if let Some(last) = self.recorded.last_mut() {
                    last.detail = Some(format!("pGetKeyFn called {} time(s)", calls.len()));
                }
                self.say(&format!("check: pGetKeyFn `{name}` called {} time(s) with {:?}", calls.len(), calls));
                if let Some(want) = step.count
                    && want != calls.len() as u64
                {
                    return Err(format!("expected {want} call(s) of `{name}`, got {}", calls.len()));
                }
                if let Some(p) = &step.principal
                    && !calls.iter().any(|c| c.as_deref() == Some(p.as_str()))
                {
                    return Err(format!("`{name}` was never called with principal {p:?}"));
                }
            }
            "set_lsa_available" => {
                let up = step.up.ok_or("needs `up`")?;
                self.sim()?.set_lsa_available(up);
                self.say(&format!("world: LSA {}", if up { "available" } else { "unavailable" }));
            }
            "set_authority_reachable" => {
                let name = step.name.as_deref().ok_or("needs `name`")?;
                let up = step.up.ok_or("needs `up`")?;
                if !self.sim()?.set_authority_reachable(name, up) {
                    return Err(format!("no authority named `{name}`"));
                }
                self.say(&format!("world: authority {name} {}", if up { "reachable" } else { "unreachable" }));
            }
            other => return Err(format!("unknown call `{other}`")),
        }
        Ok(())
    }

    fn check_expiry(&mut self, step: &Step, want: &str) -> Result<(), String> {
        let name = step.cred.as_deref().unwrap_or_default();
        let got = self.expiries.get(name).map(Out::get).ok_or_else(|| format!("no expiry captured for `{name}`"))?;
        self.record(step, None, None);
        if let Some(last) = self.recorded.last_mut() {
            last.detail = Some(format!("expiry 0x{:016X}", got.0));
        }
        self.say(&format!("check: *ptsExpiry `{name}` = 0x{:016X} ({})", got.0, got.to_civil_string()));
        let ok = match parse_num(want) {
            Some(v) if want.starts_with("0x") => got.0 as u64 == v,
            _ => got.to_civil_string() == want,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("expected expiry {want}, got 0x{:016X} ({})", got.0, got.to_civil_string()))
        }
    }
}

const MISUSE_KINDS: &[MisuseKind] = &[
    MisuseKind::StaleContext,
    MisuseKind::QueueWhilePending,
    MisuseKind::ReuseWithoutReinit,
    MisuseKind::FreeWhilePending,
    MisuseKind::NoCallbackRegistered,
];

/// Resolves a scenario's `world = "..."` name to a world.
pub type WorldLoader<'a> = dyn Fn(&str) -> Result<Arc<World>, String> + 'a;

/// Runs a scenario on a fresh simulator configured as it says; returns the outcome, the
/// transcript and the simulator (for its journal).
pub fn run_on_simulator(s: &Scenario, fixtures: &Path) -> (Outcome, String, Option<Simulator>) {
    run_with(s, s.simulator(fixtures))
}

/// [`run_on_simulator`] with worlds resolved by `worlds`.
pub fn run_on_simulator_with(s: &Scenario, worlds: &WorldLoader<'_>) -> (Outcome, String, Option<Simulator>) {
    run_with(s, s.simulator_with(worlds))
}

fn run_with(s: &Scenario, sim: Result<Simulator, String>) -> (Outcome, String, Option<Simulator>) {
    let sim = match sim {
        Ok(sim) => sim,
        Err(e) => return (Outcome::Failed(e), String::new(), None),
    };
    let (outcome, transcript) = {
        let mut runner = Runner::new(Harness { backend: &sim, sim: Some(&sim), engine: Some(&sim) });
        let outcome = runner.run(s);
        (outcome, runner.transcript().to_string())
    };
    (outcome, transcript, Some(sim))
}

/// The `fixtures/` directory of this checkout.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Every scenario file under `fixtures/conformance/`, sorted.
///
/// # Errors
/// A message when the directory cannot be read.
pub fn corpus(fixtures: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = fixtures.join("conformance");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}
