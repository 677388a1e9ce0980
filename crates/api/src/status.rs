//! `SECURITY_STATUS` and `NTSTATUS` as lossless newtypes.
//!
//! Every `SEC_E_*` / `SEC_I_*` code of `winerror.h` is a named constant spelled exactly as
//! Windows spells it, so a search from learn.microsoft.com finds it. Values that are not in the
//! table still round-trip and print in hex.
//!
//! Source of every value: `winerror.h` as generated into `windows-sys` 0.61.2
//! `Win32::Foundation` (spec `ASYNC-SSPI.md`, Appendix A) \[H\].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Builds the status newtype: one constant per code, its name and a one-line description, from
/// one table (the `errors!` pattern of quinn-proto).
macro_rules! status_table {
    (
        $ty:ident, $repr:ty;
        aliases { $( $alias:ident = $target:ident; )* }
        $( $(#[$meta:meta])* $name:ident = $value:literal, $desc:literal; )*
    ) => {
        impl $ty {
            $(
                #[doc = $desc]
                $(#[$meta])*
                pub const $name: $ty = $ty($value as $repr);
            )*
            $(
                #[doc = concat!("Alias of [`", stringify!($target), "`](Self::", stringify!($target), "), as in `winerror.h`.")]
                pub const $alias: $ty = $ty::$target;
            )*

            /// Every named code, in table order (aliases excluded).
            pub const ALL: &'static [$ty] = &[$($ty::$name),*];

            /// The Windows name of this code, or `None` for a value outside the table.
            ///
            /// Where `winerror.h` has two names for one value, the primary one is returned.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( v if v == $value as $repr => Some(stringify!($name)), )*
                    _ => None,
                }
            }

            /// A one-line description of this code, or `None` for a value outside the table.
            pub fn description(self) -> Option<&'static str> {
                match self.0 {
                    $( v if v == $value as $repr => Some($desc), )*
                    _ => None,
                }
            }

            /// Looks a code up by its Windows name, aliases included.
            pub fn from_name(name: &str) -> Option<$ty> {
                match name {
                    $( stringify!($name) => Some($ty::$name), )*
                    $( stringify!($alias) => Some($ty::$alias), )*
                    _ => None,
                }
            }
        }
    };
}

/// A `SECURITY_STATUS`: a 32-bit `HRESULT`-shaped code returned by every SSPI function.
///
/// `#[repr(transparent)]` over `i32`, so it never loses a value: codes outside the table keep
/// their bits and print as hex.
///
/// # Examples
///
/// ```
/// use sspi_emu_api::SecStatus;
/// assert_eq!(SecStatus::SEC_I_ASYNC_CALL_PENDING.as_u32(), 0x0009_0368);
/// assert_eq!(SecStatus::SEC_E_NO_CREDENTIALS.to_string(), "SEC_E_NO_CREDENTIALS (0x8009030E)");
/// assert_eq!(SecStatus::from_u32(0x8009_9999).to_string(), "0x80099999");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(transparent)]
pub struct SecStatus(pub i32);

impl SecStatus {
    /// Wraps a raw value as Windows returns it.
    pub const fn from_u32(value: u32) -> Self {
        Self(value as i32)
    }

    /// The raw value as an unsigned 32-bit number (the way `winerror.h` prints it).
    pub const fn as_u32(self) -> u32 {
        self.0 as u32
    }

    /// `SEC_SUCCESS(status)`: true for `SEC_E_OK` and every `SEC_I_*` (severity bit clear).
    pub const fn is_success(self) -> bool {
        self.0 >= 0
    }

    /// True for failure codes (severity bit set).
    pub const fn is_error(self) -> bool {
        self.0 < 0
    }
}

