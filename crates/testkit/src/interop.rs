//! What the interop tests against pyspnego share: finding it (or saying why it is skipped) and
//! running a Python driver against one of the peer binaries.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The pyspnego version `.ci/run` installs.
pub const PYSPNEGO: &str = "0.12.4";

/// True when `python3 -c "import spnego"` works. Otherwise prints the reason for skipping, or
/// panics when `SSPI_EMU_REQUIRE_INTEROP=1` (set by `.ci/run`), and returns false.
pub fn pyspnego_or_skip() -> bool {
    let available = Command::new("python3").args(["-c", "import spnego"]).output().is_ok_and(|o| o.status.success());
    if available {
        return true;
    }
    let hint = format!("pip install pyspnego=={PYSPNEGO}");
    if std::env::var("SSPI_EMU_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("SSPI_EMU_REQUIRE_INTEROP=1 but `python3 -c \"import spnego\"` fails ({hint})");
    }
    if cfg!(windows) && std::env::var("SSPI_EMU_ENV").as_deref() == Ok("wine") {
        // A Windows test process under Wine cannot start the Linux python3.
        println!("SKIP: under Wine the Linux python3 (and pyspnego) cannot be started from a Windows process");
    } else {
        println!("SKIP: pyspnego not installed ({hint})");
    }
    false
}

/// Runs `tests/interop/<script>` with the peer binary `peer`, prints its output, and returns
/// the output and stdout as text. Notes when the driver reports another pyspnego version than
/// `expected_banner`.
///
/// # Panics
/// When python3 cannot be started (the caller checked [`pyspnego_or_skip`] first).
pub fn run_driver(script: &str, peer: &str, expected_banner: &str) -> (Output, String) {
    let driver = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop").join(script);
    let out = match Command::new("python3").arg(&driver).arg(peer).output() {
        Ok(o) => o,
        Err(e) => panic!("python3 {}: {e}", driver.display()),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let version = stdout.lines().next().unwrap_or_default();
    if version != expected_banner {
        println!("note: tested against `{version}`, .ci/run pins {PYSPNEGO}");
    }
    (out, stdout)
}
