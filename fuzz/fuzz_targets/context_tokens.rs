//! The context calls fed arbitrary tokens: the first byte picks the package (NTLM or
//! Negotiate) and the leg the bytes replace (the server's first input, the client's reply to a
//! real CHALLENGE, the server's AUTHENTICATE leg); the rest is the token. Every call must
//! return a status from its table (never panic), and every context must delete.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sspi_emu_sim::Simulator;
use sspi_emu_api::*;

fn creds(sim: &Simulator, package: &str) -> (CredHandle, CredHandle) {
    let c = sim
        .acquire_credentials_handle(
            AcquireCredentials::new(package, CredentialUse::OUTBOUND)
                .identity(AuthIdentity::unicode("alice", "CONTOSO", "Passw0rd!")),
        )
        .expect("client credentials")
        .handle;
    let s = sim.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::INBOUND)).expect("server").handle;
    (c, s)
}

const ALLOWED: &[SecStatus] = &[
    SecStatus::SEC_E_OK,
    SecStatus::SEC_I_CONTINUE_NEEDED,
    SecStatus::SEC_E_INVALID_TOKEN,
    SecStatus::SEC_E_LOGON_DENIED,
    SecStatus::SEC_E_MESSAGE_ALTERED,
    SecStatus::SEC_E_OUT_OF_SEQUENCE,
    SecStatus::SEC_E_BAD_BINDINGS,
    SecStatus::SEC_E_BUFFER_TOO_SMALL,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, token)) = data.split_first() else { return };
    let package = if selector & 1 == 0 { "NTLM" } else { "Negotiate" };
    let sim = Simulator::new();
    let (c, s) = creds(&sim, package);
    let isc = IscOutputs::with_token(65536);
    let asc = AscOutputs::with_token(65536);
    let req = IscReq::CONFIDENTIALITY | IscReq::INTEGRITY;
    let input = |t: &[u8]| SecBufferDesc::new(vec![SecBuffer::token(t.to_vec())]);
    let check = |st: SecStatus| assert!(ALLOWED.contains(&st), "{st}");
    match (selector >> 1) % 3 {
        // The server's first leg.
        0 => {
            check(sim.accept_security_context(AcceptSecurityContext::new(s, input(token), AscReq::default()), &asc));
        }
        // The client's second leg, fed as the server's reply.
        1 => {
            check(sim.initialize_security_context(InitializeSecurityContext::new(c, Some("HTTP/x"), req), &isc));
            let ctx = isc.context();
            isc.reset_token(65536);
            let args = InitializeSecurityContext::new(c, Some("HTTP/x"), req).next(ctx, input(token));
            check(sim.initialize_security_context(args, &isc));
        }
        // The server's AUTHENTICATE leg, after a real NEGOTIATE.
        _ => {
            check(sim.initialize_security_context(InitializeSecurityContext::new(c, Some("HTTP/x"), req), &isc));
            check(sim.accept_security_context(AcceptSecurityContext::new(s, input(&isc.token()), AscReq::default()), &asc));
            let server = asc.context();
            asc.reset_token(65536);
            let args = AcceptSecurityContext::new(s, input(token), AscReq::default()).next(server, input(token));
            check(sim.accept_security_context(args, &asc));
        }
    }
    for ctx in [isc.context(), asc.context()] {
        if ctx != CtxtHandle::default() {
            assert_eq!(sim.delete_security_context(ctx), SecStatus::SEC_E_OK);
        }
    }
    assert_eq!(sim.security_contexts(), 0);
});
