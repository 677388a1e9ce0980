//! The status tables are data: they must parse, name real functions, and agree with winerror.h.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use std::collections::BTreeSet;

use sspi_emu::SecStatus;
use sspi_emu::sim::FunctionId;
use sspi_emu_testkit::{StatusTables, fixtures_dir};

#[derive(serde::Deserialize)]
struct WinError {
    code: Vec<Code>,
}

#[derive(serde::Deserialize)]
struct Code {
    name: String,
    value: String,
}

#[test]
fn every_winerror_code_has_its_constant_with_the_exact_value() {
    let text = std::fs::read_to_string(fixtures_dir().join("status-tables/winerror.toml")).unwrap();
    let table: WinError = toml::from_str(&text).unwrap();
    assert_eq!(table.code.len(), 95, "Appendix A lists 95 names (93 values and 2 aliases)");
    let mut values = BTreeSet::new();
    for c in &table.code {
        let want = u32::from_str_radix(c.value.trim_start_matches("0x"), 16).unwrap();
        let got = SecStatus::from_name(&c.name).unwrap_or_else(|| panic!("no constant {}", c.name));
        assert_eq!(got.as_u32(), want, "{}", c.name);
        values.insert(want);
    }
    // And the other way round: no constant that winerror.h lacks.
    for s in SecStatus::ALL {
        assert!(values.contains(&s.as_u32()), "{s} is not in winerror.h");
    }
}

#[test]
fn every_table_parses_and_names_a_simulated_function() {
    let tables = StatusTables::load_dir(fixtures_dir().join("status-tables")).unwrap();
    let names: Vec<&str> = FunctionId::ALL.iter().map(|f| f.name()).collect();
    for (name, t) in &tables.0 {
        assert!(names.contains(&name.as_str()), "{name} is not a function the simulator answers");
        assert!(t.page.starts_with("https://learn.microsoft.com/"), "{name}: page {}", t.page);
        for row in t.result.inferred.iter().chain(t.queue.iter().flat_map(|q| q.inferred.iter())) {
            assert!(
                !row.why.is_empty() && !row.source.is_empty(),
                "{name}: {} needs a reason and a source",
                row.status
            );
        }
        let is_async = FunctionId::ALL.iter().any(|f| f.name() == name && f.is_async_op());
        assert_eq!(t.queue.is_some(), is_async, "{name}: [queue] exactly for async operations");
    }
    // Every function that returns a SECURITY_STATUS has a table.
    for f in [
        FunctionId::AcquireCredentialsHandleA,
        FunctionId::AcquireCredentialsHandleW,
        FunctionId::SspiAcquireCredentialsHandleAsyncA,
        FunctionId::SspiAcquireCredentialsHandleAsyncW,
        FunctionId::SspiFreeCredentialsHandleAsync,
        FunctionId::FreeCredentialsHandle,
        FunctionId::QueryCredentialsAttributesW,
        FunctionId::EnumerateSecurityPackagesW,
        FunctionId::QuerySecurityPackageInfoW,
        FunctionId::SspiSetAsyncNotifyCallback,
        FunctionId::SspiGetAsyncCallStatus,
        FunctionId::InitializeSecurityContextA,
        FunctionId::InitializeSecurityContextW,
        FunctionId::AcceptSecurityContext,
        FunctionId::CompleteAuthToken,
        FunctionId::DeleteSecurityContext,
        FunctionId::QueryContextAttributesW,
        FunctionId::ImpersonateSecurityContext,
        FunctionId::RevertSecurityContext,
        FunctionId::MakeSignature,
        FunctionId::VerifySignature,
        FunctionId::EncryptMessage,
        FunctionId::DecryptMessage,
        FunctionId::SspiInitializeSecurityContextAsyncA,
        FunctionId::SspiInitializeSecurityContextAsyncW,
        FunctionId::SspiAcceptSecurityContextAsync,
        FunctionId::SspiDeleteSecurityContextAsync,
    ] {
        assert!(tables.get(f).is_some(), "{f} has no status table");
    }
}

