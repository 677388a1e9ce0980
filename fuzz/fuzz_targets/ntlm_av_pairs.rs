//! `AvPairs::decode` (MS-NLMP §2.2.2.1).
//!
//! Property: no panic; where it succeeds, decode → encode → decode gives an equal value; the
//! borrowed reader the handshakes use (`AvPairsRef`) accepts and refuses exactly the same
//! lists with the same errors, whole and as a prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sspi_emu_sim::ntlm::av_pairs::{AvPairs, AvPairsRef};

fuzz_target!(|data: &[u8]| {
    let owned = AvPairs::decode(data);
    let borrowed = AvPairsRef::read(data).map(|r| r.to_pairs().expect("AvPairsRef: a read list must decode"));
    assert_eq!(borrowed, owned, "AvPairsRef::read disagrees with AvPairs::decode");
    let prefix = AvPairs::decode_prefix(data);
    let borrowed_prefix =
        AvPairsRef::read_prefix(data).map(|(r, rest)| (r.to_pairs().expect("AvPairsRef: a read prefix must decode"), rest));
    assert_eq!(borrowed_prefix, prefix, "AvPairsRef::read_prefix disagrees with AvPairs::decode_prefix");
    if let Ok(pairs) = AvPairs::decode(data) {
        let bytes = pairs.encode();
        let again = AvPairs::decode(&bytes).expect("AvPairs: the encoding must decode");
        assert_eq!(pairs, again, "AvPairs: decode -> encode -> decode changed the value");
    }
});
