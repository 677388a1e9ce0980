//! The SPNEGO token types and their DER schema (RFC 4178 §4.2, MS-SPNG §2.2).

use super::der::{self, CONSTRUCTED, Tlv};
use super::{Error, Oid, SPNEGO};

/// Decodes one SPNEGO token: an `InitialContextToken` (`0x60 ...`) or a bare
/// `NegotiationToken` (`0xa0 ...` / `0xa1 ...`).
///
/// A token that decodes re-encodes, with [`SpnegoToken::encode`], to exactly `bytes`.
///
/// # Errors
/// Every way bytes can fail to be a strict-DER SPNEGO token has its [`Error`] variant:
/// truncation, trailing data, indefinite or non-minimal lengths, nesting deeper than the
/// codec allows, unexpected tags or fields, bad OIDs, BIT STRINGs or ENUMERATEDs, an unknown
/// `negState`, another mechanism's `InitialContextToken`, or a framed `negTokenResp`.
/// Decoding never panics.
pub fn decode(bytes: &[u8]) -> Result<SpnegoToken, Error> {
    let root = der::parse(bytes)?;
    match root.tag {
        der::TAG_APPLICATION_0 => {
            let mut items = root.children();
            let this_mech =
                items.next().ok_or(Error::Truncated { at: root.content_at, what: "InitialContextToken.thisMech" })?;
            let mech = oid(&this_mech, "InitialContextToken.thisMech OBJECT IDENTIFIER")?;
            if mech != SPNEGO {
                return Err(Error::NotSpnego { mech });
            }
            let inner = items.next().ok_or(Error::MissingField { field: "InitialContextToken.innerContextToken" })?;
            if let Some(extra) = items.next() {
                return Err(Error::TrailingData { at: extra.at, extra: bytes.len() - extra.at });
            }
            match negotiation_token(&inner)? {
                NegotiationToken::Resp(_) => Err(Error::FramedResponse),
                token => Ok(SpnegoToken { framing: Framing::InitialContextToken, token }),
            }
        }
        _ => Ok(SpnegoToken { framing: Framing::Bare, token: negotiation_token(&root)? }),
    }
}

/// The DER encoding of a `MechTypeList` (`SEQUENCE OF MechType`): the bytes a `mechListMIC`
/// is computed over (RFC 4178 §5), exactly as they appear inside `mechTypes [0]`.
pub fn mech_type_list_der(mechs: &[Oid]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + mechs.iter().map(|m| 2 + m.as_der_contents().len()).sum::<usize>());
    write_mech_type_list(&mut out, mechs);
    out
}

fn write_mech_type_list(out: &mut Vec<u8>, mechs: &[Oid]) {
    der::nested(out, der::TAG_SEQUENCE, |out| {
        for mech in mechs {
            der::write(out, der::TAG_OID, mech.as_der_contents());
        }
    });
}

/// A decoded token: how it was framed and what it holds.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SpnegoToken {
    /// Whether the token had the GSS-API `InitialContextToken` framing.
    pub framing: Framing,
    /// The negotiation token.
    pub token: NegotiationToken,
}

impl SpnegoToken {
    /// A first token: `[APPLICATION 0] { 1.3.6.1.5.5.2, token }` (RFC 2743 §3.1, RFC 4178 §4.2).
    pub fn initial(token: NegotiationToken) -> Self {
        Self { framing: Framing::InitialContextToken, token }
    }

    /// A later token: the bare `NegotiationToken`.
    pub fn bare(token: NegotiationToken) -> Self {
        Self { framing: Framing::Bare, token }
    }

    /// The DER encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.token.payload_len());
        match self.framing {
            Framing::Bare => self.token.write(&mut out),
            Framing::InitialContextToken => der::nested(&mut out, der::TAG_APPLICATION_0, |out| {
                der::write(out, der::TAG_OID, SPNEGO.as_der_contents());
                self.token.write(out);
            }),
        }
        out
    }
}

