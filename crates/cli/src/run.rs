//! `sspi-emu run FILE…`: parse and run scenario files on the simulator.
//!
//! Always one line per file (`PASS name`, `FAIL name: why`, `SKIP name: why`), then the
//! closing line `N passed, M failed`. With `-v`, each transcript comes before its line.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sspi_emu_testkit::{Outcome, Scenario, run_on_simulator};

use crate::Verdict;

/// How `run` runs.
#[derive(Debug)]
pub(crate) struct Options {
    /// Print transcripts.
    pub(crate) verbose: bool,
    /// Print each simulator's journal (JSON).
    pub(crate) journal: bool,
    /// The fixtures directory (world files are under its `worlds/`).
    pub(crate) fixtures: PathBuf,
}

/// The `fixtures` directory of the current directory or of its nearest parent that has one;
/// `fixtures` (relative) when there is none, so that errors name the path that was tried.
pub(crate) fn find_fixtures() -> PathBuf {
    let fallback = PathBuf::from("fixtures");
    let Ok(cwd) = std::env::current_dir() else {
        return fallback;
    };
    cwd.ancestors().map(|dir| dir.join("fixtures")).find(|dir| dir.is_dir()).unwrap_or(fallback)
}

/// Runs every file; `Failure` if any failed (skips do not fail the run).
pub(crate) fn run(out: &mut dyn Write, files: &[PathBuf], opts: &Options) -> io::Result<Verdict> {
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in files {
        match run_file(out, file, opts)? {
            FileResult::Passed => passed += 1,
            FileResult::Failed => failed += 1,
            FileResult::Skipped => {}
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(Verdict::from_ok(failed == 0))
}

/// How one file went.
enum FileResult {
    /// Parsed, ran, every expectation held.
    Passed,
    /// Could not be read or parsed, or an expectation failed.
    Failed,
    /// The backend lacked what the scenario needs.
    Skipped,
}

fn run_file(out: &mut dyn Write, file: &Path, opts: &Options) -> io::Result<FileResult> {
    let scenario = match Scenario::load(file) {
        Ok(s) => s,
        Err(msg) => {
            // No name without a parse: the file stands in for it. `msg` names file and line.
            writeln!(out, "FAIL {}: {msg}", file.display())?;
            return Ok(FileResult::Failed);
        }
    };
    let (outcome, transcript, sim) = run_on_simulator(&scenario, &opts.fixtures);
    if opts.verbose {
        writeln!(out, "== {}: {}", scenario.name, scenario.description)?;
        write_indented(out, &transcript, "  ")?;
    }
    if let Some(sim) = sim.as_ref().filter(|_| opts.journal) {
        writeln!(out, "{}", sim.journal_json())?;
    }
    let name = &scenario.name;
    Ok(match outcome {
        Outcome::Passed => {
            writeln!(out, "PASS {name}")?;
            FileResult::Passed
        }
        Outcome::Failed(msg) => {
            writeln!(out, "FAIL {name}: {msg}")?;
            FileResult::Failed
        }
        Outcome::Skipped(why) => {
            writeln!(out, "SKIP {name}: {why}")?;
            FileResult::Skipped
        }
    })
}

/// Writes `text` line by line, each prefixed with `indent`.
pub(crate) fn write_indented(out: &mut dyn Write, text: &str, indent: &str) -> io::Result<()> {
    for line in text.lines() {
        writeln!(out, "{indent}{line}")?;
    }
    Ok(())
}
