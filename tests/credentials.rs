//! AcquireCredentialsHandle against the world: remarks of the seed document, identities,
//! expiry in local time, handles, worlds.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use std::sync::Arc;

use parking_lot::Mutex;
use sspi_emu::sim::{Simulator, World};
use sspi_emu::{
    AcquireCredentials, AuthIdentity, Backend, CredHandle, CredentialUse, CredentialsAttribute,
    CredentialsAttributeValue, GetKeyFn, Luid, SEC_WINNT_AUTH_IDENTITY_ANSI, SEC_WINNT_AUTH_IDENTITY_UNICODE,
    SecHandle, SecStatus, SecString, TimeStamp,
};
use sspi_emu_testkit::fixtures_dir;

fn names(b: &dyn Backend, h: CredHandle) -> String {
    match b.query_credentials_attributes(h, CredentialsAttribute::Names) {
        Ok(CredentialsAttributeValue::Names(n)) => n,
        other => panic!("{other:?}"),
    }
}

fn world_with(edit: impl Fn(String) -> String) -> Arc<World> {
    let text = edit(std::fs::read_to_string(fixtures_dir().join("worlds/default.toml")).unwrap());
    Arc::new(World::from_toml_str(&text, "edited.toml").unwrap())
}

#[test]
fn a_null_principal_means_the_callers_own_session() {
    let sim = Simulator::new();
    let c = sim.acquire_credentials_handle(AcquireCredentials::new("Negotiate", CredentialUse::OUTBOUND)).unwrap();
    assert_eq!(names(&sim, c.handle), "CONTOSO\\alice");
    // Naming the caller's own LUID needs no privilege.
    let own = AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND).logon_id(Luid::from_u64(0x10a2f));
    assert!(sim.acquire_credentials_handle(own).is_ok());
}

#[test]
fn another_sessions_luid_needs_tcb_privilege() {
    let bob = || AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND).logon_id(Luid::from_u64(0x20b31));
    let alice = Simulator::new();
    assert_eq!(alice.acquire_credentials_handle(bob()).unwrap_err(), SecStatus::SEC_E_NOT_OWNER);
    let detail = alice.journal().last().unwrap().detail.clone().unwrap();
    assert!(detail.contains("lacks SeTcbPrivilege"), "{detail}");
    let system = Simulator::builder().world(World::load(fixtures_dir().join("worlds/service.toml")).unwrap()).build();
    let c = system.acquire_credentials_handle(bob()).unwrap();
    assert_eq!(names(&system, c.handle), "CONTOSO\\bob");
    // A LUID that names no session.
    let ghost = AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND).logon_id(Luid::from_u64(0x999));
    assert_eq!(system.acquire_credentials_handle(ghost).unwrap_err(), SecStatus::SEC_E_NO_CREDENTIALS);
}

#[test]
fn get_key_fn_is_called_with_its_argument_and_the_principal() {
    let sim = Simulator::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let get_key = GetKeyFn {
        func: Arc::new(move |arg, principal, ver| {
            s.lock().push((arg, principal.map(str::to_string), ver));
            Ok(vec![1; 16])
        }),
        argument: 0xfeed,
    };
    let args = AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND).principal("svc@contoso.com").get_key(get_key);
    sim.acquire_credentials_handle(args).unwrap();
    assert_eq!(*seen.lock(), vec![(0xfeed, Some("svc@contoso.com".to_string()), 0)]);
    let failing = GetKeyFn { func: Arc::new(|_, _, _| Err(SecStatus::SEC_E_LOGON_DENIED)), argument: 0 };
    let args = AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND).get_key(failing);
    assert_eq!(
        sim.acquire_credentials_handle(args).unwrap_err(),
        SecStatus::SEC_E_INTERNAL_ERROR,
        "a status outside the ACH table maps to SEC_E_INTERNAL_ERROR"
    );
}

#[test]
fn identity_flags_decide_the_encoding_whatever_the_entry_point() {
    let sim = Simulator::new();
    for (identity, ansi_entry) in
        [(AuthIdentity::ansi("bob", "CONTOSO", "x"), false), (AuthIdentity::unicode("bob", "CONTOSO", "x"), true)]
    {
        let base = if ansi_entry {
            AcquireCredentials::new_ansi("NTLM", CredentialUse::OUTBOUND)
        } else {
            AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND)
        };
        let c = sim.acquire_credentials_handle(base.identity(identity)).unwrap();
        assert_eq!(names(&sim, c.handle), "CONTOSO\\bob");
    }
    let mut both = AuthIdentity::ansi("bob", "", "x");
    both.flags = SEC_WINNT_AUTH_IDENTITY_ANSI | SEC_WINNT_AUTH_IDENTITY_UNICODE;
    let c = sim
        .acquire_credentials_handle(AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND).identity(both))
        .unwrap();
    assert_eq!(names(&sim, c.handle), "bob", "no domain: the bare user name");
    let names_of_journal: Vec<_> = sim.journal().iter().map(|e| e.function.name()).collect();
    assert!(
        names_of_journal.contains(&"AcquireCredentialsHandleA")
            && names_of_journal.contains(&"AcquireCredentialsHandleW")
    );
}

