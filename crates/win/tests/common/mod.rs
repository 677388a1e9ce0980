//! Helpers shared by the integration tests: a user the backend's server side knows, and a
//! handshake driven leg by leg through the `Backend` trait.
#![allow(dead_code, unreachable_pub)] // each test file uses a part

use sspi_emu_api::{
    AcceptSecurityContext, AcquireCredentials, AscOutputs, AscReq, AuthIdentity, Backend, CredHandle, CredentialUse,
    CtxtHandle, InitializeSecurityContext, IscOutputs, IscReq, SecBuffer, SecBufferDesc, SecStatus,
};

/// A user the backend's server side can authenticate: under the Wine leg the winbindd user
/// (`SSPI_TEST_USER`, `SSPI_TEST_DOMAIN`, `SSPI_TEST_PASSWORD`, set by `.ci/wine-leg`); for the
/// simulator's default world, alice.
pub fn user(simulator: bool) -> AuthIdentity {
    if simulator {
        return AuthIdentity::unicode("alice", "CONTOSO", "Passw0rd!");
    }
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    AuthIdentity::unicode(
        &var("SSPI_TEST_USER", "alice"),
        &var("SSPI_TEST_DOMAIN", "SSPIEMU"),
        &var("SSPI_TEST_PASSWORD", "Passw0rd!"),
    )
}

pub fn isc_req() -> IscReq {
    IscReq::CONFIDENTIALITY | IscReq::INTEGRITY | IscReq::REPLAY_DETECT | IscReq::SEQUENCE_DETECT | IscReq::CONNECTION
}

pub fn asc_req() -> AscReq {
    AscReq::CONFIDENTIALITY | AscReq::INTEGRITY | AscReq::REPLAY_DETECT | AscReq::SEQUENCE_DETECT | AscReq::CONNECTION
}

pub fn token(bytes: Vec<u8>) -> SecBufferDesc {
    SecBufferDesc::new(vec![SecBuffer::token(bytes)])
}

/// The bytes of `pOutput->pBuffers[0]`, whatever its type, as C callers read the token: Wine's
/// NTLM returns the challenge typed `SECBUFFER_DATA` (docs/backend-win.md).
pub fn first_buffer<R>(out: &sspi_emu_api::ContextOutputs<R>) -> Vec<u8> {
    out.output.as_ref().and_then(|o| o.with(|d| d.buffers.first().map(|b| b.data.clone()))).unwrap_or_default()
}

/// `pOutput->pBuffers[0].BufferType` after the call.
pub fn first_buffer_type<R>(out: &sspi_emu_api::ContextOutputs<R>) -> u32 {
    out.output.as_ref().and_then(|o| o.with(|d| d.buffers.first().map(|b| b.buffer_type.0))).unwrap_or_default()
}

/// What a handshake did: each leg's status and output token length, and the contexts.
#[derive(Debug)]
pub struct Handshake {
    pub legs: Vec<(&'static str, SecStatus, usize)>,
    /// `pOutput->pBuffers[0].BufferType` after each leg.
    pub types: Vec<u32>,
    /// The first bytes of each leg's output token.
    pub heads: Vec<Vec<u8>>,
    pub client: CtxtHandle,
    pub server: CtxtHandle,
    pub isc: IscOutputs,
    pub asc: AscOutputs,
    pub credentials: (CredHandle, CredHandle),
}

impl Handshake {
    /// `ISC 1: SEC_I_CONTINUE_NEEDED (40 B), ...`, for comparing runs.
    pub fn statuses(&self) -> String {
        self.legs.iter().map(|(leg, s, _)| format!("{leg}: {}", s.name().unwrap_or("?"))).collect::<Vec<_>>().join(", ")
    }

    pub fn complete(&self) -> bool {
        self.legs.len() >= 4 && self.legs.iter().all(|(_, s, _)| s.is_success())
    }

    /// Deletes both contexts and frees both credentials.
    pub fn close(&self, b: &dyn Backend) {
        b.delete_security_context(self.client);
        b.delete_security_context(self.server);
        b.free_credentials_handle(self.credentials.0);
        b.free_credentials_handle(self.credentials.1);
    }
}

/// Runs `package` from `identity`'s outbound credential to the default inbound one, sync, until
/// both sides say `SEC_E_OK` or one fails (at most 6 legs).
pub fn handshake(b: &dyn Backend, package: &str, identity: AuthIdentity) -> Handshake {
    let client_cred = b
        .acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::OUTBOUND).identity(identity))
        .expect("outbound credentials")
        .handle;
    let server_cred =
        b.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::INBOUND)).expect("inbound").handle;
    let isc = IscOutputs::with_token(48_256);
    let asc = AscOutputs::with_token(48_256);
    let mut legs = Vec::new();
    let (mut types, mut heads) = (Vec::new(), Vec::new());
    let mut isc_args = InitializeSecurityContext::new(client_cred, Some("HOST/sspitest"), isc_req());
    let mut asc_args: Option<AcceptSecurityContext> = None;
    let (mut client_done, mut server_done) = (false, false);
    for round in 0..3 {
        if !client_done {
            isc.reset_token(48_256);
            let s = b.initialize_security_context(isc_args.clone(), &isc);
            legs.push((["ISC 1", "ISC 2", "ISC 3"][round], s, first_buffer(&isc).len()));
            types.push(first_buffer_type(&isc));
            heads.push(first_buffer(&isc).into_iter().take(8).collect());
            if s.is_error() {
                break;
            }
            client_done = s == SecStatus::SEC_E_OK;
        }
        if server_done || (client_done && first_buffer(&isc).is_empty()) {
            break;
        }
        let input = token(first_buffer(&isc));
        let args = match asc_args.take() {
            None => AcceptSecurityContext::new(server_cred, input, asc_req()),
            Some(a) => a.next(asc.context(), input),
        };
        asc.reset_token(48_256);
        let s = b.accept_security_context(args.clone(), &asc);
        legs.push((["ASC 1", "ASC 2", "ASC 3"][round], s, first_buffer(&asc).len()));
        types.push(first_buffer_type(&asc));
        heads.push(first_buffer(&asc).into_iter().take(8).collect());
        if s.is_error() {
            break;
        }
        server_done = s == SecStatus::SEC_E_OK;
        asc_args = Some(args);
        if client_done && server_done {
            break;
        }
        isc_args = isc_args.clone().next(isc.context(), token(first_buffer(&asc)));
    }
    Handshake {
        legs,
        types,
        heads,
        client: isc.context(),
        server: asc.context(),
        isc,
        asc,
        credentials: (client_cred, server_cred),
    }
}
