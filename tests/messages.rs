//! The per-message calls on established contexts: MakeSignature / VerifySignature and
//! EncryptMessage / DecryptMessage, their buffers, tampering, ordering, and the Negotiate
//! contexts after the SPNEGO mechListMIC. Expected values: `docs/research/context-calls.md` §5,
//! or the source tag of `crates/sim/src/context.rs` where Windows was not observed.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use std::sync::Arc;

use sspi_emu::sim::ntlm::NegotiateFlags;
use sspi_emu::sim::ntlm::crypto::{Mode, Rc4Handle, SessionSecurity, mac_v1, sealkey};
use sspi_emu::sim::{Simulator, World};
use sspi_emu::*;
use sspi_emu_testkit::fixtures_dir;

/// `SECBUFFER_DATA | SECBUFFER_READONLY_WITH_CHECKSUM`.
const DATA_RWC: SecBufferType = SecBufferType::DATA.with(SecBufferType::READONLY_WITH_CHECKSUM);
/// `SECBUFFER_DATA | SECBUFFER_READONLY`.
const DATA_RO: SecBufferType = SecBufferType::DATA.with(SecBufferType::READONLY);
/// The signature NTLM gives without SIGN or SEAL (Wine's tests on Windows, research §5) [O].
const DUMMY: [u8; 16] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

fn sealing() -> (IscReq, AscReq) {
    (
        IscReq::CONFIDENTIALITY | IscReq::INTEGRITY | IscReq::REPLAY_DETECT | IscReq::SEQUENCE_DETECT,
        AscReq::CONFIDENTIALITY | AscReq::INTEGRITY | AscReq::REPLAY_DETECT | AscReq::SEQUENCE_DETECT,
    )
}

fn world_with_machine(lines: &str) -> Arc<World> {
    let text = std::fs::read_to_string(fixtures_dir().join("worlds/default.toml")).unwrap();
    let edited = text.replacen("[machine]\n", &format!("[machine]\n{lines}\n"), 1);
    assert_ne!(edited, text);
    Arc::new(World::from_toml_str(&edited, "edited.toml").unwrap())
}

/// A completed handshake of alice: the Handshake helper's legs, client and server contexts.
fn established(b: &dyn Backend, package: &str, isc: IscReq, asc: AscReq) -> Established {
    let id = AuthIdentity::unicode("alice", "CONTOSO", "Passw0rd!");
    let c = b.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::OUTBOUND).identity(id));
    let s = b.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::INBOUND));
    let mut h = Handshake::new(c.unwrap().handle, s.unwrap().handle);
    h.isc_req = isc;
    h.asc_req = asc;
    let e = h.run(b);
    assert!(e.is_complete(), "{package}: {:?}", e.statuses());
    e
}

fn pair(b: &dyn Backend, package: &str) -> (CtxtHandle, CtxtHandle) {
    let (isc, asc) = sealing();
    let e = established(b, package, isc, asc);
    (e.client, e.server)
}

/// `[TOKEN(16), DATA(data)]`, the layout of Wine's and pyspnego's tests.
fn message(data: &[u8]) -> SecBufferDesc {
    SecBufferDesc::new(vec![SecBuffer::token(vec![0; 16]), SecBuffer::new(SecBufferType::DATA, data)])
}

fn signed(b: &dyn Backend, ctx: CtxtHandle, data: &[u8]) -> SecBufferDesc {
    let mut m = message(data);
    assert_eq!(b.make_signature(ctx, 0, &mut m, 0), SecStatus::SEC_E_OK);
    assert_eq!(m.buffers[1].data, data, "MakeSignature does not touch the data");
    m
}

fn sealed(b: &dyn Backend, ctx: CtxtHandle, data: &[u8]) -> SecBufferDesc {
    let mut m = message(data);
    assert_eq!(b.encrypt_message(ctx, 0, &mut m, 0), SecStatus::SEC_E_OK);
    m
}

/// The `SeqNum` field of an ESS signature (bytes 12..16).
fn seq_num(signature: &[u8]) -> u32 {
    u32::from_le_bytes([signature[12], signature[13], signature[14], signature[15]])
}

const PACKAGES: [&str; 2] = ["NTLM", "Negotiate"];

// ---- Round trips ---------------------------------------------------------------------------

