//! Marshalling between the api's Rust types and secur32's C structures: plain safe Rust,
//! compiled and unit-tested on every target.
//!
//! Going in, every parameter becomes an owned, NUL-terminated buffer of the entry point's string
//! form ([`AcquireCall`]); the C structures that point into those buffers
//! ([`IdentityBuffers::raw`]) are built by value at the moment of the call, so no structure ever
//! points into freed memory. Coming out, [`package_info`], [`cred_handle`] and [`status`] turn
//! what secur32 wrote into api values, keeping every bit.
//!
//! Two kinds of input are refused here rather than passed on, because secur32 would read past
//! our buffers: a `SEC_WINNT_AUTH_IDENTITY` whose length fields count more characters than its
//! buffers hold, and `pAuthData` of an unknown structure ([`AuthData::Opaque`]). Each is answered
//! with the status the simulator gives the same input, so the two backends agree on it.

use std::ffi::c_void;

use sspi_emu_api::{
    AcquireCredentials, AuthData, AuthIdentity, Charset, CredHandle, CtxtHandle, IdentityField, NegotiationState,
    PackageCapabilities, SEC_WINNT_AUTH_IDENTITY_ANSI, SEC_WINNT_AUTH_IDENTITY_UNICODE, SecBuffer, SecBufferDesc,
    SecBufferType, SecHandle, SecPkgInfo, SecStatus, SecString,
};
use windows_sys::Win32::Foundation::LUID;
use windows_sys::Win32::Security::Authentication::Identity::{
    SecBuffer as RawSecBuffer, SecBufferDesc as RawSecBufferDesc,
};
use windows_sys::Win32::Security::Credentials::SecHandle as RawSecHandle;
use windows_sys::Win32::System::Rpc::{SEC_WINNT_AUTH_IDENTITY_A, SEC_WINNT_AUTH_IDENTITY_W};

// ---- Strings ---------------------------------------------------------------------------------

/// The UTF-16 units of `s` up to its first NUL, for a W entry point; `None` for a malformed
/// counted string (which a user-mode W entry point cannot even be given).
///
/// ANSI strings are widened one byte to one code point (ISO-8859-1), as the simulator decodes
/// them. Windows uses the process's ANSI code page instead (CP1252 on an en-US system); the two
/// agree on ASCII, which is all the package names and test principals use.
pub fn wide_units(s: &SecString) -> Option<Vec<u16>> {
    let units: Vec<u16> = match s {
        SecString::Ansi(bytes) => bytes.iter().map(|&b| u16::from(b)).collect(),
        SecString::Wide(units) => units.clone(),
        SecString::Counted(counted) => counted.units()?.to_vec(),
    };
    Some(until_nul(units))
}

/// The bytes of `s` up to its first NUL, for an A entry point; `None` for a malformed counted
/// string. UTF-16 is narrowed one code point to one byte; code points above U+00FF (and unpaired
/// surrogates) become `?`, as the simulator's `SecString::ansi` does.
pub fn ansi_bytes(s: &SecString) -> Option<Vec<u8>> {
    let narrow = |units: &[u16]| -> Vec<u8> {
        char::decode_utf16(units.iter().copied())
            .map(|c| match c {
                Ok(c) if (c as u32) < 256 => c as u8,
                _ => b'?',
            })
            .collect()
    };
    let bytes = match s {
        SecString::Ansi(bytes) => bytes.clone(),
        SecString::Wide(units) => narrow(&until_nul(units.clone())),
        SecString::Counted(counted) => narrow(counted.units()?),
    };
    Some(until_nul(bytes))
}

fn until_nul<T: Default + PartialEq>(mut v: Vec<T>) -> Vec<T> {
    if let Some(end) = v.iter().position(|c| *c == T::default()) {
        v.truncate(end);
    }
    v
}

/// A NUL-terminated string, as an A (`LPSTR`) or W (`LPWSTR`) entry point reads it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ZString {
    /// Bytes, the last one NUL.
    Ansi(Vec<u8>),
    /// UTF-16 units, the last one NUL.
    Wide(Vec<u16>),
}

