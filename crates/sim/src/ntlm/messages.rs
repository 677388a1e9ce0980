//! The three NTLM messages (MS-NLMP §2.2.1): NEGOTIATE, CHALLENGE, AUTHENTICATE, with encode
//! and strict decode.
//!
//! Decoding checks the signature `"NTLMSSP\0"`, the message type and every payload field
//! (`Len`, `MaxLen`, `BufferOffset`) against the buffer; `MaxLen` is ignored, as MS-NLMP
//! requires. No input makes a decoder panic.
//!
//! Text fields (names) are kept as the bytes sent: their encoding depends on
//! `NTLMSSP_NEGOTIATE_UNICODE`; [`decode_text`] turns them into a `String`.

use std::fmt;

use super::av_pairs::{AvPairs, AvPairsRef, from_utf16le, push_utf16le};
use super::{Error, NegotiateFlags};

/// `Signature`: the eight bytes every message starts with.
pub const NTLMSSP_SIGNATURE: [u8; 8] = *b"NTLMSSP\0";

/// `MessageType` (MS-NLMP §2.2): a newtype so unknown values print and round-trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType(pub u32);

#[allow(non_upper_case_globals)]
impl MessageType {
    /// A NEGOTIATE_MESSAGE.
    pub const NtLmNegotiate: Self = Self(0x0000_0001);
    /// A CHALLENGE_MESSAGE.
    pub const NtLmChallenge: Self = Self(0x0000_0002);
    /// An AUTHENTICATE_MESSAGE.
    pub const NtLmAuthenticate: Self = Self(0x0000_0003);
}

impl fmt::Debug for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NtLmNegotiate => f.write_str("NtLmNegotiate"),
            Self::NtLmChallenge => f.write_str("NtLmChallenge"),
            Self::NtLmAuthenticate => f.write_str("NtLmAuthenticate"),
            Self(v) => write!(f, "MessageType({v:#010x})"),
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `NTLMSSP_REVISION_W2K3`: the only `NTLMRevisionCurrent` MS-NLMP defines.
pub const NTLMSSP_REVISION_W2K3: u8 = 0x0f;

/// The VERSION structure (MS-NLMP §2.2.2.10): the sender's Windows version, for debugging only.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Version {
    /// `ProductMajorVersion`.
    pub product_major_version: u8,
    /// `ProductMinorVersion`.
    pub product_minor_version: u8,
    /// `ProductBuild`.
    pub product_build: u16,
    /// `Reserved`, kept as sent.
    pub reserved: [u8; 3],
    /// `NTLMRevisionCurrent` (normally [`NTLMSSP_REVISION_W2K3`]).
    pub ntlm_revision_current: u8,
}

impl Version {
    /// A version with zero reserved bytes and revision 15.
    pub const fn new(major: u8, minor: u8, build: u16) -> Self {
        Self {
            product_major_version: major,
            product_minor_version: minor,
            product_build: build,
            reserved: [0; 3],
            ntlm_revision_current: NTLMSSP_REVISION_W2K3,
        }
    }

    fn encode(&self) -> [u8; 8] {
        let b = self.product_build.to_le_bytes();
        let r = self.reserved;
        [
            self.product_major_version,
            self.product_minor_version,
            b[0],
            b[1],
            r[0],
            r[1],
            r[2],
            self.ntlm_revision_current,
        ]
    }

    fn decode(b: &[u8; 8]) -> Self {
        Self {
            product_major_version: b[0],
            product_minor_version: b[1],
            product_build: u16::from_le_bytes([b[2], b[3]]),
            reserved: [b[4], b[5], b[6]],
            ntlm_revision_current: b[7],
        }
    }
}

/// NEGOTIATE_MESSAGE (MS-NLMP §2.2.1.1): the client's first message.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NegotiateMessage {
    /// `NegotiateFlags`.
    pub flags: NegotiateFlags,
    /// `DomainName` (OEM), as sent.
    pub domain_name: Vec<u8>,
    /// `Workstation` (OEM), as sent.
    pub workstation: Vec<u8>,
    /// `Version`: decoded only when `NTLMSSP_NEGOTIATE_VERSION` is set; encoded when `Some`.
    pub version: Option<Version>,
}

