//! Small SSPI value types: credential use, LUID, time stamps and strings.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `fCredentialUse` of `AcquireCredentialsHandle`: how the credentials will be used.
///
/// A newtype over the 32-bit flags, so any value a caller passes is kept and can be checked.
/// Values: `sspi.h` `SECPKG_CRED_*` \[H\] (spec §9.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialUse(pub u32);

impl CredentialUse {
    /// `SECPKG_CRED_INBOUND`: validate an incoming (server) credential.
    pub const INBOUND: Self = Self(0x0000_0001);
    /// `SECPKG_CRED_OUTBOUND`: a local client credential to prepare an outgoing token.
    pub const OUTBOUND: Self = Self(0x0000_0002);
    /// `SECPKG_CRED_BOTH`: inbound and outbound.
    pub const BOTH: Self = Self(0x0000_0003);
    /// `SECPKG_CRED_DEFAULT`.
    pub const DEFAULT: Self = Self(0x0000_0004);
    /// `SECPKG_CRED_AUTOLOGON_RESTRICTED`.
    pub const AUTOLOGON_RESTRICTED: Self = Self(0x0000_0010);
    /// `SECPKG_CRED_PROCESS_POLICY_ONLY`.
    pub const PROCESS_POLICY_ONLY: Self = Self(0x0000_0020);
    /// `SECPKG_CRED_RESERVED`: bits reserved by the system.
    pub const RESERVED: Self = Self(0xF000_0000);

    /// True if every bit of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True for inbound credentials (`SECPKG_CRED_INBOUND` set).
    pub const fn is_inbound(self) -> bool {
        self.0 & Self::INBOUND.0 != 0
    }

    /// True for outbound credentials (`SECPKG_CRED_OUTBOUND` set).
    pub const fn is_outbound(self) -> bool {
        self.0 & Self::OUTBOUND.0 != 0
    }
}

impl std::ops::BitOr for CredentialUse {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl fmt::Debug for CredentialUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::INBOUND, "SECPKG_CRED_INBOUND"),
            (Self::OUTBOUND, "SECPKG_CRED_OUTBOUND"),
            (Self::DEFAULT, "SECPKG_CRED_DEFAULT"),
            (Self::AUTOLOGON_RESTRICTED, "SECPKG_CRED_AUTOLOGON_RESTRICTED"),
            (Self::PROCESS_POLICY_ONLY, "SECPKG_CRED_PROCESS_POLICY_ONLY"),
        ];
        let mut rest = self.0;
        let mut parts = Vec::new();
        for (flag, name) in names {
            if rest & flag.0 != 0 {
                parts.push(name.to_string());
                rest &= !flag.0;
            }
        }
        if rest != 0 || parts.is_empty() {
            parts.push(format!("0x{rest:X}"));
        }
        f.write_str(&parts.join(" | "))
    }
}

/// `LUID`: a locally unique identifier, here the id of a logon session \[H\] (spec §9.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Luid {
    /// `LowPart`.
    pub low_part: u32,
    /// `HighPart`.
    pub high_part: i32,
}

impl Luid {
    /// The LUID of the `SYSTEM` logon session (`SYSTEM_LUID`, 0x3E7).
    pub const SYSTEM: Luid = Luid::from_u64(0x3E7);
    /// The LUID of the anonymous logon session (`ANONYMOUS_LOGON_LUID`, 0x3E6).
    pub const ANONYMOUS: Luid = Luid::from_u64(0x3E6);

    /// Builds a LUID from its 64-bit value (`HighPart` in the upper half).
    pub const fn from_u64(v: u64) -> Self {
        Self { low_part: v as u32, high_part: (v >> 32) as i32 }
    }

    /// The 64-bit value.
    pub const fn as_u64(self) -> u64 {
        ((self.high_part as u32 as u64) << 32) | self.low_part as u64
    }
}

impl fmt::Display for Luid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}:0x{:x}", self.high_part as u32, self.low_part)
    }
}

impl fmt::Debug for Luid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Luid({self})")
    }
}

impl std::str::FromStr for Luid {
    type Err = String;

    /// Parses `0x3e7`, `999` or `0x0:0x3e7` (high:low).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        fn num(t: &str) -> Result<u64, String> {
            let t = t.trim();
            let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16),
                None => t.parse(),
            };
            r.map_err(|e| format!("`{t}` is not a number: {e}"))
        }
        match s.split_once(':') {
            Some((hi, lo)) => {
                let (hi, lo) = (num(hi)?, num(lo)?);
                if hi > u32::MAX as u64 || lo > u32::MAX as u64 {
                    return Err(format!("LUID `{s}`: a part exceeds 32 bits"));
                }
                Ok(Luid::from_u64((hi << 32) | lo))
            }
            None => num(s).map(Luid::from_u64),
        }
    }
}

impl Serialize for Luid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{:x}", self.as_u64()))
    }
}