/// How a token is framed on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Framing {
    /// `InitialContextToken` (RFC 2743 §3.1): the first token of a context, and MS-SPNG's
    /// server-initiated `NegTokenInit2`.
    InitialContextToken,
    /// A bare `NegotiationToken`: every later token.
    Bare,
}

/// `NegotiationToken ::= CHOICE { negTokenInit [0], negTokenResp [1] }` (RFC 4178 §4.2),
/// with MS-SPNG's `NegTokenInit2` as a third reading of `[0]`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum NegotiationToken {
    /// RFC 4178 `NegTokenInit`.
    Init(NegTokenInit),
    /// MS-SPNG `NegTokenInit2`: decoded when `[0]` has `negHints [3]` or `mechListMIC [4]`,
    /// or lacks `mechTypes` (which `NegTokenInit` requires). A `NegTokenInit2` with
    /// `mechTypes` and neither `[3]` nor `[4]` has the same bytes as a `NegTokenInit` and
    /// decodes as one.
    Init2(NegTokenInit2),
    /// RFC 4178 `NegTokenResp`.
    Resp(NegTokenResp),
}

impl NegotiationToken {
    /// The DER encoding of the bare token (`[0] ...` or `[1] ...`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.payload_len());
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Init(t) => der::nested(out, der::context(0), |out| t.write_sequence(out)),
            Self::Init2(t) => der::nested(out, der::context(0), |out| t.write_sequence(out)),
            Self::Resp(t) => der::nested(out, der::context(1), |out| t.write_sequence(out)),
        }
    }

    /// The bytes of the mechanism token and MIC it carries: most of an encoding's size.
    fn payload_len(&self) -> usize {
        let len = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, Vec::len);
        match self {
            Self::Init(t) => len(&t.mech_token) + len(&t.mech_list_mic) + 16 * t.mech_types.len(),
            Self::Init2(t) => len(&t.mech_token) + len(&t.mech_list_mic) + 64,
            Self::Resp(t) => len(&t.response_token) + len(&t.mech_list_mic),
        }
    }
}

/// `NegTokenInit` (RFC 4178 §4.2.1): the initiator's list of mechanisms, most preferred
/// first, and optionally the optimistic token of the first.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NegTokenInit {
    /// `mechTypes [0]`: the mechanisms offered, most preferred first.
    pub mech_types: Vec<Oid>,
    /// `reqFlags [1]`: RFC 4178 keeps it for RFC 2478 compatibility and recommends leaving it out.
    pub req_flags: Option<ContextFlags>,
    /// `mechToken [2]`: the optimistic token of `mech_types[0]`.
    pub mech_token: Option<Vec<u8>>,
    /// `mechListMIC [3]`.
    pub mech_list_mic: Option<Vec<u8>>,
}

impl NegTokenInit {
    /// The DER of `mechTypes`, which the `mechListMIC` covers (RFC 4178 §5).
    pub fn mech_list_der(&self) -> Vec<u8> {
        mech_type_list_der(&self.mech_types)
    }

    fn write_sequence(&self, out: &mut Vec<u8>) {
        der::nested(out, der::TAG_SEQUENCE, |out| {
            der::nested(out, der::context(0), |out| write_mech_type_list(out, &self.mech_types));
            if let Some(flags) = &self.req_flags {
                der::nested(out, der::context(1), |out| flags.write(out));
            }
            write_octets(out, 2, self.mech_token.as_deref());
            write_octets(out, 3, self.mech_list_mic.as_deref());
        });
    }
}

/// `NegTokenInit2` (MS-SPNG §2.2.1): what Windows servers send before the client speaks,
/// typically with `negHints.hintName` = `not_defined_in_RFC4178@please_ignore`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NegTokenInit2 {
    /// `mechTypes [0]` (optional here).
    pub mech_types: Option<Vec<Oid>>,
    /// `reqFlags [1]`.
    pub req_flags: Option<ContextFlags>,
    /// `mechToken [2]`.
    pub mech_token: Option<Vec<u8>>,
    /// `negHints [3]`.
    pub neg_hints: Option<NegHints>,
    /// `mechListMIC [4]`.
    pub mech_list_mic: Option<Vec<u8>>,
}

