//! Interop with pyspnego's pure-Python NTLM: our sans-IO NTLM client against its acceptor and
//! its initiator against our server, with explicit credentials, through sign and seal
//! (`tests/interop/pyspnego_peer.py` drives the `sspi-emu-ntlm-peer` binary; docs/interop.md).
//!
//! Needs `python3` with pyspnego (`python3 -m pip install pyspnego==0.12.4`). Without it the
//! test prints a SKIP line and returns, unless `SSPI_EMU_REQUIRE_INTEROP=1` (set by `.ci/run`),
//! where it fails.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use std::path::PathBuf;
use std::process::Command;

/// The pyspnego version `.ci/run` installs.
const PYSPNEGO: &str = "0.12.4";

/// The cases of the driver and what each PASS line must say.
const CASES: &[(&str, &[&str])] = &[
    (
        "a-client-to-pyspnego",
        &["handshake complete", "principal SSPIEMU\\alice, MIC sent", "3 messages wrap/unwrap + sign/verify each way"],
    ),
    (
        "b-pyspnego-to-server",
        &["our server authenticated SSPIEMU\\alice (NTLMv2, MIC verified", "3 messages wrap/unwrap + sign/verify"],
    ),
    ("c1-wrong-password-client", &["pyspnego refused: InvalidTokenError", "Invalid NTLM response from initiator"]),
    (
        "c2-wrong-password-server",
        &["our server refused: SEC_E_LOGON_DENIED (0x8009030c), 'the response does not match the password'"],
    ),
    ("d1-tampered-mic-client", &["pyspnego refused: InvalidTokenError", "Invalid MIC in NTLM authentication message"]),
    ("d2-tampered-mic-server", &["our server refused: SEC_E_LOGON_DENIED (0x8009030c), 'the MIC does not match"]),
];

fn pyspnego_available() -> bool {
    Command::new("python3").args(["-c", "import spnego"]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn ntlm_interoperates_with_pyspnego_both_ways_through_sign_and_seal() {
    if !pyspnego_available() {
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
        return;
    }
    let driver = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/pyspnego_peer.py");
    let out = Command::new("python3").arg(&driver).arg(env!("CARGO_BIN_EXE_sspi-emu-ntlm-peer")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprint!("{stderr}");

    let version = stdout.lines().next().unwrap_or_default();
    if version != format!("pyspnego {PYSPNEGO} (pure-Python NTLM)") {
        println!("note: tested against `{version}`, .ci/run pins {PYSPNEGO}");
    }
    assert!(out.status.success(), "the driver failed ({}):\n{stdout}\n{stderr}", out.status);
    for (case, needles) in CASES {
        let prefix = format!("PASS {case}: ");
        let line = stdout.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no `{prefix}` line"));
        for needle in *needles {
            assert!(line.contains(needle), "`{case}`: expected {needle:?} in {line:?}");
        }
    }
    assert!(!stdout.contains("FAIL "), "{stdout}");
    assert!(stdout.lines().any(|l| l == format!("SUMMARY: {} passed, 0 failed", CASES.len())), "{stdout}");
}