#[test]
fn sign_and_verify_work_both_ways_over_several_messages() {
    for package in PACKAGES {
        let sim = Simulator::new();
        let (c, s) = pair(&sim, package);
        let texts: [&[u8]; 5] = [b"GET / HTTP/1.1", b"", b"x", &[0u8; 300], b"GET / HTTP/1.1"];
        let mut client_sigs = Vec::new();
        for (i, data) in texts.iter().enumerate() {
            for (from, to) in [(c, s), (s, c)] {
                let mut m = signed(&sim, from, data);
                assert_eq!(m.buffers[0].data.len(), 16);
                assert_eq!(m.buffers[0].data[..4], [1, 0, 0, 0], "Version 1");
                assert_eq!(sim.verify_signature(to, &mut m, 0), Ok(None), "{package} message {i}");
                if from == c {
                    client_sigs.push(m.buffers[0].data.clone());
                }
            }
        }
        // The same text at another position in the stream has another signature.
        assert_ne!(client_sigs[0], client_sigs[4], "{package}");
        if package == "NTLM" {
            // Connection-oriented sequence numbers: 0, 1, 2, ... per direction (MS-NLMP §3.4.4) [D].
            let seqs: Vec<u32> = client_sigs.iter().map(|s| seq_num(s)).collect();
            assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
        }
    }
}

#[test]
fn encrypt_and_decrypt_work_both_ways_over_several_messages() {
    for package in PACKAGES {
        let sim = Simulator::new();
        let (c, s) = pair(&sim, package);
        let mut ciphertexts = Vec::new();
        for i in 0..4u8 {
            for (from, to) in [(c, s), (s, c)] {
                let plain: Vec<u8> = (0..=i * 40).collect();
                let mut m = sealed(&sim, from, &plain);
                assert_eq!(m.buffers[1].data.len(), plain.len(), "RC4: the length is kept");
                if !plain.is_empty() {
                    assert_ne!(m.buffers[1].data, plain, "{package}: sealed");
                }
                ciphertexts.push(m.buffers[1].data.clone());
                assert_eq!(sim.decrypt_message(to, &mut m, 0), Ok(None), "{package} message {i}");
                assert_eq!(m.buffers[1].data, plain, "{package}");
            }
        }
        // One key stream per direction: the same plaintext seals differently each time.
        let mut m1 = sealed(&sim, c, b"same");
        let m2 = sealed(&sim, c, b"same");
        assert_ne!(m1.buffers[1].data, m2.buffers[1].data);
        assert_ne!(m1.buffers[0].data, m2.buffers[0].data);
        assert_eq!(sim.decrypt_message(s, &mut m1, 0), Ok(None));
    }
}

#[test]
fn signing_and_sealing_share_one_sequence() {
    let sim = Simulator::new();
    let (c, s) = pair(&sim, "NTLM");
    let mut a = signed(&sim, c, b"one");
    let mut b = sealed(&sim, c, b"two");
    let mut d = signed(&sim, c, b"three");
    assert_eq!(seq_num(&a.buffers[0].data), 0);
    assert_eq!(seq_num(&b.buffers[0].data), 1);
    assert_eq!(seq_num(&d.buffers[0].data), 2);
    assert_eq!(sim.verify_signature(s, &mut a, 0), Ok(None));
    assert_eq!(sim.decrypt_message(s, &mut b, 0), Ok(None));
    assert_eq!(b.buffers[1].data, b"two");
    assert_eq!(sim.verify_signature(s, &mut d, 0), Ok(None));
}

// ---- Tampering and ordering (research §5) --------------------------------------------------

#[test]
fn altered_data_or_checksum_is_message_altered() {
    for package in PACKAGES {
        let sim = Simulator::new();
        let (c, s) = pair(&sim, package);
        let mut m = signed(&sim, c, b"pay 10 EUR");
        m.buffers[1].data[4] = b'9';
        assert_eq!(sim.verify_signature(s, &mut m, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED), "{package}");
        let mut m = sealed(&sim, c, b"pay 10 EUR");
        m.buffers[1].data[0] ^= 1;
        assert_eq!(sim.decrypt_message(s, &mut m, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED), "{package}");
        let mut m = signed(&sim, s, b"reply");
        m.buffers[0].data[6] ^= 0x80;
        assert_eq!(sim.verify_signature(c, &mut m, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED), "{package}");
        let mut m = sealed(&sim, s, b"reply");
        m.buffers[0].data[11] ^= 0x01;
        assert_eq!(sim.decrypt_message(c, &mut m, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED), "{package}");
        // A signature moved onto another message.
        let m1 = signed(&sim, c, b"first");
        let mut m2 = signed(&sim, c, b"second");
        m2.buffers[0].data = m1.buffers[0].data.clone();
        assert_eq!(sim.verify_signature(s, &mut m2, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED), "{package}");
    }
}

