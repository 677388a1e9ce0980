//! [`WinBackend`]: the `Backend` trait over the real secur32 (Windows, or Wine's).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use sspi_emu_api::{
    AcceptSecurityContext, AcquireCredentials, AscOutputs, AscRet, AsyncContextHandle, Backend, ContextAttribute,
    ContextAttributeValue, ContextOutputs, CredHandle, Credentials, CredentialsAttribute, CredentialsAttributeValue,
    CtxtHandle, DriverControl, InitializeSecurityContext, IscOutputs, IscRet, NotifyCallback, NtStatus, Out,
    SecBufferDesc, SecHandle, SecPkgInfo, SecStatus, SecString, TimeStamp,
};
use sspi_emu_sim::{DriverKind, Executor, Simulator, SimulatorBuilder};

use crate::marshal::{self, AcquireCall, Buffers, ZString};
use crate::sys::{self, ContextCall, ContextDone};

/// Where the backend runs: real Windows or Wine. The name is the environment key of
/// `fixtures/divergences.toml` (`windows`, `wine`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Environment {
    /// Windows.
    Windows,
    /// Wine (`ntdll!wine_get_version` exists).
    Wine {
        /// What `wine_get_version` returned, e.g. `8.0`.
        version: String,
    },
}

impl Environment {
    /// Asks ntdll whether this process runs under Wine.
    pub fn detect() -> Self {
        sys::wine_version().map_or(Self::Windows, |version| Self::Wine { version })
    }

    /// `windows` or `wine`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Windows => "windows",
            Self::Wine { .. } => "wine",
        }
    }
}

/// Whether the user-mode SSPI DLLs (`sspicli.dll`, `secur32.dll`) export `symbol`, looked up at
/// run time. For the `Sspi*Async*` family the answer is expected to be false everywhere (they
/// are kernel-mode only); this is how a test checks it without linking them.
pub fn user_mode_exports(symbol: &str) -> bool {
    ["sspicli.dll", "secur32.dll"].iter().any(|module| sys::exported(module, symbol))
}

type Key = (usize, usize);

/// The package a handle belongs to, as the caller named it in `AcquireCredentialsHandle`
/// (a context inherits its credential's): for the engine's fault rules and journal.
type Package = Option<String>;

/// Every handle issued through this crate and not yet freed, process-wide (SSPI handles are per
/// process, not per backend), and the handles freed or deleted since, each with its package.
///
/// Why: Wine's secur32 takes both words of a handle as pointers, so freeing a handle twice or
/// passing one never issued is a use after free or a wild read there. A handle missing here is
/// answered without calling secur32: `SEC_E_INVALID_HANDLE`, what Windows answers (and, for a
/// context deleted twice, `SEC_E_OK`, as documented). Frees and deletes take the write lock,
/// uses the read lock, so a handle is never freed while in use.
#[derive(Default)]
struct Registry {
    credentials: BTreeMap<Key, Package>,
    contexts: BTreeMap<Key, Package>,
    /// Contexts deleted: a second delete is `SEC_E_OK`.
    deleted: BTreeMap<Key, Package>,
    /// Credentials freed: only their package is remembered (the journal names it).
    freed: BTreeMap<Key, Package>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    credentials: BTreeMap::new(),
    contexts: BTreeMap::new(),
    deleted: BTreeMap::new(),
    freed: BTreeMap::new(),
});

fn read() -> RwLockReadGuard<'static, Registry> {
    REGISTRY.read().unwrap_or_else(PoisonError::into_inner)
}

fn write() -> RwLockWriteGuard<'static, Registry> {
    REGISTRY.write().unwrap_or_else(PoisonError::into_inner)
}

fn key(handle: SecHandle) -> Key {
    (handle.dw_lower, handle.dw_upper)
}

impl Registry {
    fn credential(&self, handle: CredHandle) -> bool {
        self.credentials.contains_key(&key(handle.0))
    }

    fn context(&self, handle: CtxtHandle) -> bool {
        self.contexts.contains_key(&key(handle.0))
    }