impl NegotiateMessage {
    /// Encodes the message; empty payload fields get offset 0, as in the MS-NLMP samples.
    ///
    /// # Errors
    ///
    /// [`Error::FieldTooLong`] if a field exceeds 65,535 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let header_len = if self.version.is_some() { 40 } else { 32 };
        let fields = [
            ("DomainNameFields", Field::Bytes(&self.domain_name)),
            ("WorkstationFields", Field::Bytes(&self.workstation)),
        ];
        let (desc, mut out) = layout(MessageType::NtLmNegotiate, header_len, &fields, EmptyOffset::Zero)?;
        out.extend_from_slice(&self.flags.0.to_le_bytes());
        out.extend_from_slice(&desc[0]);
        out.extend_from_slice(&desc[1]);
        if let Some(v) = &self.version {
            out.extend_from_slice(&v.encode());
        }
        Ok(append_payload(out, &fields))
    }

    /// Decodes a NEGOTIATE_MESSAGE.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`], [`Error::BadSignature`], [`Error::WrongMessageType`],
    /// [`Error::FieldOutOfBounds`], [`Error::FieldOverlapsHeader`].
    pub fn decode(buf: &[u8]) -> Result<Self, Error> {
        check_header(buf, MessageType::NtLmNegotiate, 32)?;
        let flags = NegotiateFlags(read_u32(buf, 12));
        let (version, header_len) = read_version(buf, flags, 32)?;
        Ok(Self {
            flags,
            domain_name: field(buf, 16, "DomainNameFields", header_len)?.to_vec(),
            workstation: field(buf, 24, "WorkstationFields", header_len)?.to_vec(),
            version,
        })
    }
}

/// CHALLENGE_MESSAGE (MS-NLMP §2.2.1.2): the server's challenge.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ChallengeMessage {
    /// `NegotiateFlags`.
    pub flags: NegotiateFlags,
    /// `TargetName`, as sent (UTF-16LE under `NTLMSSP_NEGOTIATE_UNICODE`).
    pub target_name: Vec<u8>,
    /// `ServerChallenge`.
    pub server_challenge: [u8; 8],
    /// `Reserved`, kept as sent.
    pub reserved: [u8; 8],
    /// `TargetInfo`: `None` when `TargetInfoFields.Len` is 0.
    pub target_info: Option<AvPairs>,
    /// `Version`: decoded only when `NTLMSSP_NEGOTIATE_VERSION` is set; encoded when `Some`.
    pub version: Option<Version>,
}

impl ChallengeMessage {
    /// Encodes the message: `TargetName` then `TargetInfo` in the payload; empty payload fields
    /// get offset 0, as in the MS-NLMP §4.2.2.3 sample.
    ///
    /// # Errors
    ///
    /// [`Error::FieldTooLong`] if a field exceeds 65,535 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let info = self.target_info.as_ref().map(AvPairs::encode).unwrap_or_default();
        ChallengeRef {
            flags: self.flags,
            target_name: &self.target_name,
            server_challenge: self.server_challenge,
            reserved: self.reserved,
            target_info: &info,
            version: self.version,
        }
        .encode()
    }

    /// Decodes a CHALLENGE_MESSAGE, including its AV_PAIR list.
    ///
    /// # Errors
    ///
    /// As [`NegotiateMessage::decode`], and the AV_PAIR errors of [`AvPairs::decode`].
    pub fn decode(buf: &[u8]) -> Result<Self, Error> {
        let r = ChallengeRef::decode_fields(buf)?;
        Ok(Self {
            flags: r.flags,
            target_name: r.target_name.to_vec(),
            server_challenge: r.server_challenge,
            reserved: r.reserved,
            target_info: if r.target_info.is_empty() { None } else { Some(AvPairs::decode(r.target_info)?) },
            version: r.version,
        })
    }
}

/// A CHALLENGE_MESSAGE read in place, or to be written from borrowed fields: what the
/// handshakes use, so nothing is copied.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ChallengeRef<'a> {
    /// `NegotiateFlags`.
    pub flags: NegotiateFlags,
    /// `TargetName`, as sent.
    pub target_name: &'a [u8],
    /// `ServerChallenge`.
    pub server_challenge: [u8; 8],
    /// `Reserved`.
    pub reserved: [u8; 8],
    /// `TargetInfo`: the encoded AV_PAIR list, `MsvAvEOL` included; empty when absent.
    pub target_info: &'a [u8],
    /// `Version`.
    pub version: Option<Version>,
}