impl NegTokenInit2 {
    fn write_sequence(&self, out: &mut Vec<u8>) {
        der::nested(out, der::TAG_SEQUENCE, |out| {
            if let Some(mechs) = &self.mech_types {
                der::nested(out, der::context(0), |out| write_mech_type_list(out, mechs));
            }
            if let Some(flags) = &self.req_flags {
                der::nested(out, der::context(1), |out| flags.write(out));
            }
            write_octets(out, 2, self.mech_token.as_deref());
            if let Some(hints) = &self.neg_hints {
                der::nested(out, der::context(3), |out| {
                    der::nested(out, der::TAG_SEQUENCE, |out| {
                        if let Some(name) = &hints.hint_name {
                            der::nested(out, der::context(0), |out| der::write(out, der::TAG_GENERAL_STRING, name));
                        }
                        write_octets(out, 1, hints.hint_address.as_deref());
                    });
                });
            }
            write_octets(out, 4, self.mech_list_mic.as_deref());
        });
    }
}

/// `NegHints` (MS-SPNG §2.2.1). Windows ignores both fields on receipt.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NegHints {
    /// `hintName [0] GeneralString`: the raw string bytes.
    pub hint_name: Option<Vec<u8>>,
    /// `hintAddress [1] OCTET STRING`.
    pub hint_address: Option<Vec<u8>>,
}

/// `NegTokenResp` (RFC 4178 §4.2.2): every token after the first.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NegTokenResp {
    /// `negState [0]`.
    pub neg_state: Option<NegState>,
    /// `supportedMech [1]`: the mechanism the acceptor chose (first reply only).
    pub supported_mech: Option<Oid>,
    /// `responseToken [2]`: the mechanism's token.
    pub response_token: Option<Vec<u8>>,
    /// `mechListMIC [3]`.
    pub mech_list_mic: Option<Vec<u8>>,
}

impl NegTokenResp {
    fn write_sequence(&self, out: &mut Vec<u8>) {
        der::nested(out, der::TAG_SEQUENCE, |out| {
            if let Some(state) = self.neg_state {
                der::nested(out, der::context(0), |out| der::write(out, der::TAG_INTEGER_ENUMERATED, &[state.value()]));
            }
            if let Some(mech) = &self.supported_mech {
                der::nested(out, der::context(1), |out| der::write(out, der::TAG_OID, mech.as_der_contents()));
            }
            write_octets(out, 2, self.response_token.as_deref());
            write_octets(out, 3, self.mech_list_mic.as_deref());
        });
    }
}

/// `negState` (RFC 4178 §4.2.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum NegState {
    /// `accept-completed (0)`: no further tokens are expected.
    AcceptCompleted,
    /// `accept-incomplete (1)`: more tokens are expected.
    AcceptIncomplete,
    /// `reject (2)`: the acceptor refuses every mechanism offered.
    Reject,
    /// `request-mic (3)`: the acceptor asks for a `mechListMIC` (RFC 4178 §5).
    RequestMic,
}

impl NegState {
    /// The ENUMERATED value on the wire.
    pub fn value(self) -> u8 {
        match self {
            Self::AcceptCompleted => 0,
            Self::AcceptIncomplete => 1,
            Self::Reject => 2,
            Self::RequestMic => 3,
        }
    }

    /// The state of a wire value, if it is one of the four.
    pub fn from_value(value: i64) -> Option<Self> {
        match value {
            0 => Some(Self::AcceptCompleted),
            1 => Some(Self::AcceptIncomplete),
            2 => Some(Self::Reject),
            3 => Some(Self::RequestMic),
            _ => None,
        }
    }
}

