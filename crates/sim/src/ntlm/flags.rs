//! The negotiate flags of MS-NLMP §2.2.2.5, spelled exactly as MS-NLMP spells them.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// `NegotiateFlags`: a 32-bit set of `NTLMSSP_NEGOTIATE_*` bits (MS-NLMP §2.2.2.5).
///
/// A newtype, not an enum: unknown bits round-trip and print in hex.
///
/// # Windows
///
/// <https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-nlmp/99d90ff4-957f-4c8a-80e4-5bfe5a9a9832>
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NegotiateFlags(pub u32);

#[allow(non_upper_case_globals)]
impl NegotiateFlags {
    /// A: Unicode character set encoding requested.
    pub const NTLMSSP_NEGOTIATE_UNICODE: Self = Self(0x0000_0001);
    /// B: OEM character set encoding requested.
    pub const NTLM_NEGOTIATE_OEM: Self = Self(0x0000_0002);
    /// C: a `TargetName` must be supplied in the CHALLENGE_MESSAGE.
    pub const NTLMSSP_REQUEST_TARGET: Self = Self(0x0000_0004);
    /// r10: reserved, must be zero.
    pub const NTLMSSP_RESERVED_R10: Self = Self(0x0000_0008);
    /// D: session key negotiation for message signatures.
    pub const NTLMSSP_NEGOTIATE_SIGN: Self = Self(0x0000_0010);
    /// E: session key negotiation for message confidentiality.
    pub const NTLMSSP_NEGOTIATE_SEAL: Self = Self(0x0000_0020);
    /// F: connectionless authentication.
    pub const NTLMSSP_NEGOTIATE_DATAGRAM: Self = Self(0x0000_0040);
    /// G: LAN Manager session key computation.
    pub const NTLMSSP_NEGOTIATE_LM_KEY: Self = Self(0x0000_0080);
    /// r9: reserved, must be zero.
    pub const NTLMSSP_RESERVED_R9: Self = Self(0x0000_0100);
    /// H: NTLM v1 session security.
    pub const NTLMSSP_NEGOTIATE_NTLM: Self = Self(0x0000_0200);
    /// r8: reserved, must be zero.
    pub const NTLMSSP_RESERVED_R8: Self = Self(0x0000_0400);
    /// J: anonymous connection. MS-NLMP gives the bit no constant name; this one is \[I\].
    pub const NTLMSSP_ANONYMOUS: Self = Self(0x0000_0800);
    /// K: the NEGOTIATE_MESSAGE carries a domain name.
    pub const NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED: Self = Self(0x0000_1000);
    /// L: the NEGOTIATE_MESSAGE carries a workstation name.
    pub const NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED: Self = Self(0x0000_2000);
    /// r7: reserved, must be zero.
    pub const NTLMSSP_RESERVED_R7: Self = Self(0x0000_4000);
    /// M: a signature block on all messages.
    pub const NTLMSSP_NEGOTIATE_ALWAYS_SIGN: Self = Self(0x0000_8000);
    /// N: `TargetName` is a domain name.
    pub const NTLMSSP_TARGET_TYPE_DOMAIN: Self = Self(0x0001_0000);
    /// O: `TargetName` is a server name.
    pub const NTLMSSP_TARGET_TYPE_SERVER: Self = Self(0x0002_0000);
    /// r6: reserved, must be zero.
    pub const NTLMSSP_RESERVED_R6: Self = Self(0x0004_0000);
    /// P: NTLM v2 session security (extended session security).
    pub const NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY: Self = Self(0x0008_0000);
    /// Q: an identify-level token.
    pub const NTLMSSP_NEGOTIATE_IDENTIFY: Self = Self(0x0010_0000);
    /// r5: reserved, must be zero.
    pub const NTLMSSP_RESERVED_R5: Self = Self(0x0020_0000);
    /// R: the LMOWF is used for the session key (NTLMv1 without extended session security).
    pub const NTLMSSP_REQUEST_NON_NT_SESSION_KEY: Self = Self(0x0040_0000);
    /// S: `TargetInfo` is populated.
    pub const NTLMSSP_NEGOTIATE_TARGET_INFO: Self = Self(0x0080_0000);
    /// r4: reserved, must be zero.
    pub const NTLMSSP_RESERVED_R4: Self = Self(0x0100_0000);
    /// T: the `Version` field is populated.
    pub const NTLMSSP_NEGOTIATE_VERSION: Self = Self(0x0200_0000);
    /// r3: reserved, must be zero.
    pub const NTLMSSP_RESERVED_R3: Self = Self(0x0400_0000);
    /// r2: reserved, must be zero.
    pub const NTLMSSP_RESERVED_R2: Self = Self(0x0800_0000);
    /// r1: reserved, must be zero.
    pub const NTLMSSP_RESERVED_R1: Self = Self(0x1000_0000);
    /// U: 128-bit session key negotiation.
    pub const NTLMSSP_NEGOTIATE_128: Self = Self(0x2000_0000);
    /// V: explicit key exchange.
    pub const NTLMSSP_NEGOTIATE_KEY_EXCH: Self = Self(0x4000_0000);
    /// W: 56-bit encryption.
    pub const NTLMSSP_NEGOTIATE_56: Self = Self(0x8000_0000);

