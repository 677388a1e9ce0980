//! sspi-emu against the `sspi` crate (Devolutions sspi-rs) and the bare crypto floor, in one run.
//!
//! * `ntlm_handshake`: NEGOTIATE / CHALLENGE / AUTHENTICATE, both sides, the server checking the
//!   password (sspi-rs checks it in `complete_auth_token`, which is included).
//! * `negotiate_handshake`: the same inside SPNEGO with the mechListMIC exchange.
//! * `seal_1k`: `EncryptMessage` + `DecryptMessage` of 1 KiB on established NTLMv2 + ESS + 128-bit
//!   contexts, and the floor: RC4 over the data and HMAC-MD5 over seqnum ‖ data with the
//!   checksum RC4-encrypted, on both sides, over the same bytes.
//!
//! Run: `cargo bench -p sspi-emu-bench`. Results and machine: docs/PERFORMANCE.md.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{KeyInit, Mac};
use rc4::{Rc4, StreamCipher};
use sspi_emu::sim::{JournalMode, Simulator};
use sspi_emu::{
    AcceptSecurityContext, AcquireCredentials, AscOutputs, AscReq, AuthIdentity, Backend, CredHandle, CredentialUse,
    CtxtHandle, InitializeSecurityContext, IscOutputs, IscReq, SecBuffer, SecBufferDesc, SecBufferType, SecStatus,
};

const USER: &str = "alice";
const DOMAIN: &str = "CONTOSO";
const PASSWORD: &str = "Passw0rd!";

// ---- sspi-emu --------------------------------------------------------------------------------

fn emu_creds(sim: &Simulator, package: &str) -> (CredHandle, CredHandle) {
    let c = sim
        .acquire_credentials_handle(
            AcquireCredentials::new(package, CredentialUse::OUTBOUND)
                .identity(AuthIdentity::unicode(USER, DOMAIN, PASSWORD)),
        )
        .unwrap()
        .handle;
    let s = sim.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::INBOUND)).unwrap().handle;
    (c, s)
}

/// The flags sspi-rs is given, plus `ISC_REQ_ALLOCATE_MEMORY`: the package allocates each token,
/// as sspi-rs does, instead of filling a caller's buffer.
const ISC: IscReq =
    IscReq(IscReq::CONFIDENTIALITY.0 | IscReq::INTEGRITY.0 | IscReq::MUTUAL_AUTH.0 | IscReq::ALLOCATE_MEMORY.0);
const ASC: AscReq = AscReq::ALLOCATE_MEMORY;

/// One handshake to completion on both sides; returns the two contexts.
fn emu_handshake(
    sim: &Simulator,
    c: CredHandle,
    s: CredHandle,
    isc_out: &IscOutputs,
    asc_out: &AscOutputs,
) -> (CtxtHandle, CtxtHandle) {
    isc_out.reset_token(0);
    let st = sim.initialize_security_context(InitializeSecurityContext::new(c, Some("HTTP/web"), ISC), isc_out);
    assert_eq!(st, SecStatus::SEC_I_CONTINUE_NEEDED);
    let client = isc_out.context();
    let mut to_server = isc_out.token();
    let mut server = CtxtHandle::default();
    loop {
        asc_out.reset_token(0);
        let input = SecBufferDesc::new(vec![SecBuffer::token(to_server)]);
        let args = if server == CtxtHandle::default() {
            AcceptSecurityContext::new(s, input, ASC)
        } else {
            AcceptSecurityContext::new(s, input.clone(), ASC).next(server, input)
        };
        let server_status = sim.accept_security_context(args, asc_out);
        server = asc_out.context();
        let reply = asc_out.token();
        if reply.is_empty() {
            assert_eq!(server_status, SecStatus::SEC_E_OK);
            return (client, server);
        }
        isc_out.reset_token(0);
        let args = InitializeSecurityContext::new(c, Some("HTTP/web"), ISC)
            .next(client, SecBufferDesc::new(vec![SecBuffer::token(reply)]));
        let client_status = sim.initialize_security_context(args, isc_out);
        to_server = isc_out.token();
        if to_server.is_empty() {
            assert_eq!((client_status, server_status), (SecStatus::SEC_E_OK, SecStatus::SEC_E_OK));
            return (client, server);
        }
    }
}