#[test]
fn replayed_or_reordered_messages_are_message_altered() {
    for package in PACKAGES {
        let sim = Simulator::new();
        let (c, s) = pair(&sim, package);
        // Replay: the checksum depends on the expected SeqNum, so it fails first (research §5) [I].
        let m = signed(&sim, c, b"once");
        assert_eq!(sim.verify_signature(s, &mut m.clone(), 0), Ok(None));
        assert_eq!(sim.verify_signature(s, &mut m.clone(), 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED), "{package}");

        let sim = Simulator::new();
        let (c, s) = pair(&sim, package);
        let m = sealed(&sim, c, b"once");
        assert_eq!(sim.decrypt_message(s, &mut m.clone(), 0), Ok(None));
        assert_eq!(sim.decrypt_message(s, &mut m.clone(), 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED), "{package}");

        // Reordered: the second message arrives first.
        let sim = Simulator::new();
        let (c, s) = pair(&sim, package);
        let _first = signed(&sim, c, b"first");
        let mut second = signed(&sim, c, b"second");
        assert_eq!(sim.verify_signature(s, &mut second, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED), "{package}");
        let sim = Simulator::new();
        let (c, s) = pair(&sim, package);
        let _first = sealed(&sim, c, b"first");
        let mut second = sealed(&sim, c, b"second");
        assert_eq!(sim.decrypt_message(s, &mut second, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED), "{package}");
    }
}

#[test]
fn only_the_seq_num_field_changed_is_out_of_sequence() {
    for package in PACKAGES {
        for seal in [false, true] {
            let sim = Simulator::new();
            let (c, s) = pair(&sim, package);
            let mut m = if seal { sealed(&sim, c, b"numbered") } else { signed(&sim, c, b"numbered") };
            m.buffers[0].data[12] ^= 0x05;
            let result = if seal { sim.decrypt_message(s, &mut m, 0) } else { sim.verify_signature(s, &mut m, 0) };
            assert_eq!(result, Err(SecStatus::SEC_E_OUT_OF_SEQUENCE), "{package} seal={seal}");
        }
    }
}

#[test]
fn a_missing_or_short_signature_token_is_invalid_token() {
    for package in PACKAGES {
        let sim = Simulator::new();
        let (c, s) = pair(&sim, package);
        let two_data = || {
            SecBufferDesc::new(vec![
                SecBuffer::new(SecBufferType::DATA, vec![0; 16]),
                SecBuffer::new(SecBufferType::DATA, b"hello"),
            ])
        };
        let short =
            || SecBufferDesc::new(vec![SecBuffer::token(vec![0; 15]), SecBuffer::new(SecBufferType::DATA, b"hi")]);
        for mut m in [two_data(), short()] {
            let before = m.clone();
            assert_eq!(sim.make_signature(c, 0, &mut m, 0), SecStatus::SEC_E_INVALID_TOKEN, "{package}");
            assert_eq!(sim.encrypt_message(c, 0, &mut m, 0), SecStatus::SEC_E_INVALID_TOKEN, "{package}");
            assert_eq!(m, before, "{package}: nothing encrypted or written");
            assert_eq!(sim.verify_signature(s, &mut m, 0), Err(SecStatus::SEC_E_INVALID_TOKEN), "{package}");
            assert_eq!(sim.decrypt_message(s, &mut m, 0), Err(SecStatus::SEC_E_INVALID_TOKEN), "{package}");
        }
        // The refused calls consumed no sequence number: the next message goes through.
        let mut m = signed(&sim, c, b"after");
        assert_eq!(sim.verify_signature(s, &mut m, 0), Ok(None), "{package}");
        let mut m = sealed(&sim, c, b"after");
        assert_eq!(sim.decrypt_message(s, &mut m, 0), Ok(None), "{package}");
        // A signature whose Version is not 1.
        let mut m = signed(&sim, c, b"v2");
        m.buffers[0].data[0] = 2;
        assert_eq!(sim.verify_signature(s, &mut m, 0), Err(SecStatus::SEC_E_INVALID_TOKEN), "{package}");
    }
}

