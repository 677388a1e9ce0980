//! A small, strict DER reader and writer: only what SPNEGO needs (X.690 §8 and §10).
//!
//! Decoding is two phases. [`parse`] turns bytes into a tree of [`Tlv`]s, checking every DER
//! framing rule (single-byte tags, definite minimal lengths, no trailing data, bounded nesting);
//! the schema code in `token.rs` then maps the tree onto the SPNEGO types, checking tags, field
//! order and value rules. Primitive contents (an OCTET STRING holding a mechanism token) are
//! never parsed as nested DER.

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

/// One decoded value: its tag byte, where it starts in the input, its contents and, when it is
/// constructed, the values inside.
#[derive(Debug)]
pub(crate) struct Tlv<'a> {
    /// The identifier octet (class, constructed bit, tag number below 31).
    pub(crate) tag: u8,
    /// Offset of the identifier octet in the whole input.
    pub(crate) at: usize,
    /// Offset of the first content octet in the whole input.
    pub(crate) content_at: usize,
    /// The content octets.
    pub(crate) content: &'a [u8],
    /// The values inside, for a constructed value (empty for a primitive one).
    pub(crate) children: Vec<Tlv<'a>>,
}

/// Parses `input` as exactly one DER value (anything after it is [`Error::TrailingData`]).
pub(crate) fn parse(input: &[u8]) -> Result<Tlv<'_>, Error> {
    let (tlv, end) = parse_one(input, 0, 1)?;
    if end != input.len() {
        return Err(Error::TrailingData { at: end, extra: input.len() - end });
    }
    Ok(tlv)
}

/// Parses one value starting at `at`; returns it and the offset just past it.
fn parse_one(input: &[u8], at: usize, depth: usize) -> Result<(Tlv<'_>, usize), Error> {
    let tag = *input.get(at).ok_or(Error::Truncated { at, what: "an identifier octet" })?;
    if tag & 0x1f == 0x1f {
        return Err(Error::HighTagNumber { at });
    }
    let (len, content_at) = parse_length(input, at + 1)?;
    let end = content_at
        .checked_add(len)
        .filter(|&e| e <= input.len())
        .ok_or(Error::Truncated { at: content_at, what: "the contents its length announces" })?;
    let content = &input[content_at..end];
    let mut children = Vec::new();
    if tag & CONSTRUCTED != 0 {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep { at, limit: MAX_DEPTH });
        }
        let mut pos = content_at;
        while pos < end {
            // Children may not run past their parent: parse them within `input[..end]`.
            let (child, next) = parse_one(&input[..end], pos, depth + 1)?;
            children.push(child);
            pos = next;
        }
    }
    Ok((Tlv { tag, at, content_at, content, children }, end))
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
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    write(&mut out, tag, content);
    out
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