    /// Every named flag with its name, lowest bit first.
    pub const ALL: [(Self, &'static str); 32] = [
        (Self::NTLMSSP_NEGOTIATE_UNICODE, "NTLMSSP_NEGOTIATE_UNICODE"),
        (Self::NTLM_NEGOTIATE_OEM, "NTLM_NEGOTIATE_OEM"),
        (Self::NTLMSSP_REQUEST_TARGET, "NTLMSSP_REQUEST_TARGET"),
        (Self::NTLMSSP_RESERVED_R10, "NTLMSSP_RESERVED_R10"),
        (Self::NTLMSSP_NEGOTIATE_SIGN, "NTLMSSP_NEGOTIATE_SIGN"),
        (Self::NTLMSSP_NEGOTIATE_SEAL, "NTLMSSP_NEGOTIATE_SEAL"),
        (Self::NTLMSSP_NEGOTIATE_DATAGRAM, "NTLMSSP_NEGOTIATE_DATAGRAM"),
        (Self::NTLMSSP_NEGOTIATE_LM_KEY, "NTLMSSP_NEGOTIATE_LM_KEY"),
        (Self::NTLMSSP_RESERVED_R9, "NTLMSSP_RESERVED_R9"),
        (Self::NTLMSSP_NEGOTIATE_NTLM, "NTLMSSP_NEGOTIATE_NTLM"),
        (Self::NTLMSSP_RESERVED_R8, "NTLMSSP_RESERVED_R8"),
        (Self::NTLMSSP_ANONYMOUS, "NTLMSSP_ANONYMOUS"),
        (Self::NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED, "NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED"),
        (Self::NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED, "NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED"),
        (Self::NTLMSSP_RESERVED_R7, "NTLMSSP_RESERVED_R7"),
        (Self::NTLMSSP_NEGOTIATE_ALWAYS_SIGN, "NTLMSSP_NEGOTIATE_ALWAYS_SIGN"),
        (Self::NTLMSSP_TARGET_TYPE_DOMAIN, "NTLMSSP_TARGET_TYPE_DOMAIN"),
        (Self::NTLMSSP_TARGET_TYPE_SERVER, "NTLMSSP_TARGET_TYPE_SERVER"),
        (Self::NTLMSSP_RESERVED_R6, "NTLMSSP_RESERVED_R6"),
        (Self::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, "NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY"),
        (Self::NTLMSSP_NEGOTIATE_IDENTIFY, "NTLMSSP_NEGOTIATE_IDENTIFY"),
        (Self::NTLMSSP_RESERVED_R5, "NTLMSSP_RESERVED_R5"),
        (Self::NTLMSSP_REQUEST_NON_NT_SESSION_KEY, "NTLMSSP_REQUEST_NON_NT_SESSION_KEY"),
        (Self::NTLMSSP_NEGOTIATE_TARGET_INFO, "NTLMSSP_NEGOTIATE_TARGET_INFO"),
        (Self::NTLMSSP_RESERVED_R4, "NTLMSSP_RESERVED_R4"),
        (Self::NTLMSSP_NEGOTIATE_VERSION, "NTLMSSP_NEGOTIATE_VERSION"),
        (Self::NTLMSSP_RESERVED_R3, "NTLMSSP_RESERVED_R3"),
        (Self::NTLMSSP_RESERVED_R2, "NTLMSSP_RESERVED_R2"),
        (Self::NTLMSSP_RESERVED_R1, "NTLMSSP_RESERVED_R1"),
        (Self::NTLMSSP_NEGOTIATE_128, "NTLMSSP_NEGOTIATE_128"),
        (Self::NTLMSSP_NEGOTIATE_KEY_EXCH, "NTLMSSP_NEGOTIATE_KEY_EXCH"),
        (Self::NTLMSSP_NEGOTIATE_56, "NTLMSSP_NEGOTIATE_56"),
    ];

    /// No flag set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the bits of `other` set.
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// `self` with the bits of `other` cleared.
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// The raw value.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

impl BitOr for NegotiateFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for NegotiateFlags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for NegotiateFlags {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

impl fmt::Debug for NegotiateFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NegotiateFlags({:#010x}", self.0)?;
        let mut sep = ": ";
        for (flag, name) in Self::ALL {
            if self.contains(flag) {
                write!(f, "{sep}{name}")?;
                sep = " | ";
            }
        }
        f.write_str(")")
    }
}

impl fmt::Display for NegotiateFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}
