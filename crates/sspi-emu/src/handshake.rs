//! `Handshake`: the client and server loops of `InitializeSecurityContext` /
//! `AcceptSecurityContext`, run against each other in memory, recording every leg.

use sspi_emu_api::{
    AcceptSecurityContext, AscOutputs, AscReq, AscRet, Backend, CredHandle, CtxtHandle, InitializeSecurityContext,
    IscOutputs, IscReq, IscRet, SecBuffer, SecBufferDesc, SecBufferType, SecStatus,
};

/// One call of a handshake: who made it, what it returned, and the token it produced.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Leg {
    /// `"InitializeSecurityContext"` or `"AcceptSecurityContext"`.
    pub function: &'static str,
    /// The status returned.
    pub status: SecStatus,
    /// The output token (empty when none).
    pub token: Vec<u8>,
    /// `*pfContextAttr` after the call (`ISC_RET_*` or `ASC_RET_*` bits).
    pub attributes: u32,
}

/// A client and a server context being established against each other.
///
/// Each side calls until it returns a status other than `SEC_I_CONTINUE_NEEDED`; a token is
/// passed to the peer whenever one is produced. Channel bindings, when set, go into each
/// call's input as `SECBUFFER_CHANNEL_BINDINGS`.
#[derive(Clone, Debug)]
pub struct Handshake {
    /// Client credentials (outbound).
    pub client_credential: CredHandle,
    /// Server credentials (inbound).
    pub server_credential: CredHandle,
    /// `pszTargetName`.
    pub target: Option<String>,
    /// `fContextReq` of the client.
    pub isc_req: IscReq,
    /// `fContextReq` of the server.
    pub asc_req: AscReq,
    /// The output token buffer size each call gets (0 with `*_REQ_ALLOCATE_MEMORY`).
    pub token_capacity: usize,
    /// `SEC_CHANNEL_BINDINGS` bytes for the client's calls.
    pub client_bindings: Option<Vec<u8>>,
    /// `SEC_CHANNEL_BINDINGS` bytes for the server's calls.
    pub server_bindings: Option<Vec<u8>>,
}

/// What a handshake ended with.
#[derive(Clone, Debug, Default)]
pub struct Established {
    /// Every call in order.
    pub legs: Vec<Leg>,
    /// The client's context (default if never created).
    pub client: CtxtHandle,
    /// The server's context (default if never created).
    pub server: CtxtHandle,
    /// The client's last status.
    pub client_status: Option<SecStatus>,
    /// The server's last status.
    pub server_status: Option<SecStatus>,
}

impl Established {
    /// True when both sides returned `SEC_E_OK`.
    pub fn is_complete(&self) -> bool {
        self.client_status == Some(SecStatus::SEC_E_OK) && self.server_status == Some(SecStatus::SEC_E_OK)
    }

    /// The statuses of every leg, in order.
    pub fn statuses(&self) -> Vec<SecStatus> {
        self.legs.iter().map(|l| l.status).collect()
    }

    /// Deletes both contexts (ignoring the statuses).
    pub fn delete(&self, backend: &dyn Backend) {
        for c in [self.client, self.server] {
            if c != CtxtHandle::default() {
                backend.delete_security_context(c);
            }
        }
    }
}

/// The number of legs after which a handshake is abandoned (a loop guard).
const MAX_LEGS: usize = 16;

impl Handshake {
    /// A handshake between two credentials, with `cbMaxToken`-sized output buffers (2888,
    /// NTLM's) and the flags HTTP clients and servers typically pass.
    pub fn new(client_credential: CredHandle, server_credential: CredHandle) -> Self {
        Self {
            client_credential,
            server_credential,
            target: Some("HTTP/web.contoso.com".to_string()),
            isc_req: IscReq::CONFIDENTIALITY
                | IscReq::INTEGRITY
                | IscReq::REPLAY_DETECT
                | IscReq::SEQUENCE_DETECT
                | IscReq::CONNECTION,
            asc_req: AscReq::CONFIDENTIALITY
                | AscReq::INTEGRITY
                | AscReq::REPLAY_DETECT
                | AscReq::SEQUENCE_DETECT
                | AscReq::CONNECTION,
            token_capacity: 48_256,
            client_bindings: None,
            server_bindings: None,
        }
    }

