//! The only module with `unsafe` code: thin calls into secur32 (and kernel32 for two probes).
//!
//! Each function takes parameters already marshalled by [`crate::marshal`] into owned buffers
//! that outlive the call, makes exactly one SSPI call, copies what secur32 wrote into owned Rust
//! values, and frees secur32's buffers (`FreeContextBuffer`) on every path. Nothing here keeps
//! a pointer after returning.
//!
//! Linked: `secur32.dll` (the sync SSPI) and `kernel32.dll`. Never linked: the `Sspi*Async*`
//! family, which exists only in kernel mode (`ksecdd.sys`); a user-mode exe importing one of
//! them fails to load with `STATUS_DLL_NOT_FOUND`. [`exported`] looks names up at run time
//! instead, which is safe whether they exist or not.

use std::ffi::{CStr, c_char, c_void};
use std::ptr;

use sspi_emu_api::{
    Charset, ContextAttribute, ContextAttributeValue, ContextSizes, NegotiationState, SecBufferDesc, SecPkgInfo,
    SecStatus, TimeStamp,
};
use windows_sys::Win32::Security::Authentication::Identity::{
    AcceptSecurityContext, AcquireCredentialsHandleA, AcquireCredentialsHandleW, CompleteAuthToken, DecryptMessage,
    DeleteSecurityContext, EncryptMessage, EnumerateSecurityPackagesW, FreeContextBuffer, FreeCredentialsHandle,
    ImpersonateSecurityContext, InitializeSecurityContextA, InitializeSecurityContextW, MakeSignature,
    QueryContextAttributesW, QueryCredentialsAttributesW, QuerySecurityPackageInfoW, RevertSecurityContext,
    SECPKG_CRED_ATTR_NAMES, SecBufferDesc as RawSecBufferDesc, SecPkgContext_Flags, SecPkgContext_KeyInfoW,
    SecPkgContext_Lifespan, SecPkgContext_NamesW, SecPkgContext_NativeNamesW, SecPkgContext_NegotiationInfoW,
    SecPkgContext_PackageInfoW, SecPkgContext_SessionKey, SecPkgContext_Sizes, SecPkgCredentials_NamesW, SecPkgInfoW,
    VerifySignature,
};
use windows_sys::Win32::Security::Credentials::SecHandle as RawSecHandle;
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress, LoadLibraryW};

use crate::marshal::{self, AcquireCall, Buffers, ZString};

/// A buffer secur32 allocated for the caller, freed with `FreeContextBuffer` when dropped.
struct ContextBuffer(*mut c_void);

impl Drop for ContextBuffer {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer was returned by a secur32 function that documents the buffer
            // as the caller's to free with FreeContextBuffer; this guard is its only owner and
            // frees it once. The returned status carries nothing to act on.
            unsafe { FreeContextBuffer(self.0) };
        }
    }
}

/// The UTF-16 units of a NUL-terminated wide string, without the NUL; empty for NULL.
///
/// # Safety
///
/// `p` is NULL or points to a readable, NUL-terminated UTF-16 string that stays valid and
/// unchanged for the duration of the call.
unsafe fn wide_cstr(p: *const u16) -> Vec<u16> {
    if p.is_null() {
        return Vec::new();
    }
    let mut n = 0usize;
    loop {
        // SAFETY: `p` points to a NUL-terminated string (the caller's promise) and no unit
        // before `n` was NUL, so `p + n` is within the string (at most its NUL).
        let unit = unsafe { p.wrapping_add(n).read() };
        if unit == 0 {
            break;
        }
        n += 1;
    }
    // SAFETY: the `n` units from `p` were just read one by one, so they are readable, aligned
    // (`p` is a valid `*const u16`) and initialised; they are copied out before returning.
    unsafe { std::slice::from_raw_parts(p, n) }.to_vec()
}

