//! `World::from_toml_str`: any error is fine, a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sspi_emu_sim::World;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = World::from_toml_str(text, "fuzz.toml");
    }
});
