//! The AV_PAIR list (MS-NLMP §2.2.2.1): `TargetInfo` in the CHALLENGE_MESSAGE and the
//! `AvPairs` of an NTLMv2 client challenge.

use std::fmt;

use super::Error;

/// `AvId`: the type of an AV_PAIR (MS-NLMP §2.2.2.1). Unknown values round-trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AvId(pub u16);

#[allow(non_upper_case_globals)]
impl AvId {
    /// The end of the list.
    pub const MsvAvEOL: Self = Self(0x0000);
    /// The server's NetBIOS computer name.
    pub const MsvAvNbComputerName: Self = Self(0x0001);
    /// The server's NetBIOS domain name.
    pub const MsvAvNbDomainName: Self = Self(0x0002);
    /// The server's FQDN.
    pub const MsvAvDnsComputerName: Self = Self(0x0003);
    /// The FQDN of the domain.
    pub const MsvAvDnsDomainName: Self = Self(0x0004);
    /// The FQDN of the forest.
    pub const MsvAvDnsTreeName: Self = Self(0x0005);
    /// A 32-bit flags value (0x1: constrained; 0x2: a MIC is present; 0x4: untrusted SPN).
    pub const MsvAvFlags: Self = Self(0x0006);
    /// A FILETIME: the server's local time.
    pub const MsvAvTimestamp: Self = Self(0x0007);
    /// A Single_Host_Data structure.
    pub const MsvAvSingleHost: Self = Self(0x0008);
    /// The SPN of the target server.
    pub const MsvAvTargetName: Self = Self(0x0009);
    /// An MD5 hash of the channel bindings (gss_channel_bindings_struct).
    pub const MsvAvChannelBindings: Self = Self(0x000a);

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::MsvAvEOL => "MsvAvEOL",
            Self::MsvAvNbComputerName => "MsvAvNbComputerName",
            Self::MsvAvNbDomainName => "MsvAvNbDomainName",
            Self::MsvAvDnsComputerName => "MsvAvDnsComputerName",
            Self::MsvAvDnsDomainName => "MsvAvDnsDomainName",
            Self::MsvAvDnsTreeName => "MsvAvDnsTreeName",
            Self::MsvAvFlags => "MsvAvFlags",
            Self::MsvAvTimestamp => "MsvAvTimestamp",
            Self::MsvAvSingleHost => "MsvAvSingleHost",
            Self::MsvAvTargetName => "MsvAvTargetName",
            Self::MsvAvChannelBindings => "MsvAvChannelBindings",
            _ => return None,
        })
    }
}

impl fmt::Debug for AvId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "AvId({:#06x})", self.0),
        }
    }
}

impl fmt::Display for AvId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `MsvAvFlags` bit 0x2: the AUTHENTICATE_MESSAGE carries a MIC.
pub const MSV_AV_FLAG_MIC_PRESENT: u32 = 0x0000_0002;

/// `Single_Host_Data` (MS-NLMP §2.2.2.2), the value of `MsvAvSingleHost`: exactly 48 bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SingleHostData {
    /// `Size`: the structure's length (48 in practice; kept as sent).
    pub size: u32,
    /// `Z4`: reserved, kept as sent.
    pub z4: u32,
    /// `CustomData`: platform-specific blob.
    pub custom_data: [u8; 8],
    /// `MachineID`: a random value identifying the machine.
    pub machine_id: [u8; 32],
}