/// `SecPkgInfoW` as an api value.
///
/// # Safety
///
/// `Name` and `Comment` of `info` are NULL or valid NUL-terminated strings (as secur32 returns
/// them) for the duration of the call.
unsafe fn package_info(info: &SecPkgInfoW) -> SecPkgInfo {
    // SAFETY: the caller's promise on `Name`.
    let name = unsafe { wide_cstr(info.Name) };
    // SAFETY: the caller's promise on `Comment`.
    let comment = unsafe { wide_cstr(info.Comment) };
    marshal::package_info(info.fCapabilities, info.wVersion, info.wRPCID, info.cbMaxToken, &name, &comment)
}

/// `EnumerateSecurityPackagesW`.
pub(crate) fn enumerate_security_packages() -> Result<Vec<SecPkgInfo>, SecStatus> {
    let mut count = 0u32;
    let mut infos: *mut SecPkgInfoW = ptr::null_mut();
    // SAFETY: both out-parameters point to live locals of the right types; secur32 only writes
    // them.
    let hr = unsafe { EnumerateSecurityPackagesW(&mut count, &mut infos) };
    let _owner = ContextBuffer(infos.cast());
    if hr != 0 {
        return Err(marshal::status(hr));
    }
    if infos.is_null() || count == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: on success `infos` points to an array of `count` initialised `SecPkgInfoW`,
    // owned by `_owner` until the end of this function.
    let infos = unsafe { std::slice::from_raw_parts(infos, count as usize) };
    let mut packages = Vec::with_capacity(infos.len());
    for info in infos {
        // SAFETY: the strings of each entry live in the same buffer (see above).
        packages.push(unsafe { package_info(info) });
    }
    Ok(packages)
}

/// `QuerySecurityPackageInfoW`.
pub(crate) fn query_security_package_info(name: &ZString) -> Result<SecPkgInfo, SecStatus> {
    let mut info: *mut SecPkgInfoW = ptr::null_mut();
    // SAFETY: `name` is NUL-terminated UTF-16 (ZString::Wide; NULL for Ansi, which secur32
    // rejects) alive for the call; `info` is a live local secur32 only writes.
    let hr = unsafe { QuerySecurityPackageInfoW(name.as_pcwstr(), &mut info) };
    let _owner = ContextBuffer(info.cast());
    if hr != 0 {
        return Err(marshal::status(hr));
    }
    if info.is_null() {
        return Err(SecStatus::SEC_E_INTERNAL_ERROR);
    }
    // SAFETY: on success `info` points to one initialised `SecPkgInfoW` owned by `_owner`.
    let info = unsafe { &*info };
    // SAFETY: its strings live in the same buffer.
    Ok(unsafe { package_info(info) })
}

/// `AcquireCredentialsHandleA/W`, by `call.charset`: the handle and `*ptsExpiry`.
pub(crate) fn acquire_credentials_handle(call: &AcquireCall) -> Result<(RawSecHandle, i64), SecStatus> {
    let mut handle = RawSecHandle { dwLower: 0, dwUpper: 0 };
    let mut expiry = 0i64;
    // Built by value here, pointing into `call`, which outlives the call below.
    let identity = call.identity.as_ref().map(marshal::IdentityBuffers::raw);
    let auth_data = identity.as_ref().map_or(ptr::null(), marshal::RawIdentity::as_ptr);
    let hr = match call.charset {
        sspi_emu_api::Charset::Ansi => {
            // SAFETY: principal and package are NULL or NUL-terminated ANSI strings owned by
            // `call` (ZString::new with Charset::Ansi); pvLogonId is NULL or a LUID in `call`;
            // pAuthData is NULL or an identity structure in `identity` whose pointers lead
            // into `call`'s buffers, each holding at least its length field's characters and a
            // NUL (IdentityBuffers::new); pGetKeyFn is NULL; the outputs are live locals.
            unsafe {
                AcquireCredentialsHandleA(
                    call.principal_ptr().cast(),
                    call.package_ptr().cast(),
                    call.credential_use,
                    call.logon_id_ptr(),
                    auth_data,
                    None,
                    ptr::null(),
                    &mut handle,
                    &mut expiry,
                )
            }
        }
        sspi_emu_api::Charset::Unicode => {
            // SAFETY: as for the A call, with NUL-terminated UTF-16 strings (Charset::Unicode).
            unsafe {
                AcquireCredentialsHandleW(
                    call.principal_ptr().cast(),
                    call.package_ptr().cast(),
                    call.credential_use,
                    call.logon_id_ptr(),
                    auth_data,
                    None,
                    ptr::null(),
                    &mut handle,
                    &mut expiry,
                )
            }
        }
    };
    // A success code other than SEC_E_OK still returns a handle the caller must free.
    if hr >= 0 { Ok((handle, expiry)) } else { Err(marshal::status(hr)) }
}