impl ZString {
    /// `s` for the entry point named by `charset`; `None` for a malformed counted string.
    pub fn new(s: &SecString, charset: Charset) -> Option<Self> {
        Some(match charset {
            Charset::Ansi => Self::ansi(ansi_bytes(s)?),
            Charset::Unicode => Self::wide(wide_units(s)?),
        })
    }

    /// NUL-terminates `bytes` (which must hold no NUL).
    pub fn ansi(mut bytes: Vec<u8>) -> Self {
        bytes.push(0);
        Self::Ansi(bytes)
    }

    /// NUL-terminates `units` (which must hold no NUL).
    pub fn wide(mut units: Vec<u16>) -> Self {
        units.push(0);
        Self::Wide(units)
    }

    /// `PCSTR`: the ANSI string, or NULL for a wide one.
    pub fn as_pcstr(&self) -> *const u8 {
        match self {
            Self::Ansi(b) => b.as_ptr(),
            Self::Wide(_) => std::ptr::null(),
        }
    }

    /// `PCWSTR`: the wide string, or NULL for an ANSI one.
    pub fn as_pcwstr(&self) -> *const u16 {
        match self {
            Self::Wide(u) => u.as_ptr(),
            Self::Ansi(_) => std::ptr::null(),
        }
    }
}

// ---- SEC_WINNT_AUTH_IDENTITY -----------------------------------------------------------------

/// One string field of an identity, in a buffer secur32 may read `length` characters from
/// (`u16` storage, so it is aligned for UTF-16), followed by a NUL character.
#[derive(Clone, PartialEq, Eq)]
struct FieldBuffer {
    buffer: Vec<u16>,
    length: u32,
}

impl FieldBuffer {
    /// Copies `field` (bytes in memory order), or `None` when its length counts more than its
    /// buffer holds for characters of `unit` bytes.
    fn new(field: &IdentityField, unit: usize) -> Option<Self> {
        let needed = (field.length as usize).checked_mul(unit)?;
        if needed > field.bytes.len() {
            return None;
        }
        let mut buffer: Vec<u16> = field
            .bytes
            .chunks(2)
            .map(|pair| u16::from_ne_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]))
            .collect();
        buffer.push(0);
        Some(Self { buffer, length: field.length })
    }

    fn wide(&self) -> *mut u16 {
        self.buffer.as_ptr().cast_mut()
    }

    fn ansi(&self) -> *mut u8 {
        self.buffer.as_ptr().cast::<u8>().cast_mut()
    }
}

impl FieldBuffer {
    /// Overwrites the characters (one of the fields is a password). `black_box` keeps the
    /// compiler from dropping the stores as dead before the memory is freed.
    fn wipe(&mut self) {
        self.buffer.fill(0);
        std::hint::black_box(&self.buffer);
    }
}

impl Drop for FieldBuffer {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// The buffers of a `SEC_WINNT_AUTH_IDENTITY_A/W` for `pAuthData`.
///
/// `Flags` is passed as the caller gave it, and, as on Windows, it (not the entry point) decides
/// how the strings are read; the structure's A or W shape follows it too (`ANSI` set: A).
pub struct IdentityBuffers {
    user: FieldBuffer,
    domain: FieldBuffer,
    password: FieldBuffer,
    flags: u32,
}

/// A `SEC_WINNT_AUTH_IDENTITY_A/W` by value, pointing into an [`IdentityBuffers`].
#[derive(Clone, Copy)]
pub enum RawIdentity {
    /// `Flags` has `SEC_WINNT_AUTH_IDENTITY_ANSI`.
    Ansi(SEC_WINNT_AUTH_IDENTITY_A),
    /// Any other `Flags`.
    Wide(SEC_WINNT_AUTH_IDENTITY_W),
}

impl RawIdentity {
    /// The `pAuthData` pointer to this structure.
    pub fn as_ptr(&self) -> *const c_void {
        match self {
            Self::Ansi(a) => std::ptr::from_ref(a).cast(),
            Self::Wide(w) => std::ptr::from_ref(w).cast(),
        }
    }
}

impl IdentityBuffers {
    /// Copies `identity` into buffers secur32 can read.
    ///
    /// # Errors
    ///
    /// When a length field counts more characters than its buffer holds (secur32 would read past
    /// it): the simulator's answer to the same identity, `SEC_E_UNKNOWN_CREDENTIALS`, or
    /// `SEC_E_INVALID_TOKEN` when `Flags` also names no encoding. Not passed to Windows.
    pub fn new(identity: &AuthIdentity) -> Result<Self, SecStatus> {
        let ansi = identity.flags & SEC_WINNT_AUTH_IDENTITY_ANSI != 0;
        let known = ansi || identity.flags & SEC_WINNT_AUTH_IDENTITY_UNICODE != 0;
        // With no known encoding a package may read either way: size for the wider one.
        let unit = if ansi { 1 } else { 2 };
        let refusal = if known { SecStatus::SEC_E_UNKNOWN_CREDENTIALS } else { SecStatus::SEC_E_INVALID_TOKEN };
        let field = |f: &IdentityField| FieldBuffer::new(f, unit).ok_or(refusal);
        Ok(Self {
            user: field(&identity.user)?,
            domain: field(&identity.domain)?,
            password: field(&identity.password)?,
            flags: identity.flags,
        })
    }