/// One AV_PAIR other than `MsvAvEOL` (which [`AvPairs`] writes and requires itself).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AvPair {
    /// `MsvAvNbComputerName`.
    NbComputerName(String),
    /// `MsvAvNbDomainName`.
    NbDomainName(String),
    /// `MsvAvDnsComputerName`.
    DnsComputerName(String),
    /// `MsvAvDnsDomainName`.
    DnsDomainName(String),
    /// `MsvAvDnsTreeName`.
    DnsTreeName(String),
    /// `MsvAvFlags`.
    Flags(u32),
    /// `MsvAvTimestamp`: a FILETIME (100 ns ticks since 1601-01-01 UTC).
    Timestamp(u64),
    /// `MsvAvSingleHost`.
    SingleHost(SingleHostData),
    /// `MsvAvTargetName`.
    TargetName(String),
    /// `MsvAvChannelBindings`: MD5 of the channel bindings.
    ChannelBindings([u8; 16]),
    /// Any other `AvId`, kept as sent.
    Unknown {
        /// The `AvId`.
        id: AvId,
        /// The value.
        value: Vec<u8>,
    },
}

impl AvPair {
    /// The AV_PAIR's `AvId`.
    pub fn id(&self) -> AvId {
        match self {
            Self::NbComputerName(_) => AvId::MsvAvNbComputerName,
            Self::NbDomainName(_) => AvId::MsvAvNbDomainName,
            Self::DnsComputerName(_) => AvId::MsvAvDnsComputerName,
            Self::DnsDomainName(_) => AvId::MsvAvDnsDomainName,
            Self::DnsTreeName(_) => AvId::MsvAvDnsTreeName,
            Self::Flags(_) => AvId::MsvAvFlags,
            Self::Timestamp(_) => AvId::MsvAvTimestamp,
            Self::SingleHost(_) => AvId::MsvAvSingleHost,
            Self::TargetName(_) => AvId::MsvAvTargetName,
            Self::ChannelBindings(_) => AvId::MsvAvChannelBindings,
            Self::Unknown { id, .. } => *id,
        }
    }

    /// The encoded value (without the 4-byte AV_PAIR header).
    /// Appends the value's bytes to `out`.
    fn write_value(&self, out: &mut Vec<u8>) {
        match self {
            Self::NbComputerName(s)
            | Self::NbDomainName(s)
            | Self::DnsComputerName(s)
            | Self::DnsDomainName(s)
            | Self::DnsTreeName(s)
            | Self::TargetName(s) => push_utf16le(out, s),
            Self::Flags(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::Timestamp(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::SingleHost(h) => {
                out.extend_from_slice(&h.size.to_le_bytes());
                out.extend_from_slice(&h.z4.to_le_bytes());
                out.extend_from_slice(&h.custom_data);
                out.extend_from_slice(&h.machine_id);
            }
            Self::ChannelBindings(h) => out.extend_from_slice(h),
            Self::Unknown { value, .. } => out.extend_from_slice(value),
        }
    }

    fn decode(id: AvId, value: &[u8]) -> Result<Self, Error> {
        // The same checks as the borrowed reader's, so both refuse exactly the same lists.
        check_value(id, value)?;
        // `AvLen` came from a u16, so the value fits one.
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        let text = |make: fn(String) -> Self| -> Result<Self, Error> {
            from_utf16le(value).map(make).ok_or(Error::BadAvPair { id, len, reason: "value is not UTF-16LE" })
        };
        let fixed = |reason| Error::BadAvPair { id, len, reason };
        Ok(match id {
            AvId::MsvAvNbComputerName => text(Self::NbComputerName)?,
            AvId::MsvAvNbDomainName => text(Self::NbDomainName)?,
            AvId::MsvAvDnsComputerName => text(Self::DnsComputerName)?,
            AvId::MsvAvDnsDomainName => text(Self::DnsDomainName)?,
            AvId::MsvAvDnsTreeName => text(Self::DnsTreeName)?,
            AvId::MsvAvTargetName => text(Self::TargetName)?,
            AvId::MsvAvFlags => {
                Self::Flags(u32::from_le_bytes(value.try_into().map_err(|_| fixed("MsvAvFlags needs 4 bytes"))?))
            }
            AvId::MsvAvTimestamp => Self::Timestamp(u64::from_le_bytes(
                value.try_into().map_err(|_| fixed("MsvAvTimestamp needs 8 bytes"))?,
            )),
            AvId::MsvAvChannelBindings => {
                Self::ChannelBindings(value.try_into().map_err(|_| fixed("MsvAvChannelBindings needs 16 bytes"))?)
            }
            AvId::MsvAvSingleHost => {
                let v: &[u8; 48] = value.try_into().map_err(|_| fixed("MsvAvSingleHost needs 48 bytes"))?;
                let mut custom_data = [0; 8];
                custom_data.copy_from_slice(&v[8..16]);
                let mut machine_id = [0; 32];
                machine_id.copy_from_slice(&v[16..48]);
                Self::SingleHost(SingleHostData {
                    size: u32::from_le_bytes([v[0], v[1], v[2], v[3]]),
                    z4: u32::from_le_bytes([v[4], v[5], v[6], v[7]]),
                    custom_data,
                    machine_id,
                })
            }
            AvId::MsvAvEOL => return Err(fixed("MsvAvEOL must have AvLen 0")),
            id => Self::Unknown { id, value: value.to_vec() },
        })
    }
}

/// An AV_PAIR list: the pairs in order, `MsvAvEOL` implied at the end.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AvPairs(pub Vec<AvPair>);

impl AvPairs {
    /// An empty list (encodes as just `MsvAvEOL`).
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The first pair with this `AvId`.
    pub fn find(&self, id: AvId) -> Option<&AvPair> {
        self.0.iter().find(|p| p.id() == id)
    }

    /// The `MsvAvTimestamp` value, if present.
    pub fn timestamp(&self) -> Option<u64> {
        self.0.iter().find_map(|p| match p {
            AvPair::Timestamp(t) => Some(*t),
            _ => None,
        })
    }

    /// The `MsvAvFlags` value, if present.
    pub fn flags(&self) -> Option<u32> {
        self.0.iter().find_map(|p| match p {
            AvPair::Flags(f) => Some(*f),
            _ => None,
        })
    }

    /// Encodes the list, ending with `MsvAvEOL`.
    ///
    /// A value longer than 65,535 bytes is cut to fit `AvLen` (no real pair comes near).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        for pair in &self.0 {
            push_with(&mut out, pair.id(), |out| pair.write_value(out));
        }
        out.extend_from_slice(&[0, 0, 0, 0]);
        out
    }