/// `FreeCredentialsHandle`.
///
/// The handle must be one this process acquired and has not freed: Wine's secur32 dereferences
/// both words of the handle, so any other value is undefined behaviour there (the backend's
/// handle registry guarantees this).
pub(crate) fn free_credentials_handle(handle: RawSecHandle) -> SecStatus {
    // SAFETY: `handle` is a live local; secur32 reads it. Its validity is the backend's
    // invariant (see above).
    marshal::status(unsafe { FreeCredentialsHandle(&handle) })
}

/// `QueryCredentialsAttributesW(SECPKG_CRED_ATTR_NAMES)`: `sUserName`'s UTF-16 units. Same
/// handle rule as [`free_credentials_handle`].
pub(crate) fn query_credentials_names(handle: RawSecHandle) -> Result<Vec<u16>, SecStatus> {
    let mut names = SecPkgCredentials_NamesW { sUserName: ptr::null_mut() };
    // SAFETY: `handle` is live (backend invariant) and read only; `names` is a live local of
    // the structure SECPKG_CRED_ATTR_NAMES writes.
    let hr = unsafe { QueryCredentialsAttributesW(&handle, SECPKG_CRED_ATTR_NAMES, ptr::from_mut(&mut names).cast()) };
    let _owner = ContextBuffer(names.sUserName.cast());
    if hr != 0 {
        return Err(marshal::status(hr));
    }
    // SAFETY: on success `sUserName` is NULL or a NUL-terminated string owned by `_owner`.
    Ok(unsafe { wide_cstr(names.sUserName) })
}

/// Whether `module` (loaded if need be) exports `symbol`, looked up at run time
/// (`GetProcAddress`), never linked.
pub(crate) fn exported(module: &str, symbol: &str) -> bool {
    let module: Vec<u16> = module.encode_utf16().chain([0]).collect();
    let Ok(symbol) = std::ffi::CString::new(symbol) else { return false };
    // SAFETY: `module` is a NUL-terminated UTF-16 string alive for the call.
    let mut handle = unsafe { GetModuleHandleW(module.as_ptr()) };
    if handle.is_null() {
        // Loaded for the life of the process: system DLLs only, never unloaded.
        // SAFETY: as above.
        handle = unsafe { LoadLibraryW(module.as_ptr()) };
    }
    if handle.is_null() {
        return false;
    }
    // SAFETY: `handle` is a module handle of this process; `symbol` is NUL-terminated ANSI
    // alive for the call. The result is only tested, never called.
    unsafe { GetProcAddress(handle, symbol.as_ptr().cast()) }.is_some()
}

/// Wine's version (`ntdll!wine_get_version`), or `None` on Windows.
pub(crate) fn wine_version() -> Option<String> {
    let ntdll: Vec<u16> = "ntdll.dll".encode_utf16().chain([0]).collect();
    // SAFETY: `ntdll` is a NUL-terminated UTF-16 string alive for the call; ntdll is mapped in
    // every process.
    let module = unsafe { GetModuleHandleW(ntdll.as_ptr()) };
    if module.is_null() {
        return None;
    }
    // SAFETY: `module` is ntdll's handle; the name is a NUL-terminated literal.
    let get_version = unsafe { GetProcAddress(module, c"wine_get_version".as_ptr().cast()) }?;
    // SAFETY: Wine's `const char *wine_get_version(void)` takes no argument and returns a
    // pointer; on x86_64 the "C" and "system" conventions are the same, and a pointer comes
    // back in RAX as the `isize` of FARPROC's signature does.
    let text = unsafe { get_version() } as *const c_char;
    if text.is_null() {
        return None;
    }
    // SAFETY: Wine returns a static NUL-terminated version string.
    Some(unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned())
}

