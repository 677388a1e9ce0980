//! `Scenario::parse` (testkit): any error is fine, a panic is a bug.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sspi_emu_testkit::scenario::Scenario;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Scenario::parse(text, Path::new("fuzz/scenario.toml"));
    }
});