fn emu_seal_unseal(sim: &Simulator, client: CtxtHandle, server: CtxtHandle, data: &[u8], msg: &mut SecBufferDesc) {
    msg.buffers[0].data.clear();
    msg.buffers[0].data.resize(16, 0);
    msg.buffers[1].data.clear();
    msg.buffers[1].data.extend_from_slice(data);
    assert_eq!(sim.encrypt_message(client, 0, msg, 0), SecStatus::SEC_E_OK);
    assert_eq!(sim.decrypt_message(server, msg, 0), Ok(None));
}

// ---- sspi-rs ---------------------------------------------------------------------------------

mod peer {
    use sspi::{
        AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, Credentials, DataRepresentation, EncryptionFlags,
        Negotiate, NegotiateConfig, Ntlm, SecurityBuffer, SecurityBufferRef, SecurityStatus, ServerRequestFlags, Sspi,
        Username, ntlm::NtlmConfig,
    };

    fn identity() -> AuthIdentity {
        AuthIdentity {
            username: Username::new(super::USER, Some(super::DOMAIN)).unwrap(),
            password: super::PASSWORD.to_owned().into(),
        }
    }

    const FLAGS: ClientRequestFlags =
        ClientRequestFlags::MUTUAL_AUTH.union(ClientRequestFlags::INTEGRITY).union(ClientRequestFlags::CONFIDENTIALITY);

    fn isc<T: Sspi>(ctx: &mut T, creds: &mut T::CredentialsHandle, input: Vec<u8>) -> (SecurityStatus, Vec<u8>) {
        let mut inp = [SecurityBuffer::new(input, BufferType::Token)];
        let mut out = [SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let mut b = ctx
            .initialize_security_context()
            .with_credentials_handle(creds)
            .with_context_requirements(FLAGS)
            .with_target_data_representation(DataRepresentation::Native)
            .with_target_name("HTTP/web")
            .with_input(&mut inp)
            .with_output(&mut out);
        let r = ctx.initialize_security_context_impl(&mut b).unwrap().resolve_to_result().unwrap();
        (r.status, std::mem::take(&mut out[0].buffer))
    }

    fn asc<T: Sspi>(ctx: &mut T, creds: &mut T::CredentialsHandle, input: Vec<u8>) -> (SecurityStatus, Vec<u8>) {
        let mut inp = [SecurityBuffer::new(input, BufferType::Token)];
        let mut out = [SecurityBuffer::new(Vec::new(), BufferType::Token)];
        let b = ctx
            .accept_security_context()
            .with_credentials_handle(creds)
            .with_context_requirements(ServerRequestFlags::empty())
            .with_target_data_representation(DataRepresentation::Native)
            .with_input(&mut inp)
            .with_output(&mut out);
        let r = ctx.accept_security_context_impl(b).unwrap().resolve_to_result().unwrap();
        (r.status, std::mem::take(&mut out[0].buffer))
    }

    /// The NTLM handshake with the server checking the password (in `complete_auth_token`).
    pub(crate) fn ntlm() -> (Ntlm, Ntlm) {
        let mut client = Ntlm::with_config(NtlmConfig::new("WS01".into()));
        let mut server = Ntlm::new();
        let id = identity();
        let mut cc = client
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Outbound)
            .with_auth_data(&id)
            .execute(&mut client)
            .unwrap()
            .credentials_handle;
        let mut sc = server
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Inbound)
            .with_auth_data(&id)
            .execute(&mut server)
            .unwrap()
            .credentials_handle;
        let (_, negotiate) = isc(&mut client, &mut cc, Vec::new());
        let (_, challenge) = asc(&mut server, &mut sc, negotiate);
        let (_, authenticate) = isc(&mut client, &mut cc, challenge);
        asc(&mut server, &mut sc, authenticate);
        server.complete_auth_token(&mut []).unwrap();
        (client, server)
    }

    fn negotiate_config() -> NegotiateConfig {
        NegotiateConfig::new(Box::new(NtlmConfig::new("WS01".into())), Some("ntlm".into()), "WS01".into())
    }

    /// The Negotiate handshake (NTLM in SPNEGO), the server checking the password.
    pub(crate) fn negotiate() -> (Negotiate, Negotiate) {
        let mut client = Negotiate::new_client(negotiate_config()).unwrap();
        let mut server = Negotiate::new_server(negotiate_config(), vec![identity()]).unwrap();
        let cid = Credentials::AuthIdentity(identity());
        let mut cc = client
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Outbound)
            .with_auth_data(&cid)
            .execute(&mut client)
            .unwrap()
            .credentials_handle;
        let mut sc = server
            .acquire_credentials_handle()
            .with_credential_use(CredentialUse::Inbound)
            .execute(&mut server)
            .unwrap()
            .credentials_handle;
        let (_, t1) = isc(&mut client, &mut cc, Vec::new());
        let (_, t2) = asc(&mut server, &mut sc, t1);
        let (_, t3) = isc(&mut client, &mut cc, t2);
        let (_, t4) = asc(&mut server, &mut sc, t3);
        let (s, _) = isc(&mut client, &mut cc, t4);
        assert_eq!(s, SecurityStatus::Ok);
        (client, server)
    }

    pub(crate) fn seal_unseal<C: Sspi, S: Sspi>(c: &mut C, s: &mut S, buf: &mut [u8]) {
        let mut token = [0u8; 16];
        let mut msg = [SecurityBufferRef::token_buf(&mut token), SecurityBufferRef::data_buf(buf)];
        c.encrypt_message(EncryptionFlags::empty(), &mut msg).unwrap();
        s.decrypt_message(&mut msg).unwrap();
    }
}