// ---- Security contexts -------------------------------------------------------------------

/// The handles and buffers of one `InitializeSecurityContext` or `AcceptSecurityContext` call.
/// Every handle is one this process holds (the backend's registry checks it first).
pub(crate) struct ContextCall<'a> {
    pub(crate) credential: Option<RawSecHandle>,
    pub(crate) context: Option<RawSecHandle>,
    pub(crate) input: Option<&'a mut Buffers>,
    pub(crate) output: Option<&'a mut Buffers>,
    pub(crate) context_req: u32,
    pub(crate) target_data_rep: u32,
    /// Whether `phNewContext` is passed (NULL otherwise).
    pub(crate) new_context: bool,
}

/// What a context call wrote besides its buffers.
pub(crate) struct ContextDone {
    pub(crate) status: SecStatus,
    pub(crate) new_context: RawSecHandle,
    pub(crate) attributes: u32,
    pub(crate) expiry: i64,
}

fn opt_ptr<T>(v: Option<&T>) -> *const T {
    v.map_or(ptr::null(), ptr::from_ref)
}

fn opt_mut<T>(v: Option<&mut T>) -> *mut T {
    v.map_or(ptr::null_mut(), ptr::from_mut)
}

/// `InitializeSecurityContextA/W` (by `charset`; `target` is a ZString of that form).
pub(crate) fn initialize_security_context(
    call: ContextCall<'_>,
    charset: Charset,
    target: Option<&ZString>,
    reserved1: u32,
    reserved2: u32,
) -> ContextDone {
    let ContextCall { credential, context, input, output, context_req, target_data_rep, new_context } = call;
    let mut new = context.unwrap_or(RawSecHandle { dwLower: 0, dwUpper: 0 });
    let (mut attributes, mut expiry) = (0u32, 0i64);
    let input_desc: Option<RawSecBufferDesc> = input.map(Buffers::desc);
    let mut output_desc: Option<RawSecBufferDesc> = output.map(Buffers::desc);
    let new_ptr = if new_context { ptr::from_mut(&mut new) } else { ptr::null_mut() };
    let hr = match charset {
        Charset::Ansi => {
            let target = target.map_or(ptr::null(), ZString::as_pcstr);
            // SAFETY: the handles are NULL or live locals holding handles this process holds;
            // the target is NULL or a NUL-terminated ANSI string alive for the call; the
            // descriptors are NULL or live locals whose buffers (Buffers) stay alive, unmoved
            // and unused elsewhere until the call returns; the outputs are live locals.
            unsafe {
                InitializeSecurityContextA(
                    opt_ptr(credential.as_ref()),
                    opt_ptr(context.as_ref()),
                    target.cast(),
                    context_req,
                    reserved1,
                    target_data_rep,
                    opt_ptr(input_desc.as_ref()),
                    reserved2,
                    new_ptr,
                    opt_mut(output_desc.as_mut()),
                    &mut attributes,
                    &mut expiry,
                )
            }
        }
        Charset::Unicode => {
            let target = target.map_or(ptr::null(), ZString::as_pcwstr);
            // SAFETY: as for the A call, with a NUL-terminated UTF-16 target.
            unsafe {
                InitializeSecurityContextW(
                    opt_ptr(credential.as_ref()),
                    opt_ptr(context.as_ref()),
                    target,
                    context_req,
                    reserved1,
                    target_data_rep,
                    opt_ptr(input_desc.as_ref()),
                    reserved2,
                    new_ptr,
                    opt_mut(output_desc.as_mut()),
                    &mut attributes,
                    &mut expiry,
                )
            }
        }
    };
    ContextDone { status: marshal::status(hr), new_context: new, attributes, expiry }
}