    /// The package of a context call's handles: the context's, else the credential's.
    fn package(&self, credential: Option<CredHandle>, context: Option<CtxtHandle>) -> Package {
        let context = context.and_then(|c| self.contexts.get(&key(c.0)));
        let credential = credential.and_then(|c| self.credentials.get(&key(c.0)));
        context.or(credential).cloned().flatten()
    }

    /// Checks the handles of a context call; `Err` answers it without calling secur32.
    fn check(&self, credential: Option<CredHandle>, context: Option<CtxtHandle>) -> Result<(), SecStatus> {
        let known = credential.is_none_or(|c| self.credential(c)) && context.is_none_or(|c| self.context(c));
        if known { Ok(()) } else { Err(SecStatus::SEC_E_INVALID_HANDLE) }
    }
}

/// The sync calls over secur32, with the handle registry: the [`Executor`] that
/// [`WinBackend`] gives the simulator's async engine, so the sync and async forms run the same
/// code.
#[derive(Debug, Default)]
pub struct Secur32;

/// `pfContextAttr` as written: `ISC_RET_*` or `ASC_RET_*`.
trait RetFlags {
    fn from_bits(bits: u32) -> Self;
}

impl RetFlags for IscRet {
    fn from_bits(bits: u32) -> Self {
        IscRet(bits)
    }
}

impl RetFlags for AscRet {
    fn from_bits(bits: u32) -> Self {
        AscRet(bits)
    }
}