    /// Decodes a list that fills `bytes` exactly: nothing may follow `MsvAvEOL`.
    ///
    /// # Errors
    ///
    /// [`Error::MissingAvEol`], [`Error::AvPairOutOfBounds`], [`Error::BadAvPair`],
    /// [`Error::TrailingBytes`].
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let (pairs, rest) = Self::decode_prefix(bytes)?;
        if rest.is_empty() { Ok(pairs) } else { Err(Error::TrailingBytes { what: "MsvAvEOL", count: rest.len() }) }
    }

    /// Decodes a list at the start of `bytes` and returns what follows `MsvAvEOL` (an NTLMv2
    /// client challenge ends with four zero bytes after its list).
    ///
    /// # Errors
    ///
    /// As [`AvPairs::decode`], less [`Error::TrailingBytes`].
    pub fn decode_prefix(bytes: &[u8]) -> Result<(Self, &[u8]), Error> {
        let mut pairs = Vec::new();
        let rest = walk(bytes, |id, value, _| {
            pairs.push(AvPair::decode(id, value)?);
            Ok(())
        })?;
        Ok((Self(pairs), rest))
    }
}

/// Reads the pairs at the start of `bytes` up to `MsvAvEOL`, calling `each(id, value, pair)`
/// (`pair` is the whole AV_PAIR, header included); returns what follows `MsvAvEOL`.
fn walk<'a>(
    bytes: &'a [u8],
    mut each: impl FnMut(AvId, &'a [u8], &'a [u8]) -> Result<(), Error>,
) -> Result<&'a [u8], Error> {
    let mut rest = bytes;
    loop {
        let Some((header, after)) = rest.split_first_chunk::<4>() else {
            return Err(Error::MissingAvEol);
        };
        let id = AvId(u16::from_le_bytes([header[0], header[1]]));
        let len = u16::from_le_bytes([header[2], header[3]]);
        let Some((value, after)) = after.split_at_checked(usize::from(len)) else {
            return Err(Error::AvPairOutOfBounds { id, len, available: after.len() });
        };
        if id == AvId::MsvAvEOL {
            if len != 0 {
                return Err(Error::BadAvPair { id, len, reason: "MsvAvEOL must have AvLen 0" });
            }
            return Ok(after);
        }
        each(id, value, &rest[..4 + value.len()])?;
        rest = after;
    }
}