#[test]
fn the_token_buffer_may_follow_the_data() {
    // The signature buffer is found by type, in any position (W1 testSignSeal, research §5) [O].
    let sim = Simulator::new();
    let (c, s) = pair(&sim, "NTLM");
    let mut m = SecBufferDesc::new(vec![SecBuffer::new(SecBufferType::DATA, b"abc"), SecBuffer::token(vec![0; 16])]);
    assert_eq!(sim.encrypt_message(c, 0, &mut m, 0), SecStatus::SEC_E_OK);
    assert_ne!(m.buffers[1].data, vec![0; 16]);
    assert_eq!(sim.decrypt_message(s, &mut m, 0), Ok(None));
    assert_eq!(m.buffers[0].data, b"abc");
}

// ---- Buffer types (research §5) ------------------------------------------------------------

#[test]
fn readonly_with_checksum_data_is_not_encrypted_but_is_covered() {
    for package in PACKAGES {
        let sim = Simulator::new();
        let (c, s) = pair(&sim, package);
        let build = || {
            SecBufferDesc::new(vec![
                SecBuffer::new(DATA_RWC, b"Header Test"),
                SecBuffer::new(SecBufferType::DATA, b"Hello, world!"),
                SecBuffer::new(DATA_RWC, b"Trailer"),
                SecBuffer::token(vec![0; 16]),
            ])
        };
        let mut m = build();
        assert_eq!(sim.encrypt_message(c, 0, &mut m, 0), SecStatus::SEC_E_OK);
        assert_eq!(m.buffers[0].data, b"Header Test", "{package}: not encrypted");
        assert_eq!(m.buffers[2].data, b"Trailer");
        assert_ne!(m.buffers[1].data, b"Hello, world!", "{package}: the writable buffer is");
        assert_eq!(sim.decrypt_message(s, &mut m, 0), Ok(None), "{package}");
        assert_eq!(m.buffers[1].data, b"Hello, world!");

        let mut m = build();
        assert_eq!(sim.encrypt_message(c, 0, &mut m, 0), SecStatus::SEC_E_OK);
        m.buffers[0].data[0] = b'h';
        assert_eq!(sim.decrypt_message(s, &mut m, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED), "{package}");

        let mut m = build();
        assert_eq!(sim.make_signature(c, 0, &mut m, 0), SecStatus::SEC_E_OK);
        m.buffers[2].data.push(b'!');
        assert_eq!(sim.verify_signature(s, &mut m, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED), "{package}");
    }
}

#[test]
fn plain_readonly_data_is_covered_with_extended_session_security() {
    // data_parts (context.rs): read-only buffers are never encrypted; with ESS (the default
    // levels) every DATA buffer is signed (NT 5 SspSignSealHelper, MS-NLMP §3.4.6) [I].
    let sim = Simulator::new();
    let (c, s) = pair(&sim, "NTLM");
    let build = || {
        SecBufferDesc::new(vec![
            SecBuffer::token(vec![0; 16]),
            SecBuffer::new(DATA_RO, b"routing header"),
            SecBuffer::new(SecBufferType::DATA, b"body"),
        ])
    };
    let mut m = build();
    assert_eq!(sim.encrypt_message(c, 0, &mut m, 0), SecStatus::SEC_E_OK);
    assert_eq!(m.buffers[1].data, b"routing header");
    assert_eq!(sim.decrypt_message(s, &mut m, 0), Ok(None));
    let mut m = build();
    assert_eq!(sim.encrypt_message(c, 0, &mut m, 0), SecStatus::SEC_E_OK);
    m.buffers[1].data[0] = b'R';
    assert_eq!(sim.decrypt_message(s, &mut m, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED));
}

#[test]
fn without_extended_session_security_readonly_data_is_not_covered() {
    // LmCompatibilityLevel 0: LM + NTLMv1, no ESS. The CRC covers the writable buffers only.
    let sim = Simulator::builder().world(world_with_machine("lm_compatibility_level = 0")).build();
    let (c, s) = pair(&sim, "NTLM");
    for t in [DATA_RO, DATA_RWC] {
        let mut m = SecBufferDesc::new(vec![
            SecBuffer::token(vec![0; 16]),
            SecBuffer::new(t, b"header"),
            SecBuffer::new(SecBufferType::DATA, b"body"),
        ]);
        assert_eq!(sim.encrypt_message(c, 0, &mut m, 0), SecStatus::SEC_E_OK);
        assert_eq!(m.buffers[1].data, b"header");
        m.buffers[1].data[0] = b'H';
        assert_eq!(sim.decrypt_message(s, &mut m, 0), Ok(None), "{t:?}: not covered without ESS");
        assert_eq!(m.buffers[2].data, b"body");
    }
    // The writable buffer still is.
    let mut m = sealed(&sim, c, b"body");
    m.buffers[1].data[0] ^= 0x20;
    assert_eq!(sim.decrypt_message(s, &mut m, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED));
}

