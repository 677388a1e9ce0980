//! Context requirement and return flags: `ISC_REQ_*`, `ISC_RET_*`, `ASC_REQ_*`, `ASC_RET_*`, as
//! `sspi.h` defines them \[H\] (spec `ASYNC-SSPI.md` §7.3). `fContextReq` and `pfContextAttr` are
//! 32-bit `unsigned long`s in every signature, so the 64-bit-only flags cannot be passed and are
//! not here.

use std::fmt;

macro_rules! flag_set {
    ($(#[$doc:meta])* $ty:ident, $prefix:literal { $($name:ident = $value:literal;)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $ty(pub u32);

        impl $ty {
            $(
                #[doc = concat!("`", $prefix, stringify!($name), "`.")]
                pub const $name: $ty = $ty($value);
            )*
            /// Every named flag with its `sspi.h` name.
            pub const NAMED: &'static [($ty, &'static str)] = &[$(($ty::$name, concat!($prefix, stringify!($name))),)*];

            /// True if every bit of `other` is set.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// True if any bit of `other` is set.
            pub const fn intersects(self, other: Self) -> bool {
                self.0 & other.0 != 0
            }
        }

        impl std::ops::BitOr for $ty {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self(self.0 | rhs.0)
            }
        }

        impl std::ops::BitOrAssign for $ty {
            fn bitor_assign(&mut self, rhs: Self) {
                self.0 |= rhs.0;
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut rest = self.0;
                let mut parts = Vec::new();
                for (flag, name) in Self::NAMED {
                    if flag.0 != 0 && rest & flag.0 == flag.0 {
                        parts.push((*name).to_string());
                        rest &= !flag.0;
                    }
                }
                if rest != 0 || parts.is_empty() {
                    parts.push(format!("0x{rest:X}"));
                }
                f.write_str(&parts.join(" | "))
            }
        }
    };
}

flag_set! {
    /// `fContextReq` of `InitializeSecurityContext`.
    IscReq, "ISC_REQ_" {
        DELEGATE = 0x0000_0001;
        MUTUAL_AUTH = 0x0000_0002;
        REPLAY_DETECT = 0x0000_0004;
        SEQUENCE_DETECT = 0x0000_0008;
        CONFIDENTIALITY = 0x0000_0010;
        USE_SESSION_KEY = 0x0000_0020;
        PROMPT_FOR_CREDS = 0x0000_0040;
        USE_SUPPLIED_CREDS = 0x0000_0080;
        ALLOCATE_MEMORY = 0x0000_0100;
        USE_DCE_STYLE = 0x0000_0200;
        DATAGRAM = 0x0000_0400;
        CONNECTION = 0x0000_0800;
        CALL_LEVEL = 0x0000_1000;
        FRAGMENT_SUPPLIED = 0x0000_2000;
        EXTENDED_ERROR = 0x0000_4000;
        STREAM = 0x0000_8000;
        INTEGRITY = 0x0001_0000;
        IDENTIFY = 0x0002_0000;
        NULL_SESSION = 0x0004_0000;
        MANUAL_CRED_VALIDATION = 0x0008_0000;
        RESERVED1 = 0x0010_0000;
        FRAGMENT_TO_FIT = 0x0020_0000;
        FORWARD_CREDENTIALS = 0x0040_0000;
        NO_INTEGRITY = 0x0080_0000;
        USE_HTTP_STYLE = 0x0100_0000;
        UNVERIFIED_TARGET_NAME = 0x2000_0000;
        CONFIDENTIALITY_ONLY = 0x4000_0000;
    }
}

flag_set! {
    /// `pfContextAttr` of `InitializeSecurityContext`.
    IscRet, "ISC_RET_" {
        DELEGATE = 0x0000_0001;
        MUTUAL_AUTH = 0x0000_0002;
        REPLAY_DETECT = 0x0000_0004;
        SEQUENCE_DETECT = 0x0000_0008;
        CONFIDENTIALITY = 0x0000_0010;
        USE_SESSION_KEY = 0x0000_0020;
        USED_COLLECTED_CREDS = 0x0000_0040;
        USED_SUPPLIED_CREDS = 0x0000_0080;
        ALLOCATED_MEMORY = 0x0000_0100;
        USED_DCE_STYLE = 0x0000_0200;
        DATAGRAM = 0x0000_0400;
        CONNECTION = 0x0000_0800;
        INTERMEDIATE_RETURN = 0x0000_1000;
        CALL_LEVEL = 0x0000_2000;
        EXTENDED_ERROR = 0x0000_4000;
        STREAM = 0x0000_8000;
        INTEGRITY = 0x0001_0000;
        IDENTIFY = 0x0002_0000;
        NULL_SESSION = 0x0004_0000;
        MANUAL_CRED_VALIDATION = 0x0008_0000;
        RESERVED1 = 0x0010_0000;
        FRAGMENT_ONLY = 0x0020_0000;
        FORWARD_CREDENTIALS = 0x0040_0000;
        USED_HTTP_STYLE = 0x0100_0000;
        NO_ADDITIONAL_TOKEN = 0x0200_0000;
        REAUTHENTICATION = 0x0800_0000;
        CONFIDENTIALITY_ONLY = 0x4000_0000;
    }
}

