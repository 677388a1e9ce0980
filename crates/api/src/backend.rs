//! The `Backend` trait: the SSPI surface in Rust types.
//!
//! Sync calls return their result; async calls follow the kernel's queue-then-poll model:
//! the `sspi_*_async` command returns only whether the call was queued, the outputs are written
//! into caller-held [`Out`] slots at completion, and the final status is read with
//! [`Backend::sspi_get_async_call_status`] (or a registered callback fires).

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{
    AcceptSecurityContext, AscOutputs, AsyncContextHandle, AuthIdentity, ContextAttribute, ContextAttributeValue,
    CredHandle, CredentialUse, CtxtHandle, InitializeSecurityContext, IscOutputs, Luid, NtStatus, SecBufferDesc,
    SecPkgInfo, SecStatus, SecString, TimeStamp,
};

/// An output parameter that the callee writes at completion: the Rust form of a caller's
/// `PCredHandle` / `PTimeStamp` that the kernel captures at queue time and writes later
/// (spec §3.1, §6).
///
/// Cloning shares the slot. The caller keeps one clone and reads it after completion.
pub struct Out<T>(Arc<Mutex<T>>);

impl<T> Clone for Out<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Out<T> {
    /// A slot holding `initial` (what the caller's variable held before the call).
    pub fn new(initial: T) -> Self {
        Self(Arc::new(Mutex::new(initial)))
    }

    /// Writes the slot.
    pub fn set(&self, value: T) {
        *self.0.lock() = value;
    }

    /// Runs `f` on the slot's value.
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0.lock())
    }

    /// Runs `f` on the slot's value, mutably (an in/out parameter such as `pOutput`).
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock())
    }
}

impl<T: Clone> Out<T> {
    /// The slot's current value (a copy).
    pub fn get(&self) -> T {
        self.0.lock().clone()
    }
}

impl<T: fmt::Debug> fmt::Debug for Out<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Out({:?})", &*self.0.lock())
    }
}

/// `SspiAsyncNotifyCallback`: `void (*)(SspiAsyncContext *Handle, PVOID CallbackData)`.
///
/// Called exactly once per completed call, after the final status is visible; it may free the
/// context \[D, DOC-CONCEPT sample\].
pub type NotifyCallback = Arc<dyn Fn(AsyncContextHandle, usize) + Send + Sync>;

/// The function of a [`GetKeyFn`]: `(pvGetKeyArgument, principal, key version)` to the key or a
/// status.
pub type GetKeyCallback = dyn Fn(usize, Option<&str>, u32) -> Result<Vec<u8>, SecStatus> + Send + Sync;

/// `SEC_GET_KEY_FN`: `void (*)(void *Arg, void *Principal, unsigned long KeyVer, void **Key,
/// SECURITY_STATUS *Status)`, in Rust form: given the argument, the principal and the key
/// version, return the key or a status.
#[derive(Clone)]
pub struct GetKeyFn {
    /// The function.
    pub func: Arc<GetKeyCallback>,
    /// `pvGetKeyArgument`, passed to the function unchanged.
    pub argument: usize,
}

impl fmt::Debug for GetKeyFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GetKeyFn(arg=0x{:x})", self.argument)
    }
}

/// `pAuthData`: package-specific authentication data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthData {
    /// `SEC_WINNT_AUTH_IDENTITY_A/W`.
    Identity(AuthIdentity),
    /// Any other structure, kept as bytes; packages that do not understand it reject it.
    Opaque(Vec<u8>),
}

/// Which string form the entry point took: it names the `...A` or `...W` function.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Charset {
    /// The `...A` entry point.
    Ansi,
    /// The `...W` entry point (the default, as with `UNICODE` defined).
    #[default]
    Unicode,
}