    /// The structure, pointing into `self`: valid while `self` is alive and unchanged.
    pub fn raw(&self) -> RawIdentity {
        if self.flags & SEC_WINNT_AUTH_IDENTITY_ANSI != 0 {
            RawIdentity::Ansi(SEC_WINNT_AUTH_IDENTITY_A {
                User: self.user.ansi(),
                UserLength: self.user.length,
                Domain: self.domain.ansi(),
                DomainLength: self.domain.length,
                Password: self.password.ansi(),
                PasswordLength: self.password.length,
                Flags: self.flags,
            })
        } else {
            RawIdentity::Wide(SEC_WINNT_AUTH_IDENTITY_W {
                User: self.user.wide(),
                UserLength: self.user.length,
                Domain: self.domain.wide(),
                DomainLength: self.domain.length,
                Password: self.password.wide(),
                PasswordLength: self.password.length,
                Flags: self.flags,
            })
        }
    }
}

// ---- AcquireCredentialsHandle ----------------------------------------------------------------

/// The parameters of one `AcquireCredentialsHandleA/W` call, marshalled.
///
/// `pGetKeyFn` / `pvGetKeyArgument` are not passed: Microsoft documents them as "not used, set to
/// NULL" for the NTLM, Negotiate, Kerberos and Schannel packages, and calling a Rust closure from
/// secur32 would need a C trampoline that writes a key secur32 frees with an allocator we do not
/// know. The call is made with NULL, which is what those packages expect.
pub struct AcquireCall {
    /// The entry point: `AcquireCredentialsHandleA` or `...W`.
    pub charset: Charset,
    /// `pszPrincipal`.
    pub principal: Option<ZString>,
    /// `pszPackage`.
    pub package: ZString,
    /// `fCredentialUse`.
    pub credential_use: u32,
    /// `pvLogonId`.
    pub logon_id: Option<LUID>,
    /// `pAuthData`.
    pub identity: Option<IdentityBuffers>,
}

impl AcquireCall {
    /// Marshals `args`.
    ///
    /// A malformed counted package name becomes the empty name (the simulator's reading, giving
    /// `SEC_E_SECPKG_NOT_FOUND`); a malformed counted principal becomes NULL (the simulator
    /// ignores it too). The async entry points refuse both at queue time instead (the
    /// simulator's engine checks them before anything runs).
    ///
    /// # Errors
    ///
    /// Refusals of [`IdentityBuffers::new`]; `SEC_E_UNKNOWN_CREDENTIALS` for
    /// [`AuthData::Opaque`] (an unknown structure secur32 would read pointers from), the
    /// simulator's answer. Neither reaches Windows.
    pub fn new(args: &AcquireCredentials) -> Result<Self, SecStatus> {
        let charset = args.charset;
        let empty = match charset {
            Charset::Ansi => ZString::ansi(Vec::new()),
            Charset::Unicode => ZString::wide(Vec::new()),
        };
        let identity = match &args.auth_data {
            None => None,
            Some(AuthData::Identity(id)) => Some(IdentityBuffers::new(id)?),
            Some(_) => return Err(SecStatus::SEC_E_UNKNOWN_CREDENTIALS),
        };
        Ok(Self {
            charset,
            principal: args.principal.as_ref().and_then(|p| ZString::new(p, charset)),
            package: ZString::new(&args.package, charset).unwrap_or(empty),
            credential_use: args.credential_use.0,
            logon_id: args.logon_id.map(|l| LUID { LowPart: l.low_part, HighPart: l.high_part }),
            identity,
        })
    }

