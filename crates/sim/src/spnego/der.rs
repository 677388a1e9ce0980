//! A small, strict DER reader and writer: only what SPNEGO needs (X.690 §8 and §10).
//!
//! Decoding is two phases. [`parse`] checks every DER framing rule over the whole input
//! (single-byte tags, definite minimal lengths, no trailing data, bounded nesting) and returns
//! the root [`Tlv`]; the schema code in `token.rs` then walks the values ([`Tlv::children`]
//! reads them on demand, nothing is stored) onto the SPNEGO types, checking tags, field order
//! and value rules. Primitive contents (an OCTET STRING holding a mechanism token) are never
//! parsed as nested DER. Encoding writes a whole token into one buffer ([`nested`]).

use super::Error;

/// Deepest nesting of constructed values [`parse`] accepts. The SPNEGO schema needs six
/// (`[APPLICATION 0]` / `[0]` / `SEQUENCE` / `[3]` / `SEQUENCE` / `[0]`); anything deeper than
/// this limit is refused before the schema looks at it, and recursion stays bounded.
pub(crate) const MAX_DEPTH: usize = 8;

/// Longest length field accepted, in bytes after the `0x8N` byte: 4 (lengths below 4 GiB).
const MAX_LENGTH_BYTES: usize = 4;

/// Universal tags and the constructed bit.
pub(crate) const CONSTRUCTED: u8 = 0x20;
pub(crate) const TAG_INTEGER_ENUMERATED: u8 = 0x0a;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_GENERAL_STRING: u8 = 0x1b;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
/// `[APPLICATION 0]`, constructed.
pub(crate) const TAG_APPLICATION_0: u8 = 0x60;

/// The tag byte of the constructed context-specific tag `[n]` (n < 31).
pub(crate) const fn context(n: u8) -> u8 {
    0xa0 | n
}

/// One decoded value: its tag byte, where it starts in the input and its contents. The values
/// inside a constructed one are read on demand ([`Tlv::children`]): [`parse`] has checked
/// them all already, so nothing is stored or allocated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    /// The identifier octet (class, constructed bit, tag number below 31).
    pub(crate) tag: u8,
    /// Offset of the identifier octet in the whole input.
    pub(crate) at: usize,
    /// Offset of the first content octet in the whole input.
    pub(crate) content_at: usize,
    /// The content octets.
    pub(crate) content: &'a [u8],
    /// The whole input up to the end of this value (children are read within it).
    input: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// The values inside a constructed value, in order (none for a primitive one).
    pub(crate) fn children(&self) -> Children<'a> {
        let end = self.content_at + self.content.len();
        let pos = if self.tag & CONSTRUCTED != 0 { self.content_at } else { end };
        Children { input: &self.input[..end], pos }
    }
}

/// The values inside a constructed value ([`Tlv::children`]).
#[derive(Clone, Debug)]
pub(crate) struct Children<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Children<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        if self.pos >= self.input.len() {
            return None;
        }
        match read_one(self.input, self.pos) {
            Ok((child, next)) => {
                self.pos = next;
                Some(child)
            }
            // `parse` checked every value, so this cannot happen; a release build ends the
            // iteration, a debug build (the tests, the fuzzers) says so.
            Err(e) => {
                debug_assert!(false, "a value parse() checked does not read again: {e:?}");
                None
            }
        }
    }
}

/// Parses `input` as exactly one DER value (anything after it is [`Error::TrailingData`]),
/// checking every value inside.
pub(crate) fn parse(input: &[u8]) -> Result<Tlv<'_>, Error> {
    let end = check_one(input, 0, 1)?;
    if end != input.len() {
        return Err(Error::TrailingData { at: end, extra: input.len() - end });
    }
    read_one(input, 0).map(|(tlv, _)| tlv)
}

/// Reads the value at `at` (identifier, length, contents) without looking inside it; returns
/// it and the offset just past it.
fn read_one(input: &[u8], at: usize) -> Result<(Tlv<'_>, usize), Error> {
    let tag = *input.get(at).ok_or(Error::Truncated { at, what: "an identifier octet" })?;
    if tag & 0x1f == 0x1f {
        return Err(Error::HighTagNumber { at });
    }
    let (len, content_at) = parse_length(input, at + 1)?;
    let end = content_at
        .checked_add(len)
        .filter(|&e| e <= input.len())
        .ok_or(Error::Truncated { at: content_at, what: "the contents its length announces" })?;
    Ok((Tlv { tag, at, content_at, content: &input[content_at..end], input: &input[..end] }, end))
}

/// Checks the value at `at` and, for a constructed one, every value inside, to `MAX_DEPTH`;
/// returns the offset just past it.
fn check_one(input: &[u8], at: usize, depth: usize) -> Result<usize, Error> {
    let (tlv, end) = read_one(input, at)?;
    if tlv.tag & CONSTRUCTED != 0 {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep { at, limit: MAX_DEPTH });
        }
        let mut pos = tlv.content_at;
        while pos < end {
            // Children may not run past their parent: check them within `input[..end]`.
            pos = check_one(&input[..end], pos, depth + 1)?;
        }
    }
    Ok(end)
}