#[test]
fn expiry_is_reported_in_the_worlds_local_time() {
    let west = world_with(|t| t.replace("utc_offset_minutes = 60", "utc_offset_minutes = -300"));
    let sim = Simulator::builder().world(west).build();
    let c = sim.acquire_credentials_handle(AcquireCredentials::new("Kerberos", CredentialUse::OUTBOUND)).unwrap();
    // 09:00 UTC is 04:00 at UTC-5; plus the 10 h lifetime.
    assert_eq!(c.expiry.to_civil_string(), "2026-01-01 14:00:00");
    sim.driver().unwrap().advance_seconds(3600.0);
    let later = sim.acquire_credentials_handle(AcquireCredentials::new("Kerberos", CredentialUse::OUTBOUND)).unwrap();
    assert_eq!(later.expiry.0 - c.expiry.0, 3600 * TimeStamp::TICKS_PER_SECOND, "the virtual clock moved an hour");
    let ntlm = sim.acquire_credentials_handle(AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND)).unwrap();
    assert_eq!(ntlm.expiry, TimeStamp(0x7FFF_FF36_D596_9FFF));
}

#[test]
fn lsa_down_and_failing_packages_give_internal_error() {
    let sim = Simulator::new();
    sim.set_lsa_available(false);
    let ach = || AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND);
    assert_eq!(sim.acquire_credentials_handle(ach()).unwrap_err(), SecStatus::SEC_E_INTERNAL_ERROR);
    assert_eq!(sim.enumerate_security_packages().unwrap_err(), SecStatus::SEC_E_NO_SPM);
    sim.set_lsa_available(true);
    assert!(sim.acquire_credentials_handle(ach()).is_ok());
    let broken = world_with(|t| t.replacen("name = \"NTLM\"\n", "name = \"NTLM\"\nfailing = true\n", 1));
    let sim = Simulator::builder().world(broken).build();
    assert_eq!(sim.acquire_credentials_handle(ach()).unwrap_err(), SecStatus::SEC_E_INTERNAL_ERROR);
}

#[test]
fn handles_are_generational_and_never_the_invalidated_value() {
    let sim = Simulator::new();
    let a = sim.acquire_credentials_handle(AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND)).unwrap().handle;
    assert!(a.0.is_valid());
    assert_eq!(a.0.dw_upper, 3, "dwUpper carries the package index (NTLM is fourth)");
    let forged = CredHandle(SecHandle { dw_lower: a.0.dw_lower, dw_upper: 0 });
    assert_eq!(sim.free_credentials_handle(forged), SecStatus::SEC_E_INVALID_HANDLE);
    assert_eq!(sim.free_credentials_handle(a), SecStatus::SEC_E_OK);
    let b = sim.acquire_credentials_handle(AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND)).unwrap().handle;
    assert_ne!(a, b, "a reused slot gets a new generation");
    assert_eq!(sim.free_credentials_handle(a), SecStatus::SEC_E_INVALID_HANDLE);
    for garbage in [0usize, 1, usize::MAX, 0xdead_beef] {
        let h = CredHandle(SecHandle { dw_lower: garbage, dw_upper: garbage });
        assert_eq!(sim.free_credentials_handle(h), SecStatus::SEC_E_INVALID_HANDLE);
        assert_eq!(
            sim.query_credentials_attributes(h, CredentialsAttribute::Names).unwrap_err(),
            SecStatus::SEC_E_INVALID_HANDLE
        );
    }
    assert_eq!(sim.stats().credentials, 1);
}

#[test]
fn credential_limit_gives_insufficient_memory() {
    let sim = Simulator::builder().world(World::load(fixtures_dir().join("worlds/tiny.toml")).unwrap()).build();
    let ach = || AcquireCredentials::new("NTLM", CredentialUse::OUTBOUND);
    let first = sim.acquire_credentials_handle(ach()).unwrap();
    assert_eq!(sim.acquire_credentials_handle(ach()).unwrap_err(), SecStatus::SEC_E_INSUFFICIENT_MEMORY);
    sim.free_credentials_handle(first.handle);
    assert!(sim.acquire_credentials_handle(ach()).is_ok());
}

#[test]
fn package_info_is_what_windows_reports() {
    let sim = Simulator::new();
    let all = sim.enumerate_security_packages().unwrap();
    let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(&names[..4], ["Negotiate", "NegoExtender", "Kerberos", "NTLM"]);
    let ntlm = sim.query_security_package_info(&SecString::ansi("NTLM")).unwrap();
    assert_eq!(
        (ntlm.capabilities.0, ntlm.version, ntlm.rpc_id, ntlm.max_token, ntlm.comment.as_str()),
        (0x0288_2B37, 1, 10, 2888, "NTLM Security Package")
    );
    let nego = sim.query_security_package_info(&SecString::counted("negotiate")).unwrap();
    assert_eq!((nego.capabilities.0, nego.rpc_id, nego.max_token), (0x0088_3BB3, 9, 48256));
    let krb = sim.query_security_package_info(&SecString::wide("Kerberos")).unwrap();
    assert_eq!(
        (krb.capabilities.0, krb.rpc_id, krb.max_token, krb.comment.as_str()),
        (0x028F_3BBF, 16, 48000, "Microsoft Kerberos V1.0")
    );
}