    /// `pszPrincipal` as the entry point takes it (`PCSTR` or `PCWSTR`), or NULL.
    pub fn principal_ptr(&self) -> *const c_void {
        self.principal.as_ref().map_or(std::ptr::null(), string_ptr)
    }

    /// `pszPackage` as the entry point takes it.
    pub fn package_ptr(&self) -> *const c_void {
        string_ptr(&self.package)
    }

    /// `pvLogonId`, or NULL.
    pub fn logon_id_ptr(&self) -> *const c_void {
        self.logon_id.as_ref().map_or(std::ptr::null(), |l| std::ptr::from_ref(l).cast())
    }
}

fn string_ptr(s: &ZString) -> *const c_void {
    match s {
        ZString::Ansi(b) => b.as_ptr().cast(),
        ZString::Wide(u) => u.as_ptr().cast(),
    }
}

// ---- What comes back -------------------------------------------------------------------------

/// `SECURITY_STATUS` from the `HRESULT` a secur32 function returned: every bit kept, so an
/// `NTSTATUS` that leaks out (Wine does this, docs/backend-win.md) stays visible.
pub const fn status(hr: i32) -> SecStatus {
    SecStatus(hr)
}

/// The api handle of a handle secur32 wrote.
pub const fn cred_handle(raw: RawSecHandle) -> CredHandle {
    CredHandle(SecHandle { dw_lower: raw.dwLower, dw_upper: raw.dwUpper })
}

/// The C handle of an api handle.
pub const fn raw_handle(handle: CredHandle) -> RawSecHandle {
    RawSecHandle { dwLower: handle.0.dw_lower, dwUpper: handle.0.dw_upper }
}

/// The api handle of a context handle secur32 wrote.
pub const fn ctxt_handle(raw: RawSecHandle) -> CtxtHandle {
    CtxtHandle(SecHandle { dw_lower: raw.dwLower, dw_upper: raw.dwUpper })
}

/// The C handle of an api context handle.
pub const fn raw_ctxt(handle: CtxtHandle) -> RawSecHandle {
    RawSecHandle { dwLower: handle.0.dw_lower, dwUpper: handle.0.dw_upper }
}

/// `NegotiationState` of `SecPkgContext_NegotiationInfo`; `None` for a value `sspi.h` does not
/// name.
pub const fn negotiation_state(value: u32) -> Option<NegotiationState> {
    match value {
        0 => Some(NegotiationState::Complete),
        1 => Some(NegotiationState::Optimistic),
        2 => Some(NegotiationState::InProgress),
        _ => None,
    }
}

// ---- SecBufferDesc ---------------------------------------------------------------------------

/// A `SecBufferDesc` and its buffers, in memory secur32 may read and write: each buffer's bytes
/// are a `Vec` of their own, and `pvBuffer` points at it (NULL for an empty buffer, as a C caller
/// passes `SECBUFFER_EMPTY` or an output token to be allocated).
///
/// After the call, [`Buffers::finish`] reads back what the package wrote: each buffer's type and
/// `cbBuffer`, and where `pvBuffer` now points (see [`Written`]).
pub struct Buffers {
    version: u32,
    data: Vec<Vec<u8>>,
    raw: Vec<RawSecBuffer>,
}

/// Where a buffer's `pvBuffer` points after the call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Written {
    /// NULL, or a length of 0.
    Nothing,
    /// Inside one of our buffers (the buffer itself, or, as `DecryptMessage` does with
    /// `SECBUFFER_STREAM`, a part of another one): `len` bytes at `offset` of buffer `buffer`.
    Ours {
        /// Index of the buffer pointed into.
        buffer: usize,
        /// Byte offset in it.
        offset: usize,
        /// Bytes (`cbBuffer`, clamped to what the buffer holds).
        len: usize,
    },
    /// Memory the package allocated (`*_REQ_ALLOCATE_MEMORY`): to be copied and freed with
    /// `FreeContextBuffer`.
    Foreign {
        /// `pvBuffer`.
        ptr: *mut c_void,
        /// `cbBuffer`.
        len: usize,
    },
}

