//! # sspi-emu-testkit
//!
//! What the tests in `tests/` share: the scenario (conformance) runner, the status tables,
//! and the fixture locations. Everything goes through the `sspi-emu` facade, so the same
//! corpus can run on every backend.
#![forbid(unsafe_code)]

pub mod divergences;
pub mod interop;
pub mod record;
pub mod scenario;
pub mod tables;

pub use divergences::{Divergence, Divergences, RunResult};
pub use record::{RecordedStep, Recording};
pub use scenario::{
    Harness, Outcome, Runner, Scenario, WorldLoader, corpus, fixtures_dir, run_on_simulator, run_on_simulator_with,
};
pub use tables::{StatusTables, Violation};
