//! # The NTLM protocol core ([MS-NLMP]), sans I/O
//!
//! Everything NTLM computes and puts on the wire, with no I/O, no clock and no randomness: the
//! caller passes in the time, the challenges and the random session key. Not yet wired into the
//! SSPI context calls (`InitializeSecurityContext`, `AcceptSecurityContext`, ...).
//!
//! ```text
//!  password ─► crypto::ntowfv1 / lmowfv1 / ntowfv2 ─► response keys
//!                                                        │
//!  CHALLENGE_MESSAGE (messages::ChallengeMessage) ──────►├─► crypto::ntlmv1_* / ntlmv2_response
//!    └─ TargetInfo (av_pairs::AvPairs)                   │     (LM/NT challenge responses,
//!                                                        │      session base key)
//!                                                        ├─► crypto::kxkey_* ─► key exchange key
//!                                                        └─► crypto::rc4k (key exchange)
//!                                                              ─► exported session key
//!  exported session key ─► crypto::signkey / sealkey ─► crypto::SessionSecurity
//!                                                        (sign, verify, seal, unseal + SeqNum)
//! ```
//!
//! * [`messages`]: NEGOTIATE / CHALLENGE / AUTHENTICATE encode and strict decode.
//! * [`av_pairs`]: the AV_PAIR list carried in `TargetInfo` and in NTLMv2 responses.
//! * [`flags`]: the `NTLMSSP_NEGOTIATE_*` flags, spelled as MS-NLMP spells them.
//! * [`crypto`]: the one-way functions, responses, key derivation, signing and sealing.
//! * [`context`]: the client and server handshakes (state machines over the above).
//!
//! Decoding never panics on any input (a proptest feeds random and mutated bytes to every
//! decoder); failures are an [`Error`]. Every MS-NLMP §4.2 test vector is checked byte for byte
//! from `fixtures/vectors/ms-nlmp-4.2.toml`.
//!
//! # Windows
//!
//! [MS-NLMP]: <https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-nlmp/>
//!
//! Fidelity: the algorithms are **\[D\]** (MS-NLMP §3.3, §3.4). Where the wire layout leaves a
//! choice open (the offset written for an empty payload field), the encoder does what the
//! §4.2 sample messages show **\[I\]**.

pub mod av_pairs;
pub mod context;
pub mod crypto;
mod error;
pub mod flags;
pub mod messages;

pub use error::Error;
pub use flags::NegotiateFlags;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