impl<'a> ChallengeRef<'a> {
    /// Reads a CHALLENGE_MESSAGE and checks its AV_PAIR list.
    ///
    /// # Errors
    ///
    /// Exactly those of [`ChallengeMessage::decode`].
    pub fn decode(buf: &'a [u8]) -> Result<Self, Error> {
        let r = Self::decode_fields(buf)?;
        if !r.target_info.is_empty() {
            AvPairsRef::read(r.target_info)?;
        }
        Ok(r)
    }

    /// The AV_PAIR list, if any. [`ChallengeRef::decode`] has checked it; for a value built by
    /// hand, reading stops at the first pair that does not fit.
    pub fn av_pairs(&self) -> Option<AvPairsRef<'a>> {
        (!self.target_info.is_empty()).then(|| AvPairsRef::unchecked(self.target_info))
    }

    fn decode_fields(buf: &'a [u8]) -> Result<Self, Error> {
        check_header(buf, MessageType::NtLmChallenge, 48)?;
        let flags = NegotiateFlags(read_u32(buf, 20));
        let (version, header_len) = read_version(buf, flags, 48)?;
        let target_info = field(buf, 40, "TargetInfoFields", header_len)?;
        Ok(Self {
            flags,
            target_name: field(buf, 12, "TargetNameFields", header_len)?,
            server_challenge: read_array(buf, 24),
            reserved: read_array(buf, 32),
            target_info,
            version,
        })
    }

    /// Encodes the message, as [`ChallengeMessage::encode`].
    ///
    /// # Errors
    ///
    /// [`Error::FieldTooLong`] if a field exceeds 65,535 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        self.encode_with_target_name(Field::Bytes(self.target_name))
    }

    /// Encodes the message with `target_name` in place of [`ChallengeRef::target_name`].
    pub(crate) fn encode_with_target_name(&self, target_name: Field<'_>) -> Result<Vec<u8>, Error> {
        let header_len = if self.version.is_some() { 56 } else { 48 };
        let fields = [("TargetNameFields", target_name), ("TargetInfoFields", Field::Bytes(self.target_info))];
        let (desc, mut out) = layout(MessageType::NtLmChallenge, header_len, &fields, EmptyOffset::Zero)?;
        out.extend_from_slice(&desc[0]);
        out.extend_from_slice(&self.flags.0.to_le_bytes());
        out.extend_from_slice(&self.server_challenge);
        out.extend_from_slice(&self.reserved);
        out.extend_from_slice(&desc[1]);
        if let Some(v) = &self.version {
            out.extend_from_slice(&v.encode());
        }
        Ok(append_payload(out, &fields))
    }
}

/// AUTHENTICATE_MESSAGE (MS-NLMP §2.2.1.3): the client's answer.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AuthenticateMessage {
    /// `NegotiateFlags`.
    pub flags: NegotiateFlags,
    /// `LmChallengeResponse`.
    pub lm_challenge_response: Vec<u8>,
    /// `NtChallengeResponse` (an NTLM_RESPONSE, or an NTLMv2_RESPONSE: see [`Ntlmv2Response`]).
    pub nt_challenge_response: Vec<u8>,
    /// `DomainName`, as sent.
    pub domain_name: Vec<u8>,
    /// `UserName`, as sent.
    pub user_name: Vec<u8>,
    /// `Workstation`, as sent.
    pub workstation: Vec<u8>,
    /// `EncryptedRandomSessionKey` (empty without key exchange).
    pub encrypted_random_session_key: Vec<u8>,
    /// `Version`: decoded only when `NTLMSSP_NEGOTIATE_VERSION` is set; encoded when `Some`
    /// (or as zeros when only a MIC is present).
    pub version: Option<Version>,
    /// `MIC`: decoded when the payload starts at or after byte 88 **\[I\]** (MS-NLMP signals it
    /// only inside the NTLMv2 response's `MsvAvFlags`).
    pub mic: Option<[u8; 16]>,
}

impl AuthenticateMessage {
    /// Byte offset of the `MIC` field in an encoded message.
    pub const MIC_OFFSET: usize = 72;

