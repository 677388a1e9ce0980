//! The three NTLM message decoders (MS-NLMP §2.2.1) on the same input.
//!
//! Property: no decoder panics; where one succeeds, encode succeeds and decoding the encoding
//! gives an equal value (decode → encode → decode).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sspi_emu_sim::ntlm::messages::{AuthenticateMessage, ChallengeMessage, NegotiateMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = NegotiateMessage::decode(data) {
        let bytes = m.encode().expect("NegotiateMessage: a decoded message must encode");
        let again = NegotiateMessage::decode(&bytes).expect("NegotiateMessage: the encoding must decode");
        assert_eq!(m, again, "NegotiateMessage: decode -> encode -> decode changed the value");
    }
    if let Ok(m) = ChallengeMessage::decode(data) {
        let bytes = m.encode().expect("ChallengeMessage: a decoded message must encode");
        let again = ChallengeMessage::decode(&bytes).expect("ChallengeMessage: the encoding must decode");
        assert_eq!(m, again, "ChallengeMessage: decode -> encode -> decode changed the value");
    }
    if let Ok(m) = AuthenticateMessage::decode(data) {
        let bytes = m.encode().expect("AuthenticateMessage: a decoded message must encode");
        let again = AuthenticateMessage::decode(&bytes).expect("AuthenticateMessage: the encoding must decode");
        assert_eq!(m, again, "AuthenticateMessage: decode -> encode -> decode changed the value");
    }
});