/// One named bit of `ContextFlags` (RFC 4178 §4.2.1), by bit number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ContextFlag(pub u8);

impl ContextFlag {
    /// `delegFlag (0)`.
    pub const DELEG: Self = Self(0);
    /// `mutualFlag (1)`.
    pub const MUTUAL: Self = Self(1);
    /// `replayFlag (2)`.
    pub const REPLAY: Self = Self(2);
    /// `sequenceFlag (3)`.
    pub const SEQUENCE: Self = Self(3);
    /// `anonFlag (4)`.
    pub const ANON: Self = Self(4);
    /// `confFlag (5)`.
    pub const CONF: Self = Self(5);
    /// `integFlag (6)`.
    pub const INTEG: Self = Self(6);
}

/// `ContextFlags ::= BIT STRING` (RFC 4178 §4.2.1), kept as received.
///
/// Decoding checks the DER rules of X.690 §8.6 and §11.2.1 (unused-bit count at most 7 and 0
/// for an empty string, unused bits zero) but not §11.2.2 (trailing zero bits of a named bit
/// list removed): that rule binds the encoder and changes no meaning, and independent
/// implementations break it (pyspnego sends `03 02 00 04`). Keeping the bits as received keeps
/// re-encoding exact. [`ContextFlags::new`] encodes minimally.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct ContextFlags {
    unused_bits: u8,
    bytes: Vec<u8>,
}

impl ContextFlags {
    /// The minimal DER encoding of a set of flags (X.690 §11.2.2).
    pub fn new(flags: &[ContextFlag]) -> Self {
        let Some(highest) = flags.iter().map(|f| usize::from(f.0)).max() else {
            return Self::default();
        };
        let mut bytes = vec![0u8; highest / 8 + 1];
        for f in flags {
            let n = usize::from(f.0);
            bytes[n / 8] |= 0x80 >> (n % 8);
        }
        // Bits past the highest set bit are unused; 7 - (highest % 8) is at most 7.
        let unused_bits = (7 - highest % 8) as u8;
        Self { unused_bits, bytes }
    }

    /// Whether the flag's bit is set.
    pub fn contains(&self, flag: ContextFlag) -> bool {
        let n = usize::from(flag.0);
        let bits = self.bytes.len() * 8 - usize::from(self.unused_bits);
        n < bits && self.bytes[n / 8] & (0x80 >> (n % 8)) != 0
    }

    /// The count of unused bits in the last byte, as on the wire.
    pub fn unused_bits(&self) -> u8 {
        self.unused_bits
    }

    /// The bit bytes, as on the wire (without the unused-bit count).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn decode(tlv: &Tlv<'_>) -> Result<Self, Error> {
        expect(tlv, der::TAG_BIT_STRING, "ContextFlags BIT STRING")?;
        let at = tlv.content_at;
        let bad = |reason| Error::BadBitString { at, reason };
        let (&unused_bits, bytes) = tlv.content.split_first().ok_or(bad("no unused-bit count"))?;
        if unused_bits > 7 {
            return Err(bad("unused-bit count above 7"));
        }
        match bytes.last() {
            None if unused_bits != 0 => return Err(bad("unused bits in an empty string")),
            Some(&last) if last & ((1u8 << unused_bits) - 1) != 0 => return Err(bad("unused bits not zero")),
            _ => {}
        }
        Ok(Self { unused_bits, bytes: bytes.to_vec() })
    }

    fn write(&self, out: &mut Vec<u8>) {
        der::nested(out, der::TAG_BIT_STRING, |out| {
            out.push(self.unused_bits);
            out.extend_from_slice(&self.bytes);
        });
    }
}

// ---- decoding schema ----