    /// Encodes the message. The payload holds, in order, `DomainName`, `UserName`,
    /// `Workstation`, `LmChallengeResponse`, `NtChallengeResponse`,
    /// `EncryptedRandomSessionKey`; an empty field points at the current end of the payload.
    /// Both are what the MS-NLMP §4.2 samples show **\[I\]**.
    ///
    /// # Errors
    ///
    /// [`Error::FieldTooLong`] if a field exceeds 65,535 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        self.borrowed().encode()
    }

    /// The message's fields, borrowed.
    pub fn borrowed(&self) -> AuthenticateRef<'_> {
        AuthenticateRef {
            flags: self.flags,
            lm_challenge_response: &self.lm_challenge_response,
            nt_challenge_response: &self.nt_challenge_response,
            domain_name: &self.domain_name,
            user_name: &self.user_name,
            workstation: &self.workstation,
            encrypted_random_session_key: &self.encrypted_random_session_key,
            version: self.version,
            mic: self.mic,
        }
    }

    /// Decodes an AUTHENTICATE_MESSAGE.
    ///
    /// # Errors
    ///
    /// As [`NegotiateMessage::decode`].
    pub fn decode(buf: &[u8]) -> Result<Self, Error> {
        let r = AuthenticateRef::decode(buf)?;
        Ok(Self {
            flags: r.flags,
            lm_challenge_response: r.lm_challenge_response.to_vec(),
            nt_challenge_response: r.nt_challenge_response.to_vec(),
            domain_name: r.domain_name.to_vec(),
            user_name: r.user_name.to_vec(),
            workstation: r.workstation.to_vec(),
            encrypted_random_session_key: r.encrypted_random_session_key.to_vec(),
            version: r.version,
            mic: r.mic,
        })
    }
}

/// An AUTHENTICATE_MESSAGE read in place, or to be written from borrowed fields (see
/// [`AuthenticateMessage`] for each field).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[allow(missing_docs)]
pub struct AuthenticateRef<'a> {
    pub flags: NegotiateFlags,
    pub lm_challenge_response: &'a [u8],
    pub nt_challenge_response: &'a [u8],
    pub domain_name: &'a [u8],
    pub user_name: &'a [u8],
    pub workstation: &'a [u8],
    pub encrypted_random_session_key: &'a [u8],
    pub version: Option<Version>,
    pub mic: Option<[u8; 16]>,
}

impl<'a> AuthenticateRef<'a> {
    /// Encodes the message, as [`AuthenticateMessage::encode`].
    ///
    /// # Errors
    ///
    /// [`Error::FieldTooLong`] if a field exceeds 65,535 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        self.encode_with_names([
            Field::Bytes(self.domain_name),
            Field::Bytes(self.user_name),
            Field::Bytes(self.workstation),
        ])
    }

    /// Encodes the message with `names` (DomainName, UserName, Workstation) in place of the
    /// three name fields.
    pub(crate) fn encode_with_names(&self, names: [Field<'_>; 3]) -> Result<Vec<u8>, Error> {
        let header_len = 64
            + if self.version.is_some() || self.mic.is_some() { 8 } else { 0 }
            + if self.mic.is_some() { 16 } else { 0 };
        let [domain_name, user_name, workstation] = names;
        let fields = [
            ("DomainNameFields", domain_name),
            ("UserNameFields", user_name),
            ("WorkstationFields", workstation),
            ("LmChallengeResponseFields", Field::Bytes(self.lm_challenge_response)),
            ("NtChallengeResponseFields", Field::Bytes(self.nt_challenge_response)),
            ("EncryptedRandomSessionKeyFields", Field::Bytes(self.encrypted_random_session_key)),
        ];
        let (desc, mut out) = layout(MessageType::NtLmAuthenticate, header_len, &fields, EmptyOffset::End)?;
        for i in [3, 4, 0, 1, 2, 5] {
            out.extend_from_slice(&desc[i]);
        }
        out.extend_from_slice(&self.flags.0.to_le_bytes());
        if self.version.is_some() || self.mic.is_some() {
            out.extend_from_slice(&self.version.map_or([0; 8], |v| v.encode()));
        }
        if let Some(mic) = &self.mic {
            out.extend_from_slice(mic);
        }
        Ok(append_payload(out, &fields))
    }

    /// Reads an AUTHENTICATE_MESSAGE in place.
    ///
    /// # Errors
    ///
    /// Exactly those of [`AuthenticateMessage::decode`].
    pub fn decode(buf: &'a [u8]) -> Result<Self, Error> {
        check_header(buf, MessageType::NtLmAuthenticate, 64)?;
        let flags = NegotiateFlags(read_u32(buf, 60));
        let (version, mut header_len) = read_version(buf, flags, 64)?;
        // The MIC is there when the payload leaves room for it.
        let first_offset = [12, 20, 28, 36, 44, 52]
            .into_iter()
            .filter(|&at| read_u16(buf, at) != 0)
            .map(|at| read_u32(buf, at + 4) as usize)
            .min();
        let mic = if buf.len() >= 88 && first_offset.is_none_or(|o| o >= 88) {
            header_len = 88;
            Some(read_array(buf, AuthenticateMessage::MIC_OFFSET))
        } else {
            None
        };
        Ok(Self {
            flags,
            lm_challenge_response: field(buf, 12, "LmChallengeResponseFields", header_len)?,
            nt_challenge_response: field(buf, 20, "NtChallengeResponseFields", header_len)?,
            domain_name: field(buf, 28, "DomainNameFields", header_len)?,
            user_name: field(buf, 36, "UserNameFields", header_len)?,
            workstation: field(buf, 44, "WorkstationFields", header_len)?,
            encrypted_random_session_key: field(buf, 52, "EncryptedRandomSessionKeyFields", header_len)?,
            version,
            mic,
        })
    }
}