/// Marshals the buffers of a context call, runs it, and writes the outputs when it succeeds.
fn context_call<R: RetFlags>(
    credential: Option<CredHandle>,
    context: Option<CtxtHandle>,
    input: Option<&SecBufferDesc>,
    out: &ContextOutputs<R>,
    call: impl FnOnce(ContextCall<'_>) -> ContextDone,
    context_req: u32,
    target_data_rep: u32,
) -> SecStatus {
    let mut input = input.map(Buffers::new);
    let mut output = out.output.as_ref().map(|o| o.with(Buffers::new));
    let (done, package) = {
        let registry = read();
        if let Err(status) = registry.check(credential, context) {
            return status;
        }
        let package = registry.package(credential, context);
        let done = call(ContextCall {
            credential: credential.map(marshal::raw_handle),
            context: context.map(marshal::raw_ctxt),
            input: input.as_mut(),
            output: output.as_mut(),
            context_req,
            target_data_rep,
            new_context: out.new_context.is_some(),
        });
        (done, package)
    };
    // Buffers the package allocated are freed whatever the status.
    let written = output.map(|b| sys::finish_buffers(b, true));
    if done.status.is_success() {
        let handle = marshal::ctxt_handle(done.new_context);
        if let Some(slot) = &out.new_context {
            let mut registry = write();
            registry.contexts.insert(key(handle.0), package);
            registry.deleted.remove(&key(handle.0));
            slot.set(handle);
        }
        if let (Some(slot), Some(desc)) = (&out.output, written) {
            slot.set(desc);
        }
        out.context_attr.set(R::from_bits(done.attributes));
        if let Some(e) = &out.expiry {
            e.set(TimeStamp(done.expiry));
        }
    }
    done.status
}

/// Runs a per-message call on a live context over `message`, and writes back what the package
/// wrote (in place, as a C caller's buffers are, whatever the status).
fn message_call<T>(
    context: CtxtHandle,
    message: &mut SecBufferDesc,
    call: impl FnOnce(SecHandle, &mut Buffers) -> T,
) -> Result<T, SecStatus> {
    let mut buffers = Buffers::new(message);
    let result = {
        let registry = read();
        registry.check(None, Some(context))?;
        call(context.0, &mut buffers)
    };
    *message = sys::finish_buffers(buffers, false);
    Ok(result)
}

fn raw(handle: SecHandle) -> windows_sys::Win32::Security::Credentials::SecHandle {
    marshal::raw_ctxt(CtxtHandle(handle))
}

impl Executor for Secur32 {
    fn acquire_credentials_handle(&self, args: &AcquireCredentials) -> Result<Credentials, SecStatus> {
        let call = AcquireCall::new(args)?;
        let (raw, expiry) = sys::acquire_credentials_handle(&call)?;
        let handle = marshal::cred_handle(raw);
        let mut registry = write();
        registry.freed.remove(&key(handle.0));
        registry.credentials.insert(key(handle.0), args.package.decode());
        Ok(Credentials { handle, expiry: TimeStamp(expiry) })
    }

    fn free_credentials_handle(&self, credential: CredHandle) -> SecStatus {
        let mut registry = write();
        let k = key(credential.0);
        let Some(package) = registry.credentials.remove(&k) else {
            return SecStatus::SEC_E_INVALID_HANDLE;
        };
        registry.freed.insert(k, package);
        sys::free_credentials_handle(marshal::raw_handle(credential))
    }

    /// A malformed counted target name (no user-mode entry point can take one) is passed as
    /// NULL; the async form refuses it when queued.
    fn initialize_security_context(&self, args: &InitializeSecurityContext, out: &IscOutputs) -> SecStatus {
        let target = args.target_name.as_ref().and_then(|t| ZString::new(t, args.charset));
        context_call(
            args.credential,
            args.context,
            args.input.as_ref(),
            out,
            |call| {
                sys::initialize_security_context(call, args.charset, target.as_ref(), args.reserved1, args.reserved2)
            },
            args.context_req.0,
            args.target_data_rep,
        )
    }

    fn accept_security_context(&self, args: &AcceptSecurityContext, out: &AscOutputs) -> SecStatus {
        context_call(
            args.credential,
            args.context,
            args.input.as_ref(),
            out,
            sys::accept_security_context,
            args.context_req.0,
            args.target_data_rep,
        )
    }

    fn delete_security_context(&self, context: CtxtHandle) -> SecStatus {
        let mut registry = write();
        let k = key(context.0);
        if let Some(package) = registry.contexts.remove(&k) {
            registry.deleted.insert(k, package);
            sys::delete_security_context(marshal::raw_ctxt(context))
        } else if registry.deleted.contains_key(&k) {
            SecStatus::SEC_E_OK
        } else {
            SecStatus::SEC_E_INVALID_HANDLE
        }
    }

    fn is_context(&self, context: CtxtHandle) -> bool {
        read().context(context)
    }

    fn delete_would_fail(&self, context: CtxtHandle) -> bool {
        let registry = read();
        !registry.context(context) && !registry.deleted.contains_key(&key(context.0))
    }

    /// The package named when the handle (or the credential a context came from) was
    /// acquired, also after it was freed or deleted (until secur32 issues the value again).
    fn package(&self, handle: SecHandle) -> Option<String> {
        let registry = read();
        let k = key(handle);
        let found = registry.credentials.get(&k).or_else(|| registry.contexts.get(&k));
        let found = found.or_else(|| registry.deleted.get(&k)).or_else(|| registry.freed.get(&k));
        found.cloned().flatten()
    }
}

/// The real SSPI behind the `Backend` trait.
///
/// Sync calls go straight to secur32. The async family (`sspi_*_async` and the six async-context
/// functions) and [`Backend::driver`] are the simulator's engine (a [`Simulator`] built with the
/// [`Secur32`] executor): it runs the same sync calls when a queued call completes, since
/// `Sspi*Async*` exist only in kernel mode and are never linked. So the drivers (inline by
/// default, manual, threaded), the profiles, misuse detection, the journal and fault rules on
/// async calls are the simulator's own, reached through [`WinBackend::engine`].
///
/// # Examples
///
/// ```no_run
/// use sspi_emu_api::{AcquireCredentials, AuthIdentity, Backend, CredentialUse};
/// use sspi_emu_win::WinBackend;
///
/// let backend = WinBackend::new();
/// let args = AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND)
///     .identity(AuthIdentity::unicode("alice", "CONTOSO", "Passw0rd!"));
/// let creds = backend.acquire_credentials_handle(args).expect("NTLM is installed");
/// assert!(backend.free_credentials_handle(creds.handle).is_success());
/// ```
pub struct WinBackend {
    engine: Simulator,
}

impl Default for WinBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl WinBackend {
    /// A backend whose async calls complete before the queueing call returns
    /// ([`DriverKind::Inline`], the simulator's default too).
    pub fn new() -> Self {
        Self::with_driver(DriverKind::default())
    }

    /// A backend whose async calls complete as `driver` says: [`DriverKind::Manual`] holds each
    /// queued call until `driver().step()` (or `complete`, `run_until_idle`) runs it;
    /// [`DriverKind::Threaded`] runs them on worker threads.
    pub fn with_driver(driver: DriverKind) -> Self {
        Self::with_engine(Simulator::builder().driver(driver))
    }

    /// A backend whose engine is built from `builder` (driver, profile, strict mode, journal),
    /// with the [`Secur32`] executor. The builder's world only sets the engine's limits
    /// (`max_async_contexts`) and its fault rules; no call is answered from it.
    pub fn with_engine(builder: SimulatorBuilder) -> Self {
        Self { engine: builder.executor(Arc::new(Secur32)).build() }
    }

    /// The async engine: its journal (async calls only), misuses, fault rules (matching async
    /// calls), counters and virtual clock.
    pub fn engine(&self) -> &Simulator {
        &self.engine
    }
}

impl Backend for WinBackend {
    fn enumerate_security_packages(&self) -> Result<Vec<SecPkgInfo>, SecStatus> {
        sys::enumerate_security_packages()
    }

    /// Always the W entry point (an ANSI name is widened); a malformed counted name, which no
    /// user-mode entry point can take, is `SEC_E_SECPKG_NOT_FOUND` as in the simulator.
    fn query_security_package_info(&self, package: &SecString) -> Result<SecPkgInfo, SecStatus> {
        let name = marshal::wide_units(package).ok_or(SecStatus::SEC_E_SECPKG_NOT_FOUND)?;
        sys::query_security_package_info(&ZString::wide(name))
    }

    fn acquire_credentials_handle(&self, args: AcquireCredentials) -> Result<Credentials, SecStatus> {
        Secur32.acquire_credentials_handle(&args)
    }

    fn free_credentials_handle(&self, credential: CredHandle) -> SecStatus {
        Secur32.free_credentials_handle(credential)
    }

    fn query_credentials_attributes(
        &self,
        credential: CredHandle,
        attribute: CredentialsAttribute,
    ) -> Result<CredentialsAttributeValue, SecStatus> {
        let registry = read();
        registry.check(Some(credential), None)?;
        match attribute {
            CredentialsAttribute::Names => {
                let units = sys::query_credentials_names(marshal::raw_handle(credential))?;
                Ok(CredentialsAttributeValue::Names(String::from_utf16_lossy(&units)))
            }
            #[allow(unreachable_patterns)]
            _ => Err(SecStatus::SEC_E_UNSUPPORTED_FUNCTION),
        }
    }

    fn sspi_create_async_context(&self) -> AsyncContextHandle {
        self.engine.sspi_create_async_context()
    }

    fn sspi_free_async_context(&self, ctx: AsyncContextHandle) {
        self.engine.sspi_free_async_context(ctx);
    }

    fn sspi_reinit_async_context(&self, ctx: AsyncContextHandle) -> NtStatus {
        self.engine.sspi_reinit_async_context(ctx)
    }

    fn sspi_set_async_notify_callback(
        &self,
        ctx: AsyncContextHandle,
        callback: Option<NotifyCallback>,
        callback_data: usize,
    ) -> SecStatus {
        self.engine.sspi_set_async_notify_callback(ctx, callback, callback_data)
    }

    fn sspi_async_context_requires_notify(&self, ctx: AsyncContextHandle) -> bool {
        self.engine.sspi_async_context_requires_notify(ctx)
    }

    fn sspi_get_async_call_status(&self, ctx: AsyncContextHandle) -> SecStatus {
        self.engine.sspi_get_async_call_status(ctx)
    }

    fn sspi_acquire_credentials_handle_async(
        &self,
        ctx: AsyncContextHandle,
        args: AcquireCredentials,
        credential: &Out<CredHandle>,
        expiry: Option<&Out<TimeStamp>>,
    ) -> SecStatus {
        self.engine.sspi_acquire_credentials_handle_async(ctx, args, credential, expiry)
    }

    fn sspi_free_credentials_handle_async(&self, ctx: AsyncContextHandle, credential: CredHandle) -> SecStatus {
        self.engine.sspi_free_credentials_handle_async(ctx, credential)
    }

    fn initialize_security_context(&self, args: InitializeSecurityContext, out: &IscOutputs) -> SecStatus {
        Secur32.initialize_security_context(&args, out)
    }

    fn accept_security_context(&self, args: AcceptSecurityContext, out: &AscOutputs) -> SecStatus {
        Secur32.accept_security_context(&args, out)
    }

    fn complete_auth_token(&self, context: CtxtHandle, token: &SecBufferDesc) -> SecStatus {
        let mut token = token.clone();
        message_call(context, &mut token, |c, b| sys::complete_auth_token(raw(c), b)).unwrap_or_else(|s| s)
    }

    fn delete_security_context(&self, context: CtxtHandle) -> SecStatus {
        Secur32.delete_security_context(context)
    }

    /// [`ContextAttribute::Other`] is `SEC_E_UNSUPPORTED_FUNCTION` without a call: its structure
    /// is unknown, so no buffer of the right size can be passed.
    fn query_context_attributes(
        &self,
        context: CtxtHandle,
        attribute: ContextAttribute,
    ) -> Result<ContextAttributeValue, SecStatus> {
        let registry = read();
        registry.check(None, Some(context))?;
        sys::query_context_attributes(marshal::raw_ctxt(context), attribute)
    }

    fn impersonate_security_context(&self, context: CtxtHandle) -> SecStatus {
        let registry = read();
        match registry.check(None, Some(context)) {
            Ok(()) => sys::impersonate_security_context(marshal::raw_ctxt(context)),
            Err(s) => s,
        }
    }

    fn revert_security_context(&self, context: CtxtHandle) -> SecStatus {
        let registry = read();
        match registry.check(None, Some(context)) {
            Ok(()) => sys::revert_security_context(marshal::raw_ctxt(context)),
            Err(s) => s,
        }
    }

    fn make_signature(&self, context: CtxtHandle, qop: u32, message: &mut SecBufferDesc, sequence: u32) -> SecStatus {
        message_call(context, message, |c, b| sys::make_signature(raw(c), qop, b, sequence)).unwrap_or_else(|s| s)
    }

    fn verify_signature(
        &self,
        context: CtxtHandle,
        message: &mut SecBufferDesc,
        sequence: u32,
    ) -> Result<Option<u32>, SecStatus> {
        let (status, qop) = message_call(context, message, |c, b| sys::verify_signature(raw(c), b, sequence))?;
        if status.is_error() { Err(status) } else { Ok(qop) }
    }

    fn encrypt_message(&self, context: CtxtHandle, qop: u32, message: &mut SecBufferDesc, sequence: u32) -> SecStatus {
        message_call(context, message, |c, b| sys::encrypt_message(raw(c), qop, b, sequence)).unwrap_or_else(|s| s)
    }

    fn decrypt_message(
        &self,
        context: CtxtHandle,
        message: &mut SecBufferDesc,
        sequence: u32,
    ) -> Result<Option<u32>, SecStatus> {
        let (status, qop) = message_call(context, message, |c, b| sys::decrypt_message(raw(c), b, sequence))?;
        if status.is_error() { Err(status) } else { Ok(qop) }
    }

    fn sspi_initialize_security_context_async(
        &self,
        ctx: AsyncContextHandle,
        args: InitializeSecurityContext,
        out: &IscOutputs,
    ) -> SecStatus {
        self.engine.sspi_initialize_security_context_async(ctx, args, out)
    }

    fn sspi_accept_security_context_async(
        &self,
        ctx: AsyncContextHandle,
        args: AcceptSecurityContext,
        out: &AscOutputs,
    ) -> SecStatus {
        self.engine.sspi_accept_security_context_async(ctx, args, out)
    }

    fn sspi_delete_security_context_async(&self, ctx: AsyncContextHandle, context: CtxtHandle) -> SecStatus {
        self.engine.sspi_delete_security_context_async(ctx, context)
    }

    /// The engine's driver control: with the manual driver, `step`, `complete` and
    /// `run_until_idle` run held calls (each a real secur32 call); with the threaded one,
    /// `run_until_idle` waits for the workers; `advance_seconds` moves the engine's virtual
    /// clock (what `delay` fault rules wait for), not secur32's.
    fn driver(&self) -> Option<&dyn DriverControl> {
        self.engine.driver()
    }
}
