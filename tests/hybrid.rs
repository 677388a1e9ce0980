//! Hybrid pairs: the simulator's client against the build backend's server, and the build
//! backend's client against the simulator's server, for NTLM and Negotiate, through sealing.
//! With `backend-win` the build backend is the real SSPI (Windows, or Wine in `.ci/wine-leg`);
//! on the simulator build it is a second, separate simulator, so the tokens still cross
//! between two independent instances.
//!
//! The account: on a real backend `SSPI_TEST_USER` / `SSPI_TEST_DOMAIN` / `SSPI_TEST_PASSWORD`
//! (the account the real server knows); on the simulator build the default world's
//! `CONTOSO\alice`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use sspi_emu::sim::{Simulator, World};
use sspi_emu::*;

struct Account {
    user: String,
    domain: String,
    password: String,
}

fn account() -> Account {
    // On the simulator build the "real" side is a default-world simulator: its account.
    if sspi_emu::BACKEND_NAME == "simulator" {
        return Account { user: "alice".into(), domain: "CONTOSO".into(), password: "Passw0rd!".into() };
    }
    match (std::env::var("SSPI_TEST_USER"), std::env::var("SSPI_TEST_PASSWORD")) {
        (Ok(user), Ok(password)) => {
            Account { user, domain: std::env::var("SSPI_TEST_DOMAIN").unwrap_or_default(), password }
        }
        _ => Account { user: "alice".into(), domain: "CONTOSO".into(), password: "Passw0rd!".into() },
    }
}

/// A simulator whose world knows the account (added to the default world's principals).
fn simulator(a: &Account) -> Simulator {
    let text = sspi_emu::sim::world::DEFAULT_WORLD_TOML.to_string();
    let known = text.contains(&format!("user = \"{}\"", a.user));
    let text = if known {
        text
    } else {
        format!(
            "{text}\n[[principals]]\ndomain = \"{}\"\nuser = \"{}\"\npassword = \"{}\"\n",
            a.domain, a.user, a.password
        )
    };
    let world = World::from_toml_str(&text, "hybrid world").unwrap();
    Simulator::builder().world(Arc::new(world)).build()
}

fn credentials(b: &dyn Backend, package: &str, a: &Account) -> (CredHandle, CredHandle) {
    let client = b
        .acquire_credentials_handle(
            AcquireCredentials::new(package, CredentialUse::OUTBOUND).identity(AuthIdentity::unicode(
                &a.user,
                &a.domain,
                &a.password,
            )),
        )
        .unwrap()
        .handle;
    let server = b.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::INBOUND)).unwrap().handle;
    (client, server)
}

/// Seals a message on `from` and unseals it on `to`.
fn seal_across(from: &dyn Backend, fc: CtxtHandle, to: &dyn Backend, tc: CtxtHandle, text: &[u8]) {
    let mut msg =
        SecBufferDesc::new(vec![SecBuffer::output_token(16), SecBuffer::new(SecBufferType::DATA, text.to_vec())]);
    assert_eq!(from.encrypt_message(fc, 0, &mut msg, 0), SecStatus::SEC_E_OK);
    assert_ne!(msg.buffers[1].data, text, "encrypted");
    assert_eq!(to.decrypt_message(tc, &mut msg, 0), Ok(None), "pfQOP is not written by NTLM");
    assert_eq!(msg.buffers[1].data, text);
}