/// An NTLMv2_RESPONSE (MS-NLMP §2.2.2.8) with its NTLMv2_CLIENT_CHALLENGE (§2.2.2.7).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Ntlmv2Response {
    /// `Response`: the NTProofStr.
    pub nt_proof_str: [u8; 16],
    /// `RespType` (must be 1).
    pub resp_type: u8,
    /// `HiRespType` (must be 1).
    pub hi_resp_type: u8,
    /// `TimeStamp`: a FILETIME.
    pub timestamp: u64,
    /// `ChallengeFromClient`.
    pub challenge_from_client: [u8; 8],
    /// `AvPairs`.
    pub av_pairs: AvPairs,
    /// The bytes after `MsvAvEOL` (four zero bytes from the clients MS-NLMP describes).
    pub trailing: Vec<u8>,
}

impl Ntlmv2Response {
    /// Decodes an `NtChallengeResponse` as an NTLMv2_RESPONSE. `Reserved1..3` are ignored, as
    /// MS-NLMP requires.
    ///
    /// # Errors
    ///
    /// [`Error::BadNtlmv2Response`] if it is shorter than 44 bytes or its response types are
    /// not 1; the AV_PAIR errors of [`AvPairs::decode_prefix`].
    pub fn decode(buf: &[u8]) -> Result<Self, Error> {
        check_ntlmv2_response(buf)?;
        let (av_pairs, rest) = AvPairs::decode_prefix(&buf[44..])?;
        Ok(Self {
            nt_proof_str: read_array(buf, 0),
            resp_type: buf[16],
            hi_resp_type: buf[17],
            timestamp: u64::from_le_bytes(read_array(buf, 24)),
            challenge_from_client: read_array(buf, 32),
            av_pairs,
            trailing: rest.to_vec(),
        })
    }
}

/// The AV_PAIR list of an NTLMv2_RESPONSE, read in place: what the server checks.
///
/// # Errors
///
/// Exactly those of [`Ntlmv2Response::decode`].
pub fn ntlmv2_response_pairs(buf: &[u8]) -> Result<AvPairsRef<'_>, Error> {
    check_ntlmv2_response(buf)?;
    AvPairsRef::read_prefix(&buf[44..]).map(|(pairs, _)| pairs)
}

fn check_ntlmv2_response(buf: &[u8]) -> Result<(), Error> {
    if buf.len() < 44 {
        return Err(Error::BadNtlmv2Response("shorter than 44 bytes"));
    }
    if buf[16] != 1 || buf[17] != 1 {
        return Err(Error::BadNtlmv2Response("RespType and HiRespType must be 1"));
    }
    Ok(())
}

/// A text field as a `String`: UTF-16LE under `NTLMSSP_NEGOTIATE_UNICODE`, else OEM, read as
/// UTF-8 (the OEM code page is not simulated **\[I\]**).
///
/// # Errors
///
/// [`Error::BadString`] naming `field`.
pub fn decode_text(bytes: &[u8], flags: NegotiateFlags, field: &'static str) -> Result<String, Error> {
    let text = if flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_UNICODE) {
        from_utf16le(bytes)
    } else {
        String::from_utf8(bytes.to_vec()).ok()
    };
    text.ok_or(Error::BadString { field })
}

/// What offset an empty payload field gets on encode.
#[derive(Clone, Copy)]
enum EmptyOffset {
    /// 0 (NEGOTIATE and CHALLENGE samples).
    Zero,
    /// The current end of the payload (AUTHENTICATE samples).
    End,
}