#[test]
fn the_seed_table_is_the_documented_final_table_of_the_async_acquire() {
    // The seed document (SspiAcquireCredentialsHandleAsyncA) lists these, plus
    // SEC_E_NO_AUTHENTICATING_AUTHORITY under fCredentialUse.
    let tables = StatusTables::load_dir(fixtures_dir().join("status-tables")).unwrap();
    let t = tables.get(FunctionId::SspiAcquireCredentialsHandleAsyncA).unwrap();
    let documented: BTreeSet<String> = t.result.documented.iter().map(|s| s.name().unwrap().to_string()).collect();
    let seed: BTreeSet<String> = [
        "SEC_E_OK",
        "SEC_E_INSUFFICIENT_MEMORY",
        "SEC_E_INTERNAL_ERROR",
        "SEC_E_NO_CREDENTIALS",
        "SEC_E_NOT_OWNER",
        "SEC_E_SECPKG_NOT_FOUND",
        "SEC_E_UNKNOWN_CREDENTIALS",
        "SEC_E_NO_AUTHENTICATING_AUTHORITY",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(documented, seed);
    assert_eq!(t.queue.as_ref().unwrap().documented, vec![SecStatus::SEC_E_OK]);
}

#[test]
fn a_status_outside_the_table_is_caught() {
    let tables = StatusTables::load_dir(fixtures_dir().join("status-tables")).unwrap();
    let sim = sspi_emu::sim::Simulator::new();
    let _ = sspi_emu::Backend::free_credentials_handle(&sim, sspi_emu::CredHandle::default());
    let mut journal = sim.journal();
    assert!(tables.check(&journal).is_empty());
    journal[0].status = Some(SecStatus::SEC_E_LOGON_DENIED);
    let v = tables.check(&journal);
    assert_eq!(v.len(), 1);
    assert_eq!((v[0].function.as_str(), v[0].status), ("FreeCredentialsHandle", SecStatus::SEC_E_LOGON_DENIED));
}

/// Every status the context calls return in a run of successes and failures is in their table.
#[test]
fn context_calls_return_only_tabled_statuses() {
    use sspi_emu::sim::Simulator;
    use sspi_emu::*;

    let tables = StatusTables::load_dir(fixtures_dir().join("status-tables")).unwrap();
    let sim = Simulator::new();
    let cred = |user: &str, password: &str, package: &str| {
        sim.acquire_credentials_handle(
            AcquireCredentials::new(package, CredentialUse::OUTBOUND)
                .identity(AuthIdentity::unicode(user, "CONTOSO", password)),
        )
        .unwrap()
        .handle
    };
    for package in ["NTLM", "Negotiate"] {
        let server =
            sim.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::INBOUND)).unwrap().handle;
        // Success, then the per-message calls, then misuse of the finished contexts.
        let ok = Handshake::new(cred("alice", "Passw0rd!", package), server).run(&sim);
        assert!(ok.is_complete(), "{package}: {:?}", ok.statuses());
        let mut msg =
            SecBufferDesc::new(vec![SecBuffer::output_token(16), SecBuffer::new(SecBufferType::DATA, b"hi".to_vec())]);
        assert_eq!(sim.encrypt_message(ok.client, 0, &mut msg, 0), SecStatus::SEC_E_OK);
        assert_eq!(sim.decrypt_message(ok.server, &mut msg, 0), Ok(None));
        assert_eq!(sim.decrypt_message(ok.server, &mut msg, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED));
        assert_eq!(
            sim.complete_auth_token(ok.client, &SecBufferDesc::default()),
            SecStatus::SEC_E_UNSUPPORTED_FUNCTION
        );
        assert_eq!(sim.impersonate_security_context(ok.server), SecStatus::SEC_E_OK);
        assert_eq!(sim.revert_security_context(ok.server), SecStatus::SEC_E_OK);
        for a in [ContextAttribute::Sizes, ContextAttribute::Names, ContextAttribute::Other(4)] {
            let _ = sim.query_context_attributes(ok.client, a);
        }
        ok.delete(&sim);
        assert_eq!(sim.delete_security_context(ok.client), SecStatus::SEC_E_OK, "deleted twice");
        // Failures: a wrong password, a too-small buffer.
        let denied = Handshake::new(cred("alice", "wrong", package), server).run(&sim);
        assert_eq!(denied.server_status, Some(SecStatus::SEC_E_LOGON_DENIED), "{package}");
        denied.delete(&sim);
        let mut small = Handshake::new(cred("alice", "Passw0rd!", package), server);
        small.token_capacity = 8;
        assert_eq!(small.run(&sim).client_status, Some(SecStatus::SEC_E_BUFFER_TOO_SMALL));
    }
    let journal = sim.journal();
    assert!(journal.iter().any(|e| e.function == FunctionId::AcceptSecurityContext));
    let violations = tables.check(&journal);
    assert!(violations.is_empty(), "{violations:#?}");
}