flag_set! {
    /// `fContextReq` of `AcceptSecurityContext`.
    AscReq, "ASC_REQ_" {
        DELEGATE = 0x0000_0001;
        MUTUAL_AUTH = 0x0000_0002;
        REPLAY_DETECT = 0x0000_0004;
        SEQUENCE_DETECT = 0x0000_0008;
        CONFIDENTIALITY = 0x0000_0010;
        USE_SESSION_KEY = 0x0000_0020;
        SESSION_TICKET = 0x0000_0040;
        ALLOCATE_MEMORY = 0x0000_0100;
        USE_DCE_STYLE = 0x0000_0200;
        DATAGRAM = 0x0000_0400;
        CONNECTION = 0x0000_0800;
        CALL_LEVEL = 0x0000_1000;
        FRAGMENT_SUPPLIED = 0x0000_2000;
        EXTENDED_ERROR = 0x0000_8000;
        STREAM = 0x0001_0000;
        INTEGRITY = 0x0002_0000;
        LICENSING = 0x0004_0000;
        IDENTIFY = 0x0008_0000;
        ALLOW_NULL_SESSION = 0x0010_0000;
        ALLOW_NON_USER_LOGONS = 0x0020_0000;
        ALLOW_CONTEXT_REPLAY = 0x0040_0000;
        FRAGMENT_TO_FIT = 0x0080_0000;
        NO_TOKEN = 0x0100_0000;
        PROXY_BINDINGS = 0x0400_0000;
        ALLOW_MISSING_BINDINGS = 0x1000_0000;
    }
}

flag_set! {
    /// `pfContextAttr` of `AcceptSecurityContext`.
    AscRet, "ASC_RET_" {
        DELEGATE = 0x0000_0001;
        MUTUAL_AUTH = 0x0000_0002;
        REPLAY_DETECT = 0x0000_0004;
        SEQUENCE_DETECT = 0x0000_0008;
        CONFIDENTIALITY = 0x0000_0010;
        USE_SESSION_KEY = 0x0000_0020;
        SESSION_TICKET = 0x0000_0040;
        ALLOCATED_MEMORY = 0x0000_0100;
        USED_DCE_STYLE = 0x0000_0200;
        DATAGRAM = 0x0000_0400;
        CONNECTION = 0x0000_0800;
        CALL_LEVEL = 0x0000_2000;
        THIRD_LEG_FAILED = 0x0000_4000;
        EXTENDED_ERROR = 0x0000_8000;
        STREAM = 0x0001_0000;
        INTEGRITY = 0x0002_0000;
        LICENSING = 0x0004_0000;
        IDENTIFY = 0x0008_0000;
        NULL_SESSION = 0x0010_0000;
        ALLOW_NON_USER_LOGONS = 0x0020_0000;
        ALLOW_CONTEXT_REPLAY = 0x0040_0000;
        FRAGMENT_ONLY = 0x0080_0000;
        NO_TOKEN = 0x0100_0000;
        NO_ADDITIONAL_TOKEN = 0x0200_0000;
    }
}

/// `SECURITY_NATIVE_DREP` (0x10) and `SECURITY_NETWORK_DREP` (0): the `TargetDataRep` values \[H\].
pub mod data_rep {
    /// `SECURITY_NATIVE_DREP`.
    pub const NATIVE: u32 = 0x0000_0010;
    /// `SECURITY_NETWORK_DREP`.
    pub const NETWORK: u32 = 0x0000_0000;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_the_header_where_isc_and_asc_differ() {
        // sspi.h: the two families agree up to 0x2000, then diverge.
        assert_eq!((IscReq::EXTENDED_ERROR.0, AscReq::EXTENDED_ERROR.0), (0x4000, 0x8000));
        assert_eq!((IscReq::INTEGRITY.0, AscReq::INTEGRITY.0), (0x1_0000, 0x2_0000));
        assert_eq!((IscRet::INTERMEDIATE_RETURN.0, IscRet::CALL_LEVEL.0), (0x1000, 0x2000));
        assert_eq!(AscRet::THIRD_LEG_FAILED.0, 0x4000);
        assert_eq!(IscReq::ALLOCATE_MEMORY.0, AscReq::ALLOCATE_MEMORY.0);
    }

    #[test]
    fn debug_names_every_flag_and_keeps_unknown_bits() {
        let f = IscReq::CONFIDENTIALITY | IscReq::ALLOCATE_MEMORY | IscReq(0x1000_0000);
        assert_eq!(format!("{f:?}"), "ISC_REQ_CONFIDENTIALITY | ISC_REQ_ALLOCATE_MEMORY | 0x10000000");
        assert_eq!(format!("{:?}", AscRet(0)), "0x0");
    }

    #[test]
    fn every_named_value_is_a_single_distinct_bit() {
        fn check(named: &[(u32, &str)]) {
            let mut seen = 0u32;
            for (v, name) in named {
                assert_eq!(v.count_ones(), 1, "{name}");
                assert_eq!(seen & v, 0, "{name} repeats a bit");
                seen |= v;
            }
        }
        check(&IscReq::NAMED.iter().map(|(f, n)| (f.0, *n)).collect::<Vec<_>>());
        check(&IscRet::NAMED.iter().map(|(f, n)| (f.0, *n)).collect::<Vec<_>>());
        check(&AscReq::NAMED.iter().map(|(f, n)| (f.0, *n)).collect::<Vec<_>>());
        check(&AscRet::NAMED.iter().map(|(f, n)| (f.0, *n)).collect::<Vec<_>>());
    }
}