/// A payload field to write: bytes as they are, or text written as UTF-16LE (so a name need
/// not be converted into a buffer of its own first).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Field<'a> {
    /// The bytes, as they are.
    Bytes(&'a [u8]),
    /// The text, as UTF-16LE.
    Utf16(&'a str),
}

impl Field<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Bytes(b) => b.len(),
            Self::Utf16(s) if s.is_ascii() => 2 * s.len(),
            Self::Utf16(s) => 2 * s.encode_utf16().count(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Bytes(b) => out.extend_from_slice(b),
            Self::Utf16(s) => push_utf16le(out, s),
        }
    }
}

/// Lays the fields out after the header, in order: returns each field's 8-byte descriptor
/// (`Len`, `MaxLen` = `Len`, `BufferOffset`) and the message started (signature and type),
/// with room for the whole message.
fn layout<const N: usize>(
    ty: MessageType,
    header_len: usize,
    fields: &[(&'static str, Field<'_>); N],
    empty: EmptyOffset,
) -> Result<([[u8; 8]; N], Vec<u8>), Error> {
    let mut desc = [[0; 8]; N];
    let mut payload_len = 0;
    for (d, (name, data)) in desc.iter_mut().zip(fields) {
        let data_len = data.len();
        let len = u16::try_from(data_len).map_err(|_| Error::FieldTooLong { field: name, len: data_len })?;
        let offset = match (data_len == 0, empty) {
            (true, EmptyOffset::Zero) => 0,
            _ => u32::try_from(header_len + payload_len)
                .map_err(|_| Error::FieldTooLong { field: name, len: data_len })?,
        };
        d[0..2].copy_from_slice(&len.to_le_bytes());
        d[2..4].copy_from_slice(&len.to_le_bytes());
        d[4..8].copy_from_slice(&offset.to_le_bytes());
        payload_len += data_len;
    }
    let mut out = Vec::with_capacity(header_len + payload_len);
    out.extend_from_slice(&NTLMSSP_SIGNATURE);
    out.extend_from_slice(&ty.0.to_le_bytes());
    Ok((desc, out))
}

/// Appends the fields' bytes, in order, after the header.
fn append_payload<const N: usize>(mut out: Vec<u8>, fields: &[(&'static str, Field<'_>); N]) -> Vec<u8> {
    for (_, data) in fields {
        data.write(&mut out);
    }
    out
}

/// Checks the length, the signature and the message type.
fn check_header(buf: &[u8], expected: MessageType, min_len: usize) -> Result<(), Error> {
    if buf.len() < 12 {
        return Err(Error::Truncated { what: "message header", needed: 12, available: buf.len() });
    }
    let sig: [u8; 8] = read_array(buf, 0);
    if sig != NTLMSSP_SIGNATURE {
        return Err(Error::BadSignature(sig));
    }
    let found = MessageType(read_u32(buf, 8));
    if found != expected {
        return Err(Error::WrongMessageType { expected, found });
    }
    if buf.len() < min_len {
        return Err(Error::Truncated { what: "fixed-size fields", needed: min_len, available: buf.len() });
    }
    Ok(())
}

/// The VERSION at `at` when `NTLMSSP_NEGOTIATE_VERSION` is set, and where the header ends.
fn read_version(buf: &[u8], flags: NegotiateFlags, at: usize) -> Result<(Option<Version>, usize), Error> {
    if !flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_VERSION) {
        return Ok((None, at));
    }
    if buf.len() < at + 8 {
        return Err(Error::Truncated { what: "Version", needed: at + 8, available: buf.len() });
    }
    Ok((Some(Version::decode(&read_array(buf, at))), at + 8))
}

/// The payload bytes a field descriptor at `at` points to (`at + 8 <= buf.len()`, checked by
/// the caller's minimum length).
fn field<'a>(buf: &'a [u8], at: usize, name: &'static str, header_len: usize) -> Result<&'a [u8], Error> {
    let len = read_u16(buf, at);
    let offset = read_u32(buf, at + 4);
    if len == 0 {
        return Ok(&[]);
    }
    let start = offset as usize;
    let out_of_bounds = Error::FieldOutOfBounds { field: name, offset, len, buffer_len: buf.len() };
    let end = start.checked_add(usize::from(len)).ok_or(out_of_bounds.clone())?;
    if start < header_len {
        return Err(Error::FieldOverlapsHeader { field: name, offset, header_len });
    }
    buf.get(start..end).ok_or(out_of_bounds)
}

/// `N` bytes at `at`; zeros past the end (callers check lengths first).
fn read_array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    if let Some(src) = buf.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

fn read_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(read_array(buf, at))
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(read_array(buf, at))
}
