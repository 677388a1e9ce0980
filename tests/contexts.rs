//! The security-context calls through the facade: handshakes, statuses, buffers, attributes.
#![allow(clippy::unwrap_used)]

use sspi_emu::sim::Simulator;
use sspi_emu::*;

fn creds(b: &dyn Backend, package: &str) -> (CredHandle, CredHandle) {
    let client = b
        .acquire_credentials_handle(
            AcquireCredentials::new(package, CredentialUse::OUTBOUND).identity(AuthIdentity::unicode(
                "alice",
                "CONTOSO",
                "Passw0rd!",
            )),
        )
        .unwrap()
        .handle;
    let server = b.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::INBOUND)).unwrap().handle;
    (client, server)
}

#[test]
fn ntlm_handshake_gives_continue_then_ok_on_both_sides() {
    let sim = Simulator::new();
    let (c, s) = creds(&sim, "NTLM");
    let e = Handshake::new(c, s).run(&sim);
    assert_eq!(
        e.statuses(),
        vec![
            SecStatus::SEC_I_CONTINUE_NEEDED,
            SecStatus::SEC_I_CONTINUE_NEEDED,
            SecStatus::SEC_E_OK,
            SecStatus::SEC_E_OK
        ]
    );
    assert!(e.legs[3].token.is_empty(), "the server's last leg has no token");
    assert!(e.legs[0].token.starts_with(b"NTLMSSP\0\x01"));
}

#[test]
fn negotiate_handshake_in_a_domain_wraps_ntlm_in_spnego() {
    let sim = Simulator::new();
    let (c, s) = creds(&sim, "Negotiate");
    let e = Handshake::new(c, s).run(&sim);
    println!("{:?}", e.statuses());
    assert!(e.is_complete(), "{:?}", e);
    assert_eq!(e.legs[0].token[0], 0x60);
}