/// The parameters of `AcquireCredentialsHandle` (and of its async form), owned, because the
/// async form captures them at queue time.
#[derive(Clone, Debug)]
pub struct AcquireCredentials {
    /// A or W entry point.
    pub charset: Charset,
    /// `pszPrincipal`: NULL means the caller's own logon session \[D\].
    pub principal: Option<SecString>,
    /// `pszPackage`.
    pub package: SecString,
    /// `fCredentialUse`.
    pub credential_use: CredentialUse,
    /// `pvLogonId`.
    pub logon_id: Option<Luid>,
    /// `pAuthData`.
    pub auth_data: Option<AuthData>,
    /// `pGetKeyFn` with `pvGetKeyArgument`.
    pub get_key: Option<GetKeyFn>,
}

impl AcquireCredentials {
    /// W-form parameters for `package` and `credential_use`, every optional parameter NULL.
    ///
    /// Strings are NUL-terminated UTF-16 for the sync call; the async W call converts them to
    /// counted strings, as a kernel caller would (use [`SecString::Counted`] to pass malformed
    /// ones).
    pub fn new(package: &str, credential_use: CredentialUse) -> Self {
        Self {
            charset: Charset::Unicode,
            principal: None,
            package: SecString::wide(package),
            credential_use,
            logon_id: None,
            auth_data: None,
            get_key: None,
        }
    }

    /// A-form parameters (ANSI strings).
    pub fn new_ansi(package: &str, credential_use: CredentialUse) -> Self {
        Self { charset: Charset::Ansi, package: SecString::ansi(package), ..Self::new(package, credential_use) }
    }

    /// Sets `pszPrincipal`, in the string form of the entry point.
    pub fn principal(mut self, principal: &str) -> Self {
        self.principal = Some(match self.charset {
            Charset::Ansi => SecString::ansi(principal),
            Charset::Unicode => SecString::wide(principal),
        });
        self
    }

    /// Sets `pvLogonId`.
    pub fn logon_id(mut self, luid: Luid) -> Self {
        self.logon_id = Some(luid);
        self
    }

    /// Sets `pAuthData` to a `SEC_WINNT_AUTH_IDENTITY`.
    pub fn identity(mut self, identity: AuthIdentity) -> Self {
        self.auth_data = Some(AuthData::Identity(identity));
        self
    }

    /// Sets `pGetKeyFn` and `pvGetKeyArgument`.
    pub fn get_key(mut self, get_key: GetKeyFn) -> Self {
        self.get_key = Some(get_key);
        self
    }
}

/// What a successful `AcquireCredentialsHandle` returns.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Credentials {
    /// `*phCredential`.
    pub handle: CredHandle,
    /// `*ptsExpiry`, in the machine's local time.
    pub expiry: TimeStamp,
}

/// `ulAttribute` of `QueryCredentialsAttributes`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum CredentialsAttribute {
    /// `SECPKG_CRED_ATTR_NAMES` (1): the user name of the credential.
    Names,
}

/// The answer to `QueryCredentialsAttributes`.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum CredentialsAttributeValue {
    /// `SecPkgCredentials_Names::sUserName`.
    Names(String),
}

/// Control over *when* queued async calls complete, for backends that run the async engine
/// with a driver a test can hold (the simulator's manual driver).
pub trait DriverControl: Send + Sync {
    /// Number of async calls queued and not yet completed.
    fn in_flight(&self) -> usize;
    /// Completes the oldest call that is ready; false if none is.
    fn step(&self) -> bool;
    /// Completes the call pending on `ctx`, if it is ready; false otherwise.
    fn complete(&self, ctx: AsyncContextHandle) -> bool;
    /// Completes ready calls until none is left; returns how many completed. With worker
    /// threads completing calls (the simulator's threaded driver), it waits until every
    /// dispatched call has completed and returns how many the workers completed since the
    /// previous `run_until_idle`, including those they finished before this call began.
    fn run_until_idle(&self) -> usize;
    /// Moves the virtual clock forward, releasing calls whose delay has passed.
    fn advance_seconds(&self, seconds: f64);
}

/// The SSPI surface every backend implements: the simulator (`sspi-emu-sim`) and, with the
/// `backend-win` feature, real Windows.
///
/// Method names follow the Windows functions in snake case, so each can be laid beside its
/// learn.microsoft.com page. All methods take `&self`: a backend is shared across threads.
pub trait Backend: Send + Sync {
    /// `EnumerateSecurityPackages`.
    ///
    /// # Errors
    /// `SEC_E_INSUFFICIENT_MEMORY`, `SEC_E_INTERNAL_ERROR` (no LSA).
    fn enumerate_security_packages(&self) -> Result<Vec<SecPkgInfo>, SecStatus>;

