//! `SecPkgInfo`: what `EnumerateSecurityPackages` and `QuerySecurityPackageInfo` report.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `fCapabilities` of `SecPkgInfo`: `SECPKG_FLAG_*` bits (`sspi.h`) \[H\].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PackageCapabilities(pub u32);

macro_rules! capability_flags {
    ($($name:ident = $value:literal;)*) => {
        impl PackageCapabilities {
            $(
                #[doc = concat!("`SECPKG_FLAG_", stringify!($name), "`.")]
                pub const $name: PackageCapabilities = PackageCapabilities($value);
            )*
            /// Every named flag with its `sspi.h` name.
            pub const NAMED: &'static [(PackageCapabilities, &'static str)] = &[
                $((PackageCapabilities::$name, concat!("SECPKG_FLAG_", stringify!($name))),)*
            ];
        }
    };
}

capability_flags! {
    INTEGRITY = 0x0000_0001;
    PRIVACY = 0x0000_0002;
    TOKEN_ONLY = 0x0000_0004;
    DATAGRAM = 0x0000_0008;
    CONNECTION = 0x0000_0010;
    MULTI_REQUIRED = 0x0000_0020;
    CLIENT_ONLY = 0x0000_0040;
    EXTENDED_ERROR = 0x0000_0080;
    IMPERSONATION = 0x0000_0100;
    ACCEPT_WIN32_NAME = 0x0000_0200;
    STREAM = 0x0000_0400;
    NEGOTIABLE = 0x0000_0800;
    GSS_COMPATIBLE = 0x0000_1000;
    LOGON = 0x0000_2000;
    ASCII_BUFFERS = 0x0000_4000;
    FRAGMENT = 0x0000_8000;
    MUTUAL_AUTH = 0x0001_0000;
    DELEGATION = 0x0002_0000;
    READONLY_WITH_CHECKSUM = 0x0004_0000;
    RESTRICTED_TOKENS = 0x0008_0000;
    NEGO_EXTENDER = 0x0010_0000;
    NEGOTIABLE2 = 0x0020_0000;
    APPCONTAINER_PASSTHROUGH = 0x0040_0000;
    APPCONTAINER_CHECKS = 0x0080_0000;
    CREDENTIAL_ISOLATION_ENABLED = 0x0100_0000;
    APPLY_LOOPBACK = 0x0200_0000;
}

impl PackageCapabilities {
    /// True if every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl fmt::Debug for PackageCapabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0)?;
        let names: Vec<&str> = Self::NAMED.iter().filter(|(flag, _)| self.contains(*flag)).map(|(_, n)| *n).collect();
        if !names.is_empty() {
            write!(f, " ({})", names.join(" | "))?;
        }
        Ok(())
    }
}

/// `SecPkgInfo` (`SecPkgInfoA` / `SecPkgInfoW`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SecPkgInfo {
    /// `fCapabilities`.
    pub capabilities: PackageCapabilities,
    /// `wVersion`.
    pub version: u16,
    /// `wRPCID`: the DCE RPC authentication service id (`RPC_C_AUTHN_*`).
    pub rpc_id: u16,
    /// `cbMaxToken`: the largest token the package produces, in bytes.
    pub max_token: u32,
    /// `Name`.
    pub name: String,
    /// `Comment`.
    pub comment: String,
}

/// `RPC_C_AUTHN_*` values used as `wRPCID` (`rpcdce.h`) \[H\].
pub mod rpc_id {
    /// `RPC_C_AUTHN_NONE`.
    pub const NONE: u16 = 0;
    /// `RPC_C_AUTHN_DCE_PRIVATE`.
    pub const DCE_PRIVATE: u16 = 1;
    /// `RPC_C_AUTHN_GSS_NEGOTIATE` (Negotiate).
    pub const GSS_NEGOTIATE: u16 = 9;
    /// `RPC_C_AUTHN_WINNT` (NTLM).
    pub const WINNT: u16 = 10;
    /// `RPC_C_AUTHN_GSS_SCHANNEL`.
    pub const GSS_SCHANNEL: u16 = 14;
    /// `RPC_C_AUTHN_GSS_KERBEROS`.
    pub const GSS_KERBEROS: u16 = 16;
    /// `RPC_C_AUTHN_DPA`.
    pub const DPA: u16 = 17;
    /// `RPC_C_AUTHN_MSN`.
    pub const MSN: u16 = 18;
    /// `RPC_C_AUTHN_DIGEST`.
    pub const DIGEST: u16 = 21;
    /// `RPC_C_AUTHN_KERNEL`.
    pub const KERNEL: u16 = 20;
    /// `RPC_C_AUTHN_NEGO_EXTENDER`.
    pub const NEGO_EXTENDER: u16 = 30;
    /// `RPC_C_AUTHN_PKU2U`.
    pub const PKU2U: u16 = 31;
    /// `RPC_C_AUTHN_LIVE_SSP`.
    pub const LIVE_SSP: u16 = 32;
    /// `RPC_C_AUTHN_LIVEXP_SSP`.
    pub const LIVEXP_SSP: u16 = 35;
    /// `RPC_C_AUTHN_CLOUD_AP`.
    pub const CLOUD_AP: u16 = 36;
    /// `RPC_C_AUTHN_MSONLINE`.
    pub const MSONLINE: u16 = 82;
    /// `RPC_C_AUTHN_MQ`.
    pub const MQ: u16 = 100;
    /// `RPC_C_AUTHN_DEFAULT` (`SECPKG_ID_NONE` = 0xFFFF).
    pub const DEFAULT: u16 = 0xFFFF;
}
