//! Why a SPNEGO token could not be decoded.

use std::fmt;

use super::Oid;

/// Why bytes are not a valid SPNEGO token. Offsets (`at`) count from the first byte of the
/// token passed to [`decode`](super::decode).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The input ends before a value does.
    Truncated {
        /// Where the missing bytes should have started.
        at: usize,
        /// What was being read.
        what: &'static str,
    },
    /// Bytes follow the end of the token (or of a value that must be alone in its parent).
    TrailingData {
        /// Offset of the first extra byte.
        at: usize,
        /// How many extra bytes.
        extra: usize,
    },
    /// A tag number of 31 or more (multi-byte identifier); SPNEGO uses none.
    HighTagNumber {
        /// Offset of the identifier octet.
        at: usize,
    },
    /// An indefinite length (`0x80`), which DER forbids (X.690 §10.1).
    IndefiniteLength {
        /// Offset of the length octet.
        at: usize,
    },
    /// A long-form length that a shorter form could express (X.690 §10.1).
    NonMinimalLength {
        /// Offset of the first length octet.
        at: usize,
    },
    /// A length field of more than four bytes.
    LengthTooLarge {
        /// Offset of the first length octet.
        at: usize,
    },
    /// Constructed values nested deeper than the codec allows.
    TooDeep {
        /// Offset of the value that went past the limit.
        at: usize,
        /// The limit.
        limit: usize,
    },
    /// A value with the wrong tag where the schema expects another.
    UnexpectedTag {
        /// Offset of the identifier octet.
        at: usize,
        /// What the schema expected there.
        expected: &'static str,
        /// The identifier octet found.
        found: u8,
    },
    /// A field that is unknown, repeated or out of order in a SEQUENCE.
    UnexpectedField {
        /// Offset of the field.
        at: usize,
        /// Its identifier octet.
        tag: u8,
        /// The SEQUENCE it is in.
        within: &'static str,
    },
    /// A field the schema requires is absent.
    MissingField {
        /// The field (`NegTokenInit.mechTypes`, ...).
        field: &'static str,
    },
    /// An OBJECT IDENTIFIER whose contents are not valid DER (X.690 §8.19).
    BadOid {
        /// Offset of its contents.
        at: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A BIT STRING whose contents are not valid DER (X.690 §8.6, §11.2).
    BadBitString {
        /// Offset of its contents.
        at: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An ENUMERATED that is empty or not minimally encoded (X.690 §8.3).
    BadEnumerated {
        /// Offset of its contents.
        at: usize,
    },
    /// A `negState` outside accept-completed (0) .. request-mic (3).
    UnknownNegState {
        /// Offset of the ENUMERATED contents.
        at: usize,
        /// The value, when it fits an `i64`.
        value: Option<i64>,
    },
    /// The `InitialContextToken` names another mechanism than SPNEGO.
    NotSpnego {
        /// The mechanism it names.
        mech: Oid,
    },
    /// An `InitialContextToken` holds a `negTokenResp`; only `negTokenInit` starts a context.
    FramedResponse,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { at, what } => write!(f, "token truncated at byte {at}: missing {what}"),
            Self::TrailingData { at, extra } => write!(f, "{extra} trailing byte(s) at byte {at}"),
            Self::HighTagNumber { at } => write!(f, "multi-byte tag at byte {at} (unused by SPNEGO)"),
            Self::IndefiniteLength { at } => write!(f, "indefinite length at byte {at} (not DER)"),
            Self::NonMinimalLength { at } => write!(f, "non-minimal length at byte {at} (not DER)"),
            Self::LengthTooLarge { at } => write!(f, "length field at byte {at} longer than 4 bytes"),
            Self::TooDeep { at, limit } => write!(f, "value at byte {at} nested deeper than {limit} levels"),
            Self::UnexpectedTag { at, expected, found } => {
                write!(f, "expected {expected} at byte {at}, found tag 0x{found:02x}")
            }
            Self::UnexpectedField { at, tag, within } => {
                write!(f, "unknown, repeated or out-of-order field 0x{tag:02x} at byte {at} in {within}")
            }
            Self::MissingField { field } => write!(f, "required field {field} is absent"),
            Self::BadOid { at, reason } => write!(f, "bad OBJECT IDENTIFIER at byte {at}: {reason}"),
            Self::BadBitString { at, reason } => write!(f, "bad BIT STRING at byte {at}: {reason}"),
            Self::BadEnumerated { at } => write!(f, "empty or non-minimal ENUMERATED at byte {at}"),
            Self::UnknownNegState { at, value: Some(v) } => write!(f, "unknown negState {v} at byte {at}"),
            Self::UnknownNegState { at, value: None } => write!(f, "unknown (huge) negState at byte {at}"),
            Self::NotSpnego { mech } => write!(f, "InitialContextToken for mechanism {mech}, not SPNEGO"),
            Self::FramedResponse => f.write_str("negTokenResp inside an InitialContextToken"),
        }
    }
}

impl std::error::Error for Error {}