status_table! {
    SecStatus, i32;
    aliases {
        SEC_E_NOT_SUPPORTED = SEC_E_UNSUPPORTED_FUNCTION;
        SEC_E_NO_SPM = SEC_E_INTERNAL_ERROR;
    }
    SEC_E_OK = 0x0000_0000_u32, "The operation completed successfully.";
    SEC_E_INSUFFICIENT_MEMORY = 0x8009_0300_u32, "Not enough memory is available to complete this request.";
    SEC_E_INVALID_HANDLE = 0x8009_0301_u32, "The handle specified is invalid.";
    SEC_E_UNSUPPORTED_FUNCTION = 0x8009_0302_u32, "The function requested is not supported.";
    SEC_E_TARGET_UNKNOWN = 0x8009_0303_u32, "The specified target is unknown or unreachable.";
    SEC_E_INTERNAL_ERROR = 0x8009_0304_u32, "The Local Security Authority cannot be contacted, or an error did not map to an SSPI code.";
    SEC_E_SECPKG_NOT_FOUND = 0x8009_0305_u32, "The requested security package does not exist.";
    SEC_E_NOT_OWNER = 0x8009_0306_u32, "The caller is not the owner of the desired credentials.";
    SEC_E_CANNOT_INSTALL = 0x8009_0307_u32, "The security package failed to initialize and cannot be installed.";
    SEC_E_INVALID_TOKEN = 0x8009_0308_u32, "The token supplied to the function is invalid.";
    SEC_E_CANNOT_PACK = 0x8009_0309_u32, "The security package is not able to marshal the logon buffer.";
    SEC_E_QOP_NOT_SUPPORTED = 0x8009_030A_u32, "The per-message quality of protection is not supported by the package.";
    SEC_E_NO_IMPERSONATION = 0x8009_030B_u32, "The security context does not allow impersonation of the client.";
    SEC_E_LOGON_DENIED = 0x8009_030C_u32, "The logon attempt failed.";
    SEC_E_UNKNOWN_CREDENTIALS = 0x8009_030D_u32, "The credentials supplied to the package were not recognized.";
    SEC_E_NO_CREDENTIALS = 0x8009_030E_u32, "No credentials are available in the security package.";
    SEC_E_MESSAGE_ALTERED = 0x8009_030F_u32, "The message or signature supplied for verification has been altered.";
    SEC_E_OUT_OF_SEQUENCE = 0x8009_0310_u32, "The message supplied for verification is out of sequence.";
    SEC_E_NO_AUTHENTICATING_AUTHORITY = 0x8009_0311_u32, "No authority could be contacted for authentication.";
    SEC_I_CONTINUE_NEEDED = 0x0009_0312_u32, "The function completed successfully, but must be called again to complete the context.";
    SEC_I_COMPLETE_NEEDED = 0x0009_0313_u32, "The function completed successfully, but CompleteToken must be called.";
    SEC_I_COMPLETE_AND_CONTINUE = 0x0009_0314_u32, "CompleteToken must be called, then the function must be called again.";
    SEC_I_LOCAL_LOGON = 0x0009_0315_u32, "The logon was completed, but no network authority was available.";
    SEC_I_GENERIC_EXTENSION_RECEIVED = 0x0009_0316_u32, "A generic TLS extension was received.";
    SEC_E_BAD_PKGID = 0x8009_0316_u32, "The requested security package does not exist.";
    SEC_E_CONTEXT_EXPIRED = 0x8009_0317_u32, "The context has expired and can no longer be used.";
    SEC_I_CONTEXT_EXPIRED = 0x0009_0317_u32, "The context has expired and can no longer be used.";
    SEC_E_INCOMPLETE_MESSAGE = 0x8009_0318_u32, "The supplied message is incomplete; the signature was not verified.";
    SEC_E_INCOMPLETE_CREDENTIALS = 0x8009_0320_u32, "The credentials supplied were not complete and could not be verified.";
    SEC_I_INCOMPLETE_CREDENTIALS = 0x0009_0320_u32, "The credentials supplied were not complete; additional information can be returned from the context.";
    SEC_E_BUFFER_TOO_SMALL = 0x8009_0321_u32, "The buffers supplied to a function were too small.";
    SEC_I_RENEGOTIATE = 0x0009_0321_u32, "The context data must be renegotiated with the peer.";
    SEC_E_WRONG_PRINCIPAL = 0x8009_0322_u32, "The target principal name is incorrect.";
    SEC_I_NO_LSA_CONTEXT = 0x0009_0323_u32, "There is no LSA mode context associated with this context.";
    SEC_E_TIME_SKEW = 0x8009_0324_u32, "The clocks on the client and server machines are skewed.";
    SEC_E_UNTRUSTED_ROOT = 0x8009_0325_u32, "The certificate chain was issued by an authority that is not trusted.";
    SEC_E_ILLEGAL_MESSAGE = 0x8009_0326_u32, "The message received was unexpected or badly formatted.";
    SEC_E_CERT_UNKNOWN = 0x8009_0327_u32, "An unknown error occurred while processing the certificate.";
    SEC_E_CERT_EXPIRED = 0x8009_0328_u32, "The received certificate has expired.";
    SEC_E_ENCRYPT_FAILURE = 0x8009_0329_u32, "The specified data could not be encrypted.";
    SEC_E_DECRYPT_FAILURE = 0x8009_0330_u32, "The specified data could not be decrypted.";
    SEC_E_ALGORITHM_MISMATCH = 0x8009_0331_u32, "The client and server cannot communicate: they have no common algorithm.";
    SEC_E_SECURITY_QOS_FAILED = 0x8009_0332_u32, "The security context could not be established due to a quality of service failure.";
    SEC_E_UNFINISHED_CONTEXT_DELETED = 0x8009_0333_u32, "A security context was deleted before the context was completed.";
    SEC_E_NO_TGT_REPLY = 0x8009_0334_u32, "The client is trying to negotiate a context and the server requires user-to-user but did not send a TGT reply.";
    SEC_E_NO_IP_ADDRESSES = 0x8009_0335_u32, "Unable to accomplish the requested task because the local machine has no IP addresses.";
    SEC_E_WRONG_CREDENTIAL_HANDLE = 0x8009_0336_u32, "The supplied credential handle does not match the credential associated with the security context.";
    SEC_E_CRYPTO_SYSTEM_INVALID = 0x8009_0337_u32, "The cryptographic system or checksum function is invalid.";
    SEC_E_MAX_REFERRALS_EXCEEDED = 0x8009_0338_u32, "The number of maximum ticket referrals has been exceeded.";
    SEC_E_MUST_BE_KDC = 0x8009_0339_u32, "The local machine must be a Kerberos KDC and it is not.";
    SEC_E_STRONG_CRYPTO_NOT_SUPPORTED = 0x8009_033A_u32, "The other end of the security negotiation requires strong crypto but it is not supported.";
    SEC_E_TOO_MANY_PRINCIPALS = 0x8009_033B_u32, "The KDC reply contained more than one principal name.";
    SEC_E_NO_PA_DATA = 0x8009_033C_u32, "Expected to find PA data for a hint of what etype to use, but it was not found.";
    SEC_E_PKINIT_NAME_MISMATCH = 0x8009_033D_u32, "The client certificate does not contain a valid UPN, or does not match the client name in the logon request.";
    SEC_E_SMARTCARD_LOGON_REQUIRED = 0x8009_033E_u32, "Smartcard logon is required and was not used.";
    SEC_E_SHUTDOWN_IN_PROGRESS = 0x8009_033F_u32, "A system shutdown is in progress.";
    SEC_E_KDC_INVALID_REQUEST = 0x8009_0340_u32, "An invalid request was sent to the KDC.";
    SEC_E_KDC_UNABLE_TO_REFER = 0x8009_0341_u32, "The KDC was unable to generate a referral for the service requested.";
    SEC_E_KDC_UNKNOWN_ETYPE = 0x8009_0342_u32, "The encryption type requested is not supported by the KDC.";
    SEC_E_UNSUPPORTED_PREAUTH = 0x8009_0343_u32, "An unsupported preauthentication mechanism was presented to the Kerberos package.";
    SEC_E_DELEGATION_REQUIRED = 0x8009_0345_u32, "The requested operation cannot be completed: the computer must be trusted for delegation.";
    SEC_E_BAD_BINDINGS = 0x8009_0346_u32, "Client's supplied SSPI channel bindings were incorrect.";
    SEC_E_MULTIPLE_ACCOUNTS = 0x8009_0347_u32, "The received certificate was mapped to multiple accounts.";
    SEC_E_NO_KERB_KEY = 0x8009_0348_u32, "No Kerberos key was found.";
    SEC_E_CERT_WRONG_USAGE = 0x8009_0349_u32, "The certificate is not valid for the requested usage.";
    SEC_E_DOWNGRADE_DETECTED = 0x8009_0350_u32, "The system cannot contact a domain controller; a downgrade was detected.";
    SEC_E_SMARTCARD_CERT_REVOKED = 0x8009_0351_u32, "The smartcard certificate used for authentication has been revoked.";
    SEC_E_ISSUING_CA_UNTRUSTED = 0x8009_0352_u32, "An untrusted certificate authority was detected while processing the smartcard certificate.";
    SEC_E_REVOCATION_OFFLINE_C = 0x8009_0353_u32, "The revocation status of the smartcard certificate could not be determined.";
    SEC_E_PKINIT_CLIENT_FAILURE = 0x8009_0354_u32, "The smartcard certificate used for authentication was not trusted.";
    SEC_E_SMARTCARD_CERT_EXPIRED = 0x8009_0355_u32, "The smartcard certificate used for authentication has expired.";
    SEC_E_NO_S4U_PROT_SUPPORT = 0x8009_0356_u32, "The Kerberos subsystem encountered an error: S4U2Self is not supported.";
    SEC_E_CROSSREALM_DELEGATION_FAILURE = 0x8009_0357_u32, "An attempt was made by this server to make a Kerberos constrained delegation request across realms.";
    SEC_E_REVOCATION_OFFLINE_KDC = 0x8009_0358_u32, "The revocation status of the domain controller certificate could not be determined.";
    SEC_E_ISSUING_CA_UNTRUSTED_KDC = 0x8009_0359_u32, "An untrusted certificate authority was detected while processing the domain controller certificate.";
    SEC_E_KDC_CERT_EXPIRED = 0x8009_035A_u32, "The domain controller certificate used for smartcard logon has expired.";
    SEC_E_KDC_CERT_REVOKED = 0x8009_035B_u32, "The domain controller certificate used for smartcard logon has been revoked.";
    SEC_I_SIGNATURE_NEEDED = 0x0009_035C_u32, "A signature operation must be performed before the user can authenticate.";
    SEC_E_INVALID_PARAMETER = 0x8009_035D_u32, "One or more of the parameters passed to the function was invalid.";
    SEC_E_DELEGATION_POLICY = 0x8009_035E_u32, "Client policy does not allow credential delegation to the target server.";
    SEC_E_POLICY_NLTM_ONLY = 0x8009_035F_u32, "Client policy does not allow credential delegation to the target server with NTLM only authentication.";
    SEC_I_NO_RENEGOTIATION = 0x0009_0360_u32, "The recipient rejected the renegotiation request.";
    SEC_E_NO_CONTEXT = 0x8009_0361_u32, "The required security context does not exist.";
    SEC_E_PKU2U_CERT_FAILURE = 0x8009_0362_u32, "The PKU2U protocol encountered an error while attempting to use the associated certificates.";
    SEC_E_MUTUAL_AUTH_FAILED = 0x8009_0363_u32, "The identity of the server computer could not be verified.";
    SEC_I_MESSAGE_FRAGMENT = 0x0009_0364_u32, "The returned buffer is only a fragment of the message; more fragments need to be returned.";
    SEC_E_ONLY_HTTPS_ALLOWED = 0x8009_0365_u32, "Only https scheme is allowed.";
    SEC_I_CONTINUE_NEEDED_MESSAGE_OK = 0x0009_0366_u32, "The function completed successfully, but must be called again; the message was processed.";
    SEC_E_APPLICATION_PROTOCOL_MISMATCH = 0x8009_0367_u32, "No common application protocol exists between the client and the server.";
    SEC_I_ASYNC_CALL_PENDING = 0x0009_0368_u32, "An asynchronous SSPI routine has been called and the work is pending completion.";
    SEC_E_INVALID_UPN_NAME = 0x8009_0369_u32, "The user principal name is not valid.";
    SEC_E_EXT_BUFFER_TOO_SMALL = 0x8009_036A_u32, "The extension buffer supplied was too small.";
    SEC_E_INSUFFICIENT_BUFFERS = 0x8009_036B_u32, "Not enough secbuffers were supplied to generate a token.";
}