/// `AcceptSecurityContext`.
pub(crate) fn accept_security_context(call: ContextCall<'_>) -> ContextDone {
    let ContextCall { credential, context, input, output, context_req, target_data_rep, new_context } = call;
    let mut new = context.unwrap_or(RawSecHandle { dwLower: 0, dwUpper: 0 });
    let (mut attributes, mut expiry) = (0u32, 0i64);
    let input_desc: Option<RawSecBufferDesc> = input.map(Buffers::desc);
    let mut output_desc: Option<RawSecBufferDesc> = output.map(Buffers::desc);
    let new_ptr = if new_context { ptr::from_mut(&mut new) } else { ptr::null_mut() };
    // SAFETY: as for InitializeSecurityContext: handles this process holds or NULL, descriptors
    // over live Buffers or NULL, outputs in live locals.
    let hr = unsafe {
        AcceptSecurityContext(
            opt_ptr(credential.as_ref()),
            opt_ptr(context.as_ref()),
            opt_ptr(input_desc.as_ref()),
            context_req,
            target_data_rep,
            new_ptr,
            opt_mut(output_desc.as_mut()),
            &mut attributes,
            &mut expiry,
        )
    };
    ContextDone { status: marshal::status(hr), new_context: new, attributes, expiry }
}

/// The descriptor as the package left it. With `free_allocated`, a buffer the package allocated
/// (`*_REQ_ALLOCATE_MEMORY`) is copied and freed with `FreeContextBuffer`; otherwise it is
/// copied only.
pub(crate) fn finish_buffers(buffers: Buffers, free_allocated: bool) -> SecBufferDesc {
    buffers.finish(|p, len| {
        // SAFETY: `p` is a `pvBuffer` the package wrote into our descriptor, pointing outside
        // our buffers: memory the package allocated, `len` (`cbBuffer`) bytes long.
        let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }.to_vec();
        if free_allocated {
            drop(ContextBuffer(p));
        }
        bytes
    })
}

/// `DeleteSecurityContext` of a live context.
pub(crate) fn delete_security_context(context: RawSecHandle) -> SecStatus {
    // SAFETY: `context` is a handle this process holds (backend registry); read only.
    marshal::status(unsafe { DeleteSecurityContext(&context) })
}

/// `CompleteAuthToken`.
pub(crate) fn complete_auth_token(context: RawSecHandle, token: &mut Buffers) -> SecStatus {
    let desc = token.desc();
    // SAFETY: a live context handle; `desc` describes live buffers alive for the call.
    marshal::status(unsafe { CompleteAuthToken(&context, &desc) })
}

/// `ImpersonateSecurityContext`.
pub(crate) fn impersonate_security_context(context: RawSecHandle) -> SecStatus {
    // SAFETY: a live context handle, read only.
    marshal::status(unsafe { ImpersonateSecurityContext(&context) })
}

/// `RevertSecurityContext`.
pub(crate) fn revert_security_context(context: RawSecHandle) -> SecStatus {
    // SAFETY: a live context handle, read only.
    marshal::status(unsafe { RevertSecurityContext(&context) })
}

/// `MakeSignature`.
pub(crate) fn make_signature(context: RawSecHandle, qop: u32, message: &mut Buffers, sequence: u32) -> SecStatus {
    let desc = message.desc();
    // SAFETY: a live context handle; `desc` describes our buffers, which the package may write
    // within their lengths; all alive for the call.
    marshal::status(unsafe { MakeSignature(&context, qop, &desc, sequence) })
}

/// `EncryptMessage`.
pub(crate) fn encrypt_message(context: RawSecHandle, qop: u32, message: &mut Buffers, sequence: u32) -> SecStatus {
    let desc = message.desc();
    // SAFETY: as for MakeSignature.
    marshal::status(unsafe { EncryptMessage(&context, qop, &desc, sequence) })
}

/// The `pfQOP` value written before the call: if it is still there after, the package did not
/// write `pfQOP`.
const QOP_UNWRITTEN: u32 = u32::MAX;

/// `VerifySignature`: the status and `*pfQOP` if the package wrote it.
pub(crate) fn verify_signature(
    context: RawSecHandle,
    message: &mut Buffers,
    sequence: u32,
) -> (SecStatus, Option<u32>) {
    let desc = message.desc();
    let mut qop = QOP_UNWRITTEN;
    // SAFETY: as for MakeSignature; `qop` is a live local.
    let hr = unsafe { VerifySignature(&context, &desc, sequence, &mut qop) };
    (marshal::status(hr), (qop != QOP_UNWRITTEN).then_some(qop))
}