impl Buffers {
    /// Copies `desc` into buffers secur32 can use.
    pub fn new(desc: &SecBufferDesc) -> Self {
        let mut data: Vec<Vec<u8>> = desc.buffers.iter().map(|b| b.data.clone()).collect();
        let raw = desc
            .buffers
            .iter()
            .zip(data.iter_mut())
            .map(|(b, d)| RawSecBuffer {
                cbBuffer: u32::try_from(d.len()).unwrap_or(u32::MAX),
                BufferType: b.buffer_type.0,
                pvBuffer: if d.is_empty() { std::ptr::null_mut() } else { d.as_mut_ptr().cast() },
            })
            .collect();
        Self { version: desc.version, data, raw }
    }

    /// The descriptor, pointing into `self`: valid while `self` is alive and not otherwise used.
    pub fn desc(&mut self) -> RawSecBufferDesc {
        RawSecBufferDesc {
            ulVersion: self.version,
            cBuffers: u32::try_from(self.raw.len()).unwrap_or(u32::MAX),
            pBuffers: if self.raw.is_empty() { std::ptr::null_mut() } else { self.raw.as_mut_ptr() },
        }
    }

    /// Where buffer `i`'s `pvBuffer` points now.
    pub fn written(&self, i: usize) -> Written {
        let Some(raw) = self.raw.get(i) else { return Written::Nothing };
        let (ptr, len) = (raw.pvBuffer, raw.cbBuffer as usize);
        if ptr.is_null() || len == 0 {
            return Written::Nothing;
        }
        let at = ptr as usize;
        for (j, d) in self.data.iter().enumerate() {
            let start = d.as_ptr() as usize;
            if !d.is_empty() && at >= start && at < start + d.len() {
                let offset = at - start;
                return Written::Ours { buffer: j, offset, len: len.min(d.len() - offset) };
            }
        }
        Written::Foreign { ptr, len }
    }

    /// The descriptor as the package left it. `foreign` copies (and, if the caller says so,
    /// frees) a buffer the package allocated.
    pub fn finish(self, mut foreign: impl FnMut(*mut c_void, usize) -> Vec<u8>) -> SecBufferDesc {
        let written: Vec<Written> = (0..self.raw.len()).map(|i| self.written(i)).collect();
        let buffers = written
            .iter()
            .zip(&self.raw)
            .map(|(w, raw)| {
                let data = match *w {
                    Written::Nothing => Vec::new(),
                    Written::Ours { buffer, offset, len } => self.data[buffer][offset..offset + len].to_vec(),
                    Written::Foreign { ptr, len } => foreign(ptr, len),
                };
                SecBuffer { buffer_type: SecBufferType(raw.BufferType), data }
            })
            .collect();
        SecBufferDesc { version: self.version, buffers }
    }
}

