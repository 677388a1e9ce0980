//! SSPI handles: `SecHandle`, `CredHandle`, `CtxtHandle`, and the async context handle.
//!
//! Handles are opaque pairs of pointer-sized words \[D, DOC-HANDLES\]. The simulator fills them
//! from generational tables, never from pointers, so a stale or double-freed handle is detected
//! and answered with `SEC_E_INVALID_HANDLE` instead of undefined behaviour.

use std::fmt;

use serde::Serialize;

/// `SecHandle`: `{ ULONG_PTR dwLower; ULONG_PTR dwUpper; }` \[H\] (spec §9.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[repr(C)]
pub struct SecHandle {
    /// `dwLower`.
    pub dw_lower: usize,
    /// `dwUpper`.
    pub dw_upper: usize,
}

impl SecHandle {
    /// The value `SecInvalidateHandle` writes: both words `(ULONG_PTR)(INT_PTR)-1`. Never issued.
    pub const INVALID: SecHandle = SecHandle { dw_lower: usize::MAX, dw_upper: usize::MAX };

    /// `SecIsValidHandle`: false only for the invalidated value.
    pub const fn is_valid(self) -> bool {
        !(self.dw_lower == usize::MAX && self.dw_upper == usize::MAX)
    }
}

impl fmt::Debug for SecHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{0x{:x}, 0x{:x}}}", self.dw_lower, self.dw_upper)
    }
}

/// `CredHandle`: a handle to credentials from `AcquireCredentialsHandle`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[repr(transparent)]
pub struct CredHandle(pub SecHandle);

/// `CtxtHandle`: a handle to a security context.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[repr(transparent)]
pub struct CtxtHandle(pub SecHandle);

impl fmt::Debug for CredHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredHandle{:?}", self.0)
    }
}

impl fmt::Debug for CtxtHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CtxtHandle{:?}", self.0)
    }
}

/// An `SspiAsyncContext*` as a value: the handle of one async call context.
///
/// On Windows it is a pointer to a 0xF0-byte kernel structure (spec §3.1); here it is an opaque
/// generational id, so using a freed context is detected. [`AsyncContextHandle::NULL`] stands
/// for the NULL pointer, which every async function accepts and rejects as Windows does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[repr(transparent)]
pub struct AsyncContextHandle(pub u64);

impl AsyncContextHandle {
    /// The NULL context pointer.
    pub const NULL: AsyncContextHandle = AsyncContextHandle(0);

    /// True for [`AsyncContextHandle::NULL`].
    pub const fn is_null(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for AsyncContextHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_null() { f.write_str("AsyncContext(NULL)") } else { write!(f, "AsyncContext(0x{:x})", self.0) }
    }
}

impl fmt::Display for AsyncContextHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidated_handle_is_the_only_invalid_value() {
        assert!(!SecHandle::INVALID.is_valid());
        assert!(SecHandle { dw_lower: usize::MAX, dw_upper: 0 }.is_valid());
        assert!(SecHandle::default().is_valid());
    }

    #[test]
    fn handle_layout_matches_sechandle() {
        assert_eq!(std::mem::size_of::<SecHandle>(), 2 * std::mem::size_of::<usize>());
        assert_eq!(std::mem::size_of::<CredHandle>(), std::mem::size_of::<SecHandle>());
    }
}