/// `DecryptMessage`: the status and `*pfQOP` if the package wrote it.
pub(crate) fn decrypt_message(context: RawSecHandle, message: &mut Buffers, sequence: u32) -> (SecStatus, Option<u32>) {
    let desc = message.desc();
    let mut qop = QOP_UNWRITTEN;
    // SAFETY: as for VerifySignature.
    let hr = unsafe { DecryptMessage(&context, &desc, sequence, &mut qop) };
    (marshal::status(hr), (qop != QOP_UNWRITTEN).then_some(qop))
}

/// `QueryContextAttributesW` into a `T` the attribute fills.
///
/// # Safety
///
/// `T` is the structure `sspi.h` documents for `attribute`, and every bit pattern of it is valid
/// (plain integers and raw pointers).
unsafe fn query<T>(context: RawSecHandle, attribute: u32, mut value: T) -> Result<T, SecStatus> {
    // SAFETY: a live context handle; `value` is a live local of the structure the attribute
    // writes (the caller's promise).
    let hr = unsafe { QueryContextAttributesW(&context, attribute, ptr::from_mut(&mut value).cast()) };
    if hr < 0 { Err(marshal::status(hr)) } else { Ok(value) }
}

/// A `SecPkgInfoW` the package allocated: converted, then freed.
///
/// # Safety
///
/// `info` is NULL or a `SecPkgInfoW` (with its strings) the caller owns and must free with
/// `FreeContextBuffer`.
unsafe fn owned_package_info(info: *mut SecPkgInfoW) -> Option<SecPkgInfo> {
    let _owner = ContextBuffer(info.cast());
    if info.is_null() {
        return None;
    }
    // SAFETY: non-NULL, initialised, owned until `_owner` frees it.
    let info = unsafe { &*info };
    // SAFETY: its strings are NULL or valid C strings in the same allocation.
    Some(unsafe { package_info(info) })
}

/// A string the package allocated: copied, then freed.
///
/// # Safety
///
/// `p` is NULL or a NUL-terminated UTF-16 string the caller must free with `FreeContextBuffer`.
unsafe fn owned_string(p: *mut u16) -> String {
    let _owner = ContextBuffer(p.cast());
    // SAFETY: the caller's promise.
    String::from_utf16_lossy(&unsafe { wide_cstr(p) })
}