/// `SecPkgInfoW` as the api's [`SecPkgInfo`]; `name` and `comment` are the UTF-16 units read up
/// to their NUL (unpaired surrogates become U+FFFD).
pub fn package_info(
    capabilities: u32,
    version: u16,
    rpc_id: u16,
    max_token: u32,
    name: &[u16],
    comment: &[u16],
) -> SecPkgInfo {
    SecPkgInfo {
        capabilities: PackageCapabilities(capabilities),
        version,
        rpc_id,
        max_token,
        name: String::from_utf16_lossy(name),
        comment: String::from_utf16_lossy(comment),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sspi_emu_api::{CredentialUse, Luid, UnicodeString};

    use super::*;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn strings_are_nul_terminated_in_the_entry_points_form() {
        assert_eq!(ZString::new(&SecString::wide("NTLM"), Charset::Unicode), Some(ZString::Wide(w("NTLM\0"))));
        assert_eq!(ZString::new(&SecString::wide("NTLM"), Charset::Ansi), Some(ZString::Ansi(b"NTLM\0".to_vec())));
        assert_eq!(ZString::new(&SecString::ansi("Kerberos"), Charset::Unicode), Some(ZString::Wide(w("Kerberos\0"))));
        assert_eq!(
            ZString::new(&SecString::counted("Negotiate"), Charset::Unicode),
            Some(ZString::Wide(w("Negotiate\0")))
        );
        // A C string ends at its first NUL, whatever follows.
        assert_eq!(ZString::new(&SecString::Wide(w("NT\0LM")), Charset::Unicode), Some(ZString::Wide(w("NT\0"))));
        assert_eq!(
            ZString::new(&SecString::Ansi(b"NT\0LM".to_vec()), Charset::Ansi),
            Some(ZString::Ansi(b"NT\0".to_vec()))
        );
        // Latin-1 round trip; beyond it, `?`.
        assert_eq!(ansi_bytes(&SecString::wide("caf\u{e9}\u{263a}")), Some(b"caf\xe9?".to_vec()));
        assert_eq!(wide_units(&SecString::Ansi(b"caf\xe9".to_vec())), Some(w("caf\u{e9}")));
        assert_eq!(ansi_bytes(&SecString::Wide(vec![0xD800, 0x41])), Some(b"?A".to_vec()));
    }

    #[test]
    fn malformed_counted_strings_have_no_c_form() {
        let odd = SecString::Counted(UnicodeString::from_raw(3, 8, w("NTLM")));
        assert_eq!(ZString::new(&odd, Charset::Unicode), None);
        assert_eq!(ZString::new(&odd, Charset::Ansi), None);
        let call = AcquireCall::new(&AcquireCredentials { package: odd.clone(), ..args("NTLM") }).unwrap();
        assert_eq!(call.package, ZString::Wide(vec![0]), "the sync call asks for the empty name");
        let mut a = args("NTLM");
        a.principal = Some(odd);
        assert!(AcquireCall::new(&a).unwrap().principal.is_none());
    }

    fn args(package: &str) -> AcquireCredentials {
        AcquireCredentials::new(package, CredentialUse::OUTBOUND)
    }

    #[test]
    fn pointers_follow_the_entry_point() {
        let call = AcquireCall::new(&args("NTLM").principal("alice")).unwrap();
        assert_eq!(call.package_ptr(), call.package.as_pcwstr().cast());
        assert!(call.package.as_pcstr().is_null());
        assert!(!call.principal_ptr().is_null());
        assert!(call.logon_id_ptr().is_null());
        let call = AcquireCall::new(&AcquireCredentials::new_ansi("NTLM", CredentialUse::OUTBOUND)).unwrap();
        assert_eq!(call.charset, Charset::Ansi);
        assert_eq!(call.package_ptr(), call.package.as_pcstr().cast());
        assert!(call.principal_ptr().is_null());
        let call = AcquireCall::new(&args("NTLM").logon_id(Luid::from_u64(0x1_0000_03e7))).unwrap();
        let luid = call.logon_id.unwrap();
        assert_eq!((luid.LowPart, luid.HighPart), (0x3e7, 1));
        assert_eq!(call.logon_id_ptr(), std::ptr::from_ref(call.logon_id.as_ref().unwrap()).cast());
    }

    #[test]
    fn unicode_identity_becomes_a_w_structure_over_its_own_buffers() {
        let id = AuthIdentity::unicode("alice", "CONTOSO", "Passw0rd!");
        let buffers = IdentityBuffers::new(&id).unwrap();
        let RawIdentity::Wide(raw) = buffers.raw() else { panic!("a W structure") };
        assert_eq!((raw.UserLength, raw.DomainLength, raw.PasswordLength), (5, 7, 9));
        assert_eq!(raw.Flags, SEC_WINNT_AUTH_IDENTITY_UNICODE);
        assert_eq!(raw.User.cast_const(), buffers.user.buffer.as_ptr());
        assert_eq!(buffers.user.buffer, w("alice\0"));
        assert_eq!(buffers.password.buffer, w("Passw0rd!\0"));
        assert_eq!(raw.User as usize % 2, 0, "UTF-16 is aligned");
    }

    #[test]
    fn ansi_identity_becomes_an_a_structure_with_the_same_bytes() {
        let id = AuthIdentity::ansi("bob", "", "pw");
        let buffers = IdentityBuffers::new(&id).unwrap();
        let RawIdentity::Ansi(raw) = buffers.raw() else { panic!("an A structure") };
        assert_eq!((raw.UserLength, raw.DomainLength, raw.PasswordLength, raw.Flags), (3, 0, 2, 1));
        let bytes: Vec<u8> = buffers.user.buffer.iter().flat_map(|u| u.to_ne_bytes()).collect();
        assert_eq!(&bytes[..4], b"bob\0", "memory holds the caller's bytes, then NUL");
        assert_eq!(buffers.domain.buffer, vec![0], "an empty field is an empty C string, not NULL");
        assert!(!raw.Domain.is_null());
    }

    #[test]
    fn flags_not_the_entry_point_pick_the_structure() {
        // An ANSI identity given to the W entry point is still read as ANSI (DOC-AUTHID).
        let a = AcquireCall::new(&args("NTLM").identity(AuthIdentity::ansi("bob", "D", "pw"))).unwrap();
        assert_eq!(a.charset, Charset::Unicode);
        assert!(matches!(a.identity.as_ref().unwrap().raw(), RawIdentity::Ansi(_)));
        // Both bits: read as ANSI, as msv1_0 tests the ANSI bit first.
        let mut both = AuthIdentity::ansi("bob", "D", "pw");
        both.flags |= SEC_WINNT_AUTH_IDENTITY_UNICODE;
        assert!(matches!(IdentityBuffers::new(&both).unwrap().raw(), RawIdentity::Ansi(_)));
    }

    #[test]
    fn overrunning_lengths_are_refused_with_the_simulators_status() {
        let mut id = AuthIdentity::unicode("bob", "D", "pw");
        id.user.length = 40;
        assert_eq!(IdentityBuffers::new(&id).err(), Some(SecStatus::SEC_E_UNKNOWN_CREDENTIALS));
        let mut id = AuthIdentity::ansi("bob", "D", "pw");
        id.password.length = 3;
        assert_eq!(IdentityBuffers::new(&id).err(), Some(SecStatus::SEC_E_UNKNOWN_CREDENTIALS));
        id.password.length = u32::MAX;
        assert_eq!(IdentityBuffers::new(&id).err(), Some(SecStatus::SEC_E_UNKNOWN_CREDENTIALS));
        // No encoding named: forwarded when the buffers hold the wider reading, else refused as
        // the simulator refuses bad flags.
        let mut id = AuthIdentity::ansi("bob", "D", "pw");
        id.flags = 0;
        assert_eq!(IdentityBuffers::new(&id).err(), Some(SecStatus::SEC_E_INVALID_TOKEN));
        let mut id = AuthIdentity::unicode("bob", "D", "pw");
        id.flags = 0;
        assert!(matches!(IdentityBuffers::new(&id).unwrap().raw(), RawIdentity::Wide(_)));
    }

    #[test]
    fn opaque_auth_data_is_not_passed_on() {
        let mut a = args("NTLM");
        a.auth_data = Some(AuthData::Opaque(vec![1, 2, 3]));
        assert_eq!(AcquireCall::new(&a).err(), Some(SecStatus::SEC_E_UNKNOWN_CREDENTIALS));
    }

    #[test]
    fn field_buffers_are_wiped_before_they_are_freed() {
        let mut field = FieldBuffer::new(&AuthIdentity::unicode("u", "d", "secret").password, 2).unwrap();
        assert_eq!(field.buffer, w("secret\0"));
        field.wipe();
        assert!(field.buffer.iter().all(|&u| u == 0), "drop runs this wipe");
        assert_eq!(field.buffer.len(), 7);
    }

    #[test]
    fn buffers_point_at_their_own_bytes_and_empty_ones_are_null() {
        let desc =
            SecBufferDesc::new(vec![SecBuffer::token(vec![1, 2, 3]), SecBuffer::empty(), SecBuffer::output_token(8)]);
        let mut b = Buffers::new(&desc);
        let raw = b.desc();
        assert_eq!((raw.ulVersion, raw.cBuffers), (0, 3));
        assert_eq!(raw.pBuffers, b.raw.as_mut_ptr());
        assert_eq!((b.raw[0].cbBuffer, b.raw[0].BufferType), (3, 2));
        assert_eq!(b.raw[0].pvBuffer.cast_const(), b.data[0].as_ptr().cast());
        assert!(b.raw[1].pvBuffer.is_null());
        assert_eq!(b.raw[2].cbBuffer, 8);
        // Nothing written: the descriptor comes back as it went.
        assert_eq!(b.finish(|_, _| unreachable!()), desc);
    }

    #[test]
    fn what_the_package_wrote_is_read_back() {
        let desc = SecBufferDesc::new(vec![
            SecBuffer::new(SecBufferType(10), b"HEADERpayloadTRAILER".to_vec()), // SECBUFFER_STREAM
            SecBuffer::empty(),
            SecBuffer::output_token(16),
            SecBuffer::new(SecBufferType::TOKEN, Vec::new()),
        ]);
        let mut b = Buffers::new(&desc);
        // A token shorter than its buffer; DATA pointing into the stream (DecryptMessage);
        // an allocated token (ALLOCATE_MEMORY).
        b.data[2][..3].copy_from_slice(b"tok");
        b.raw[2].cbBuffer = 3;
        b.raw[1] = RawSecBuffer { cbBuffer: 7, BufferType: 1, pvBuffer: b.data[0][6..].as_mut_ptr().cast() };
        let mut allocated = *b"package-owned";
        b.raw[3] = RawSecBuffer { cbBuffer: 13, BufferType: 2, pvBuffer: allocated.as_mut_ptr().cast() };
        assert_eq!(b.written(1), Written::Ours { buffer: 0, offset: 6, len: 7 });
        assert!(matches!(b.written(3), Written::Foreign { len: 13, .. }));
        let mut freed = 0;
        let back = b.finish(|_, len| {
            freed += 1;
            vec![b'x'; len]
        });
        assert_eq!(freed, 1, "the allocated buffer is handed over once");
        assert_eq!(back.buffers[1], SecBuffer::new(SecBufferType::DATA, b"payload".to_vec()));
        assert_eq!(back.buffers[2].data, b"tok");
        assert_eq!(back.buffers[3].data, vec![b'x'; 13]);
        assert_eq!(back.buffers[0].data, b"HEADERpayloadTRAILER");
    }

    #[test]
    fn an_overlong_length_is_clamped_to_our_buffer() {
        let mut b = Buffers::new(&SecBufferDesc::new(vec![SecBuffer::output_token(4)]));
        b.raw[0].cbBuffer = 4000;
        assert_eq!(b.written(0), Written::Ours { buffer: 0, offset: 0, len: 4 });
    }

    #[test]
    fn negotiation_states_follow_sspi_h() {
        assert_eq!(negotiation_state(0), Some(NegotiationState::Complete));
        assert_eq!(negotiation_state(2), Some(NegotiationState::InProgress));
        assert_eq!(negotiation_state(7), None);
    }

    #[test]
    fn what_comes_back_keeps_every_bit() {
        assert_eq!(status(0), SecStatus::SEC_E_OK);
        assert_eq!(status(0x8009_0305_u32 as i32), SecStatus::SEC_E_SECPKG_NOT_FOUND);
        assert_eq!(status(0xC000_0001_u32 as i32).as_u32(), 0xC000_0001, "an NTSTATUS stays as it came");
        let raw = RawSecHandle { dwLower: 0x1234, dwUpper: usize::MAX };
        assert_eq!(cred_handle(raw), CredHandle(SecHandle { dw_lower: 0x1234, dw_upper: usize::MAX }));
        let back = raw_handle(cred_handle(raw));
        assert_eq!((back.dwLower, back.dwUpper), (0x1234, usize::MAX));
        let info = package_info(0x0008_2B37, 1, 10, 2888, &w("NTLM"), &w("NTLM Security Package"));
        assert_eq!(info.name, "NTLM");
        assert_eq!(info.comment, "NTLM Security Package");
        assert_eq!((info.capabilities.0, info.version, info.rpc_id, info.max_token), (0x0008_2B37, 1, 10, 2888));
        assert_eq!(package_info(0, 0, 0, 0, &[0xD800], &[]).name, "\u{fffd}");
    }
}