// ---- the crypto floor ------------------------------------------------------------------------

struct Floor {
    client_seal: Rc4,
    server_unseal: Rc4,
    sign_key: [u8; 16],
    seq: u32,
}

impl Floor {
    fn new() -> Self {
        Self {
            client_seal: Rc4::new_from_slice(&[0x11; 16]).unwrap(),
            server_unseal: Rc4::new_from_slice(&[0x11; 16]).unwrap(),
            sign_key: [0x22; 16],
            seq: 0,
        }
    }

    fn mac(&self, data: &[u8]) -> [u8; 8] {
        let mut m = <hmac::Hmac<md5::Md5> as KeyInit>::new_from_slice(&self.sign_key).unwrap();
        m.update(&self.seq.to_le_bytes());
        m.update(data);
        let d = m.finalize().into_bytes();
        let mut out = [0; 8];
        out.copy_from_slice(&d[..8]);
        out
    }

    /// What EncryptMessage + DecryptMessage must do at least: seal (checksum of the plaintext,
    /// RC4 of data and checksum), then unseal and recompute the checksum on the other side.
    fn seal_unseal(&mut self, data: &mut [u8]) {
        let mut checksum = self.mac(data);
        self.client_seal.apply_keystream(data);
        self.client_seal.apply_keystream(&mut checksum);
        self.server_unseal.apply_keystream(data);
        let mut expected = self.mac(data);
        self.server_unseal.apply_keystream(&mut expected);
        assert_eq!(expected, checksum);
        self.seq = self.seq.wrapping_add(1);
    }
}

/// The crypto a conforming NTLMv2 handshake (extended session security, key exchange, MIC)
/// must compute per handshake on both sides, with the OWFs already derived (each side keeps
/// them, as the LSA keeps a logon session's OWF): no implementation can do less. Message sizes
/// are those of our own handshake, measured once.
struct HandshakeFloor {
    /// NEGOTIATE ‖ CHALLENGE ‖ AUTHENTICATE, as the MIC covers them.
    transcript: Vec<u8>,
    /// ServerChallenge ‖ temp (the NTLMv2_CLIENT_CHALLENGE), as the NTProofStr covers them.
    proof_input: Vec<u8>,
    /// The keyed NTOWFv2 (kept between handshakes).
    response_key: hmac::Hmac<md5::Md5>,
    /// The DER mechTypes list the mechListMICs cover.
    mech_list: Vec<u8>,
}