/// `QueryContextAttributesW` for the attributes the api names. The caller refuses
/// [`ContextAttribute::Other`] (its structure is unknown, so it cannot be passed safely).
pub(crate) fn query_context_attributes(
    context: RawSecHandle,
    attribute: ContextAttribute,
) -> Result<ContextAttributeValue, SecStatus> {
    let number = attribute.value();
    Ok(match attribute {
        ContextAttribute::Sizes => {
            let zero = SecPkgContext_Sizes { cbMaxToken: 0, cbMaxSignature: 0, cbBlockSize: 0, cbSecurityTrailer: 0 };
            // SAFETY: SECPKG_ATTR_SIZES fills a SecPkgContext_Sizes of four u32.
            let v = unsafe { query(context, number, zero) }?;
            ContextAttributeValue::Sizes(ContextSizes {
                max_token: v.cbMaxToken,
                max_signature: v.cbMaxSignature,
                block_size: v.cbBlockSize,
                security_trailer: v.cbSecurityTrailer,
            })
        }
        ContextAttribute::Names => {
            // SAFETY: SECPKG_ATTR_NAMES fills a SecPkgContext_NamesW (one pointer).
            let v = unsafe { query(context, number, SecPkgContext_NamesW { sUserName: ptr::null_mut() }) }?;
            // SAFETY: on success the package allocated sUserName for us.
            ContextAttributeValue::Names(unsafe { owned_string(v.sUserName) })
        }
        ContextAttribute::Lifespan => {
            // SAFETY: SECPKG_ATTR_LIFESPAN fills two i64.
            let v = unsafe { query(context, number, SecPkgContext_Lifespan { tsStart: 0, tsExpiry: 0 }) }?;
            ContextAttributeValue::Lifespan { start: TimeStamp(v.tsStart), expiry: TimeStamp(v.tsExpiry) }
        }
        ContextAttribute::SessionKey => {
            let zero = SecPkgContext_SessionKey { SessionKeyLength: 0, SessionKey: ptr::null_mut() };
            // SAFETY: SECPKG_ATTR_SESSION_KEY fills a length and a pointer.
            let v = unsafe { query(context, number, zero) }?;
            let _owner = ContextBuffer(v.SessionKey.cast());
            let key = if v.SessionKey.is_null() {
                Vec::new()
            } else {
                // SAFETY: the package allocated SessionKeyLength bytes at SessionKey, freed by
                // `_owner` after the copy.
                unsafe { std::slice::from_raw_parts(v.SessionKey, v.SessionKeyLength as usize) }.to_vec()
            };
            ContextAttributeValue::SessionKey(key)
        }
        ContextAttribute::PackageInfo => {
            // SAFETY: SECPKG_ATTR_PACKAGE_INFO fills one pointer.
            let v = unsafe { query(context, number, SecPkgContext_PackageInfoW { PackageInfo: ptr::null_mut() }) }?;
            // SAFETY: on success the package allocated PackageInfo for us.
            let info = unsafe { owned_package_info(v.PackageInfo) }.ok_or(SecStatus::SEC_E_INTERNAL_ERROR)?;
            ContextAttributeValue::PackageInfo(info)
        }
        ContextAttribute::NegotiationInfo => {
            let zero = SecPkgContext_NegotiationInfoW { PackageInfo: ptr::null_mut(), NegotiationState: 0 };
            // SAFETY: SECPKG_ATTR_NEGOTIATION_INFO fills a pointer and a u32.
            let v = unsafe { query(context, number, zero) }?;
            // SAFETY: on success the package allocated PackageInfo for us.
            let package = unsafe { owned_package_info(v.PackageInfo) }.ok_or(SecStatus::SEC_E_INTERNAL_ERROR)?;
            let state = marshal::negotiation_state(v.NegotiationState).unwrap_or(NegotiationState::InProgress);
            ContextAttributeValue::NegotiationInfo { package, state }
        }
        ContextAttribute::NativeNames => {
            let zero = SecPkgContext_NativeNamesW { sClientName: ptr::null_mut(), sServerName: ptr::null_mut() };
            // SAFETY: SECPKG_ATTR_NATIVE_NAMES fills two pointers.
            let v = unsafe { query(context, number, zero) }?;
            // SAFETY: on success the package allocated both strings for us.
            let client = unsafe { owned_string(v.sClientName) };
            // SAFETY: as above.
            let server = unsafe { owned_string(v.sServerName) };
            ContextAttributeValue::NativeNames { client, server }
        }
        ContextAttribute::KeyInfo => {
            let zero = SecPkgContext_KeyInfoW {
                sSignatureAlgorithmName: ptr::null_mut(),
                sEncryptAlgorithmName: ptr::null_mut(),
                KeySize: 0,
                SignatureAlgorithm: 0,
                EncryptAlgorithm: 0,
            };
            // SAFETY: SECPKG_ATTR_KEY_INFO fills two pointers and three u32.
            let v = unsafe { query(context, number, zero) }?;
            // SAFETY: on success the package allocated both strings for us.
            let signature_algorithm_name = unsafe { owned_string(v.sSignatureAlgorithmName) };
            // SAFETY: as above.
            let encrypt_algorithm_name = unsafe { owned_string(v.sEncryptAlgorithmName) };
            ContextAttributeValue::KeyInfo {
                signature_algorithm_name,
                encrypt_algorithm_name,
                key_size: v.KeySize,
                signature_algorithm: v.SignatureAlgorithm,
                encrypt_algorithm: v.EncryptAlgorithm,
            }
        }
        ContextAttribute::Flags => {
            // SAFETY: SECPKG_ATTR_FLAGS fills one u32.
            let v = unsafe { query(context, number, SecPkgContext_Flags { Flags: 0 }) }?;
            ContextAttributeValue::Flags(v.Flags)
        }
        // `Other` (and any attribute added later): its structure is unknown here.
        _ => return Err(SecStatus::SEC_E_UNSUPPORTED_FUNCTION),
    })
}
