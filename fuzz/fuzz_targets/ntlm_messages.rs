//! The three NTLM message decoders (MS-NLMP §2.2.1) on the same input.
//!
//! Property: no decoder panics; where one succeeds, encode succeeds and decoding the encoding
//! gives an equal value (decode → encode → decode); the borrowed readers the handshakes use
//! (`ChallengeRef`, `AuthenticateRef`, `ntlmv2_response_pairs`) give the same result and errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sspi_emu_sim::ntlm::messages::{
    AuthenticateMessage, AuthenticateRef, ChallengeMessage, ChallengeRef, NegotiateMessage, Ntlmv2Response,
    ntlmv2_response_pairs,
};

fuzz_target!(|data: &[u8]| {
    let challenge = ChallengeMessage::decode(data);
    assert_eq!(ChallengeRef::decode(data).err(), challenge.as_ref().err().cloned(), "ChallengeRef disagrees");
    if let (Ok(r), Ok(c)) = (ChallengeRef::decode(data), &challenge) {
        assert_eq!(r.av_pairs().map(|p| p.to_pairs().expect("checked")), c.target_info.clone(), "ChallengeRef pairs");
    }
    let authenticate = AuthenticateMessage::decode(data);
    assert_eq!(
        AuthenticateRef::decode(data),
        authenticate.as_ref().map(AuthenticateMessage::borrowed).map_err(Clone::clone),
        "AuthenticateRef disagrees"
    );
    let v2 = Ntlmv2Response::decode(data).map(|r| r.av_pairs);
    assert_eq!(ntlmv2_response_pairs(data).map(|p| p.to_pairs().expect("checked")), v2, "ntlmv2_response_pairs disagrees");
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