#[test]
fn without_extended_session_security_one_rc4_handle_and_one_seq_num_serve_both_directions() {
    // NT 5 msv1_0, Samba and pyspnego keep one RC4 handle and one counter for both directions
    // of a plain NTLMv1 session (research §5) [I]: the server's first signature continues the
    // key stream and the counter of the client's.
    let sim = Simulator::builder().world(world_with_machine("lm_compatibility_level = 0")).build();
    let (isc, asc) = sealing();
    let e = established(&sim, "NTLM", isc, asc);
    let flags = authenticate_flags(&e.legs[2].token);
    assert!(!flags.contains(NegotiateFlags::NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY));
    let key = match sim.query_context_attributes(e.client, ContextAttribute::SessionKey).unwrap() {
        ContextAttributeValue::SessionKey(k) => <[u8; 16]>::try_from(k.as_slice()).unwrap(),
        other => panic!("{other:?}"),
    };
    let mut shared = Rc4Handle::from_seal_key(&sealkey(flags, &key, Mode::Client));
    let mut m = signed(&sim, e.client, b"request");
    assert_eq!(m.buffers[0].data, mac_v1(&mut shared, 0, b"request").signature().to_bytes());
    assert_eq!(sim.verify_signature(e.server, &mut m, 0), Ok(None));
    let mut r = signed(&sim, e.server, b"response");
    assert_eq!(r.buffers[0].data, mac_v1(&mut shared, 1, b"response").signature().to_bytes());
    let mut fresh = Rc4Handle::from_seal_key(&sealkey(flags, &key, Mode::Server));
    assert_ne!(r.buffers[0].data, mac_v1(&mut fresh, 0, b"response").signature().to_bytes());
    assert_eq!(sim.verify_signature(e.client, &mut r, 0), Ok(None));
    // Interleaved sealing goes on in step.
    for i in 0..3u8 {
        let mut a = sealed(&sim, e.client, &[i; 9]);
        assert_eq!(sim.decrypt_message(e.server, &mut a, 0), Ok(None));
        let mut b = sealed(&sim, e.server, &[i; 4]);
        assert_eq!(sim.decrypt_message(e.client, &mut b, 0), Ok(None));
        assert_eq!(b.buffers[1].data, [i; 4]);
    }
}

#[test]
fn decrypt_accepts_a_stream_buffer_and_an_empty_data_buffer() {
    for package in PACKAGES {
        let sim = Simulator::new();
        let (c, s) = pair(&sim, package);
        let m = sealed(&sim, c, b"wrapped for the wire");
        let wire = [m.buffers[0].data.clone(), m.buffers[1].data.clone()].concat();
        let mut stream = SecBufferDesc::new(vec![
            SecBuffer::new(SecBufferType::STREAM, wire.clone()),
            SecBuffer::new(SecBufferType::DATA, Vec::new()),
        ]);
        assert_eq!(sim.decrypt_message(s, &mut stream, 0), Ok(None), "{package}");
        assert_eq!(stream.buffers[1].data, b"wrapped for the wire");
        // A stream shorter than a signature, or a stream beside a token.
        let mut short = SecBufferDesc::new(vec![
            SecBuffer::new(SecBufferType::STREAM, wire[..15].to_vec()),
            SecBuffer::new(SecBufferType::DATA, Vec::new()),
        ]);
        assert_eq!(sim.decrypt_message(s, &mut short, 0), Err(SecStatus::SEC_E_INVALID_TOKEN));
        let mut both = SecBufferDesc::new(vec![
            SecBuffer::new(SecBufferType::STREAM, wire.clone()),
            SecBuffer::token(vec![0; 16]),
            SecBuffer::new(SecBufferType::DATA, Vec::new()),
        ]);
        assert_eq!(sim.decrypt_message(s, &mut both, 0), Err(SecStatus::SEC_E_INVALID_TOKEN));
        // A tampered stream.
        let next = sealed(&sim, c, b"second");
        let mut wire2 = [next.buffers[0].data.clone(), next.buffers[1].data.clone()].concat();
        *wire2.last_mut().unwrap() ^= 1;
        let mut stream = SecBufferDesc::new(vec![
            SecBuffer::new(SecBufferType::STREAM, wire2),
            SecBuffer::new(SecBufferType::DATA, Vec::new()),
        ]);
        assert_eq!(sim.decrypt_message(s, &mut stream, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED), "{package}");
    }
}