/// Checks one value as [`AvPair::decode`] requires: names are UTF-16LE, fixed-size values have
/// their size.
fn check_value(id: AvId, value: &[u8]) -> Result<(), Error> {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    let fail = |reason| Err(Error::BadAvPair { id, len, reason });
    let size = |n: usize, reason| if value.len() == n { Ok(()) } else { fail(reason) };
    match id {
        AvId::MsvAvNbComputerName
        | AvId::MsvAvNbDomainName
        | AvId::MsvAvDnsComputerName
        | AvId::MsvAvDnsDomainName
        | AvId::MsvAvDnsTreeName
        | AvId::MsvAvTargetName => {
            if is_utf16le(value) {
                Ok(())
            } else {
                fail("value is not UTF-16LE")
            }
        }
        AvId::MsvAvFlags => size(4, "MsvAvFlags needs 4 bytes"),
        AvId::MsvAvTimestamp => size(8, "MsvAvTimestamp needs 8 bytes"),
        AvId::MsvAvChannelBindings => size(16, "MsvAvChannelBindings needs 16 bytes"),
        AvId::MsvAvSingleHost => size(48, "MsvAvSingleHost needs 48 bytes"),
        AvId::MsvAvEOL => fail("MsvAvEOL must have AvLen 0"),
        _ => Ok(()),
    }
}

/// An AV_PAIR list read in place: checked as [`AvPairs::decode`] checks it, nothing copied.
/// The handshakes read the few values they need through it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AvPairsRef<'a> {
    /// The whole list, `MsvAvEOL` included.
    list: &'a [u8],
}

impl<'a> AvPairsRef<'a> {
    /// Reads a list that fills `bytes` exactly.
    ///
    /// # Errors
    ///
    /// Exactly those of [`AvPairs::decode`].
    pub fn read(bytes: &'a [u8]) -> Result<Self, Error> {
        let (pairs, rest) = Self::read_prefix(bytes)?;
        if rest.is_empty() { Ok(pairs) } else { Err(Error::TrailingBytes { what: "MsvAvEOL", count: rest.len() }) }
    }

    /// Reads a list at the start of `bytes`; returns it and what follows `MsvAvEOL`.
    ///
    /// # Errors
    ///
    /// Exactly those of [`AvPairs::decode_prefix`].
    pub fn read_prefix(bytes: &'a [u8]) -> Result<(Self, &'a [u8]), Error> {
        let rest = walk(bytes, |id, value, _| check_value(id, value))?;
        Ok((Self { list: &bytes[..bytes.len() - rest.len()] }, rest))
    }

    /// A list already checked (or written by this crate); reading stops at `MsvAvEOL` or at the
    /// first pair that does not fit.
    pub(crate) fn unchecked(list: &'a [u8]) -> Self {
        Self { list }
    }

