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
    let mut runner = sspi_emu_testkit::Runner::new(sspi_emu_testkit::Harness { backend: &sim, sim: None });
    assert_eq!(runner.run(&s), Outcome::Skipped("needs the manual driver".into()));
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
