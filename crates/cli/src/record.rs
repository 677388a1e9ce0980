//! `sspi-emu record` and `sspi-emu replay`: a scenario's statuses and token kinds on the build's
//! backend (the simulator, or real Windows with `--features backend-win`), saved as JSON; and
//! the replay of such recordings against the simulator, reporting the first difference.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sspi_emu_testkit::{Recording, Scenario};

use crate::Verdict;

/// The environment name recordings carry: `simulator`, or `SSPI_EMU_ENV` (`wine`,
/// `windows`) on a real backend.
fn environment() -> String {
    if sspi_emu::BACKEND_NAME == "simulator" {
        return "simulator".into();
    }
    std::env::var("SSPI_EMU_ENV").unwrap_or_else(|_| "windows".into())
}

/// The path of `file` relative to `fixtures`, with `/` separators (recordings name their
/// scenario this way on every platform).
fn relative(file: &Path, fixtures: &Path) -> String {
    let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let fixtures = std::fs::canonicalize(fixtures).unwrap_or_else(|_| fixtures.to_path_buf());
    let rel = file.strip_prefix(&fixtures).unwrap_or(&file);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Records each scenario into `out_dir/<name>.json`; scenarios that need simulator control
/// are recorded as skipped, with the reason.
pub(crate) fn record(out: &mut dyn Write, files: &[PathBuf], fixtures: &Path, out_dir: &Path) -> io::Result<Verdict> {
    std::fs::create_dir_all(out_dir)?;
    let env = environment();
    let mut ok = true;
    for file in files {
        let scenario = match Scenario::load(file) {
            Ok(s) => s,
            Err(e) => {
                writeln!(out, "FAIL {}: {e}", file.display())?;
                ok = false;
                continue;
            }
        };
        let rec = Recording::on_build_backend(&scenario, &relative(file, fixtures), &env);
        let path = out_dir.join(format!("{}.json", scenario.name));
        std::fs::write(&path, rec.to_json() + "\n")?;
        writeln!(out, "{} {}: {} ({} results)", env, scenario.name, rec.outcome, rec.steps.len())?;
    }
    Ok(Verdict::from_ok(ok))
}

/// Replays recordings against the simulator: `SAME name` or `DIFF name: first difference`.
pub(crate) fn replay(out: &mut dyn Write, files: &[PathBuf], fixtures: &Path) -> io::Result<Verdict> {
    let mut same = true;
    for file in files {
        let rec = match Recording::load(file) {
            Ok(r) => r,
            Err(e) => {
                writeln!(out, "FAIL {e}")?;
                same = false;
                continue;
            }
        };
        let scenario = match Scenario::load(fixtures.join(&rec.file)) {
            Ok(s) => s,
            Err(e) => {
                writeln!(out, "FAIL {}: {e}", rec.scenario)?;
                same = false;
                continue;
            }
        };
        let ours = Recording::on_simulator(&scenario, &rec.file);
        match ours.first_difference(&rec) {
            None => writeln!(out, "SAME {} ({} results, {} vs simulator)", rec.scenario, rec.steps.len(), rec.env)?,
            Some(d) => {
                same = false;
                writeln!(out, "DIFF {}: {d}", rec.scenario)?;
            }
        }
    }
    Ok(Verdict::from_ok(same))
}