    /// `QuerySecurityPackageInfo`.
    ///
    /// # Errors
    /// `SEC_E_SECPKG_NOT_FOUND`.
    fn query_security_package_info(&self, package: &SecString) -> Result<SecPkgInfo, SecStatus>;

    /// `AcquireCredentialsHandle` (A or W by [`AcquireCredentials::charset`]).
    ///
    /// # Errors
    /// `SEC_E_INSUFFICIENT_MEMORY`, `SEC_E_INTERNAL_ERROR`, `SEC_E_NO_CREDENTIALS`,
    /// `SEC_E_NOT_OWNER`, `SEC_E_SECPKG_NOT_FOUND`, `SEC_E_UNKNOWN_CREDENTIALS`,
    /// `SEC_E_NO_AUTHENTICATING_AUTHORITY` (inbound).
    ///
    /// # Windows
    /// <https://learn.microsoft.com/windows/win32/secauthn/acquirecredentialshandle--general>
    fn acquire_credentials_handle(&self, args: AcquireCredentials) -> Result<Credentials, SecStatus>;

    /// `FreeCredentialsHandle`: `SEC_E_OK` or `SEC_E_INVALID_HANDLE`.
    fn free_credentials_handle(&self, credential: CredHandle) -> SecStatus;

    /// `QueryCredentialsAttributes`.
    ///
    /// # Errors
    /// `SEC_E_INVALID_HANDLE`, `SEC_E_UNSUPPORTED_FUNCTION`.
    fn query_credentials_attributes(
        &self,
        credential: CredHandle,
        attribute: CredentialsAttribute,
    ) -> Result<CredentialsAttributeValue, SecStatus>;

    /// `SspiCreateAsyncContext`: a fresh context, or [`AsyncContextHandle::NULL`] when out of
    /// memory.
    fn sspi_create_async_context(&self) -> AsyncContextHandle;

    /// `SspiFreeAsyncContext`. NULL is a no-op.
    fn sspi_free_async_context(&self, ctx: AsyncContextHandle);

    /// `SspiReinitAsyncContext`: makes a completed context reusable, keeping its callback.
    fn sspi_reinit_async_context(&self, ctx: AsyncContextHandle) -> NtStatus;

    /// `SspiSetAsyncNotifyCallback`.
    fn sspi_set_async_notify_callback(
        &self,
        ctx: AsyncContextHandle,
        callback: Option<NotifyCallback>,
        callback_data: usize,
    ) -> SecStatus;

    /// `SspiAsyncContextRequiresNotify`.
    fn sspi_async_context_requires_notify(&self, ctx: AsyncContextHandle) -> bool;

    /// `SspiGetAsyncCallStatus`: `SEC_I_ASYNC_CALL_PENDING` while in flight, then the call's
    /// final status.
    fn sspi_get_async_call_status(&self, ctx: AsyncContextHandle) -> SecStatus;

    /// `SspiAcquireCredentialsHandleAsyncA/W`: queues the acquisition; `credential` and `expiry`
    /// are written at completion.
    fn sspi_acquire_credentials_handle_async(
        &self,
        ctx: AsyncContextHandle,
        args: AcquireCredentials,
        credential: &Out<CredHandle>,
        expiry: Option<&Out<TimeStamp>>,
    ) -> SecStatus;

    /// `SspiFreeCredentialsHandleAsync`.
    fn sspi_free_credentials_handle_async(&self, ctx: AsyncContextHandle, credential: CredHandle) -> SecStatus;

    /// `InitializeSecurityContext` (A or W by [`InitializeSecurityContext::charset`]): one client
    /// leg. The outputs in `out` are written when the call succeeds (`SEC_I_CONTINUE_NEEDED`,
    /// `SEC_E_OK`); on failure they are left as they were.
    ///
    /// # Windows
    /// <https://learn.microsoft.com/windows/win32/secauthn/initializesecuritycontext--ntlm>
    fn initialize_security_context(&self, args: InitializeSecurityContext, out: &IscOutputs) -> SecStatus;