const MAGIC: [&[u8]; 4] = [
    b"session key to client-to-server signing key magic constant\0",
    b"session key to server-to-client signing key magic constant\0",
    b"session key to client-to-server sealing key magic constant\0",
    b"session key to server-to-client sealing key magic constant\0",
];

impl HandshakeFloor {
    /// Sizes from one of our NTLM handshakes (NEGOTIATE, CHALLENGE, AUTHENTICATE tokens).
    fn measure(sim: &Simulator, c: CredHandle, s: CredHandle) -> Self {
        let (isc_out, asc_out) = (IscOutputs::with_token(0), AscOutputs::with_token(0));
        isc_out.reset_token(0);
        sim.initialize_security_context(InitializeSecurityContext::new(c, Some("HTTP/web"), ISC), &isc_out);
        let negotiate = isc_out.token();
        asc_out.reset_token(0);
        let input = SecBufferDesc::new(vec![SecBuffer::token(negotiate.clone())]);
        sim.accept_security_context(AcceptSecurityContext::new(s, input, ASC), &asc_out);
        let challenge = asc_out.token();
        isc_out.reset_token(0);
        let args = InitializeSecurityContext::new(c, Some("HTTP/web"), ISC)
            .next(isc_out.context(), SecBufferDesc::new(vec![SecBuffer::token(challenge.clone())]));
        sim.initialize_security_context(args, &isc_out);
        let authenticate = isc_out.token();
        sim.delete_security_context(isc_out.context());
        sim.delete_security_context(asc_out.context());
        // NtChallengeResponse: its length is in the AUTHENTICATE's field descriptor at 20.
        let nt_len = usize::from(u16::from_le_bytes([authenticate[20], authenticate[21]]));
        let transcript = [&negotiate[..], &challenge, &authenticate].concat();
        Self {
            transcript,
            proof_input: vec![0x42; 8 + nt_len - 16],
            response_key: <hmac::Hmac<md5::Md5> as KeyInit>::new_from_slice(&[0x33; 16]).unwrap(),
            // SEQUENCE { OID 1.3.6.1.4.1.311.2.2.10 }: NTLM alone.
            mech_list: vec![0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a],
        }
    }

    /// One side's share of the NTLM handshake: NTProofStr, session base key, the key
    /// exchange's RC4K and the MIC. Returns the exported session key.
    fn ntlm_side(&self) -> [u8; 16] {
        let mut m = self.response_key.clone();
        m.update(black_box(&self.proof_input));
        let proof = m.finalize().into_bytes();
        let mut m = self.response_key.clone();
        m.update(&proof);
        let session_base_key: [u8; 16] = m.finalize().into_bytes().into();
        let mut exported = black_box([0x44u8; 16]);
        Rc4::new_from_slice(&session_base_key).unwrap().apply_keystream(&mut exported);
        let mut mic = <hmac::Hmac<md5::Md5> as KeyInit>::new_from_slice(&exported).unwrap();
        mic.update(black_box(&self.transcript));
        black_box(mic.finalize().into_bytes());
        exported
    }

    /// The NTLM handshake's crypto, both sides.
    fn ntlm(&self) {
        self.ntlm_side();
        self.ntlm_side();
    }