/// Where the pair cannot work on this backend, what it does instead (asserted exactly), with
/// the reason: Wine 8.0's secur32 is not Windows (docs/backend-win.md, "Divergences").
fn known_divergence(package: &str, sim_is_client: bool) -> Option<(&'static str, SecStatus)> {
    if std::env::var("SSPI_EMU_ENV").as_deref() != Ok("wine") || sspi_emu::BACKEND_NAME == "simulator" {
        return None;
    }
    match (package, sim_is_client) {
        // Our client wraps NTLM in SPNEGO (a domain member's Negotiate); Wine's Negotiate
        // server only speaks raw NTLM and fails its ntlm_auth helper.
        ("Negotiate", true) => Some(("Wine's Negotiate server does not read SPNEGO", SecStatus::SEC_E_INTERNAL_ERROR)),
        // Wine 8.0's NTLM server context cannot unseal (nor verify) messages, even from a Wine
        // client; a Wine client against our server seals fine both ways.
        ("NTLM", true) => Some(("Wine's NTLM server context cannot unseal", SecStatus::SEC_E_MESSAGE_ALTERED)),
        _ => None,
    }
}

fn pair(package: &str, sim_is_client: bool) {
    let a = account();
    let sim = simulator(&a);
    let real = sspi_emu::backend();
    let (sim_client, sim_server) = credentials(&sim, package, &a);
    let (real_client, real_server) = credentials(real.as_ref(), package, &a);
    let (client, server): (&dyn Backend, &dyn Backend) =
        if sim_is_client { (&sim, real.as_ref()) } else { (real.as_ref(), &sim) };
    let (cc, sc) = if sim_is_client { (sim_client, real_server) } else { (real_client, sim_server) };
    let mut h = Handshake::new(cc, sc);
    h.target = Some("HOST/localhost".into());
    let e = h.run_between(client, server);
    println!(
        "{package}, {} client: {:?}",
        if sim_is_client { "simulator" } else { sspi_emu::BACKEND_NAME },
        e.statuses()
    );
    match known_divergence(package, sim_is_client) {
        Some((why, status)) if status == SecStatus::SEC_E_INTERNAL_ERROR => {
            println!("DIVERGENCE (wine): {why}");
            assert_eq!(e.server_status, Some(status), "{:?}", e.statuses());
            return;
        }
        Some((why, status)) => {
            println!("DIVERGENCE (wine): {why}");
            assert!(e.is_complete(), "{package}: {:?}", e.statuses());
            let mut msg = SecBufferDesc::new(vec![
                SecBuffer::output_token(16),
                SecBuffer::new(SecBufferType::DATA, b"from the client".to_vec()),
            ]);
            assert_eq!(client.encrypt_message(e.client, 0, &mut msg, 0), SecStatus::SEC_E_OK);
            assert_eq!(server.decrypt_message(e.server, &mut msg, 0), Err(status));
            return;
        }
        None => {}
    }
    assert!(e.is_complete(), "{package}: {:?}", e.statuses());
    seal_across(client, e.client, server, e.server, b"from the client");
    seal_across(server, e.server, client, e.client, b"from the server");
    assert_eq!(client.delete_security_context(e.client), SecStatus::SEC_E_OK);
    assert_eq!(server.delete_security_context(e.server), SecStatus::SEC_E_OK);
}

#[test]
fn simulator_client_against_the_build_backend_server_ntlm() {
    pair("NTLM", true);
}

#[test]
fn build_backend_client_against_the_simulator_server_ntlm() {
    pair("NTLM", false);
}

#[test]
fn simulator_client_against_the_build_backend_server_negotiate() {
    pair("Negotiate", true);
}

#[test]
fn build_backend_client_against_the_simulator_server_negotiate() {
    pair("Negotiate", false);
}

#[test]
fn a_wrong_password_is_refused_across_the_pair() {
    let a = account();
    let sim = simulator(&a);
    let real = sspi_emu::backend();
    let wrong = Account { password: format!("{}-wrong", a.password), ..account() };
    let (cc, _) = credentials(&sim, "NTLM", &wrong);
    let (_, sc) = credentials(real.as_ref(), "NTLM", &a);
    let e = Handshake::new(cc, sc).run_between(&sim, real.as_ref());
    assert_eq!(e.server_status, Some(SecStatus::SEC_E_LOGON_DENIED), "{:?}", e.statuses());
}