    /// `AcceptSecurityContext`: one server leg; outputs as for
    /// [`Backend::initialize_security_context`].
    ///
    /// # Windows
    /// <https://learn.microsoft.com/windows/win32/secauthn/acceptsecuritycontext--ntlm>
    fn accept_security_context(&self, args: AcceptSecurityContext, out: &AscOutputs) -> SecStatus;

    /// `CompleteAuthToken`.
    fn complete_auth_token(&self, context: CtxtHandle, token: &SecBufferDesc) -> SecStatus;

    /// `DeleteSecurityContext`: `SEC_E_OK` also for a handle already deleted \[D\];
    /// `SEC_E_INVALID_HANDLE` for one never issued.
    fn delete_security_context(&self, context: CtxtHandle) -> SecStatus;

    /// `QueryContextAttributes` (W).
    ///
    /// # Errors
    /// `SEC_E_INVALID_HANDLE`, `SEC_E_UNSUPPORTED_FUNCTION`.
    fn query_context_attributes(
        &self,
        context: CtxtHandle,
        attribute: ContextAttribute,
    ) -> Result<ContextAttributeValue, SecStatus>;

    /// `ImpersonateSecurityContext`: the calling thread takes the client's identity.
    fn impersonate_security_context(&self, context: CtxtHandle) -> SecStatus;

    /// `RevertSecurityContext`: the calling thread takes back its own identity.
    fn revert_security_context(&self, context: CtxtHandle) -> SecStatus;

    /// `MakeSignature`: writes the signature into the message's `SECBUFFER_TOKEN`.
    fn make_signature(&self, context: CtxtHandle, qop: u32, message: &mut SecBufferDesc, sequence: u32) -> SecStatus;

    /// `VerifySignature`: `Some(*pfQOP)` when the package writes `pfQOP` (NTLM never does).
    ///
    /// # Errors
    /// `SEC_E_MESSAGE_ALTERED`, `SEC_E_OUT_OF_SEQUENCE`, `SEC_E_INVALID_HANDLE`, `SEC_E_INVALID_TOKEN`.
    fn verify_signature(
        &self,
        context: CtxtHandle,
        message: &mut SecBufferDesc,
        sequence: u32,
    ) -> Result<Option<u32>, SecStatus>;

    /// `EncryptMessage`: encrypts the `SECBUFFER_DATA` buffers in place and writes the
    /// signature into the `SECBUFFER_TOKEN`.
    fn encrypt_message(&self, context: CtxtHandle, qop: u32, message: &mut SecBufferDesc, sequence: u32) -> SecStatus;

    /// `DecryptMessage`: decrypts in place and checks the signature; `pfQOP` as for
    /// [`Backend::verify_signature`].
    ///
    /// # Errors
    /// As [`Backend::verify_signature`].
    fn decrypt_message(
        &self,
        context: CtxtHandle,
        message: &mut SecBufferDesc,
        sequence: u32,
    ) -> Result<Option<u32>, SecStatus>;

    /// `SspiInitializeSecurityContextAsyncA/W`: queues a client leg; `out` is written at
    /// completion.
    fn sspi_initialize_security_context_async(
        &self,
        ctx: AsyncContextHandle,
        args: InitializeSecurityContext,
        out: &IscOutputs,
    ) -> SecStatus;

    /// `SspiAcceptSecurityContextAsync`: queues a server leg.
    fn sspi_accept_security_context_async(
        &self,
        ctx: AsyncContextHandle,
        args: AcceptSecurityContext,
        out: &AscOutputs,
    ) -> SecStatus;

    /// `SspiDeleteSecurityContextAsync`: the only async call documented to work without a
    /// callback.
    fn sspi_delete_security_context_async(&self, ctx: AsyncContextHandle, context: CtxtHandle) -> SecStatus;

    /// The driver, when a test may hold calls in flight and complete them at will.
    fn driver(&self) -> Option<&dyn DriverControl> {
        None
    }
}
