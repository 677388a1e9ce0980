//! `SecBuffer` and `SecBufferDesc`: the token and message buffers of the context calls.
//!
//! A buffer's `data` is what `pvBuffer` points at and `data.len()` is `cbBuffer`. An output
//! buffer the caller supplies is `data = vec![0; capacity]`; the package writes the token and
//! shortens `data` to its length. With `ISC_REQ_ALLOCATE_MEMORY` the caller passes an empty
//! buffer and the package allocates (there is no `FreeContextBuffer` to call in Rust: the `Vec`
//! is freed when dropped).

use std::fmt;

/// `BufferType` of a `SecBuffer`: a type in the low bits, attribute flags in the high nibble
/// (`sspi.h` `SECBUFFER_*`) \[H\] (spec §7.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SecBufferType(pub u32);

macro_rules! buffer_types {
    ($($name:ident = $value:literal;)*) => {
        impl SecBufferType {
            $(
                #[doc = concat!("`SECBUFFER_", stringify!($name), "`.")]
                pub const $name: SecBufferType = SecBufferType($value);
            )*

            /// The `SECBUFFER_*` name of the type part, if it has one.
            pub fn name(self) -> Option<&'static str> {
                match self.base().0 {
                    $($value => Some(concat!("SECBUFFER_", stringify!($name))),)*
                    _ => None,
                }
            }
        }
    };
}

buffer_types! {
    EMPTY = 0;
    DATA = 1;
    TOKEN = 2;
    PKG_PARAMS = 3;
    MISSING = 4;
    EXTRA = 5;
    STREAM_TRAILER = 6;
    STREAM_HEADER = 7;
    NEGOTIATION_INFO = 8;
    PADDING = 9;
    STREAM = 10;
    MECHLIST = 11;
    MECHLIST_SIGNATURE = 12;
    TARGET = 13;
    CHANNEL_BINDINGS = 14;
    CHANGE_PASS_RESPONSE = 15;
    TARGET_HOST = 16;
    ALERT = 17;
    APPLICATION_PROTOCOLS = 18;
    SRTP_PROTECTION_PROFILES = 19;
    SRTP_MASTER_KEY_IDENTIFIER = 20;
    TOKEN_BINDING = 21;
    PRESHARED_KEY = 22;
    PRESHARED_KEY_IDENTITY = 23;
    DTLS_MTU = 24;
    SEND_GENERIC_TLS_EXTENSION = 25;
    SUBSCRIBE_GENERIC_TLS_EXTENSION = 26;
    FLAGS = 27;
    TRAFFIC_SECRETS = 28;
    CERTIFICATE_REQUEST_CONTEXT = 29;
    CHANNEL_BINDINGS_RESULT = 30;
}

impl SecBufferType {
    /// `SECBUFFER_ATTRMASK`: the attribute bits.
    pub const ATTRMASK: u32 = 0xF000_0000;
    /// `SECBUFFER_READONLY`: the buffer is read-only, not checksummed.
    pub const READONLY: u32 = 0x8000_0000;
    /// `SECBUFFER_READONLY_WITH_CHECKSUM`: read-only, covered by the signature.
    pub const READONLY_WITH_CHECKSUM: u32 = 0x1000_0000;
    /// `SECBUFFER_RESERVED`.
    pub const RESERVED: u32 = 0x6000_0000;

    /// The type without its attribute bits.
    pub const fn base(self) -> SecBufferType {
        SecBufferType(self.0 & !Self::ATTRMASK)
    }

    /// The type with `attributes` (`READONLY`, ...) added.
    pub const fn with(self, attributes: u32) -> SecBufferType {
        SecBufferType(self.0 | attributes)
    }

    /// True when `SECBUFFER_READONLY` or `SECBUFFER_READONLY_WITH_CHECKSUM` is set.
    pub const fn is_readonly(self) -> bool {
        self.0 & (Self::READONLY | Self::READONLY_WITH_CHECKSUM) != 0
    }
}

