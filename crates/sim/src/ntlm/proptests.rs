//! Property tests: no decoder panics on random or mutated bytes, and encode → decode is the
//! identity.

use proptest::collection::vec;
use proptest::prelude::*;

use super::NegotiateFlags as F;
use super::av_pairs::{AvId, AvPair, AvPairs, AvPairsRef, SingleHostData};
use super::messages::*;

const SAMPLES: &str = include_str!("../../../../fixtures/vectors/ms-nlmp-4.2.toml");

/// The six §4.2 sample messages and the §4.2.4 AV_PAIR list.
fn samples() -> Vec<Vec<u8>> {
    let t: toml::Table = SAMPLES.parse().expect("valid TOML");
    let paths = [
        ("v1", "challenge_message"),
        ("v1", "authenticate_message"),
        ("ess", "challenge_message"),
        ("ess", "authenticate_message"),
        ("v2", "challenge_message"),
        ("v2", "authenticate_message"),
        ("v2", "target_info"),
    ];
    paths
        .iter()
        .map(|(g, n)| {
            let s = t[*g][*n]["hex"].as_str().expect("hex");
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
        })
        .collect()
}

/// Runs every decoder; only a panic fails.
fn decode_all(bytes: &[u8]) {
    let _ = NegotiateMessage::decode(bytes);
    let _ = ChallengeMessage::decode(bytes);
    let _ = AuthenticateMessage::decode(bytes);
    let _ = AvPairs::decode(bytes);
    let _ = AvPairs::decode_prefix(bytes);
    let _ = Ntlmv2Response::decode(bytes);
    if let Ok(m) = AuthenticateMessage::decode(bytes) {
        let _ = Ntlmv2Response::decode(&m.nt_challenge_response);
        let _ = decode_text(&m.user_name, m.flags, "UserName");
    }
}

/// The borrowed readers the handshakes use accept and refuse exactly what the owned decoders
/// do, with the same errors, and read the same values.
fn borrowed_readers_agree(bytes: &[u8]) -> Result<(), TestCaseError> {
    let owned = AvPairs::decode(bytes);
    let borrowed = AvPairsRef::read(bytes);
    prop_assert_eq!(borrowed.map(|r| r.to_pairs()), owned.clone().map(Ok));
    if let (Ok(r), Ok(o)) = (AvPairsRef::read(bytes), &owned) {
        prop_assert_eq!(r.timestamp(), o.timestamp());
        prop_assert_eq!(r.flags(), o.flags());
        prop_assert_eq!(r.iter().count(), o.0.len());
    }
    let prefix = AvPairs::decode_prefix(bytes);
    let borrowed_prefix = AvPairsRef::read_prefix(bytes);
    prop_assert_eq!(
        borrowed_prefix.map(|(r, rest)| (r.to_pairs(), rest)),
        prefix.map(|(pairs, rest)| (Ok(pairs), rest))
    );
    let challenge = ChallengeMessage::decode(bytes);
    prop_assert_eq!(ChallengeRef::decode(bytes).err(), challenge.clone().err());
    if let (Ok(r), Ok(c)) = (ChallengeRef::decode(bytes), challenge) {
        prop_assert_eq!(r.av_pairs().map(|p| p.to_pairs()), c.target_info.map(Ok));
        prop_assert_eq!(r.target_name, &c.target_name[..]);
    }
    let authenticate = AuthenticateMessage::decode(bytes);
    prop_assert_eq!(
        AuthenticateRef::decode(bytes),
        authenticate.as_ref().map(AuthenticateMessage::borrowed).map_err(Clone::clone)
    );
    let v2 = Ntlmv2Response::decode(bytes);
    prop_assert_eq!(ntlmv2_response_pairs(bytes).map(|p| p.to_pairs()), v2.map(|r| Ok(r.av_pairs)));
    Ok(())
}