#[test]
fn encrypt_message_empties_a_padding_buffer() {
    let sim = Simulator::new();
    let (c, s) = pair(&sim, "NTLM");
    let mut m = SecBufferDesc::new(vec![
        SecBuffer::token(vec![0; 16]),
        SecBuffer::new(SecBufferType::DATA, b"no padding for RC4"),
        SecBuffer::new(SecBufferType::PADDING, vec![0; 16]),
    ]);
    assert_eq!(sim.encrypt_message(c, 0, &mut m, 0), SecStatus::SEC_E_OK);
    assert_eq!(m.buffers[2].buffer_type, SecBufferType::PADDING);
    assert!(m.buffers[2].data.is_empty(), "cbBuffer of the padding set to 0");
    assert_eq!(sim.decrypt_message(s, &mut m, 0), Ok(None));
    assert_eq!(m.buffers[1].data, b"no padding for RC4");
}

// ---- QOP and what was negotiated (research §5) ---------------------------------------------

#[test]
fn wrap_no_encrypt_is_ignored_when_seal_was_negotiated() {
    for package in PACKAGES {
        let sim = Simulator::new();
        let (c, s) = pair(&sim, package);
        let mut m = message(b"secret anyway");
        assert_eq!(sim.encrypt_message(c, SECQOP_WRAP_NO_ENCRYPT, &mut m, 0), SecStatus::SEC_E_OK);
        assert_ne!(m.buffers[1].data, b"secret anyway", "{package}: still sealed (I4, P2) [O]");
        assert_eq!(sim.decrypt_message(s, &mut m, 0), Ok(None));
        assert_eq!(m.buffers[1].data, b"secret anyway");
    }
}

#[test]
fn encrypt_message_without_confidentiality_is_unsupported() {
    for (isc, asc) in [(IscReq::INTEGRITY, AscReq::INTEGRITY), (IscReq::default(), AscReq::default())] {
        let sim = Simulator::new();
        let e = established(&sim, "NTLM", isc, asc);
        for ctx in [e.client, e.server] {
            let mut m = message(b"in clear");
            let before = m.clone();
            assert_eq!(sim.encrypt_message(ctx, 0, &mut m, 0), SecStatus::SEC_E_UNSUPPORTED_FUNCTION, "{isc:?}");
            assert_eq!(m, before, "{isc:?}: the message is left alone");
        }
    }
}

#[test]
fn wrap_no_encrypt_on_a_signing_context_signs_without_sealing() {
    // context.rs protect: without SEAL, SECQOP_WRAP_NO_ENCRYPT asks for a signed,
    // unencrypted wrap [I]; the peer's DecryptMessage checks the signature only.
    let sim = Simulator::new();
    let e = established(&sim, "NTLM", IscReq::INTEGRITY, AscReq::INTEGRITY);
    let mut m = message(b"signed, readable");
    assert_eq!(sim.encrypt_message(e.client, SECQOP_WRAP_NO_ENCRYPT, &mut m, 0), SecStatus::SEC_E_OK);
    assert_eq!(m.buffers[1].data, b"signed, readable");
    assert_ne!(m.buffers[0].data, vec![0; 16]);
    assert_eq!(sim.decrypt_message(e.server, &mut m.clone(), 0), Ok(None));
    let mut m = message(b"signed, readable");
    assert_eq!(sim.encrypt_message(e.client, SECQOP_WRAP_NO_ENCRYPT, &mut m, 0), SecStatus::SEC_E_OK);
    m.buffers[1].data[0] = b'S';
    assert_eq!(sim.decrypt_message(e.server, &mut m, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED));
}

#[test]
fn without_integrity_make_signature_gives_the_dummy_signature() {
    let sim = Simulator::new();
    let e = established(&sim, "NTLM", IscReq::default(), AscReq::default());
    for (from, to) in [(e.client, e.server), (e.server, e.client)] {
        for data in [&b"Hello, world!"[..], b"another"] {
            let mut m = signed(&sim, from, data);
            assert_eq!(m.buffers[0].data, DUMMY, "the same dummy for every message");
            assert_eq!(sim.verify_signature(to, &mut m, 0), Ok(None));
            // It verifies on the sender's own context too (Wine's test_Signature on Windows).
            assert_eq!(sim.verify_signature(from, &mut m, 0), Ok(None));
        }
        let mut m = message(b"Hello, world!");
        m.buffers[0].data = vec![1, 0, 0, 0, 0, 0, 0, 0, 0xe8, 0xc7, 0xaa, 0x26, 0x16, 0x39, 0x07, 0x4e];
        assert_eq!(sim.verify_signature(to, &mut m, 0), Err(SecStatus::SEC_E_MESSAGE_ALTERED));
    }
}