fn negotiation_token(tlv: &Tlv<'_>) -> Result<NegotiationToken, Error> {
    match tlv.tag {
        t if t == der::context(0) => init(&sequence(&explicit(tlv, "NegTokenInit")?, "NegTokenInit SEQUENCE")?),
        t if t == der::context(1) => {
            resp(&sequence(&explicit(tlv, "NegTokenResp")?, "NegTokenResp SEQUENCE")?).map(NegotiationToken::Resp)
        }
        found => Err(Error::UnexpectedTag {
            at: tlv.at,
            expected: "InitialContextToken [APPLICATION 0] or NegotiationToken [0]/[1]",
            found,
        }),
    }
}

fn init(seq: &Tlv<'_>) -> Result<NegotiationToken, Error> {
    let mut f = Fields::new(seq, "NegTokenInit");
    let mech_types = f.take(0);
    let req_flags = f.take(1);
    let mech_token = f.take(2);
    let third = f.take(3);
    let fourth = f.take(4);
    f.finish()?;
    let third = third.map(|t| explicit(&t, "NegTokenInit field [3]")).transpose()?;
    let init2 = fourth.is_some() || third.is_some_and(|t| t.tag == der::TAG_SEQUENCE) || mech_types.is_none();
    let mech_types = mech_types.map(|t| mech_type_list(&explicit(&t, "mechTypes")?)).transpose()?;
    let req_flags = req_flags.map(|t| ContextFlags::decode(&explicit(&t, "reqFlags")?)).transpose()?;
    let mech_token = mech_token.map(|t| octets(&explicit(&t, "mechToken")?, "mechToken OCTET STRING")).transpose()?;
    if init2 {
        let neg_hints = third.map(|t| neg_hints(&t)).transpose()?;
        let mech_list_mic =
            fourth.map(|t| octets(&explicit(&t, "mechListMIC")?, "mechListMIC OCTET STRING")).transpose()?;
        Ok(NegotiationToken::Init2(NegTokenInit2 { mech_types, req_flags, mech_token, neg_hints, mech_list_mic }))
    } else {
        let mech_types = mech_types.ok_or(Error::MissingField { field: "NegTokenInit.mechTypes" })?;
        let mech_list_mic = third.map(|t| octets(&t, "mechListMIC OCTET STRING or NegHints SEQUENCE")).transpose()?;
        Ok(NegotiationToken::Init(NegTokenInit { mech_types, req_flags, mech_token, mech_list_mic }))
    }
}

fn neg_hints(tlv: &Tlv<'_>) -> Result<NegHints, Error> {
    let seq = sequence(tlv, "NegHints SEQUENCE")?;
    let mut f = Fields::new(&seq, "NegHints");
    let name = f.take(0);
    let address = f.take(1);
    f.finish()?;
    let hint_name = name
        .map(|t| {
            let s = explicit(&t, "hintName")?;
            expect(&s, der::TAG_GENERAL_STRING, "hintName GeneralString").map(|()| s.content.to_vec())
        })
        .transpose()?;
    let hint_address =
        address.map(|t| octets(&explicit(&t, "hintAddress")?, "hintAddress OCTET STRING")).transpose()?;
    Ok(NegHints { hint_name, hint_address })
}

fn resp(seq: &Tlv<'_>) -> Result<NegTokenResp, Error> {
    let mut f = Fields::new(seq, "NegTokenResp");
    let state = f.take(0);
    let mech = f.take(1);
    let token = f.take(2);
    let mic = f.take(3);
    f.finish()?;
    Ok(NegTokenResp {
        neg_state: state.map(|t| neg_state(&explicit(&t, "negState")?)).transpose()?,
        supported_mech: mech
            .map(|t| oid(&explicit(&t, "supportedMech")?, "supportedMech OBJECT IDENTIFIER"))
            .transpose()?,
        response_token: token
            .map(|t| octets(&explicit(&t, "responseToken")?, "responseToken OCTET STRING"))
            .transpose()?,
        mech_list_mic: mic.map(|t| octets(&explicit(&t, "mechListMIC")?, "mechListMIC OCTET STRING")).transpose()?,
    })
}