#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let n = bytes.len().max(1);
        match *m {
            Mutation::Set(i, b) if !bytes.is_empty() => bytes[i % n] = b,
            Mutation::Truncate(i) => bytes.truncate(i % n),
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Remove(i) if !bytes.is_empty() => {
                bytes.remove(i % n);
            }
            _ => {}
        }
    }
    bytes
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn av_pair() -> impl Strategy<Value = AvPair> {
    prop_oneof![
        text().prop_map(AvPair::NbComputerName),
        text().prop_map(AvPair::NbDomainName),
        text().prop_map(AvPair::DnsComputerName),
        text().prop_map(AvPair::DnsDomainName),
        text().prop_map(AvPair::DnsTreeName),
        text().prop_map(AvPair::TargetName),
        any::<u32>().prop_map(AvPair::Flags),
        any::<u64>().prop_map(AvPair::Timestamp),
        any::<[u8; 16]>().prop_map(AvPair::ChannelBindings),
        (any::<u32>(), any::<u32>(), any::<[u8; 8]>(), any::<[u8; 32]>()).prop_map(
            |(size, z4, custom_data, machine_id)| {
                AvPair::SingleHost(SingleHostData { size, z4, custom_data, machine_id })
            }
        ),
        (11u16.., vec(any::<u8>(), 0..16)).prop_map(|(id, value)| AvPair::Unknown { id: AvId(id), value }),
    ]
}

fn av_pairs() -> impl Strategy<Value = AvPairs> {
    vec(av_pair(), 0..6).prop_map(AvPairs)
}

fn version() -> impl Strategy<Value = Version> {
    (any::<u8>(), any::<u8>(), any::<u16>(), any::<[u8; 3]>(), any::<u8>()).prop_map(|(a, b, build, reserved, rev)| {
        Version {
            product_major_version: a,
            product_minor_version: b,
            product_build: build,
            reserved,
            ntlm_revision_current: rev,
        }
    })
}

/// Flags and a version that agree: `Some` exactly when `NTLMSSP_NEGOTIATE_VERSION` is set.
fn flags_and_version() -> impl Strategy<Value = (F, Option<Version>)> {
    (any::<u32>(), proptest::option::of(version())).prop_map(|(bits, version)| {
        let flags = F(bits).without(F::NTLMSSP_NEGOTIATE_VERSION);
        match version {
            Some(_) => (flags.with(F::NTLMSSP_NEGOTIATE_VERSION), version),
            None => (flags, None),
        }
    })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..40)
}