#[test]
fn every_example_world_loads_and_a_missing_file_is_a_clear_error() {
    let mut n = 0;
    for entry in std::fs::read_dir(fixtures_dir().join("worlds")).unwrap() {
        let path = entry.unwrap().path();
        World::load(&path).unwrap_or_else(|e| panic!("{e}"));
        n += 1;
    }
    assert!(n >= 3);
    let e = World::load("/nonexistent/world.toml").unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/world.toml: cannot read the file"), "{e}");
}

mod hostile_input {
    use proptest::prelude::*;
    use sspi_emu::sim::{FunctionId, Simulator};
    use sspi_emu::{
        AcquireCredentials, AuthIdentity, Backend, Charset, CredHandle, CredentialUse, IdentityField, Luid, Out,
        SecHandle, SecStatus, SecString, UnicodeString,
    };
    use sspi_emu_testkit::{StatusTables, fixtures_dir};

    fn sec_string() -> impl Strategy<Value = SecString> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(SecString::Ansi),
            proptest::collection::vec(any::<u16>(), 0..12).prop_map(SecString::Wide),
            (any::<u16>(), any::<u16>(), proptest::collection::vec(any::<u16>(), 0..12))
                .prop_map(|(l, m, b)| SecString::Counted(UnicodeString::from_raw(l, m, b))),
            prop_oneof![Just("NTLM"), Just("Kerberos"), Just("negotiate"), Just("CREDSSP")].prop_map(SecString::wide),
        ]
    }

    fn field() -> impl Strategy<Value = IdentityField> {
        (proptest::collection::vec(any::<u8>(), 0..16), 0u32..20)
            .prop_map(|(bytes, length)| IdentityField { bytes, length })
    }

    fn args() -> impl Strategy<Value = AcquireCredentials> {
        (
            any::<bool>(),
            proptest::option::of(sec_string()),
            sec_string(),
            any::<u32>(),
            proptest::option::of(prop_oneof![Just(0x10a2fu64), Just(0x20b31), Just(0x3e7), any::<u64>()]),
            proptest::option::of((field(), field(), field(), any::<u32>())),
        )
            .prop_map(|(ansi, principal, package, usage, luid, identity)| {
                let mut a = AcquireCredentials::new("x", CredentialUse(usage));
                a.charset = if ansi { Charset::Ansi } else { Charset::Unicode };
                a.principal = principal;
                a.package = package;
                a.logon_id = luid.map(Luid::from_u64);
                if let Some((user, domain, password, flags)) = identity {
                    a = a.identity(AuthIdentity { user, domain, password, flags });
                }
                a
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Any parameters, sync or async: a status from the function's table, never a panic.
        #[test]
        fn any_acquire_parameters_give_a_table_status(args in args(), asynchronous in any::<bool>()) {
            let sim = Simulator::new();
            if asynchronous {
                let ctx = sim.sspi_create_async_context();
                sim.sspi_set_async_notify_callback(ctx, Some(std::sync::Arc::new(|_, _| {})), 0);
                let out = Out::new(CredHandle(SecHandle::INVALID));
                sim.sspi_acquire_credentials_handle_async(ctx, args, &out, None);
                if out.get().0 != SecHandle::INVALID {
                    prop_assert_eq!(sim.free_credentials_handle(out.get()), SecStatus::SEC_E_OK);
                }
            } else if let Ok(c) = sim.acquire_credentials_handle(args) {
                prop_assert_eq!(sim.free_credentials_handle(c.handle), SecStatus::SEC_E_OK);
            }
            let tables = StatusTables::load_dir(fixtures_dir().join("status-tables")).unwrap();
            let journal = sim.journal();
            prop_assert!(journal.iter().any(|e| matches!(e.function,
                FunctionId::AcquireCredentialsHandleA | FunctionId::AcquireCredentialsHandleW
                | FunctionId::SspiAcquireCredentialsHandleAsyncA | FunctionId::SspiAcquireCredentialsHandleAsyncW)));
            let violations = tables.check(&journal);
            prop_assert!(violations.is_empty(), "{:?}", violations);
            prop_assert_eq!(sim.stats().credentials, 0);
        }
    }
}

#[test]
fn system_uses_the_machine_account_for_its_own_outbound_credentials() {
    let sim = Simulator::builder().world(World::load(fixtures_dir().join("worlds/service.toml")).unwrap()).build();
    let c = sim.acquire_credentials_handle(AcquireCredentials::new("Negotiate", CredentialUse::OUTBOUND)).unwrap();
    assert_eq!(names(&sim, c.handle), "CONTOSO\\WS01$");
}
