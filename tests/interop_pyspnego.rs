//! Interop with pyspnego's pure-Python NTLM: our sans-IO NTLM client against its acceptor and
//! its initiator against our server, with explicit credentials, through sign and seal
//! (`tests/interop/pyspnego_peer.py` drives the `sspi-emu-ntlm-peer` binary; docs/interop.md).
//!
//! Needs `python3` with pyspnego (`python3 -m pip install pyspnego==0.12.4`). Without it the
//! test prints a SKIP line and returns, unless `SSPI_EMU_REQUIRE_INTEROP=1` (set by `.ci/run`),
//! where it fails.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use sspi_emu_testkit::interop::{PYSPNEGO, pyspnego_or_skip, run_driver};

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

#[test]
fn ntlm_interoperates_with_pyspnego_both_ways_through_sign_and_seal() {
    if !pyspnego_or_skip() {
        return;
    }
    let (out, stdout) = run_driver(
        "pyspnego_peer.py",
        env!("CARGO_BIN_EXE_sspi-emu-ntlm-peer"),
        &format!("pyspnego {PYSPNEGO} (pure-Python NTLM)"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
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
