//! `SEC_WINNT_AUTH_IDENTITY_A` / `_W`: explicit credentials passed as `pAuthData`.
//!
//! The structure's `Flags` decide how its strings are encoded, not the entry point it is passed
//! to \[D, DOC-AUTHID\]: an identity marked `SEC_WINNT_AUTH_IDENTITY_ANSI` given to the W function
//! is still read as ANSI. So this type keeps the raw bytes and the character counts, and decodes
//! only when a package reads it.

use std::fmt;

/// `SEC_WINNT_AUTH_IDENTITY_ANSI`.
pub const SEC_WINNT_AUTH_IDENTITY_ANSI: u32 = 0x1;
/// `SEC_WINNT_AUTH_IDENTITY_UNICODE`.
pub const SEC_WINNT_AUTH_IDENTITY_UNICODE: u32 = 0x2;

/// One string field of the identity: its raw bytes and its length in characters (excluding
/// the NUL), as `User` / `UserLength` and so on.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct IdentityField {
    /// The bytes the pointer refers to (UTF-16LE for Unicode identities).
    pub bytes: Vec<u8>,
    /// The `*Length` field: characters, not bytes.
    pub length: u32,
}

impl fmt::Debug for IdentityField {
    /// Prints sizes only: the field may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityField({} bytes, length {})", self.bytes.len(), self.length)
    }
}

impl IdentityField {
    fn ansi(s: &str) -> Self {
        let bytes: Vec<u8> = s.chars().map(|c| if (c as u32) < 256 { c as u8 } else { b'?' }).collect();
        Self { length: bytes.len() as u32, bytes }
    }

    fn unicode(s: &str) -> Self {
        let units: Vec<u16> = s.encode_utf16().collect();
        Self { length: units.len() as u32, bytes: units.iter().flat_map(|u| u.to_le_bytes()).collect() }
    }

    fn decode(&self, unicode: bool) -> Option<String> {
        let n = self.length as usize;
        if unicode {
            let bytes = self.bytes.get(..n.checked_mul(2)?)?;
            let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        } else {
            Some(self.bytes.get(..n)?.iter().map(|&b| b as char).collect())
        }
    }
}

/// `SEC_WINNT_AUTH_IDENTITY_A` / `SEC_WINNT_AUTH_IDENTITY_W`.
///
/// `Debug` never prints the password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct AuthIdentity {
    /// `User` / `UserLength`.
    pub user: IdentityField,
    /// `Domain` / `DomainLength`.
    pub domain: IdentityField,
    /// `Password` / `PasswordLength`.
    pub password: IdentityField,
    /// `Flags`: `SEC_WINNT_AUTH_IDENTITY_ANSI` or `SEC_WINNT_AUTH_IDENTITY_UNICODE`.
    pub flags: u32,
}

/// The decoded strings of an [`AuthIdentity`].
#[derive(Clone, PartialEq, Eq)]
pub struct DecodedIdentity {
    /// User name.
    pub user: String,
    /// Domain name (may be empty).
    pub domain: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for DecodedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodedIdentity")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why an identity could not be decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IdentityError {
    /// `Flags` holds neither ANSI nor UNICODE.
    BadFlags(u32),
    /// A length counts more characters than its buffer holds, or UTF-16 is invalid.
    BadString(&'static str),
}

impl AuthIdentity {
    /// A `SEC_WINNT_AUTH_IDENTITY_W` with `Flags = SEC_WINNT_AUTH_IDENTITY_UNICODE`.
    pub fn unicode(user: &str, domain: &str, password: &str) -> Self {
        Self {
            user: IdentityField::unicode(user),
            domain: IdentityField::unicode(domain),
            password: IdentityField::unicode(password),
            flags: SEC_WINNT_AUTH_IDENTITY_UNICODE,
        }
    }

    /// A `SEC_WINNT_AUTH_IDENTITY_A` with `Flags = SEC_WINNT_AUTH_IDENTITY_ANSI`.
    pub fn ansi(user: &str, domain: &str, password: &str) -> Self {
        Self {
            user: IdentityField::ansi(user),
            domain: IdentityField::ansi(domain),
            password: IdentityField::ansi(password),
            flags: SEC_WINNT_AUTH_IDENTITY_ANSI,
        }
    }

    /// Decodes the three strings the way `Flags` says.
    ///
    /// # Errors
    ///
    /// [`IdentityError::BadFlags`] when neither ANSI nor UNICODE is set (both: read as ANSI);
    /// [`IdentityError::BadString`] when a length overruns its buffer.
    pub fn decode(&self) -> Result<DecodedIdentity, IdentityError> {
        // msv1_0 tests the ANSI bit first, so an identity with both bits reads as ANSI [I]
        // (docs/research/package-info.md, S10).
        let unicode = if self.flags & SEC_WINNT_AUTH_IDENTITY_ANSI != 0 {
            false
        } else if self.flags & SEC_WINNT_AUTH_IDENTITY_UNICODE != 0 {
            true
        } else {
            return Err(IdentityError::BadFlags(self.flags));
        };
        let field = |f: &IdentityField, name| f.decode(unicode).ok_or(IdentityError::BadString(name));
        Ok(DecodedIdentity {
            user: field(&self.user, "User")?,
            domain: field(&self.domain, "Domain")?,
            password: field(&self.password, "Password")?,
        })
    }
}

impl fmt::Debug for AuthIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unicode = self.flags & SEC_WINNT_AUTH_IDENTITY_UNICODE != 0;
        f.debug_struct("AuthIdentity")
            .field("user", &self.user.decode(unicode))
            .field("domain", &self.domain.decode(unicode))
            .field("password", &format_args!("<redacted {} chars>", self.password.length))
            .field("flags", &format_args!("0x{:x}", self.flags))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_decide_the_encoding() {
        let w = AuthIdentity::unicode("alice", "CONTOSO", "Passw0rd!");
        let d = w.decode().unwrap();
        assert_eq!((d.user.as_str(), d.domain.as_str(), d.password.as_str()), ("alice", "CONTOSO", "Passw0rd!"));
        // The same UTF-16 bytes read as ANSI give different text: the flag, not the caller, decides.
        let mut mislabelled = w.clone();
        mislabelled.flags = SEC_WINNT_AUTH_IDENTITY_ANSI;
        assert_eq!(mislabelled.decode().unwrap().user, "a\0l\0i");
        let a = AuthIdentity::ansi("bob", "", "pw");
        assert_eq!(a.decode().unwrap().user, "bob");
    }

    #[test]
    fn bad_flags_and_lengths_are_reported() {
        let mut id = AuthIdentity::ansi("bob", "D", "pw");
        id.flags = 0;
        assert_eq!(id.decode(), Err(IdentityError::BadFlags(0)));
        id.flags = SEC_WINNT_AUTH_IDENTITY_ANSI | SEC_WINNT_AUTH_IDENTITY_UNICODE;
        assert_eq!(id.decode().unwrap().user, "bob", "both bits read as ANSI");
        let mut id = AuthIdentity::unicode("bob", "D", "pw");
        id.user.length = 40;
        assert_eq!(id.decode(), Err(IdentityError::BadString("User")));
    }

    #[test]
    fn debug_redacts_the_password() {
        let text = format!("{:?}", AuthIdentity::unicode("alice", "C", "TopSecret"));
        assert!(!text.contains("TopSecret"), "{text}");
        assert!(text.contains("<redacted 9 chars>"), "{text}");
        let text = format!("{:?}", AuthIdentity::unicode("alice", "C", "TopSecret").decode().unwrap());
        assert!(!text.contains("TopSecret"), "{text}");
    }
}
