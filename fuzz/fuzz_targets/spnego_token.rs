//! `spnego::decode` (RFC 4178, MS-SPNG; strict DER).
//!
//! Property (the codec's promise, crates/sim/src/spnego/mod.rs): no panic, and anything that
//! decodes re-encodes to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sspi_emu_sim::spnego;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = spnego::decode(data) {
        assert_eq!(token.encode(), data, "SPNEGO: a decoded token does not re-encode byte for byte");
    }
});
