//! # SPNEGO tokens: a sans-IO codec (RFC 4178, MS-SPNG)
//!
//! The Negotiate package wraps its mechanisms' tokens (NTLM, Kerberos, NegoEx) in SPNEGO
//! tokens. This module only encodes and decodes them; it holds no state and does no I/O (the
//! Negotiate package in `crate::context` drives it).
//!
//! ```text
//!  bytes ──► der::parse (strict DER framing, bounded depth, checked once) ──► root Tlv
//!                                                       │ schema (token.rs), children read on demand
//!                                                                 ▼
//!   SpnegoToken { framing: InitialContextToken | Bare, token: Init | Init2 | Resp }
//!                                                                 │ SpnegoToken::encode
//!                                                                 ▼
//!                                                               bytes (DER)
//! ```
//!
//! * The first token of a context is a GSS-API `InitialContextToken` (RFC 2743 §3.1):
//!   `[APPLICATION 0] IMPLICIT SEQUENCE { thisMech 1.3.6.1.5.5.2, innerContextToken }`, whose
//!   inner token is a [`NegotiationToken`]. Later tokens are a bare [`NegotiationToken`].
//! * [`NegTokenInit`] is RFC 4178 §4.2.1; [`NegTokenInit2`] is MS-SPNG §2.2.1, the form
//!   Windows servers send unasked (e.g. in the SMB negotiate response), with `negHints` at
//!   `[3]` and `mechListMIC` moved to `[4]`. [`NegTokenResp`] is RFC 4178 §4.2.2.
//! * Decoding is strict DER: a token that decodes re-encodes to exactly the same bytes, so the
//!   `mechTypes` bytes a `mechListMIC` covers (RFC 4178 §5) can be recomputed with
//!   [`mech_type_list_der`].
//!
//! Why the DER code is hand-written rather than taken from a crate: `docs/decisions/0006-spnego-der.md`.
//!
//! # Examples
//!
//! ```
//! use sspi_emu_sim::spnego::{self, Framing, NegTokenInit, NegotiationToken, SpnegoToken};
//!
//! let init = NegTokenInit { mech_types: vec![spnego::NTLMSSP], mech_token: Some(b"NTLMSSP\0".to_vec()), ..Default::default() };
//! let bytes = SpnegoToken::initial(NegotiationToken::Init(init.clone())).encode();
//! let decoded = spnego::decode(&bytes).unwrap();
//! assert_eq!(decoded.framing, Framing::InitialContextToken);
//! assert_eq!(decoded.token, NegotiationToken::Init(init));
//! ```

mod der;
mod error;
mod oid;
mod token;

#[cfg(test)]
mod tests;

pub use error::Error;
pub use oid::{KERBEROS, KERBEROS_USER_TO_USER, MS_KERBEROS, NEGOEX, NTLMSSP, Oid, SPNEGO};
pub use token::{
    ContextFlag, ContextFlags, Framing, NegHints, NegState, NegTokenInit, NegTokenInit2, NegTokenResp,
    NegotiationToken, SpnegoToken, decode, mech_type_list_der,
};