// ---- Incomplete contexts -------------------------------------------------------------------

#[test]
fn per_message_calls_on_incomplete_contexts_are_invalid_handle() {
    for package in PACKAGES {
        let sim = Simulator::new();
        let id = AuthIdentity::unicode("alice", "CONTOSO", "Passw0rd!");
        let c = sim.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::OUTBOUND).identity(id));
        let s = sim.acquire_credentials_handle(AcquireCredentials::new(package, CredentialUse::INBOUND));
        let (c, s) = (c.unwrap().handle, s.unwrap().handle);
        let (isc, asc) = sealing();
        let isc_out = IscOutputs::with_token(4096);
        let first = InitializeSecurityContext::new(c, Some("HTTP/web.contoso.com"), isc);
        assert_eq!(sim.initialize_security_context(first.clone(), &isc_out), SecStatus::SEC_I_CONTINUE_NEEDED);
        let client = isc_out.context();
        let asc_out = AscOutputs::with_token(4096);
        let t1 = SecBufferDesc::new(vec![SecBuffer::token(isc_out.token())]);
        assert_eq!(
            sim.accept_security_context(AcceptSecurityContext::new(s, t1, asc), &asc_out),
            SecStatus::SEC_I_CONTINUE_NEEDED
        );
        let server = asc_out.context();
        if package == "Negotiate" {
            // After ISC #2 the NTLM session exists, but SPNEGO still waits for the mechListMIC.
            isc_out.reset_token(4096);
            let t2 = SecBufferDesc::new(vec![SecBuffer::token(asc_out.token())]);
            assert_eq!(
                sim.initialize_security_context(first.next(client, t2), &isc_out),
                SecStatus::SEC_I_CONTINUE_NEEDED
            );
        }
        for ctx in [client, server] {
            let mut m = message(b"too early");
            assert_eq!(sim.make_signature(ctx, 0, &mut m, 0), SecStatus::SEC_E_INVALID_HANDLE, "{package}");
            assert_eq!(sim.encrypt_message(ctx, 0, &mut m, 0), SecStatus::SEC_E_INVALID_HANDLE, "{package}");
            assert_eq!(sim.verify_signature(ctx, &mut m, 0), Err(SecStatus::SEC_E_INVALID_HANDLE));
            assert_eq!(sim.decrypt_message(ctx, &mut m, 0), Err(SecStatus::SEC_E_INVALID_HANDLE));
            assert_eq!(m, message(b"too early"));
        }
        let mut m = message(b"never issued");
        assert_eq!(sim.make_signature(CtxtHandle::default(), 0, &mut m, 0), SecStatus::SEC_E_INVALID_HANDLE);
        assert_eq!(sim.decrypt_message(CtxtHandle::default(), &mut m, 0), Err(SecStatus::SEC_E_INVALID_HANDLE));
    }
}

// ---- Negotiate after the mechListMIC -------------------------------------------------------

/// The DER of `mechTypes` = { NTLMSSP (1.3.6.1.4.1.311.2.2.10) }: what the mechListMIC covers
/// (RFC 4178 §5).
const NTLM_MECH_LIST: [u8; 14] = [0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];

/// The NegotiateFlags of the AUTHENTICATE_MESSAGE inside a token (MS-NLMP §2.2.1.3).
fn authenticate_flags(token: &[u8]) -> NegotiateFlags {
    let at = token.windows(12).position(|w| w == b"NTLMSSP\0\x03\0\0\0").expect("an AUTHENTICATE inside");
    let f = &token[at + 60..at + 64];
    NegotiateFlags(u32::from_le_bytes([f[0], f[1], f[2], f[3]]))
}

#[test]
fn negotiate_contexts_sign_and_seal_both_ways_after_the_mech_list_mic() {
    let sim = Simulator::new();
    let (isc, asc) = sealing();
    let e = established(&sim, "Negotiate", isc, asc);
    assert_eq!(e.legs.len(), 5, "SPNEGO with mechListMICs");
    for i in 0..3 {
        let text = format!("message {i}");
        let mut m = sealed(&sim, e.client, text.as_bytes());
        assert_eq!(sim.decrypt_message(e.server, &mut m, 0), Ok(None), "client to server {i}");
        let mut m = sealed(&sim, e.server, text.as_bytes());
        assert_eq!(sim.decrypt_message(e.client, &mut m, 0), Ok(None), "server to client {i}");
        assert_eq!(m.buffers[1].data, text.as_bytes());
        let mut m = signed(&sim, e.client, text.as_bytes());
        assert_eq!(sim.verify_signature(e.server, &mut m, 0), Ok(None));
        let mut m = signed(&sim, e.server, text.as_bytes());
        assert_eq!(sim.verify_signature(e.client, &mut m, 0), Ok(None));
    }
}