impl fmt::Display for SecStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:08X})", self.as_u32()),
            None => write!(f, "0x{:08X}", self.as_u32()),
        }
    }
}

impl fmt::Debug for SecStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for SecStatus {
    type Err = String;

    /// Parses a Windows name (`SEC_E_OK`) or a hex value (`0x8009030E`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(status) = Self::from_name(s) {
            return Ok(status);
        }
        let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"));
        match hex.map(|h| u32::from_str_radix(&h.replace('_', ""), 16)) {
            Some(Ok(v)) => Ok(Self::from_u32(v)),
            _ => Err(format!("`{s}` is neither a SEC_E_*/SEC_I_* name nor a 0x-prefixed hex value")),
        }
    }
}

impl Serialize for SecStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.name() {
            Some(name) => serializer.serialize_str(name),
            None => serializer.serialize_str(&format!("0x{:08X}", self.as_u32())),
        }
    }
}

impl<'de> Deserialize<'de> for SecStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An `NTSTATUS`: the return type of `SspiReinitAsyncContext` \[H\].
///
/// Only the few codes the simulator returns are named; other values round-trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(transparent)]
pub struct NtStatus(pub i32);

impl NtStatus {
    /// Wraps a raw value.
    pub const fn from_u32(value: u32) -> Self {
        Self(value as i32)
    }