impl fmt::Debug for SecBufferType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n)?,
            None => write!(f, "0x{:X}", self.base().0)?,
        }
        if self.0 & Self::READONLY != 0 {
            f.write_str(" | SECBUFFER_READONLY")?;
        }
        if self.0 & Self::READONLY_WITH_CHECKSUM != 0 {
            f.write_str(" | SECBUFFER_READONLY_WITH_CHECKSUM")?;
        }
        if self.0 & Self::RESERVED != 0 {
            write!(f, " | 0x{:X}", self.0 & Self::RESERVED)?;
        }
        Ok(())
    }
}

/// `SecBuffer`: `{ cbBuffer, BufferType, pvBuffer }`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecBuffer {
    /// `BufferType`.
    pub buffer_type: SecBufferType,
    /// The bytes `pvBuffer` points at; `data.len()` is `cbBuffer`.
    pub data: Vec<u8>,
}

impl SecBuffer {
    /// A buffer of `buffer_type` holding `data`.
    pub fn new(buffer_type: SecBufferType, data: impl Into<Vec<u8>>) -> Self {
        Self { buffer_type, data: data.into() }
    }

    /// An input `SECBUFFER_TOKEN`.
    pub fn token(data: impl Into<Vec<u8>>) -> Self {
        Self::new(SecBufferType::TOKEN, data)
    }

    /// An output `SECBUFFER_TOKEN` of `capacity` bytes supplied by the caller.
    pub fn output_token(capacity: usize) -> Self {
        Self::new(SecBufferType::TOKEN, vec![0; capacity])
    }

    /// A `SECBUFFER_EMPTY` buffer (`cbBuffer` 0, `pvBuffer` NULL).
    pub fn empty() -> Self {
        Self::new(SecBufferType::EMPTY, Vec::new())
    }
}

impl fmt::Debug for SecBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecBuffer({:?}, {} bytes)", self.buffer_type, self.data.len())
    }
}

/// `SecBufferDesc`: `{ ulVersion, cBuffers, pBuffers }`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SecBufferDesc {
    /// `ulVersion`: `SECBUFFER_VERSION` (0).
    pub version: u32,
    /// The buffers; `buffers.len()` is `cBuffers`.
    pub buffers: Vec<SecBuffer>,
}

impl SecBufferDesc {
    /// `SECBUFFER_VERSION`.
    pub const VERSION: u32 = 0;

    /// A version-0 descriptor of `buffers`.
    pub fn new(buffers: Vec<SecBuffer>) -> Self {
        Self { version: Self::VERSION, buffers }
    }

    /// The first buffer of `buffer_type` (attribute bits ignored).
    pub fn find(&self, buffer_type: SecBufferType) -> Option<&SecBuffer> {
        self.buffers.iter().find(|b| b.buffer_type.base() == buffer_type)
    }

    /// The first buffer of `buffer_type`, mutably.
    pub fn find_mut(&mut self, buffer_type: SecBufferType) -> Option<&mut SecBuffer> {
        self.buffers.iter_mut().find(|b| b.buffer_type.base() == buffer_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_attributes_follow_sspi_h() {
        let t = SecBufferType::DATA.with(SecBufferType::READONLY_WITH_CHECKSUM);
        assert_eq!(t.0, 0x1000_0001);
        assert_eq!(t.base(), SecBufferType::DATA);
        assert!(t.is_readonly());
        assert_eq!(format!("{t:?}"), "SECBUFFER_DATA | SECBUFFER_READONLY_WITH_CHECKSUM");
        assert_eq!(SecBufferType::CHANNEL_BINDINGS.0, 14);
        assert_eq!(SecBufferType(0x99).name(), None);
    }

    #[test]
    fn find_ignores_attribute_bits() {
        let d = SecBufferDesc::new(vec![
            SecBuffer::new(SecBufferType::DATA.with(SecBufferType::READONLY), b"hdr".to_vec()),
            SecBuffer::token(vec![1, 2]),
        ]);
        assert_eq!(d.find(SecBufferType::DATA).map(|b| b.data.as_slice()), Some(&b"hdr"[..]));
        assert_eq!(d.find(SecBufferType::PADDING), None);
        assert_eq!(d.version, 0);
    }
}
