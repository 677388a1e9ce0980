//! `sspi-emu demo`: the async SSPI family step by step, on the embedded default world: a whole
//! NTLM handshake queued leg by leg, then `SspiAcquireCredentialsHandleAsync`'s success and one
//! scenario per row of its documented error table.
//!
//! The scenario files (and the world files they name) are embedded with `include_str!`, so the
//! demo runs from any directory. Each scenario prints its transcript, the final status of its
//! queued acquisition (read from the simulator's journal), and `PASS` or `FAIL: why`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use sspi_emu::SecStatus;
use sspi_emu::sim::{FunctionId, Simulator, World};
use sspi_emu_testkit::{Outcome, Scenario, run_on_simulator_with};

use crate::Verdict;
use crate::run::write_indented;

/// A fixture file embedded in the binary: its name and its text.
struct Embedded {
    /// The file name, relative to its fixtures subdirectory.
    file: &'static str,
    /// The file's text.
    text: &'static str,
}

/// Embeds `fixtures/<dir>/<file>` (the path is relative to this source file).
macro_rules! embed {
    ($dir:literal, $file:literal) => {
        Embedded { file: $file, text: include_str!(concat!("../../../fixtures/", $dir, "/", $file)) }
    };
}

/// The demo's scenarios, in the order they run: the success first, then the rows of the
/// `SspiAcquireCredentialsHandleAsync` error table. One line per file: add, remove or reorder
/// lines freely (a file must exist under `fixtures/conformance/` when the binary is built).
const SCENARIOS: &[Embedded] = &[
    embed!("conformance", "handshake-ntlm-async.toml"),
    embed!("conformance", "ach-async-ok.toml"),
    embed!("conformance", "ach-async-insufficient-memory.toml"),
    embed!("conformance", "ach-async-internal-error.toml"),
    embed!("conformance", "ach-async-no-credentials.toml"),
    embed!("conformance", "ach-async-not-owner.toml"),
    embed!("conformance", "ach-async-secpkg-not-found.toml"),
    embed!("conformance", "ach-async-unknown-credentials.toml"),
    embed!("conformance", "ach-async-no-authenticating-authority.toml"),
];

/// The world files the scenarios above name (`world = "…"`), from `fixtures/worlds/`.
const WORLDS: &[Embedded] = &[embed!("worlds", "service.toml"), embed!("worlds", "tiny.toml")];

/// What the demo says before the first scenario, for a reader who never read the docs.
const INTRO: &str = "\
The async SSPI family (SspiAcquireCredentialsHandleAsync and friends) does its work in the background.
1. Queueing: the call returns at once, and its status says only whether the work was queued.
2. Polling: SspiGetAsyncCallStatus returns SEC_I_ASYNC_CALL_PENDING until the work completes,
   then the call's final status (SEC_E_OK or the error), the same on every later poll.
3. Notification: the callback set with SspiSetAsyncNotifyCallback fires once, at completion.
This demo uses the manual driver: each call waits until the demo completes it, so every moment shows.
First a whole NTLM handshake, client and server, each leg queued then polled; then the async
acquisition and every row of its documented error table.";

/// Resolves a scenario's `world = "..."` from the embedded world files.
fn embedded_world(name: &str) -> Result<Arc<World>, String> {
    let w = WORLDS
        .iter()
        .find(|w| w.file == name)
        .ok_or_else(|| format!("the world file `{name}` is not embedded in the demo (add it to `WORLDS`)"))?;
    World::from_toml_str(w.text, &format!("fixtures/worlds/{}", w.file)).map(Arc::new).map_err(|e| e.to_string())
}

/// Runs the demo. `Success` only if every scenario passed.
pub(crate) fn run(out: &mut dyn Write, journal: bool) -> io::Result<Verdict> {
    writeln!(out, "{INTRO}")?;
    let mut passed = 0;
    for (i, embedded) in SCENARIOS.iter().enumerate() {
        writeln!(out)?;
        let ok = run_one(out, embedded, journal, (i + 1, SCENARIOS.len()))?;
        if ok {
            passed += 1;
        }
    }
    writeln!(out)?;
    writeln!(out, "{passed} of {} scenarios passed", SCENARIOS.len())?;
    Ok(Verdict::from_ok(passed == SCENARIOS.len()))
}