/// Parses the length octets at `at`: definite form only, minimal (X.690 §10.1).
fn parse_length(input: &[u8], at: usize) -> Result<(usize, usize), Error> {
    let first = *input.get(at).ok_or(Error::Truncated { at, what: "a length octet" })?;
    if first < 0x80 {
        return Ok((usize::from(first), at + 1));
    }
    if first == 0x80 {
        return Err(Error::IndefiniteLength { at });
    }
    let n = usize::from(first & 0x7f);
    if n > MAX_LENGTH_BYTES {
        return Err(Error::LengthTooLarge { at });
    }
    let bytes = input.get(at + 1..at + 1 + n).ok_or(Error::Truncated { at, what: "the long-form length octets" })?;
    if bytes[0] == 0 {
        return Err(Error::NonMinimalLength { at });
    }
    let len = bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    if len < 0x80 {
        return Err(Error::NonMinimalLength { at });
    }
    Ok((len, at + 1 + n))
}

/// Appends one value: tag, minimal definite length, contents.
pub(crate) fn write(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    write_length(out, content.len());
    out.extend_from_slice(content);
}

/// One value as a new buffer.
#[cfg(test)]
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    write(&mut out, tag, content);
    out
}

/// Appends one constructed value whose contents `contents` appends: the length is written
/// once the contents are known, in place (the contents move right only when the length needs
/// more than one byte), so a whole token is written into one buffer.
pub(crate) fn nested(out: &mut Vec<u8>, tag: u8, contents: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag);
    let length_at = out.len();
    out.push(0);
    contents(out);
    let len = out.len() - length_at - 1;
    if len < 0x80 {
        // Fits the short form: checked just above.
        out[length_at] = len as u8;
        return;
    }
    // Long form: 0x80 | n, then n big-endian bytes; the contents move right by n.
    let bytes = len.to_be_bytes();
    let significant = &bytes[bytes.iter().take_while(|&&b| b == 0).count()..];
    let n = significant.len();
    let contents_at = length_at + 1;
    let old_end = out.len();
    out.resize(old_end + n, 0);
    out.copy_within(contents_at..old_end, contents_at + n);
    // At most size_of::<usize>() (8) bytes, so the count fits the low seven bits.
    out[length_at] = 0x80 | n as u8;
    out[contents_at..contents_at + n].copy_from_slice(significant);
}

/// Appends a minimal definite length.
fn write_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Fits: checked just above.
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    let significant = &bytes[skip..];
    // At most size_of::<usize>() (8) bytes, so the count fits the low seven bits.
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_written_minimally() {
        for (len, head) in [(0usize, vec![0x04, 0x00]), (127, vec![0x04, 0x7f]), (128, vec![0x04, 0x81, 0x80])] {
            let out = tlv(0x04, &vec![0; len]);
            assert_eq!(&out[..head.len()], &head[..]);
            assert_eq!(parse(&out).map(|t| t.content.len()), Ok(len));
        }
        let out = tlv(0x04, &[0; 256]);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x00]);
    }

    #[test]
    fn nested_writes_what_tlv_writes() {
        // Contents of exactly these lengths: each side of every length-form boundary.
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536] {
            let contents: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = vec![0xee];
            nested(&mut out, 0x30, |o| o.extend_from_slice(&contents));
            let mut expected = vec![0xee];
            expected.extend_from_slice(&tlv(0x30, &contents));
            assert_eq!(out, expected, "contents of {len} bytes");
            // And one level deeper, as the token writers nest.
            let mut out = Vec::new();
            nested(&mut out, 0xa2, |o| nested(o, 0x04, |o| o.extend_from_slice(&contents)));
            assert_eq!(out, tlv(0xa2, &tlv(0x04, &contents)), "nested contents of {len} bytes");
        }
    }

    #[test]
    fn non_minimal_and_indefinite_lengths_are_refused() {
        assert_eq!(parse(&[0x04, 0x81, 0x01, 0x00]).map(|_| ()), Err(Error::NonMinimalLength { at: 1 }));
        assert_eq!(parse(&[0x04, 0x82, 0x00, 0x80]).map(|_| ()), Err(Error::NonMinimalLength { at: 1 }));
        assert_eq!(parse(&[0x30, 0x80, 0x00, 0x00]).map(|_| ()), Err(Error::IndefiniteLength { at: 1 }));
        assert_eq!(parse(&[0x04, 0x85, 1, 1, 1, 1, 1]).map(|_| ()), Err(Error::LengthTooLarge { at: 1 }));
    }

    #[test]
    fn children_may_not_overrun_their_parent() {
        // SEQUENCE of length 2 holding an OCTET STRING that claims 3 bytes.
        assert!(matches!(parse(&[0x30, 0x02, 0x04, 0x03, 0x00, 0x00, 0x00]), Err(Error::Truncated { .. })));
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let mut v = tlv(0x04, &[]);
        for _ in 0..MAX_DEPTH {
            v = tlv(0x30, &v);
        }
        assert!(parse(&v).is_ok(), "{MAX_DEPTH} constructed levels are allowed");
        let deeper = tlv(0x30, &v);
        assert_eq!(parse(&deeper).map(|_| ()), Err(Error::TooDeep { at: 2 * MAX_DEPTH, limit: MAX_DEPTH }));
    }
}