impl<'de> Deserialize<'de> for Luid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Int(u64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Int(v) => Ok(Luid::from_u64(v)),
            Repr::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// `TimeStamp` (`SECURITY_INTEGER`): 100-nanosecond ticks since 1601-01-01, as `FILETIME`
/// \[D, DOC-TS\]. Packages report expiry times in local time \[D\].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimeStamp(pub i64);

impl TimeStamp {
    /// Ticks per second.
    pub const TICKS_PER_SECOND: i64 = 10_000_000;
    /// Seconds between 1601-01-01 and 1970-01-01.
    pub const UNIX_EPOCH_SECONDS: i64 = 11_644_473_600;
    /// The largest value, which SSPI packages use for "never expires" (see `docs/FIDELITY.md`).
    pub const NEVER: TimeStamp = TimeStamp(i64::MAX);

    /// The time stamp of a Unix time in seconds.
    pub const fn from_unix_seconds(secs: i64) -> Self {
        Self((secs + Self::UNIX_EPOCH_SECONDS) * Self::TICKS_PER_SECOND)
    }

    /// Adds whole seconds, saturating at [`TimeStamp::NEVER`].
    pub const fn plus_seconds(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(Self::TICKS_PER_SECOND)))
    }

    /// Formats as `YYYY-MM-DD hh:mm:ss` (proleptic Gregorian), or `never`.
    pub fn to_civil_string(self) -> String {
        if self == Self::NEVER {
            return "never".to_string();
        }
        let secs = self.0.div_euclid(Self::TICKS_PER_SECOND) - Self::UNIX_EPOCH_SECONDS;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
    }

    /// Parses `YYYY-MM-DDThh:mm:ssZ` (or with a space instead of `T`, `Z` optional) as UTC.
    pub fn parse_utc(s: &str) -> Option<Self> {
        let s = s.trim().trim_end_matches('Z');
        let (date, time) = s.split_once(['T', ' '])?;
        let mut dp = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
        let (y, mo, d) = (dp.next()??, dp.next()??, dp.next()??);
        let mut tp = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
        let (h, mi, se) = (tp.next()??, tp.next()??, tp.next()??);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let days = days_from_civil(y, mo, d);
        Some(Self::from_unix_seconds(days * 86_400 + h * 3600 + mi * 60 + se))
    }
}

impl fmt::Debug for TimeStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimeStamp({} = {})", self.0, self.to_civil_string())
    }
}

// Howard Hinnant's civil-calendar algorithms (public domain description, re-derived here).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `UNICODE_STRING` / `SECURITY_STRING`: a counted UTF-16 string, as the kernel-mode W variants
/// of the async family take it \[H\] (spec §4, §9.8). Lengths are in **bytes**; no NUL is needed.
///
/// Built with [`UnicodeString::new`] it is always well formed; [`UnicodeString::from_raw`]
/// keeps whatever lengths a caller gives, so malformed strings can be tested.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct UnicodeString {
    /// `Length`: bytes in use.
    pub length: u16,
    /// `MaximumLength`: bytes the buffer holds.
    pub maximum_length: u16,
    /// `Buffer`: the UTF-16 code units.
    pub buffer: Vec<u16>,
}

impl UnicodeString {
    /// A well-formed counted string holding `s`.
    ///
    /// Strings longer than 32,767 UTF-16 units are truncated to what `Length` can count.
    pub fn new(s: &str) -> Self {
        let mut buffer: Vec<u16> = s.encode_utf16().collect();
        buffer.truncate(u16::MAX as usize / 2);
        let length = (buffer.len() * 2) as u16;
        Self { length, maximum_length: length, buffer }
    }

    /// A counted string with the given raw fields, kept as they are.
    pub fn from_raw(length: u16, maximum_length: u16, buffer: Vec<u16>) -> Self {
        Self { length, maximum_length, buffer }
    }

    /// The counted units, or `None` when the fields are inconsistent (odd `Length`,
    /// `Length > MaximumLength`, or more bytes counted than the buffer holds).
    pub fn units(&self) -> Option<&[u16]> {
        let len = self.length as usize;
        if !len.is_multiple_of(2) || self.length > self.maximum_length || len / 2 > self.buffer.len() {
            return None;
        }
        Some(&self.buffer[..len / 2])
    }
}

impl fmt::Debug for UnicodeString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.units() {
            Some(u) => write!(f, "UnicodeString({:?})", String::from_utf16_lossy(u)),
            None => write!(
                f,
                "UnicodeString(malformed: Length={} MaximumLength={} buffer={} units)",
                self.length,
                self.maximum_length,
                self.buffer.len()
            ),
        }
    }
}