    /// The raw value as an unsigned 32-bit number.
    pub const fn as_u32(self) -> u32 {
        self.0 as u32
    }

    /// `NT_SUCCESS(status)`.
    pub const fn is_success(self) -> bool {
        self.0 >= 0
    }
}

status_table! {
    NtStatus, i32;
    aliases {}
    STATUS_SUCCESS = 0x0000_0000_u32, "The operation completed successfully.";
    STATUS_INVALID_HANDLE = 0xC000_0008_u32, "An invalid HANDLE was specified.";
    STATUS_INVALID_PARAMETER = 0xC000_000D_u32, "An invalid parameter was passed to a service or function.";
    STATUS_LOGON_FAILURE = 0xC000_006D_u32, "The attempted logon is invalid (bad user name or password).";
    STATUS_SHUTDOWN_IN_PROGRESS = 0xC000_02FE_u32, "A system shutdown is in progress.";
}

impl fmt::Display for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:08X})", self.as_u32()),
            None => write!(f, "0x{:08X}", self.as_u32()),
        }
    }
}

impl fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for NtStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_values_match_winerror_appendix_a() {
        // Spot checks against spec Appendix A; the full table is checked by the data test in
        // crates/testkit (fixtures/status-tables/winerror.toml).
        assert_eq!(SecStatus::SEC_E_OK.as_u32(), 0);
        assert_eq!(SecStatus::SEC_E_INVALID_HANDLE.as_u32(), 0x8009_0301);
        assert_eq!(SecStatus::SEC_E_INVALID_PARAMETER.as_u32(), 0x8009_035D);
        assert_eq!(SecStatus::SEC_I_ASYNC_CALL_PENDING.as_u32(), 0x0009_0368);
        assert_eq!(SecStatus::SEC_E_NOT_SUPPORTED, SecStatus::SEC_E_UNSUPPORTED_FUNCTION);
        assert_eq!(SecStatus::SEC_E_NO_SPM, SecStatus::SEC_E_INTERNAL_ERROR);
    }

    #[test]
    fn names_are_unique_per_value() {
        let mut values: Vec<u32> = SecStatus::ALL.iter().map(|s| s.as_u32()).collect();
        values.sort_unstable();
        let before = values.len();
        values.dedup();
        assert_eq!(before, values.len(), "two primary names share a value");
        assert_eq!(before, 93, "Appendix A has 93 distinct codes besides the two aliases");
    }

    #[test]
    fn display_prints_name_and_hex_and_unknown_values_round_trip() {
        assert_eq!(SecStatus::SEC_I_CONTINUE_NEEDED.to_string(), "SEC_I_CONTINUE_NEEDED (0x00090312)");
        let unknown = SecStatus::from_u32(0xC000_0001);
        assert_eq!(unknown.name(), None);
        assert_eq!(format!("{unknown:?}"), "0xC0000001");
        assert_eq!("0xC0000001".parse::<SecStatus>(), Ok(unknown));
    }

    #[test]
    fn from_str_accepts_names_and_aliases() {
        assert_eq!("SEC_E_NO_SPM".parse(), Ok(SecStatus::SEC_E_INTERNAL_ERROR));
        assert!("SEC_E_MADE_UP".parse::<SecStatus>().is_err());
    }

    #[test]
    fn severity_helpers_follow_sec_success() {
        assert!(SecStatus::SEC_I_ASYNC_CALL_PENDING.is_success());
        assert!(SecStatus::SEC_E_INCOMPLETE_MESSAGE.is_error());
    }

    proptest::proptest! {
        #[test]
        fn any_value_round_trips_through_display_and_parse(v in proptest::num::u32::ANY) {
            let s = SecStatus::from_u32(v);
            let text = format!("0x{:08X}", s.as_u32());
            proptest::prop_assert_eq!(text.parse::<SecStatus>().unwrap(), s);
            proptest::prop_assert_eq!(s.as_u32(), v);
        }
    }
}
