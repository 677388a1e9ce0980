//! End-to-end tests of the `sspi-emu` binary: exit codes and exact output lines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
fn sspi_emu() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sspi-emu"))
}

/// Runs `cmd` and returns its output; panics if it cannot start.
fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the sspi-emu binary starts")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

/// The repository's `fixtures/` directory.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A fresh, empty scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sspi-emu-cli-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn demo_passes_and_shows_pending_then_each_final_status_in_order() {
    // From a directory with no fixtures: everything the demo needs is embedded.
    let dir = Scratch::new("demo");
    let o = run(sspi_emu().arg("demo").current_dir(&dir.0));
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{}", stderr(&o));
    assert_eq!(stderr(&o), "");

    assert!(out.starts_with("The async SSPI family (SspiAcquireCredentialsHandleAsync and friends)"), "{out}");
    assert!(out.contains(
        "-> SEC_I_ASYNC_CALL_PENDING (0x00090368)  An asynchronous SSPI routine has been called and the work is pending completion."
    ));

    let results: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("  result: ")).collect();
    let f = "SspiAcquireCredentialsHandleAsyncW completed with";
    assert_eq!(
        results,
        [
            "SspiAcceptSecurityContextAsync completed with SEC_E_OK (0x00000000)".to_string(),
            format!("{f} SEC_E_OK (0x00000000)"),
            format!("{f} SEC_E_INSUFFICIENT_MEMORY (0x80090300)"),
            format!("{f} SEC_E_INTERNAL_ERROR (0x80090304)"),
            format!("{f} SEC_E_NO_CREDENTIALS (0x8009030E)"),
            format!("{f} SEC_E_NOT_OWNER (0x80090306)"),
            format!("{f} SEC_E_SECPKG_NOT_FOUND (0x80090305)"),
            format!("{f} SEC_E_UNKNOWN_CREDENTIALS (0x8009030D)"),
            format!("{f} SEC_E_NO_AUTHENTICATING_AUTHORITY (0x80090311)"),
        ]
    );

    let headers: Vec<&str> = out.lines().filter(|l| l.starts_with("=== ")).collect();
    assert_eq!(
        headers,
        [
            "=== [1/9] handshake-ntlm-async",
            "=== [2/9] ach-async-ok",
            "=== [3/9] ach-async-insufficient-memory",
            "=== [4/9] ach-async-internal-error",
            "=== [5/9] ach-async-no-credentials",
            "=== [6/9] ach-async-not-owner",
            "=== [7/9] ach-async-secpkg-not-found",
            "=== [8/9] ach-async-unknown-credentials",
            "=== [9/9] ach-async-no-authenticating-authority",
        ]
    );
    assert_eq!(out.lines().filter(|l| *l == "PASS").count(), 9);
    assert_eq!(out.lines().last(), Some("9 of 9 scenarios passed"));
    // The handshake shows the queue-then-poll pattern on both sides.
    assert!(out.contains("SspiInitializeSecurityContextAsyncW(`client`"), "{out}");
    assert!(out.contains("check: `authenticate` is a token 394 B (NTLM AUTHENTICATE_MESSAGE)"), "{out}");
}

#[test]
fn demo_journal_prints_one_json_journal_per_scenario() {
    let o = run(sspi_emu().args(["demo", "--journal"]));
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    // Each journal is a pretty-printed JSON array starting on a line of its own.
    assert_eq!(out.lines().filter(|l| *l == "[").count(), 9);
    assert_eq!(out.lines().filter(|l| *l == "    \"function\": \"SspiAcquireCredentialsHandleAsyncW\",").count(), 8);
    assert_eq!(out.lines().filter(|l| *l == "    \"function\": \"SspiAcceptSecurityContextAsync\",").count(), 2);
}

#[test]
fn world_check_reports_file_line_and_field_of_a_broken_world() {
    let dir = Scratch::new("world-check");
    let bad = dir.write("bad.toml", "name = \"bad\"\nseed = 1\nbogus_field = 3\n");
    let good = fixtures().join("worlds/default.toml");
    let o = run(sspi_emu().args(["world", "check"]).arg(&good).arg(&bad));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), format!("ok {}\n", good.display()));
    let err = stderr(&o);
    let want = format!("{}:3:1: field `bogus_field`: unknown field `bogus_field`, expected one of ", bad.display());
    assert!(err.starts_with(&want), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
}

#[test]
fn world_check_accepts_the_repository_worlds() {
    let worlds = ["default.toml", "service.toml", "tiny.toml"].map(|w| fixtures().join("worlds").join(w));
    let o = run(sspi_emu().args(["world", "check"]).args(&worlds));
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let want: String = worlds.iter().map(|w| format!("ok {}\n", w.display())).collect();
    assert_eq!(stdout(&o), want);
}

#[test]
fn packages_lists_ntlm_with_its_secpkginfo() {
    let o = run(sspi_emu().arg("packages"));
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(out.lines().next(), Some("12 security packages in world `default`:"));
    let ntlm: Vec<&str> = out.lines().skip_while(|l| *l != "NTLM").take(6).collect();
    assert_eq!(
        ntlm,
        [
            "NTLM",
            "  Comment:      NTLM Security Package",
            "  Capabilities: 0x02882B37 (SECPKG_FLAG_INTEGRITY | SECPKG_FLAG_PRIVACY | SECPKG_FLAG_TOKEN_ONLY \
             | SECPKG_FLAG_CONNECTION | SECPKG_FLAG_MULTI_REQUIRED | SECPKG_FLAG_IMPERSONATION \
             | SECPKG_FLAG_ACCEPT_WIN32_NAME | SECPKG_FLAG_NEGOTIABLE | SECPKG_FLAG_LOGON \
             | SECPKG_FLAG_RESTRICTED_TOKENS | SECPKG_FLAG_APPCONTAINER_CHECKS | SECPKG_FLAG_APPLY_LOOPBACK)",
            "  Version:      1",
            "  RPC id:       10",
            "  Max token:    2888",
        ]
    );
}