fn neg_state(tlv: &Tlv<'_>) -> Result<NegState, Error> {
    expect(tlv, der::TAG_INTEGER_ENUMERATED, "negState ENUMERATED")?;
    let at = tlv.content_at;
    let c = tlv.content;
    let non_minimal = c.len() > 1 && ((c[0] == 0 && c[1] & 0x80 == 0) || (c[0] == 0xff && c[1] & 0x80 != 0));
    if c.is_empty() || non_minimal {
        return Err(Error::BadEnumerated { at });
    }
    let value = (c.len() <= 8).then(|| {
        let sign = if c[0] & 0x80 != 0 { -1i64 } else { 0 };
        c.iter().fold(sign, |acc, &b| (acc << 8) | i64::from(b))
    });
    value.and_then(NegState::from_value).ok_or(Error::UnknownNegState { at, value })
}

fn mech_type_list(tlv: &Tlv<'_>) -> Result<Vec<Oid>, Error> {
    sequence(tlv, "MechTypeList SEQUENCE")?.children().map(|t| oid(&t, "MechType OBJECT IDENTIFIER")).collect()
}

fn oid(tlv: &Tlv<'_>, expected: &'static str) -> Result<Oid, Error> {
    expect(tlv, der::TAG_OID, expected)?;
    Oid::from_der_contents(tlv.content, tlv.content_at)
}

fn octets(tlv: &Tlv<'_>, expected: &'static str) -> Result<Vec<u8>, Error> {
    expect(tlv, der::TAG_OCTET_STRING, expected).map(|()| tlv.content.to_vec())
}

fn sequence<'a>(tlv: &Tlv<'a>, expected: &'static str) -> Result<Tlv<'a>, Error> {
    expect(tlv, der::TAG_SEQUENCE, expected).map(|()| *tlv)
}

/// The single value inside an EXPLICIT tag.
fn explicit<'a>(tlv: &Tlv<'a>, what: &'static str) -> Result<Tlv<'a>, Error> {
    let mut children = tlv.children();
    match (children.next(), children.next()) {
        (Some(inner), None) => Ok(inner),
        (None, _) => Err(Error::Truncated { at: tlv.content_at, what }),
        (Some(_), Some(extra)) => {
            Err(Error::TrailingData { at: extra.at, extra: tlv.content_at + tlv.content.len() - extra.at })
        }
    }
}

fn expect(tlv: &Tlv<'_>, tag: u8, expected: &'static str) -> Result<(), Error> {
    if tlv.tag == tag { Ok(()) } else { Err(Error::UnexpectedTag { at: tlv.at, expected, found: tlv.tag }) }
}

/// Appends `[n] OCTET STRING` when present.
fn write_octets(out: &mut Vec<u8>, n: u8, value: Option<&[u8]>) {
    if let Some(v) = value {
        der::nested(out, der::context(n), |out| der::write(out, der::TAG_OCTET_STRING, v));
    }
}

/// Walks the fields of a SEQUENCE in tag order: each optional field is taken if it is next.
struct Fields<'a> {
    items: std::iter::Peekable<der::Children<'a>>,
    within: &'static str,
}

impl<'a> Fields<'a> {
    fn new(seq: &Tlv<'a>, within: &'static str) -> Self {
        Self { items: seq.children().peekable(), within }
    }

    /// The field `[n]` if it is the next one (and constructed, as EXPLICIT tags are).
    fn take(&mut self, n: u8) -> Option<Tlv<'a>> {
        self.items.next_if(|t| t.tag == der::context(n) && t.tag & CONSTRUCTED != 0)
    }

    /// Fails on the first field not taken: unknown, repeated or out of order.
    fn finish(mut self) -> Result<(), Error> {
        match self.items.next() {
            Some(t) => Err(Error::UnexpectedField { at: t.at, tag: t.tag, within: self.within }),
            None => Ok(()),
        }
    }
}