/// Runs one embedded scenario and prints it; true if it passed.
fn run_one(out: &mut dyn Write, embedded: &Embedded, journal: bool, (n, total): (usize, usize)) -> io::Result<bool> {
    let path = PathBuf::from(format!("fixtures/conformance/{}", embedded.file));
    let scenario = match Scenario::parse(embedded.text, &path) {
        Ok(s) => s,
        Err(msg) => {
            writeln!(out, "=== [{n}/{total}] {}", embedded.file)?;
            writeln!(out, "FAIL: {msg}")?;
            return Ok(false);
        }
    };
    writeln!(out, "=== [{n}/{total}] {}", scenario.name)?;
    write_wrapped(out, &scenario.description, "    ", 96)?;
    writeln!(
        out,
        "    (world: {}, driver: {})",
        scenario.world.as_deref().unwrap_or("default"),
        scenario.driver.as_deref().unwrap_or("inline")
    )?;
    let (outcome, transcript, sim) = run_on_simulator_with(&scenario, &embedded_world);
    write_indented(out, &transcript, "  ")?;
    if let Some(sim) = &sim {
        writeln!(out, "  {}", final_status(sim))?;
        if journal {
            writeln!(out, "{}", sim.journal_json())?;
        }
    }
    Ok(match outcome {
        Outcome::Passed => {
            writeln!(out, "PASS")?;
            true
        }
        Outcome::Failed(msg) => {
            writeln!(out, "FAIL: {msg}")?;
            false
        }
        Outcome::Skipped(why) => {
            writeln!(out, "FAIL: skipped: {why}")?;
            false
        }
    })
}

/// One line on the last queued acquisition or context call, from the journal:
/// `result: <function> completed with <status>`, or why there is no final status.
fn final_status(sim: &Simulator) -> String {
    let journal = sim.journal();
    let last = journal.iter().rev().find(|e| {
        matches!(
            e.function,
            FunctionId::SspiAcquireCredentialsHandleAsyncW
                | FunctionId::SspiAcquireCredentialsHandleAsyncA
                | FunctionId::SspiInitializeSecurityContextAsyncW
                | FunctionId::SspiAcceptSecurityContextAsync
        )
    });
    let Some(entry) = last else {
        return "result: no asynchronous call was made".into();
    };
    let f = entry.function.name();
    match (entry.queue_status, entry.status) {
        (Some(SecStatus::SEC_E_OK), Some(status)) => format!("result: {f} completed with {status}"),
        (Some(SecStatus::SEC_E_OK), None) => format!("result: {f} is still pending"),
        (Some(refused), _) => format!("result: {f} was refused when queued: {refused}"),
        (None, _) => format!("result: {f} has no queueing status"),
    }
}

/// Writes `text` word-wrapped to `width` columns, each line prefixed with `indent`.
fn write_wrapped(out: &mut dyn Write, text: &str, indent: &str, width: usize) -> io::Result<()> {
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            writeln!(out, "{indent}{line}")?;
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        writeln!(out, "{indent}{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_scenario_parses_and_names_only_embedded_worlds() {
        for e in SCENARIOS {
            let s = Scenario::parse(e.text, std::path::Path::new(e.file)).expect("embedded scenario parses");
            if let Some(w) = &s.world {
                assert!(WORLDS.iter().any(|x| x.file == w), "{}: world {w} not embedded", e.file);
            }
        }
    }

    #[test]
    fn wrapping_keeps_words_and_width() {
        let mut buf = Vec::new();
        write_wrapped(&mut buf, "aaa bbb ccc ddd", "  ", 10).expect("write to Vec");
        assert_eq!(String::from_utf8(buf).expect("utf-8"), "  aaa bbb\n  ccc ddd\n");
    }
}