    fn input(token: Vec<u8>, bindings: Option<&Vec<u8>>) -> SecBufferDesc {
        let mut buffers = vec![SecBuffer::token(token)];
        if let Some(b) = bindings {
            buffers.push(SecBuffer::new(SecBufferType::CHANNEL_BINDINGS, b.clone()));
        }
        SecBufferDesc::new(buffers)
    }

    /// Runs the loop to the end (both sides done, or one failed).
    pub fn run(&self, backend: &dyn Backend) -> Established {
        self.run_between(backend, backend)
    }

    /// Runs the loop with the client on `client` and the server on `server`: two backends, e.g.
    /// the simulator against real Windows (a hybrid pair).
    pub fn run_between(&self, client: &dyn Backend, server: &dyn Backend) -> Established {
        let mut e = Established::default();
        let isc_out = IscOutputs::with_token(self.token_capacity);
        let asc_out = AscOutputs::with_token(self.token_capacity);
        // The client speaks first.
        let mut to_server: Option<Vec<u8>> = None;
        let mut to_client: Option<Vec<u8>> = None;
        let mut first_client = true;
        while e.legs.len() < MAX_LEGS {
            // Client leg: the first call, or a reply from the server to consume.
            if first_client || to_client.is_some() {
                let mut args =
                    InitializeSecurityContext::new(self.client_credential, self.target.as_deref(), self.isc_req);
                if let Some(t) = to_client.take() {
                    args = args.next(e.client, Self::input(t, self.client_bindings.as_ref()));
                } else if let Some(b) = &self.client_bindings {
                    args.input =
                        Some(SecBufferDesc::new(vec![SecBuffer::new(SecBufferType::CHANNEL_BINDINGS, b.clone())]));
                }
                first_client = false;
                isc_out.reset_token(self.token_capacity);
                let status = client.initialize_security_context(args, &isc_out);
                let token = if status.is_error() { Vec::new() } else { isc_out.token() };
                e.client = isc_out.context();
                e.client_status = Some(status);
                e.legs.push(Leg {
                    function: "InitializeSecurityContext",
                    status,
                    token: token.clone(),
                    attributes: IscRet::bits(isc_out.attributes()),
                });
                if status.is_error() {
                    break;
                }
                if !token.is_empty() {
                    to_server = Some(token);
                }
            }
            // Server leg.
            if let Some(t) = to_server.take() {
                let input = Self::input(t, self.server_bindings.as_ref());
                let args = if e.server == CtxtHandle::default() {
                    AcceptSecurityContext::new(self.server_credential, input, self.asc_req)
                } else {
                    AcceptSecurityContext::new(self.server_credential, input.clone(), self.asc_req)
                        .next(e.server, input)
                };
                asc_out.reset_token(self.token_capacity);
                let status = server.accept_security_context(args, &asc_out);
                let token = if status.is_error() { Vec::new() } else { asc_out.token() };
                e.server = asc_out.context();
                e.server_status = Some(status);
                e.legs.push(Leg {
                    function: "AcceptSecurityContext",
                    status,
                    token: token.clone(),
                    attributes: AscRet::bits(asc_out.attributes()),
                });
                if status.is_error() {
                    break;
                }
                // A token after the client finished still goes to it (SPNEGO's final
                // accept-completed, which the client must check).
                if !token.is_empty() {
                    to_client = Some(token);
                }
            }
            let client_done = e.client_status.is_some_and(|s| s != SecStatus::SEC_I_CONTINUE_NEEDED);
            let server_done = e.server_status.is_some_and(|s| s != SecStatus::SEC_I_CONTINUE_NEEDED);
            if (client_done && server_done && to_client.is_none()) || (to_client.is_none() && to_server.is_none()) {
                break;
            }
        }
        e
    }
}

trait Bits {
    fn bits(self) -> u32;
}

impl Bits for IscRet {
    fn bits(self) -> u32 {
        self.0
    }
}

impl Bits for AscRet {
    fn bits(self) -> u32 {
        self.0
    }
}
