//! Runs every scenario of `fixtures/conformance/` through the facade, and checks that no call
//! in any of them returned a status outside its function's table.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use sspi_emu_testkit::{Outcome, Scenario, StatusTables, corpus, fixtures_dir, run_on_simulator};

#[test]
fn every_scenario_in_the_corpus_passes_on_the_simulator() {
    let fixtures = fixtures_dir();
    let tables = StatusTables::load_dir(fixtures.join("status-tables")).expect("status tables load");
    let files = corpus(&fixtures).expect("corpus");
    assert!(files.len() >= 20, "the corpus has {} scenarios", files.len());
    let mut failures = Vec::new();
    let mut journaled = 0;
    for file in &files {
        let scenario = match Scenario::load(file) {
            Ok(s) => s,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let (outcome, transcript, sim) = run_on_simulator(&scenario, &fixtures);
        match outcome {
            Outcome::Passed => {}
            Outcome::Skipped(why) => failures.push(format!("{}: skipped on the simulator: {why}", file.display())),
            Outcome::Failed(why) => failures.push(format!("{why}\n--- transcript ---\n{transcript}")),
        }
        if let Some(sim) = sim {
            let journal = sim.journal();
            journaled += journal.len();
            for v in tables.check(&journal) {
                failures.push(format!(
                    "{}: journal #{} {} returned {} at {} stage, outside its status table",
                    file.display(),
                    v.seq,
                    v.function,
                    v.status,
                    v.stage
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n\n"));
    assert!(journaled > 200, "the corpus journaled only {journaled} calls");
}

#[test]
fn scenarios_that_need_simulator_control_say_so() {
    let fixtures = fixtures_dir();
    let manual = Scenario::load(fixtures.join("conformance/ach-async-ok.toml")).unwrap();
    assert_eq!(manual.requirements(), vec!["the manual driver".to_string()]);
    let plain = Scenario::load(fixtures.join("conformance/ach-sync-rows.toml")).unwrap();
    assert_eq!(plain.requirements(), Vec::<String>::new(), "runs on any backend");
}

#[test]
fn a_backend_without_simulator_control_skips_with_the_reason() {
    let fixtures = fixtures_dir();
    let s = Scenario::load(fixtures.join("conformance/ach-async-not-owner.toml")).unwrap();
    let sim = sspi_emu::sim::Simulator::new();
    let mut runner =
        sspi_emu_testkit::Runner::new(sspi_emu_testkit::Harness { backend: &sim, sim: None, engine: None });
    assert_eq!(runner.run(&s), Outcome::Skipped("needs the manual driver".into()));
    // With the engine configured from the scenario, only the world and the simulator's
    // controls are missing.
    let world = Scenario::load(fixtures.join("conformance/ach-async-no-credentials.toml")).unwrap();
    let mut runner =
        sspi_emu_testkit::Runner::new(sspi_emu_testkit::Harness { backend: &sim, sim: None, engine: Some(&sim) });
    assert_eq!(runner.run(&world), Outcome::Skipped("needs the simulated world `service.toml`".into()));
}

#[test]
fn a_wrong_expectation_fails_with_file_line_and_both_statuses() {
    let text = "name = \"x\"\ndescription = \"d\"\n[[steps]]\ncall = \"QuerySecurityPackageInfoW\"\npackage = \"NTLM\"\nexpect = \"SEC_E_SECPKG_NOT_FOUND\"\n";
    let s = Scenario::parse(text, std::path::Path::new("x.toml")).unwrap();
    let (outcome, _, _) = run_on_simulator(&s, &fixtures_dir());
    assert_eq!(
        outcome,
        Outcome::Failed(
            "x.toml:4: step 1 (QuerySecurityPackageInfoW): expected SEC_E_SECPKG_NOT_FOUND (0x80090305), got SEC_E_OK (0x00000000)".into()
        )
    );
}

#[test]
fn unknown_calls_and_fields_are_rejected_with_their_line() {
    let e = Scenario::parse(
        "name = \"x\"\ndescription = \"d\"\n[[steps]]\ncall = \"Nope\"\n",
        std::path::Path::new("x.toml"),
    )
    .unwrap_err();
    assert_eq!(e, "x.toml:4: step 1: unknown call `Nope`");
    let e = Scenario::parse(
        "name = \"x\"\ndescription = \"d\"\n[[steps]]\ncall = \"step\"\nctxx = \"c\"\n",
        std::path::Path::new("x.toml"),
    )
    .unwrap_err();
    assert!(e.starts_with("x.toml:5:") && e.contains("field `ctxx`"), "{e}");
}

#[test]
fn a_bad_fault_rule_is_reported_at_its_line_in_the_scenario() {
    let text = "name = \"x\"\ndescription = \"d\"\n\n[[faults]]\nfunction = \"AcquireCredentialsHandle\"\naction = \"fail\"\nstatus = \"SEC_E_NOPE\"\n\n[[steps]]\ncall = \"step\"\n";
    let e = Scenario::parse(text, std::path::Path::new("x.toml")).unwrap_err();
    assert!(e.starts_with("x.toml:7:10: field `status`:"), "{e}");
}

/// The environment this test binary runs in: the simulator, real Windows, or Wine
/// (`SSPI_EMU_ENV=wine`, set by `.ci/wine-leg`).
fn environment() -> String {
    if sspi_emu::BACKEND_NAME == "simulator" {
        return "simulator".into();
    }
    std::env::var("SSPI_EMU_ENV").unwrap_or_else(|_| "windows".into())
}

/// The corpus through `sspi_emu::backend()` with no simulator control, as on a real backend:
/// scenarios that need simulator control are skipped with the reason printed; the others must
/// pass or fail exactly where `fixtures/divergences.toml` says for this environment.
#[test]
fn the_corpus_on_the_build_backend_agrees_with_the_divergence_list() {
    use sspi_emu_testkit::{Divergences, Harness, RunResult, Runner};
    let fixtures = fixtures_dir();
    let env = environment();
    let divergences = Divergences::load(&fixtures.join("divergences.toml")).unwrap();
    let mut results = Vec::new();
    let mut ran = 0;
    for file in corpus(&fixtures).unwrap() {
        let scenario = Scenario::load(&file).unwrap();
        let eb = sspi_emu::EngineBackend::new(scenario.engine_builder().unwrap());
        let mut runner = Runner::new(Harness { backend: eb.backend(), sim: None, engine: Some(eb.engine()) });
        let result = match runner.run(&scenario) {
            Outcome::Passed => {
                ran += 1;
                RunResult::Passed
            }
            Outcome::Skipped(why) => {
                println!("SKIP {} on {env}: {why}", scenario.name);
                RunResult::Skipped(why)
            }
            Outcome::Failed(why) => {
                ran += 1;
                println!("DIVERGES {} on {env}: {why}\n{}", scenario.name, runner.transcript());
                RunResult::Failed(runner.first_failure().unwrap_or(0), why)
            }
        };
        results.push((scenario.name.clone(), result));
    }
    assert!(ran >= 5, "only {ran} scenarios run without simulator control");
    let problems = divergences.check(&env, &results);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn divergences_name_existing_scenarios_and_steps() {
    let fixtures = fixtures_dir();
    let divergences = sspi_emu_testkit::Divergences::load(&fixtures.join("divergences.toml")).unwrap();
    for d in &divergences.0 {
        let s = Scenario::load(fixtures.join("conformance").join(format!("{}.toml", d.scenario)))
            .unwrap_or_else(|e| panic!("divergence names {}: {e}", d.scenario));
        assert!(d.step >= 1 && d.step <= s.steps.len(), "{} has no step {}", d.scenario, d.step);
        assert!(
            s.simulator_requirements().is_empty(),
            "{} needs the simulator, so it never runs on {}",
            d.scenario,
            d.env
        );
    }
}

/// A recording replays: the simulator's run of a scenario recorded twice is the same, and a
/// changed status is reported at its step.
#[test]
fn recordings_compare_step_by_step() {
    use sspi_emu_testkit::{Harness, Recording};
    let fixtures = fixtures_dir();
    let s = Scenario::load(fixtures.join("conformance/handshake-negotiate.toml")).unwrap();
    let record = || {
        let sim = sspi_emu::sim::Simulator::new();
        Recording::make(
            Harness { backend: &sim, sim: None, engine: None },
            &s,
            "conformance/handshake-negotiate.toml",
            "simulator",
            "simulator",
        )
    };
    let a = record();
    let b = record();
    assert_eq!(a.outcome, "passed");
    assert!(a.steps.iter().any(|st| st.token.as_deref() == Some("SPNEGO NegTokenInit")), "{:?}", a.steps);
    assert_eq!(a.first_difference(&b), None);
    let json = a.to_json();
    let back: Recording = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
    let mut c = b.clone();
    c.env = "wine".into();
    c.steps[4].status = Some("SEC_E_LOGON_DENIED".into());
    let diff = a.first_difference(&c).unwrap();
    assert!(diff.starts_with(&format!("step {}: simulator (simulator) has", c.steps[4].step)), "{diff}");
    assert!(diff.contains("wine (simulator) has") && diff.ends_with("-> SEC_E_LOGON_DENIED"), "{diff}");
}

/// Recordings made on a real backend (`fixtures/recordings/<env>/*.json`, made by
/// `sspi-emu record` under Wine or on Windows) replay against the simulator: they agree, or
/// differ first at a step `fixtures/divergences.toml` lists for that environment.
#[test]
fn committed_recordings_replay_against_the_simulator() {
    use sspi_emu_testkit::{Divergences, Recording};
    let fixtures = fixtures_dir();
    let divergences = Divergences::load(&fixtures.join("divergences.toml")).unwrap();
    let dir = fixtures.join("recordings");
    let Ok(envs) = std::fs::read_dir(&dir) else {
        println!("no recordings in {}", dir.display());
        return;
    };
    let mut replayed = 0;
    for env in envs.flatten() {
        for f in std::fs::read_dir(env.path()).unwrap().flatten() {
            if f.path().extension().is_none_or(|e| e != "json") {
                continue;
            }
            let rec = Recording::load(&f.path()).unwrap();
            let s = Scenario::load(fixtures.join(&rec.file)).unwrap();
            let ours = Recording::on_simulator(&s, &rec.file);
            if let Some(diff) = ours.first_difference(&rec) {
                let step: usize = diff
                    .strip_prefix("step ")
                    .and_then(|d| d.split(':').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let listed =
                    divergences.0.iter().any(|d| d.env == rec.env && d.scenario == rec.scenario && d.step == step);
                assert!(listed, "{}: {diff} (not in divergences.toml)", f.path().display());
            }
            replayed += 1;
        }
    }
    println!("replayed {replayed} recordings");
}
