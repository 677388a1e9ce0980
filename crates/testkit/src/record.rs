//! Recordings: what a scenario's calls returned on one backend (statuses, and the kind of each
//! token checked), saved as JSON so a run on real Windows or under Wine can be replayed against
//! the simulator, reporting the first difference.
//!
//! Token bytes are not compared: challenges, timestamps and keys differ from run to run and
//! between implementations; their kind (`NTLM CHALLENGE_MESSAGE`, `SPNEGO NegTokenResp`) and
//! every status must match.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::scenario::{Harness, Outcome, Runner, Scenario};

/// One recorded step.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RecordedStep {
    /// The step's number in the scenario (1-based).
    pub step: usize,
    /// The call.
    pub call: String,
    /// The status the call returned (name, or hex for a value without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The kind of token an `expect_token` step saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Other observed values a step checks (e.g. `5 packages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A scenario run on one backend.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Recording {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file, relative to `fixtures/`.
    pub file: String,
    /// `simulator` or `windows`.
    pub backend: String,
    /// Where it ran: `simulator`, `windows`, `wine`.
    pub env: String,
    /// `passed`, `skipped: ...` or `failed at step N: ...`.
    pub outcome: String,
    /// What each step returned.
    pub steps: Vec<RecordedStep>,
}

impl Recording {
    /// Runs `scenario` on `harness`, every step even after a failed expectation, and records it.
    pub fn make(harness: Harness<'_>, scenario: &Scenario, file: &str, backend: &str, env: &str) -> Self {
        let mut runner = Runner::new(harness);
        runner.keep_going(true);
        let outcome = match runner.run(scenario) {
            Outcome::Passed => "passed".to_string(),
            Outcome::Skipped(why) => format!("skipped: {why}"),
            Outcome::Failed(why) => format!("failed at step {}: {why}", runner.first_failure().unwrap_or(0)),
        };
        Self {
            scenario: scenario.name.clone(),
            file: file.to_string(),
            backend: backend.to_string(),
            env: env.to_string(),
            outcome,
            steps: runner.recorded().to_vec(),
        }
    }

    /// Records `scenario` on the build's backend (the simulator, or the real SSPI with
    /// `backend-win`) with the engine configured as the scenario says (driver, profile, fault
    /// rules); scenarios that need a simulated world or the simulator's controls are recorded
    /// as skipped.
    pub fn on_build_backend(scenario: &Scenario, file: &str, env: &str) -> Self {
        match scenario.engine_builder() {
            Ok(builder) => {
                let eb = sspi_emu::EngineBackend::new(builder);
                let h = Harness { backend: eb.backend(), sim: None, engine: Some(eb.engine()) };
                Self::make(h, scenario, file, sspi_emu::BACKEND_NAME, env)
            }
            Err(e) => Self {
                scenario: scenario.name.clone(),
                file: file.to_string(),
                backend: sspi_emu::BACKEND_NAME.to_string(),
                env: env.to_string(),
                outcome: format!("failed at step 0: {e}"),
                steps: Vec::new(),
            },
        }
    }

    /// Records `scenario` on the simulator the same way (engine configured, no simulator
    /// controls): what a recording from a real backend is compared with.
    pub fn on_simulator(scenario: &Scenario, file: &str) -> Self {
        match scenario.engine_builder() {
            Ok(builder) => {
                let sim = builder.build();
                Self::make(
                    Harness { backend: &sim, sim: None, engine: Some(&sim) },
                    scenario,
                    file,
                    "simulator",
                    "simulator",
                )
            }
            Err(e) => Self {
                scenario: scenario.name.clone(),
                file: file.to_string(),
                backend: "simulator".into(),
                env: "simulator".into(),
                outcome: format!("failed at step 0: {e}"),
                steps: Vec::new(),
            },
        }
    }

    /// The recording as pretty JSON.
    pub fn to_json(&self) -> String {
        // Plain data: serialising to a String cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a recording.
    ///
    /// # Errors
    /// A message naming the file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The first step where `other` differs from this recording, described for a person, or
    /// `None` when every status and token kind matches.
    pub fn first_difference(&self, other: &Recording) -> Option<String> {
        for (a, b) in self.steps.iter().zip(&other.steps) {
            if a != b {
                let show = |s: &RecordedStep| {
                    let mut t = s.status.clone().unwrap_or_default();
                    if let Some(k) = &s.token {
                        t = format!("token {k}");
                    }
                    if let Some(d) = &s.detail {
                        t = format!("{t} ({d})");
                    }
                    format!("{} -> {t}", s.call)
                };
                return Some(format!(
                    "step {}: {} ({}) has {}; {} ({}) has {}",
                    a.step,
                    self.env,
                    self.backend,
                    show(a),
                    other.env,
                    other.backend,
                    show(b)
                ));
            }
        }
        match self.steps.len().cmp(&other.steps.len()) {
            std::cmp::Ordering::Equal => None,
            _ => Some(format!(
                "{} recorded {} results, {} recorded {} (the shorter run stopped early)",
                self.env,
                self.steps.len(),
                other.env,
                other.steps.len()
            )),
        }
    }
}
