//! # sspi-emu-api: the SSPI contract
//!
//! The vocabulary every part of sspi-emu speaks: status codes, handles, flags, package
//! information, explicit credentials, and the [`Backend`] trait that the simulator and the
//! Windows backend implement.
//!
//! ```text
//!   test code ──► Backend (this crate) ──┬─► sspi-emu-sim  (world + packages + async engine)
//!                                        └─► sspi-emu-win  (real secur32, feature backend-win)
//! ```
//!
//! Names follow Windows: `SecStatus::SEC_E_NO_CREDENTIALS`, `CredentialUse::OUTBOUND`
//! (`SECPKG_CRED_OUTBOUND`), `Backend::sspi_get_async_call_status` (`SspiGetAsyncCallStatus`),
//! so a search from learn.microsoft.com finds them. Every value carries its source in the item's
//! documentation; the tags are those of `docs/FIDELITY.md`: \[D\] documented, \[H\] from headers,
//! \[I\] inferred.
#![forbid(unsafe_code)]

mod backend;
mod buffer;
mod context;
mod flags;
mod handle;
mod identity;
mod package;
mod status;
mod types;

pub use backend::{
    AcquireCredentials, AuthData, Backend, Charset, Credentials, CredentialsAttribute, CredentialsAttributeValue,
    DriverControl, GetKeyCallback, GetKeyFn, NotifyCallback, Out,
};
pub use buffer::{SecBuffer, SecBufferDesc, SecBufferType};
pub use context::{
    AcceptSecurityContext, AscOutputs, ContextAttribute, ContextAttributeValue, ContextFlags, ContextOutputs,
    ContextSizes, InitializeSecurityContext, IscOutputs, NegotiationState, SECQOP_WRAP_NO_ENCRYPT,
};
pub use flags::{AscReq, AscRet, IscReq, IscRet, data_rep};
pub use handle::{AsyncContextHandle, CredHandle, CtxtHandle, SecHandle};
pub use identity::{
    AuthIdentity, DecodedIdentity, IdentityError, IdentityField, SEC_WINNT_AUTH_IDENTITY_ANSI,
    SEC_WINNT_AUTH_IDENTITY_UNICODE,
};
pub use package::{PackageCapabilities, SecPkgInfo, rpc_id};
pub use status::{NtStatus, SecStatus};
pub use types::{CredentialUse, Luid, SecString, TimeStamp, UnicodeString};