/// A string parameter exactly as it reached an SSPI entry point.
///
/// The A entry points take NUL-terminated ANSI strings, the user-mode W entry points
/// NUL-terminated UTF-16, and the kernel-mode async W entry points counted `UNICODE_STRING`s.
/// The simulator decodes ANSI as ISO-8859-1 (one byte, one code point) \[I\].
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum SecString {
    /// `LPSTR`: bytes up to the first NUL (or the end).
    Ansi(Vec<u8>),
    /// `LPWSTR`: UTF-16 units up to the first NUL (or the end).
    Wide(Vec<u16>),
    /// `PSECURITY_STRING`: a counted UTF-16 string.
    Counted(UnicodeString),
}

impl SecString {
    /// An ANSI string (`LPSTR`).
    pub fn ansi(s: &str) -> Self {
        Self::Ansi(s.chars().map(|c| if (c as u32) < 256 { c as u8 } else { b'?' }).collect())
    }

    /// A NUL-terminated wide string (`LPWSTR`).
    pub fn wide(s: &str) -> Self {
        if s.is_ascii() {
            return Self::Wide(s.bytes().map(u16::from).collect());
        }
        Self::Wide(s.encode_utf16().collect())
    }

    /// A counted `UNICODE_STRING`.
    pub fn counted(s: &str) -> Self {
        Self::Counted(UnicodeString::new(s))
    }

    /// Decodes the string, or `None` when a counted string is malformed or UTF-16 is invalid.
    pub fn decode(&self) -> Option<String> {
        match self {
            Self::Ansi(b) => {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                Some(b[..end].iter().map(|&c| c as char).collect())
            }
            Self::Wide(u) => {
                let end = u.iter().position(|&c| c == 0).unwrap_or(u.len());
                let units = &u[..end];
                if units.iter().all(|&c| c < 0x80) {
                    // ASCII: each unit is one byte of UTF-8.
                    return String::from_utf8(units.iter().map(|&c| c as u8).collect()).ok();
                }
                String::from_utf16(units).ok()
            }
            Self::Counted(c) => String::from_utf16(c.units()?).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luid_parses_and_prints_both_forms() {
        assert_eq!("0x3e7".parse::<Luid>(), Ok(Luid::SYSTEM));
        assert_eq!("0x1:0x2".parse::<Luid>().map(|l| l.as_u64()), Ok(0x1_0000_0002));
        assert_eq!(Luid::from_u64(0x1_0000_0002).to_string(), "0x1:0x2");
        assert!("0x1_0000_0000:0".parse::<Luid>().is_err());
    }

    #[test]
    fn timestamp_civil_round_trip() {
        let t = TimeStamp::parse_utc("2026-01-01T09:00:00Z").unwrap();
        assert_eq!(t.to_civil_string(), "2026-01-01 09:00:00");
        // 1601-01-01 is tick zero.
        assert_eq!(TimeStamp::parse_utc("1601-01-01 00:00:00").unwrap().0, 0);
        assert_eq!(TimeStamp::from_unix_seconds(0).0, 116_444_736_000_000_000);
        assert_eq!(t.plus_seconds(3600).to_civil_string(), "2026-01-01 10:00:00");
        assert_eq!(TimeStamp::NEVER.plus_seconds(5), TimeStamp::NEVER);
    }

    #[test]
    fn counted_strings_are_validated() {
        assert_eq!(SecString::counted("NTLM").decode().as_deref(), Some("NTLM"));
        let odd = UnicodeString::from_raw(3, 8, vec![b'N' as u16, b'T' as u16]);
        assert_eq!(SecString::Counted(odd).decode(), None);
        let too_long = UnicodeString::from_raw(8, 8, vec![b'N' as u16]);
        assert_eq!(SecString::Counted(too_long).decode(), None);
        let over_max = UnicodeString::from_raw(4, 2, vec![1, 2]);
        assert_eq!(SecString::Counted(over_max).decode(), None);
        // Counted strings need no NUL and stop at Length, not at the buffer's end.
        let prefix = UnicodeString::from_raw(4, 8, "NTLMX".encode_utf16().collect());
        assert_eq!(SecString::Counted(prefix).decode().as_deref(), Some("NT"));
    }

    #[test]
    fn nul_terminated_strings_stop_at_nul() {
        assert_eq!(SecString::Ansi(b"NTLM\0junk".to_vec()).decode().as_deref(), Some("NTLM"));
        let mut w: Vec<u16> = "Kerberos".encode_utf16().collect();
        w.extend([0, 65]);
        assert_eq!(SecString::Wide(w).decode().as_deref(), Some("Kerberos"));
        assert_eq!(SecString::ansi("caf\u{e9}").decode().as_deref(), Some("caf\u{e9}"));
    }

    #[test]
    fn credential_use_debug_names_flags() {
        assert_eq!(format!("{:?}", CredentialUse::BOTH), "SECPKG_CRED_INBOUND | SECPKG_CRED_OUTBOUND");
        assert_eq!(format!("{:?}", CredentialUse(0)), "0x0");
    }
}
