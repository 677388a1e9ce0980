//! Why an NTLM message could not be decoded or a signature did not verify.

use std::fmt;

use super::NegotiateFlags;
use super::av_pairs::AvId;
use super::messages::MessageType;

/// Why an NTLM operation failed: decoding a message or an AV_PAIR list, or checking a
/// signature.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before a fixed-size part.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed from the start of the buffer.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The first eight bytes are not `"NTLMSSP\0"`.
    BadSignature([u8; 8]),
    /// The `MessageType` field is not the one being decoded.
    WrongMessageType {
        /// The type the decoder expects.
        expected: MessageType,
        /// The value found.
        found: MessageType,
    },
    /// A payload field (`Len`, `MaxLen`, `BufferOffset`) points outside the buffer.
    FieldOutOfBounds {
        /// The field, as MS-NLMP names it (`TargetNameFields`, ...).
        field: &'static str,
        /// `BufferOffset`.
        offset: u32,
        /// `Len`.
        len: u16,
        /// The length of the whole message.
        buffer_len: usize,
    },
    /// A non-empty payload field points into the fixed-size header.
    FieldOverlapsHeader {
        /// The field, as MS-NLMP names it.
        field: &'static str,
        /// `BufferOffset`.
        offset: u32,
        /// Where the header ends.
        header_len: usize,
    },
    /// An AV_PAIR is malformed (its value has the wrong size or is not UTF-16LE).
    BadAvPair {
        /// The `AvId`.
        id: AvId,
        /// The `AvLen`.
        len: u16,
        /// What is wrong.
        reason: &'static str,
    },
    /// An AV_PAIR's `AvLen` runs past the end of the list.
    AvPairOutOfBounds {
        /// The `AvId`.
        id: AvId,
        /// The `AvLen`.
        len: u16,
        /// Bytes left in the list after the AV_PAIR header.
        available: usize,
    },
    /// The AV_PAIR list does not end with `MsvAvEOL`.
    MissingAvEol,
    /// Bytes follow `MsvAvEOL` where none may.
    TrailingBytes {
        /// What was being decoded.
        what: &'static str,
        /// How many bytes follow.
        count: usize,
    },
    /// A text field is not valid UTF-16LE (odd length or unpaired surrogate).
    BadString {
        /// The field.
        field: &'static str,
    },
    /// An NTLMv2 response is shorter than its fixed part or has a bad `RespType`.
    BadNtlmv2Response(&'static str),
    /// A message signature (`NTLMSSP_MESSAGE_SIGNATURE`) does not match the message.
    SignatureMismatch,
    /// A message signature is not 16 bytes or its `Version` is not 1.
    BadMessageSignature,
    /// A signature's sequence number is not the one expected (a replayed, dropped or
    /// reordered message).
    OutOfSequence {
        /// The inbound sequence number expected.
        expected: u32,
        /// The one the signature carries.
        found: u32,
    },
    /// A payload field is too long for its 16-bit `Len` (encoding only).
    FieldTooLong {
        /// The field, as MS-NLMP names it.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// The peer's negotiate flags leave no usable choice (handshake only).
    UnacceptableFlags {
        /// The peer's flags.
        flags: NegotiateFlags,
        /// What is missing.
        reason: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { what, needed, available } => {
                write!(f, "truncated {what}: {needed} bytes needed, {available} available")
            }
            Self::BadSignature(s) => write!(f, "bad signature {s:02x?}, expected \"NTLMSSP\\0\""),
            Self::WrongMessageType { expected, found } => {
                write!(f, "wrong message type {found}, expected {expected}")
            }
            Self::FieldOutOfBounds { field, offset, len, buffer_len } => {
                write!(f, "{field} out of bounds: offset {offset} + length {len} > message length {buffer_len}")
            }
            Self::FieldOverlapsHeader { field, offset, header_len } => {
                write!(f, "{field} at offset {offset} overlaps the {header_len}-byte header")
            }
            Self::BadAvPair { id, len, reason } => write!(f, "bad AV_PAIR {id} (AvLen {len}): {reason}"),
            Self::AvPairOutOfBounds { id, len, available } => {
                write!(f, "AV_PAIR {id} AvLen {len} exceeds the {available} bytes left")
            }
            Self::MissingAvEol => f.write_str("AV_PAIR list does not end with MsvAvEOL"),
            Self::TrailingBytes { what, count } => write!(f, "{count} trailing bytes after {what}"),
            Self::BadString { field } => write!(f, "{field} is not valid UTF-16LE"),
            Self::BadNtlmv2Response(why) => write!(f, "bad NTLMv2 response: {why}"),
            Self::SignatureMismatch => f.write_str("message signature does not match"),
            Self::BadMessageSignature => f.write_str("malformed NTLMSSP_MESSAGE_SIGNATURE"),
            Self::OutOfSequence { expected, found } => {
                write!(f, "signature sequence number {found}, expected {expected}")
            }
            Self::FieldTooLong { field, len } => write!(f, "{field} is {len} bytes, more than 65535"),
            Self::UnacceptableFlags { flags, reason } => write!(f, "unacceptable flags {flags}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}