    /// The Negotiate handshake's: the NTLM crypto, then on each side the four signing and
    /// sealing keys and two mechListMICs (one made, one checked), each an HMAC-MD5 whose
    /// checksum is sealed with RC4 under that direction's sealing key.
    fn negotiate(&self) {
        for _side in 0..2 {
            let exported = self.ntlm_side();
            let keys: Vec<[u8; 16]> = MAGIC
                .iter()
                .map(|magic| {
                    let mut h = <md5::Md5 as md5::Digest>::new();
                    md5::Digest::update(&mut h, exported);
                    md5::Digest::update(&mut h, magic);
                    md5::Digest::finalize(h).into()
                })
                .collect();
            for direction in 0..2 {
                let mut m = <hmac::Hmac<md5::Md5> as KeyInit>::new_from_slice(&keys[direction]).unwrap();
                m.update(&0u32.to_le_bytes());
                m.update(black_box(&self.mech_list));
                let mut checksum = [0u8; 8];
                checksum.copy_from_slice(&m.finalize().into_bytes()[..8]);
                Rc4::new_from_slice(&keys[2 + direction]).unwrap().apply_keystream(&mut checksum);
                black_box(checksum);
            }
        }
    }
}

// ---- benches ---------------------------------------------------------------------------------

fn handshakes(c: &mut Criterion) {
    let sim = Simulator::builder().journal(JournalMode::Off).build();
    let isc_out = IscOutputs::with_token(4096);
    let asc_out = AscOutputs::with_token(4096);
    for (package, name) in [("NTLM", "ntlm_handshake"), ("Negotiate", "negotiate_handshake")] {
        let (cc, sc) = emu_creds(&sim, package);
        let mut g = c.benchmark_group(name);
        g.bench_function("sspi-emu", |b| {
            b.iter(|| {
                let (client, server) = emu_handshake(&sim, cc, sc, &isc_out, &asc_out);
                sim.delete_security_context(client);
                sim.delete_security_context(server);
            })
        });
        let floor = HandshakeFloor::measure(&sim, emu_creds(&sim, "NTLM").0, emu_creds(&sim, "NTLM").1);
        if package == "NTLM" {
            g.bench_function("sspi-rs", |b| b.iter(|| black_box(peer::ntlm())));
            g.bench_function("crypto-floor", |b| b.iter(|| floor.ntlm()));
        } else {
            g.bench_function("sspi-rs", |b| b.iter(|| black_box(peer::negotiate())));
            g.bench_function("crypto-floor", |b| b.iter(|| floor.negotiate()));
        }
        g.finish();
    }
}

fn seal(c: &mut Criterion) {
    let data = vec![0x5au8; 1024];
    let mut g = c.benchmark_group("seal_1k");
    let sim = Simulator::builder().journal(JournalMode::Off).build();
    let (cc, sc) = emu_creds(&sim, "NTLM");
    let (client, server) = emu_handshake(&sim, cc, sc, &IscOutputs::with_token(4096), &AscOutputs::with_token(4096));
    let mut msg =
        SecBufferDesc::new(vec![SecBuffer::output_token(16), SecBuffer::new(SecBufferType::DATA, data.clone())]);
    g.bench_function("sspi-emu", |b| b.iter(|| emu_seal_unseal(&sim, client, server, &data, &mut msg)));
    let (mut pc, mut ps) = peer::ntlm();
    let mut buf = data.clone();
    g.bench_function("sspi-rs", |b| {
        b.iter(|| {
            buf.copy_from_slice(&data);
            peer::seal_unseal(&mut pc, &mut ps, &mut buf);
        })
    });
    let mut floor = Floor::new();
    g.bench_function("floor", |b| {
        b.iter(|| {
            buf.copy_from_slice(&data);
            floor.seal_unseal(&mut buf);
        })
    });
    g.finish();
}