#[test]
fn packages_reports_a_broken_world_file() {
    let dir = Scratch::new("packages-bad");
    let bad = dir.write("bad.toml", "name = \"bad\"\nbogus_field = 3\n");
    let o = run(sspi_emu().arg("packages").arg("--world").arg(&bad));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).starts_with(&format!("{}:2:1: field `bogus_field`: ", bad.display())), "{}", stderr(&o));
}

#[test]
fn run_passes_a_repository_scenario() {
    let file = fixtures().join("conformance/ach-async-ok.toml");
    let o = run(sspi_emu().arg("run").arg(&file));
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert_eq!(stdout(&o), "PASS ach-async-ok\n1 passed, 0 failed\n");
}

#[test]
fn run_finds_world_files_through_the_fixtures_option() {
    // The scenario names `tiny.toml`; from a directory without fixtures, --fixtures supplies it.
    let dir = Scratch::new("run-fixtures");
    let file = fixtures().join("conformance/ach-async-insufficient-memory.toml");
    let o = run(sspi_emu().arg("run").arg("--fixtures").arg(fixtures()).arg(&file).current_dir(&dir.0));
    assert_eq!(o.status.code(), Some(0), "stdout: {}", stdout(&o));
    assert_eq!(stdout(&o), "PASS ach-async-insufficient-memory\n1 passed, 0 failed\n");
}

#[test]
fn run_verbose_prints_the_transcript_before_the_verdict() {
    let file = fixtures().join("conformance/ach-async-ok.toml");
    let o = run(sspi_emu().args(["run", "-v"]).arg(&file));
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("== ach-async-ok: An async acquisition is queued"), "{out}");
    assert!(lines.contains(&"  [09:00:00]     (the driver holds the call: still in progress)"), "{out}");
    assert_eq!(lines[lines.len() - 2..], ["PASS ach-async-ok", "1 passed, 0 failed"]);
}

#[test]
fn run_reports_failures_and_unparsable_files_and_exits_non_zero() {
    let dir = Scratch::new("run-fail");
    let failing = dir.write(
        "wrong-status.toml",
        "name = \"wrong-status\"\n\
         description = \"expects the wrong status before anything is queued\"\n\
         [[steps]]\n\
         call = \"SspiCreateAsyncContext\"\n\
         ctx = \"c\"\n\
         [[steps]]\n\
         call = \"SspiGetAsyncCallStatus\"\n\
         ctx = \"c\"\n\
         expect = \"SEC_E_OK\"\n",
    );
    let broken = dir.write("broken.toml", "name = \"broken\"\ndescription = \"x\"\nsteps = []\nbogus_field = 1\n");
    let ok = fixtures().join("conformance/ach-async-ok.toml");
    let o = run(sspi_emu().arg("run").arg(&ok).arg(&failing).arg(&broken));
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], "PASS ach-async-ok");
    assert_eq!(
        lines[1],
        format!(
            "FAIL wrong-status: {}:7: step 2 (SspiGetAsyncCallStatus): expected SEC_E_OK (0x00000000), \
             got SEC_E_UNSUPPORTED_FUNCTION (0x80090302)",
            failing.display()
        )
    );
    let want = format!("FAIL {0}: {0}:4:1: field `bogus_field`: unknown field `bogus_field`", broken.display());
    assert!(lines[2].starts_with(&want), "{}", lines[2]);
    assert_eq!(lines[3], "1 passed, 2 failed");
}

#[test]
fn record_then_replay_matches_and_a_changed_status_is_reported_at_its_step() {
    let dir = Scratch::new("record");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scenario = root.join("fixtures/conformance/handshake-negotiate.toml");
    let out_dir = dir.0.join("rec");
    let o = run(sspi_emu().arg("record").arg("--out").arg(&out_dir).arg(&scenario).current_dir(&root));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    if sspi_emu::BACKEND_NAME != "simulator" {
        // Built with backend-win: the recording is of the real SSPI; what it holds is checked
        // by the replay of committed recordings (tests/conformance.rs).
        let rec = std::fs::read_to_string(out_dir.join("handshake-negotiate.json")).unwrap();
        assert!(
            rec.contains("\"backend\": \"windows\"") && rec.contains("\"call\": \"InitializeSecurityContextW\""),
            "{rec}"
        );
        return;
    }
    assert_eq!(stdout(&o), "simulator handshake-negotiate: passed (17 results)\n");
    let rec = out_dir.join("handshake-negotiate.json");
    let o = run(sspi_emu().arg("replay").arg(&rec).current_dir(&root));
    assert_eq!(stdout(&o), "SAME handshake-negotiate (17 results, simulator vs simulator)\n");
    assert_eq!(o.status.code(), Some(0));
    // A recording whose fourth server leg was refused differs at that step.
    let text = std::fs::read_to_string(&rec).unwrap();
    let changed = text.replacen(
        "\"SEC_E_OK\"\n    },\n    {\n      \"step\": 9",
        "\"SEC_E_LOGON_DENIED\"\n    },\n    {\n      \"step\": 9",
        1,
    );
    assert_ne!(changed, text, "the edit applies");
    std::fs::write(&rec, changed).unwrap();
    let o = run(sspi_emu().arg("replay").arg(&rec).current_dir(&root));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with(
            "DIFF handshake-negotiate: step 8: simulator (simulator) has AcceptSecurityContext -> SEC_E_OK"
        ),
        "{}",
        stdout(&o)
    );
}