#[test]
fn the_first_sealed_message_after_the_mech_list_mic_uses_a_reset_rc4_handle() {
    // Model each side independently from its session key and flags: the mechListMIC is signed
    // (SeqNum 0), the outbound RC4 handle is re-initialised, then the first message is sealed
    // (dotnet/runtime#99909, pyspnego, research §1.2) [I].
    let sim = Simulator::new();
    let (isc, asc) = sealing();
    let e = established(&sim, "Negotiate", isc, asc);
    let flags = authenticate_flags(&e.legs[2].token);
    let key = match sim.query_context_attributes(e.client, ContextAttribute::SessionKey).unwrap() {
        ContextAttributeValue::SessionKey(k) => <[u8; 16]>::try_from(k.as_slice()).unwrap(),
        other => panic!("{other:?}"),
    };
    for (ctx, mode) in [(e.client, Mode::Client), (e.server, Mode::Server)] {
        let plain = b"first application message";
        let m = sealed(&sim, ctx, plain);
        let model = |reset: bool| {
            let mut ss = SessionSecurity::new(flags, &key, mode);
            ss.sign(&NTLM_MECH_LIST);
            if reset {
                ss.reset_outbound_cipher();
            }
            let mut data = plain.to_vec();
            let signature = ss.seal(&mut data);
            (signature.to_vec(), data)
        };
        let got = (m.buffers[0].data.clone(), m.buffers[1].data.clone());
        assert_eq!(got, model(true), "{mode:?}: reset after the mechListMIC");
        assert_ne!(got, model(false), "{mode:?}: the model tells the two apart");
        assert_eq!(seq_num(&got.0), 1, "{mode:?}: SeqNum 0 went to the mechListMIC");
    }
}

#[test]
fn raw_ntlm_under_negotiate_has_no_mech_list_mic_and_starts_at_seq_num_0() {
    let text = std::fs::read_to_string(fixtures_dir().join("worlds/default.toml")).unwrap();
    let world = World::from_toml_str(&text.replacen("joined = true", "joined = false", 1), "wg.toml").unwrap();
    let sim = Simulator::builder().world(Arc::new(world)).build();
    let (isc, asc) = sealing();
    let e = established(&sim, "Negotiate", isc, asc);
    assert_eq!(e.legs.len(), 4);
    let m = sealed(&sim, e.client, b"first");
    assert_eq!(seq_num(&m.buffers[0].data), 0);
    let mut m = m;
    assert_eq!(sim.decrypt_message(e.server, &mut m, 0), Ok(None));
    let mut r = sealed(&sim, e.server, b"reply");
    assert_eq!(sim.decrypt_message(e.client, &mut r, 0), Ok(None));
    assert_eq!(r.buffers[1].data, b"reply");
}

#[test]
fn a_signature_with_a_bad_version_is_invalid_token_and_leaves_the_context_in_step() {
    let sim = Simulator::new();
    let (client, server) = pair(&sim, "NTLM");
    let genuine = signed(&sim, client, b"first");
    let mut bad = genuine.clone();
    bad.buffers[0].data[0] = 2;
    assert_eq!(sim.verify_signature(server, &mut bad, 0), Err(SecStatus::SEC_E_INVALID_TOKEN));
    let mut genuine = genuine;
    assert_eq!(sim.verify_signature(server, &mut genuine, 0), Ok(None), "nothing moved on the bad one");
    // The same for a sealed message: the data is not decrypted by the refused call.
    let sealed_ok = sealed(&sim, client, b"second");
    let mut bad = sealed_ok.clone();
    bad.buffers[0].data[0] = 7;
    assert_eq!(sim.decrypt_message(server, &mut bad, 0), Err(SecStatus::SEC_E_INVALID_TOKEN));
    let mut sealed_ok = sealed_ok;
    assert_eq!(sim.decrypt_message(server, &mut sealed_ok, 0), Ok(None));
    assert_eq!(sealed_ok.buffers[1].data, b"second");
}