/// The handshakes timed in alternation, for a ratio a drifting machine cannot skew: `pairs`
/// rounds of `chunk` handshakes of each of sspi-emu, sspi-rs and the crypto floor, one after
/// the other; prints the median per-round time of each and the median of the per-round
/// ratios (for `examples/count.rs interleave`).
#[allow(dead_code)] // used by the example, not by the bench itself
pub(crate) fn interleave(pairs: usize, chunk: usize) {
    use std::time::Instant;
    let sim = Simulator::builder().journal(JournalMode::Off).build();
    let (isc_out, asc_out) = (IscOutputs::with_token(0), AscOutputs::with_token(0));
    let (nc, ns) = emu_creds(&sim, "NTLM");
    let floor = HandshakeFloor::measure(&sim, nc, ns);
    for package in ["NTLM", "Negotiate"] {
        let (cc, sc) = emu_creds(&sim, package);
        let time = |f: &mut dyn FnMut()| {
            let start = Instant::now();
            (0..chunk).for_each(|_| f());
            start.elapsed().as_secs_f64() * 1e6 / chunk as f64
        };
        let mut emu = || {
            let (c, s) = emu_handshake(&sim, cc, sc, &isc_out, &asc_out);
            sim.delete_security_context(c);
            sim.delete_security_context(s);
        };
        let mut rs = || match package {
            "NTLM" => drop(black_box(peer::ntlm())),
            _ => drop(black_box(peer::negotiate())),
        };
        let mut crypto = || if package == "NTLM" { floor.ntlm() } else { floor.negotiate() };
        let mut rows = Vec::with_capacity(pairs);
        for _ in 0..pairs {
            rows.push([time(&mut emu), time(&mut rs), time(&mut crypto)]);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let col = |i: usize| median(rows.iter().map(|r| r[i]).collect());
        let ratio = |a: usize, b: usize| median(rows.iter().map(|r| r[a] / r[b]).collect());
        println!(
            "{package}: sspi-emu {:.2} µs, sspi-rs {:.2} µs, crypto floor {:.2} µs (medians of {pairs} rounds of {chunk}); \
             sspi-rs / sspi-emu {:.3}, sspi-rs / floor {:.3}, sspi-emu / floor {:.3} (medians of per-round ratios)",
            col(0),
            col(1),
            col(2),
            ratio(1, 0),
            ratio(1, 2),
            ratio(0, 2),
        );
    }
}

/// Runs one operation `n` times (for `examples/count.rs`, under callgrind).
#[allow(dead_code)] // used by the example, not by the bench itself
pub(crate) fn run_named(what: &str, n: usize) {
    let sim = Simulator::builder().journal(JournalMode::Off).build();
    let (isc_out, asc_out) = (IscOutputs::with_token(0), AscOutputs::with_token(0));
    let package = if what.ends_with("nego") { "Negotiate" } else { "NTLM" };
    let (cc, sc) = emu_creds(&sim, package);
    let data = vec![0x5au8; 1024];
    let mut buf = data.clone();
    match what {
        "emu-ntlm" | "emu-nego" => {
            for _ in 0..n {
                let (c, s) = emu_handshake(&sim, cc, sc, &isc_out, &asc_out);
                sim.delete_security_context(c);
                sim.delete_security_context(s);
            }
        }
        "rs-ntlm" => (0..n).for_each(|_| drop(black_box(peer::ntlm()))),
        "rs-nego" => (0..n).for_each(|_| drop(black_box(peer::negotiate()))),
        "emu-seal" => {
            let (c, s) = emu_handshake(&sim, cc, sc, &isc_out, &asc_out);
            let mut msg = SecBufferDesc::new(vec![
                SecBuffer::output_token(16),
                SecBuffer::new(SecBufferType::DATA, data.clone()),
            ]);
            (0..n).for_each(|_| emu_seal_unseal(&sim, c, s, &data, &mut msg));
        }
        "floor-ntlm" | "floor-nego" => {
            let (c, s) = emu_creds(&sim, "NTLM");
            let floor = HandshakeFloor::measure(&sim, c, s);
            match what {
                "floor-ntlm" => (0..n).for_each(|_| floor.ntlm()),
                _ => (0..n).for_each(|_| floor.negotiate()),
            }
        }
        "floor" => {
            let mut floor = Floor::new();
            (0..n).for_each(|_| {
                buf.copy_from_slice(&data);
                floor.seal_unseal(&mut buf);
            });
        }
        other => panic!("unknown operation {other}"),
    }
}

criterion_group!(benches, handshakes, seal);
criterion_main!(benches);
