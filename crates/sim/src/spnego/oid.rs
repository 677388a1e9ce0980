//! OBJECT IDENTIFIERs, kept as their DER contents, and the mechanisms Negotiate knows.

use std::borrow::Cow;
use std::fmt;

use super::Error;

/// An OBJECT IDENTIFIER, held as its DER contents (the bytes after tag and length), so it
/// compares, hashes and re-encodes exactly as received. `Display` prints the dotted form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Oid(Cow<'static, [u8]>);

/// SPNEGO itself, 1.3.6.1.5.5.2 (RFC 4178 §4.1): the `thisMech` of the `InitialContextToken`.
pub const SPNEGO: Oid = Oid(Cow::Borrowed(&[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]));
/// NTLM, 1.3.6.1.4.1.311.2.2.10 (MS-NLMP, MS-SPNG §1.9).
pub const NTLMSSP: Oid = Oid(Cow::Borrowed(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a]));
/// Kerberos V5, 1.2.840.113554.1.2.2 (RFC 4121).
pub const KERBEROS: Oid = Oid(Cow::Borrowed(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02]));
/// Kerberos V5 as Windows 2000 mis-encoded it, 1.2.840.48018.1.2.2 (MS-KILE §1.9): Windows
/// still lists it first and answers with it.
pub const MS_KERBEROS: Oid = Oid(Cow::Borrowed(&[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02]));
/// Kerberos user-to-user, 1.2.840.113554.1.2.2.3, which Windows servers also advertise.
pub const KERBEROS_USER_TO_USER: Oid =
    Oid(Cow::Borrowed(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x03]));
/// NegoEx, 1.3.6.1.4.1.311.2.2.30 (MS-NEGOEX).
pub const NEGOEX: Oid = Oid(Cow::Borrowed(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e]));

impl Oid {
    /// The OID of the given arcs.
    ///
    /// # Errors
    /// [`Error::BadOid`] (at 0) with fewer than two arcs, a first arc above 2, a second arc
    /// of 40 or more under a first arc of 0 or 1, or a first sub-identifier that overflows.
    pub fn from_arcs(arcs: &[u64]) -> Result<Self, Error> {
        let bad = |reason| Error::BadOid { at: 0, reason };
        let [first, second, rest @ ..] = arcs else {
            return Err(bad("fewer than two arcs"));
        };
        if *first > 2 || (*first < 2 && *second >= 40) {
            return Err(bad("first two arcs out of range"));
        }
        let head = second.checked_add(first * 40).ok_or(bad("first sub-identifier too large"))?;
        let mut out = Vec::new();
        for arc in std::iter::once(head).chain(rest.iter().copied()) {
            push_base128(&mut out, arc);
        }
        Ok(Self(Cow::Owned(out)))
    }

    /// Checks DER contents of an OBJECT IDENTIFIER (X.690 §8.19): not empty, every
    /// sub-identifier minimal (no leading `0x80`), the last one complete. `at` is the offset
    /// of the contents, for errors.
    pub(crate) fn from_der_contents(contents: &[u8], at: usize) -> Result<Self, Error> {
        let Some(&last) = contents.last() else {
            return Err(Error::BadOid { at, reason: "empty" });
        };
        if last & 0x80 != 0 {
            return Err(Error::BadOid { at, reason: "last sub-identifier unterminated" });
        }
        let mut start = true;
        for (i, &b) in contents.iter().enumerate() {
            if start && b == 0x80 {
                return Err(Error::BadOid { at: at + i, reason: "sub-identifier not minimal" });
            }
            start = b & 0x80 == 0;
        }
        Ok(Self(Cow::Owned(contents.to_vec())))
    }

    /// The DER contents (without tag and length).
    pub fn as_der_contents(&self) -> &[u8] {
        &self.0
    }

    /// The arcs, or `None` if one does not fit a `u128`.
    pub fn arcs(&self) -> Option<Vec<u128>> {
        let mut subids = Vec::new();
        let mut acc: u128 = 0;
        for &b in self.0.iter() {
            acc = acc.checked_mul(128)? | u128::from(b & 0x7f);
            if b & 0x80 == 0 {
                subids.push(acc);
                acc = 0;
            }
        }
        let (&head, rest) = subids.split_first()?;
        let (first, second) = match head {
            0..40 => (0, head),
            40..80 => (1, head - 40),
            _ => (2, head - 80),
        };
        Some([first, second].into_iter().chain(rest.iter().copied()).collect())
    }
}

/// Appends `v` in base 128, high groups first, with the continuation bit on all but the last.
fn push_base128(out: &mut Vec<u8>, v: u64) {
    let groups = (64 - v.leading_zeros()).div_ceil(7).max(1);
    for i in (0..groups).rev() {
        // Masked to seven bits, so the cast keeps every bit.
        let group = ((v >> (7 * i)) & 0x7f) as u8;
        out.push(if i == 0 { group } else { group | 0x80 });
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.arcs() {
            Some(arcs) => {
                let dotted: Vec<String> = arcs.iter().map(u128::to_string).collect();
                f.write_str(&dotted.join("."))
            }
            None => {
                f.write_str("oid:")?;
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_mechanisms_print_their_dotted_form() {
        assert_eq!(SPNEGO.to_string(), "1.3.6.1.5.5.2");
        assert_eq!(NTLMSSP.to_string(), "1.3.6.1.4.1.311.2.2.10");
        assert_eq!(KERBEROS.to_string(), "1.2.840.113554.1.2.2");
        assert_eq!(MS_KERBEROS.to_string(), "1.2.840.48018.1.2.2");
        assert_eq!(KERBEROS_USER_TO_USER.to_string(), "1.2.840.113554.1.2.2.3");
        assert_eq!(NEGOEX.to_string(), "1.3.6.1.4.1.311.2.2.30");
    }

    #[test]
    fn named_mechanisms_equal_their_arcs() {
        assert_eq!(Oid::from_arcs(&[1, 3, 6, 1, 4, 1, 311, 2, 2, 10]), Ok(NTLMSSP));
        assert_eq!(Oid::from_arcs(&[1, 2, 840, 48018, 1, 2, 2]), Ok(MS_KERBEROS));
        assert_eq!(Oid::from_arcs(&[2, 999, 3]).map(|o| o.to_string()), Ok("2.999.3".to_owned()));
        assert!(Oid::from_arcs(&[1]).is_err());
        assert!(Oid::from_arcs(&[1, 40]).is_err());
        assert!(Oid::from_arcs(&[3, 1]).is_err());
    }

    #[test]
    fn non_minimal_or_unterminated_contents_are_refused() {
        assert!(Oid::from_der_contents(&[], 0).is_err());
        assert!(Oid::from_der_contents(&[0x2b, 0x80, 0x01], 0).is_err());
        assert!(Oid::from_der_contents(&[0x2b, 0x86], 0).is_err());
        assert!(Oid::from_der_contents(&[0x2b, 0x06], 0).is_ok());
    }
}
