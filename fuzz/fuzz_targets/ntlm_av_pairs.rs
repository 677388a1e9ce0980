//! `AvPairs::decode` (MS-NLMP §2.2.2.1).
//!
//! Property: no panic; where it succeeds, decode → encode → decode gives an equal value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sspi_emu_sim::ntlm::av_pairs::AvPairs;

fuzz_target!(|data: &[u8]| {
    if let Ok(pairs) = AvPairs::decode(data) {
        let bytes = pairs.encode();
        let again = AvPairs::decode(&bytes).expect("AvPairs: the encoding must decode");
        assert_eq!(pairs, again, "AvPairs: decode -> encode -> decode changed the value");
    }
});