proptest! {
    #[test]
    fn decoders_never_panic_on_random_bytes(data in vec(any::<u8>(), 0..300)) {
        decode_all(&data);
    }

    #[test]
    fn decoders_never_panic_on_random_bytes_after_a_valid_header(ty in 0u32..5, data in vec(any::<u8>(), 0..300)) {
        let mut bytes = NTLMSSP_SIGNATURE.to_vec();
        bytes.extend_from_slice(&ty.to_le_bytes());
        bytes.extend_from_slice(&data);
        decode_all(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_mutated_sample_messages(which in 0usize..7, mutations in vec(mutation(), 1..6)) {
        let sample = samples().swap_remove(which);
        decode_all(&mutate(sample, &mutations));
    }

    #[test]
    fn av_pairs_round_trip(pairs in av_pairs()) {
        let encoded = pairs.encode();
        prop_assert_eq!(AvPairsRef::read(&encoded).map(|r| r.as_bytes()), Ok(&encoded[..]));
        prop_assert_eq!(AvPairs::decode(&encoded), Ok(pairs));
    }

    #[test]
    fn borrowed_readers_agree_on_random_bytes(data in vec(any::<u8>(), 0..300)) {
        borrowed_readers_agree(&data)?;
    }

    #[test]
    fn borrowed_readers_agree_on_mutated_samples(which in 0usize..7, mutations in vec(mutation(), 1..6)) {
        let sample = samples().swap_remove(which);
        borrowed_readers_agree(&mutate(sample, &mutations))?;
    }

    #[test]
    fn borrowed_readers_agree_on_encoded_lists(pairs in av_pairs(), cut in any::<usize>()) {
        let encoded = pairs.encode();
        borrowed_readers_agree(&encoded)?;
        // Cut short, and with a byte after MsvAvEOL.
        borrowed_readers_agree(&encoded[..cut % (encoded.len() + 1)])?;
        let mut longer = encoded.clone();
        longer.push(0);
        borrowed_readers_agree(&longer)?;
    }

    #[test]
    fn negotiate_message_round_trips((flags, version) in flags_and_version(), domain_name in bytes(), workstation in bytes()) {
        let m = NegotiateMessage { flags, domain_name, workstation, version };
        let encoded = m.encode().expect("small fields");
        prop_assert_eq!(NegotiateMessage::decode(&encoded), Ok(m));
    }

    #[test]
    fn challenge_message_round_trips(
        (flags, version) in flags_and_version(),
        target_name in bytes(),
        server_challenge in any::<[u8; 8]>(),
        reserved in any::<[u8; 8]>(),
        target_info in proptest::option::of(av_pairs()),
    ) {
        let m = ChallengeMessage { flags, target_name, server_challenge, reserved, target_info, version };
        let encoded = m.encode().expect("small fields");
        prop_assert_eq!(ChallengeMessage::decode(&encoded), Ok(m));
    }

    #[test]
    fn authenticate_message_round_trips(
        (flags, version) in flags_and_version(),
        fields in (bytes(), bytes(), bytes(), bytes(), bytes(), bytes()),
        mic in proptest::option::of(any::<[u8; 16]>()),
    ) {
        let (lm, nt, domain_name, user_name, workstation, key) = fields;
        let m = AuthenticateMessage {
            flags,
            lm_challenge_response: lm,
            nt_challenge_response: nt,
            domain_name,
            user_name,
            workstation,
            encrypted_random_session_key: key,
            version,
            mic,
        };
        let encoded = m.encode().expect("small fields");
        prop_assert_eq!(AuthenticateMessage::decode(&encoded), Ok(m));
    }
}

#[test]
fn borrowed_readers_refuse_an_unpaired_surrogate_as_the_decoder_does() {
    // MsvAvNbComputerName = "A" then a lone high surrogate (0xD800), then MsvAvEOL.
    let list = [1, 0, 4, 0, b'A', 0, 0x00, 0xd8, 0, 0, 0, 0];
    let expected =
        Err(super::Error::BadAvPair { id: AvId::MsvAvNbComputerName, len: 4, reason: "value is not UTF-16LE" });
    assert_eq!(AvPairs::decode(&list), expected);
    assert_eq!(AvPairsRef::read(&list).map(|r| r.as_bytes().len()), expected.map(|_: AvPairs| 0));
    // A surrogate pair (U+10000) is well-formed.
    let list = [1, 0, 4, 0, 0x00, 0xd8, 0x00, 0xdc, 0, 0, 0, 0];
    assert_eq!(AvPairsRef::read(&list).and_then(|r| r.to_pairs()), AvPairs::decode(&list));
    assert_eq!(AvPairs::decode(&list), Ok(AvPairs(vec![AvPair::NbComputerName("\u{10000}".into())])));
}

/// The values each AV_PAIR check refuses, pinned (the owned decoder and the borrowed reader
/// share `check_value`, so agreement alone would not catch a changed error).
#[test]
fn av_pair_value_errors_are_pinned() {
    let cases: [(u16, &[u8], &str); 7] = [
        (0x0001, &[0x41], "value is not UTF-16LE"),
        (0x0009, &[0x00, 0xdc], "value is not UTF-16LE"),
        (0x0006, &[0; 3], "MsvAvFlags needs 4 bytes"),
        (0x0007, &[0; 7], "MsvAvTimestamp needs 8 bytes"),
        (0x000a, &[0; 15], "MsvAvChannelBindings needs 16 bytes"),
        (0x0008, &[0; 47], "MsvAvSingleHost needs 48 bytes"),
        (0x0000, &[0; 2], "MsvAvEOL must have AvLen 0"),
    ];
    for (id, value, reason) in cases {
        let mut list = id.to_le_bytes().to_vec();
        list.extend_from_slice(&(value.len() as u16).to_le_bytes());
        list.extend_from_slice(value);
        list.extend_from_slice(&[0, 0, 0, 0]);
        let expected = super::Error::BadAvPair { id: AvId(id), len: value.len() as u16, reason };
        assert_eq!(AvPairs::decode(&list), Err(expected.clone()), "AvPairs::decode, AvId {id:#06x}");
        assert_eq!(AvPairsRef::read(&list).err(), Some(expected), "AvPairsRef::read, AvId {id:#06x}");
    }
}
