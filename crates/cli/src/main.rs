//! # sspi-emu: the command line
//!
//! ```text
//!   sspi-emu demo [--journal]                 walk through the async SSPI family, step by step
//!   sspi-emu run [-v] [--fixtures DIR] FILE…  run scenario files; one PASS/FAIL/SKIP line each
//!   sspi-emu packages [--world FILE]          list a world's packages, as EnumerateSecurityPackages
//!   sspi-emu world check FILE…                check world files; `ok FILE` or file:line:col errors
//!   sspi-emu record --out DIR FILE…           record scenarios' statuses on this build's backend
//!   sspi-emu replay RECORDING…                replay recordings on the simulator; first difference
//! ```
//!
//! Exit codes: 0 when everything passed, 1 when a scenario failed or a file is invalid, 2 for
//! usage and I/O errors.
#![forbid(unsafe_code)]

mod demo;
mod packages;
mod record;
mod run;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Test Windows SSPI code anywhere: the command line of the sspi-emu simulator.
#[derive(Debug, Parser)]
#[command(name = "sspi-emu", version, about, long_about = None)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Walk through SspiAcquireCredentialsHandleAsync on the default world: one success, then
    /// one scenario per documented error. Exits 0 only if every scenario passed.
    Demo {
        /// Print the simulator's call journal (JSON) after each scenario.
        #[arg(long)]
        journal: bool,
    },
    /// Run scenario files and print one PASS / FAIL / SKIP line per file.
    Run {
        /// Scenario files (TOML, see fixtures/README.md).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print each scenario's transcript.
        #[arg(short, long)]
        verbose: bool,
        /// The fixtures directory, for the world files scenarios name (default: `fixtures` in
        /// the current directory or the nearest parent that has one).
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
        /// Print the simulator's call journal (JSON) after each scenario.
        #[arg(long)]
        journal: bool,
    },
    /// List a world's security packages, as EnumerateSecurityPackages reports them.
    Packages {
        /// A world file (default: the embedded default world).
        #[arg(long, value_name = "FILE")]
        world: Option<PathBuf>,
    },
    /// Record scenarios on this build's backend (the simulator; real Windows when built with
    /// `--features backend-win`): every status and token kind, as JSON, one file per scenario.
    Record {
        /// Scenario files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Where the recordings go (`<DIR>/<scenario>.json`).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The fixtures directory (default: as for `run`).
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
    },
    /// Replay recordings against the simulator and report the first difference of each.
    /// Exits 0 only if every recording matches.
    Replay {
        /// Recording files (JSON, from `record`).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The fixtures directory (default: as for `run`).
        #[arg(long, value_name = "DIR")]
        fixtures: Option<PathBuf>,
    },
    /// Work with world files.
    World {
        /// What to do with them.
        #[command(subcommand)]
        command: WorldCommand,
    },
}

/// `sspi-emu world …`.
#[derive(Debug, Subcommand)]
enum WorldCommand {
    /// Load world files and report `ok FILE` or where each one is wrong.
    Check {
        /// World files (TOML, see fixtures/README.md).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

/// What a command reports back to `main`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    /// Everything passed (exit 0).
    Success,
    /// A scenario failed or a file is invalid (exit 1).
    Failure,
}

impl Verdict {
    /// `Success` when `ok`.
    fn from_ok(ok: bool) -> Self {
        if ok { Self::Success } else { Self::Failure }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Command::Demo { journal } => demo::run(&mut out, journal),
        Command::Run { files, verbose, fixtures, journal } => {
            let opts = run::Options { verbose, journal, fixtures: fixtures.unwrap_or_else(run::find_fixtures) };
            run::run(&mut out, &files, &opts)
        }
        Command::Packages { world } => packages::list(&mut out, world.as_deref()),
        Command::Record { files, out: dir, fixtures } => {
            record::record(&mut out, &files, &fixtures.unwrap_or_else(run::find_fixtures), &dir)
        }
        Command::Replay { files, fixtures } => {
            record::replay(&mut out, &files, &fixtures.unwrap_or_else(run::find_fixtures))
        }
        Command::World { command: WorldCommand::Check { files } } => packages::check_worlds(&mut out, &files),
    };
    let result = result.and_then(|v| out.flush().map(|()| v));
    match result {
        Ok(Verdict::Success) => ExitCode::SUCCESS,
        Ok(Verdict::Failure) => ExitCode::from(1),
        // `sspi-emu demo | head`: the reader left; nothing more to say.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sspi-emu: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