    /// The encoded list as read, `MsvAvEOL` included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.list
    }

    /// Each pair before `MsvAvEOL`: its `AvId`, its value, and the whole AV_PAIR.
    pub fn iter(&self) -> impl Iterator<Item = (AvId, &'a [u8], &'a [u8])> + 'a {
        let mut rest = self.list;
        std::iter::from_fn(move || {
            let (header, after) = rest.split_first_chunk::<4>()?;
            let id = AvId(u16::from_le_bytes([header[0], header[1]]));
            let (value, after) = after.split_at_checked(usize::from(u16::from_le_bytes([header[2], header[3]])))?;
            if id == AvId::MsvAvEOL {
                return None;
            }
            let pair = &rest[..4 + value.len()];
            rest = after;
            Some((id, value, pair))
        })
    }

    /// The value of the first pair with this `AvId`.
    pub fn find(&self, id: AvId) -> Option<&'a [u8]> {
        self.iter().find_map(|(i, value, _)| (i == id).then_some(value))
    }

    /// The `MsvAvTimestamp` value, if present.
    pub fn timestamp(&self) -> Option<u64> {
        self.find(AvId::MsvAvTimestamp).and_then(|v| v.try_into().ok()).map(u64::from_le_bytes)
    }

    /// The `MsvAvFlags` value, if present.
    pub fn flags(&self) -> Option<u32> {
        self.find(AvId::MsvAvFlags).and_then(|v| v.try_into().ok()).map(u32::from_le_bytes)
    }

    /// The pairs, decoded.
    ///
    /// # Errors
    ///
    /// None for a list read by [`AvPairsRef::read`]: it was checked.
    pub fn to_pairs(&self) -> Result<AvPairs, Error> {
        AvPairs::decode_prefix(self.list).map(|(pairs, _)| pairs)
    }
}

/// Appends one AV_PAIR whose value `value` appends; a value longer than 65,535 bytes is cut to
/// fit its 16-bit `AvLen` (no real pair comes near).
fn push_with(out: &mut Vec<u8>, id: AvId, value: impl FnOnce(&mut Vec<u8>)) {
    let header = out.len();
    out.extend_from_slice(&id.0.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    value(out);
    let len = u16::try_from(out.len() - header - 4).unwrap_or(u16::MAX);
    out.truncate(header + 4 + usize::from(len));
    out[header + 2..header + 4].copy_from_slice(&len.to_le_bytes());
}

/// Appends one AV_PAIR to an encoded list.
pub(crate) fn push_pair(out: &mut Vec<u8>, id: AvId, value: &[u8]) {
    push_with(out, id, |out| out.extend_from_slice(value));
}

/// Appends one AV_PAIR whose value is `text` in UTF-16LE.
pub(crate) fn push_text_pair(out: &mut Vec<u8>, id: AvId, text: &str) {
    push_with(out, id, |out| push_utf16le(out, text));
}

/// Whether `bytes` is well-formed UTF-16LE (even length, surrogates paired).
fn is_utf16le(bytes: &[u8]) -> bool {
    if !bytes.len().is_multiple_of(2) {
        return false;
    }
    // Without a surrogate (high byte 0xD8 to 0xDF) any sequence of units is well-formed.
    if bytes.chunks_exact(2).all(|c| c[1] & 0xf8 != 0xd8) {
        return true;
    }
    char::decode_utf16(bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]))).all(|c| c.is_ok())
}

/// UTF-16LE bytes of `s`.
pub(crate) fn utf16le(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 2);
    push_utf16le(&mut out, s);
    out
}

/// Appends the UTF-16LE bytes of `s` to `out`.
pub(crate) fn push_utf16le(out: &mut Vec<u8>, s: &str) {
    if s.is_ascii() {
        let start = out.len();
        out.resize(start + s.len() * 2, 0);
        for (unit, b) in out[start..].chunks_exact_mut(2).zip(s.bytes()) {
            unit[0] = b;
        }
        return;
    }
    out.reserve(s.len() * 2);
    for unit in s.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

/// `bytes` as UTF-16LE text, or `None` if the length is odd or a surrogate is unpaired.
pub(crate) fn from_utf16le(bytes: &[u8]) -> Option<String> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    // Names are almost always ASCII: build the string directly.
    if bytes.chunks_exact(2).all(|c| c[1] == 0 && c[0] < 0x80) {
        let mut ascii = String::with_capacity(bytes.len() / 2);
        ascii.extend(bytes.chunks_exact(2).map(|c| char::from(c[0])));
        return Some(ascii);
    }
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16(&units).ok()
}
