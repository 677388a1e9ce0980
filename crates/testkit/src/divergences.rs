//! Divergences as data: `fixtures/divergences.toml` lists each scenario step where a real
//! backend (`windows`, or `wine`) differs from the simulator, with a reason and a source.
//!
//! A run on a real backend passes when every scenario either passes or fails exactly at a
//! listed step of its environment. A failure that is not listed fails the run; so does a listed
//! divergence that no longer diverges (the scenario passes, or fails elsewhere), and an entry
//! without a reason or a source.

use std::path::Path;

use serde::Deserialize;

/// One known difference.
#[derive(Clone, PartialEq, Eq, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Divergence {
    /// `windows` or `wine`.
    pub env: String,
    /// The scenario's name.
    pub scenario: String,
    /// The step (1-based) whose expectation fails on that backend.
    pub step: usize,
    /// Why the backend differs.
    pub reason: String,
    /// Where that is known from (a page, a source file, an observation).
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    divergence: Vec<Divergence>,
}

/// The outcome of one scenario on a real backend.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RunResult {
    /// Every expectation held.
    Passed,
    /// Skipped (needs simulator control), with the reason.
    Skipped(String),
    /// The first failing step, and the message.
    Failed(usize, String),
}

/// The divergence list.
#[derive(Clone, Debug, Default)]
pub struct Divergences(pub Vec<Divergence>);

/// The environments a divergence may name.
pub const ENVIRONMENTS: &[&str] = &["windows", "wine"];

impl Divergences {
    /// Parses the list.
    ///
    /// # Errors
    /// A message naming the file and what is wrong.
    pub fn parse(text: &str, file: &str) -> Result<Self, String> {
        let f: File = toml::from_str(text).map_err(|e| format!("{file}: {e}"))?;
        for (i, d) in f.divergence.iter().enumerate() {
            // A run stops at a scenario's first failing step: a second entry could never hold.
            if f.divergence[..i].iter().any(|e| e.env == d.env && e.scenario == d.scenario) {
                return Err(format!(
                    "{file}: {} is listed twice for {}: one entry per scenario and environment",
                    d.scenario, d.env
                ));
            }
            if !ENVIRONMENTS.contains(&d.env.as_str()) {
                return Err(format!("{file}: {}: env `{}` is not one of {ENVIRONMENTS:?}", d.scenario, d.env));
            }
            if d.reason.trim().is_empty() || d.source.trim().is_empty() {
                return Err(format!(
                    "{file}: {} step {} ({}): a divergence needs a reason and a source",
                    d.scenario, d.step, d.env
                ));
            }
        }
        Ok(Self(f.divergence))
    }

    /// Reads `fixtures/divergences.toml`.
    ///
    /// # Errors
    /// As [`Divergences::parse`], or the file cannot be read.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The problems of a run in `env`: unlisted failures, and listed divergences that did not
    /// happen. Empty means the run agrees with the list.
    pub fn check(&self, env: &str, results: &[(String, RunResult)]) -> Vec<String> {
        let mut problems = Vec::new();
        for (scenario, result) in results {
            let listed: Vec<&Divergence> = self.0.iter().filter(|d| d.env == env && d.scenario == *scenario).collect();
            match result {
                RunResult::Failed(step, why) => {
                    if !listed.iter().any(|d| d.step == *step) {
                        problems.push(format!(
                            "{scenario}: fails on {env} at step {step}, not listed in divergences.toml: {why}"
                        ));
                    }
                }
                RunResult::Passed => {
                    for d in &listed {
                        problems.push(format!(
                            "{scenario}: listed as diverging on {env} at step {} ({}), but it passes: remove the entry",
                            d.step, d.reason
                        ));
                    }
                }
                RunResult::Skipped(_) => {}
            }
            if let RunResult::Failed(step, _) = result {
                for d in listed.iter().filter(|d| d.step != *step) {
                    problems.push(format!(
                        "{scenario}: listed as diverging on {env} at step {}, but it fails at step {step} instead",
                        d.step
                    ));
                }
            }
        }
        for d in self.0.iter().filter(|d| d.env == env) {
            if !results.iter().any(|(s, _)| *s == d.scenario) {
                problems.push(format!("{}: listed for {env} but no such scenario ran", d.scenario));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Divergences {
        Divergences::parse(
            "[[divergence]]\nenv = \"wine\"\nscenario = \"a\"\nstep = 3\nreason = \"r\"\nsource = \"s\"\n",
            "d.toml",
        )
        .expect("parses")
    }

    #[test]
    fn a_listed_failure_passes_and_an_unlisted_one_fails() {
        let ok = [("a".to_string(), RunResult::Failed(3, "x".into())), ("b".to_string(), RunResult::Passed)];
        assert_eq!(list().check("wine", &ok), Vec::<String>::new());
        let bad =
            [("a".to_string(), RunResult::Failed(3, "x".into())), ("b".to_string(), RunResult::Failed(1, "y".into()))];
        assert_eq!(list().check("wine", &bad).len(), 1);
        assert!(list().check("wine", &bad)[0].starts_with("b: fails on wine at step 1"));
    }

    #[test]
    fn a_divergence_that_no_longer_diverges_fails_the_run() {
        let passes = [("a".to_string(), RunResult::Passed)];
        let p = list().check("wine", &passes);
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("but it passes"), "{p:?}");
        let elsewhere = [("a".to_string(), RunResult::Failed(5, "z".into()))];
        let p = list().check("wine", &elsewhere);
        assert_eq!(p.len(), 2, "{p:?}");
        // Entries of another environment do not apply.
        assert_eq!(list().check("windows", &passes), Vec::<String>::new());
    }

    #[test]
    fn a_scenario_is_listed_once_per_environment() {
        let twice = "[[divergence]]\nenv = \"wine\"\nscenario = \"a\"\nstep = 3\nreason = \"r\"\nsource = \"s\"\n\
                     [[divergence]]\nenv = \"wine\"\nscenario = \"a\"\nstep = 5\nreason = \"r\"\nsource = \"s\"\n";
        assert!(Divergences::parse(twice, "d.toml").unwrap_err().contains("listed twice for wine"));
    }

    #[test]
    fn entries_need_a_reason_a_source_and_a_known_environment() {
        let no_reason = "[[divergence]]\nenv = \"wine\"\nscenario = \"a\"\nstep = 3\nreason = \" \"\nsource = \"s\"\n";
        assert!(Divergences::parse(no_reason, "d.toml").unwrap_err().contains("needs a reason and a source"));
        let bad_env = "[[divergence]]\nenv = \"linux\"\nscenario = \"a\"\nstep = 3\nreason = \"r\"\nsource = \"s\"\n";
        assert!(Divergences::parse(bad_env, "d.toml").unwrap_err().contains("env `linux`"));
    }
}
