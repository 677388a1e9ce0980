//! Tests: fixed vectors from independent implementations and captures
//! (`fixtures/vectors/spnego/*.toml`), error cases, and property tests.

use proptest::prelude::*;
use serde::Deserialize;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

fn oid(dotted: &str) -> Oid {
    let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().expect("arc")).collect();
    Oid::from_arcs(&arcs).expect("valid OID")
}

// ---- vectors ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorFile {
    vector: Vec<Vector>,
    #[serde(default)]
    mech_type_list: Vec<MechListVector>,
}

/// One token and the fields it must decode to. Absent expectations are not checked, except
/// that `kind` and `framed` always are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    source: String,
    #[allow(dead_code)]
    note: Option<String>,
    hex: String,
    /// "init", "init2" or "resp".
    kind: String,
    framed: bool,
    mech_types: Option<Vec<String>>,
    req_flags_hex: Option<String>,
    mech_token_len: Option<usize>,
    mech_token_hex: Option<String>,
    mech_token_prefix_hex: Option<String>,
    hint_name: Option<String>,
    hint_address: Option<String>,
    mech_list_mic_hex: Option<String>,
    neg_state: Option<u8>,
    supported_mech: Option<String>,
    response_token_len: Option<usize>,
    response_token_hex: Option<String>,
    response_token_prefix_hex: Option<String>,
    /// Fields that must be absent: "mechToken", "mechListMIC", "reqFlags", "negState", ...
    #[serde(default)]
    absent: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MechListVector {
    source: String,
    mechs: Vec<String>,
    hex: String,
}

fn vector_files() -> Vec<(String, VectorFile)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/vectors/spnego");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures/vectors/spnego exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable vector file");
            let parsed = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), parsed)
        })
        .collect()
}

fn check_bytes(
    label: &str,
    field: &str,
    got: Option<&[u8]>,
    len: Option<usize>,
    exact: Option<&str>,
    prefix: Option<&str>,
) {
    if let Some(len) = len {
        assert_eq!(got.map(<[u8]>::len), Some(len), "{label}: {field} length");
    }
    if let Some(exact) = exact {
        assert_eq!(got, Some(&hex(exact)[..]), "{label}: {field}");
    }
    if let Some(prefix) = prefix {
        assert!(got.is_some_and(|g| g.starts_with(&hex(prefix))), "{label}: {field} prefix");
    }
}

fn check_absent(label: &str, v: &Vector, field: &str, present: bool) {
    if v.absent.iter().any(|a| a == field) {
        assert!(!present, "{label}: {field} should be absent");
    }
}

fn check_vector(label: &str, v: &Vector) {
    let bytes = hex(&v.hex);
    let decoded = decode(&bytes).unwrap_or_else(|e| panic!("{label}: does not decode: {e}"));
    assert_eq!(decoded.framing == Framing::InitialContextToken, v.framed, "{label}: framing");
    assert_eq!(decoded.encode(), bytes, "{label}: does not re-encode byte for byte");
    let mechs = v.mech_types.as_ref().map(|m| m.iter().map(|s| oid(s)).collect::<Vec<_>>());
    let (mech_types, req_flags, mech_token, mic, hints) = match (&decoded.token, v.kind.as_str()) {
        (NegotiationToken::Init(t), "init") => {
            (Some(&t.mech_types), &t.req_flags, &t.mech_token, &t.mech_list_mic, None)
        }
        (NegotiationToken::Init2(t), "init2") => {
            (t.mech_types.as_ref(), &t.req_flags, &t.mech_token, &t.mech_list_mic, t.neg_hints.as_ref())
        }
        (NegotiationToken::Resp(t), "resp") => {
            check_absent(label, v, "negState", t.neg_state.is_some());
            check_absent(label, v, "supportedMech", t.supported_mech.is_some());
            check_absent(label, v, "responseToken", t.response_token.is_some());
            check_absent(label, v, "mechListMIC", t.mech_list_mic.is_some());
            if let Some(state) = v.neg_state {
                assert_eq!(t.neg_state.map(NegState::value), Some(state), "{label}: negState");
            }
            if let Some(mech) = &v.supported_mech {
                assert_eq!(t.supported_mech.as_ref().map(ToString::to_string).as_deref(), Some(mech.as_str()));
            }
            check_bytes(
                label,
                "responseToken",
                t.response_token.as_deref(),
                v.response_token_len,
                v.response_token_hex.as_deref(),
                v.response_token_prefix_hex.as_deref(),
            );
            if let Some(m) = &v.mech_list_mic_hex {
                assert_eq!(t.mech_list_mic.as_deref(), Some(&hex(m)[..]), "{label}: mechListMIC");
            }
            return;
        }
        (other, kind) => panic!("{label}: expected {kind}, decoded {other:?}"),
    };
    // Checks shared by NegTokenInit and NegTokenInit2.
    if let Some(mechs) = &mechs {
        assert_eq!(mech_types, Some(mechs), "{label}: mechTypes");
        assert_eq!(
            mech_type_list_der(mechs),
            bytes_of_mech_list(&bytes),
            "{label}: mech_type_list_der differs from the bytes on the wire"
        );
    }
    check_absent(label, v, "reqFlags", req_flags.is_some());
    check_absent(label, v, "mechToken", mech_token.is_some());
    check_absent(label, v, "mechListMIC", mic.is_some());
    check_absent(label, v, "negHints", hints.is_some());
    if let Some(flags) = &v.req_flags_hex {
        let f = req_flags.as_ref().expect("reqFlags present");
        let mut wire = vec![f.unused_bits()];
        wire.extend_from_slice(f.bytes());
        assert_eq!(wire, hex(flags), "{label}: reqFlags");
    }
    check_bytes(
        label,
        "mechToken",
        mech_token.as_deref(),
        v.mech_token_len,
        v.mech_token_hex.as_deref(),
        v.mech_token_prefix_hex.as_deref(),
    );
    if let Some(m) = &v.mech_list_mic_hex {
        assert_eq!(mic.as_deref(), Some(&hex(m)[..]), "{label}: mechListMIC");
    }
    if let Some(name) = &v.hint_name {
        assert_eq!(hints.and_then(|h| h.hint_name.as_deref()), Some(name.as_bytes()), "{label}: hintName");
    }
    if let Some(addr) = &v.hint_address {
        assert_eq!(hints.and_then(|h| h.hint_address.as_deref()), Some(addr.as_bytes()), "{label}: hintAddress");
    }
}

/// The `MechTypeList` bytes exactly as they appear on the wire: the first `30 ..` after the
/// `a0` of `mechTypes`, found by re-parsing with the module's own reader.
fn bytes_of_mech_list(token: &[u8]) -> Vec<u8> {
    let root = der::parse(token).expect("parses");
    let negotiation = if root.tag == 0x60 { root.children().nth(1).expect("inner token") } else { root };
    let seq = negotiation.children().next().expect("SEQUENCE");
    let mech_types = seq.children().next().expect("mechTypes");
    assert_eq!(mech_types.tag, 0xa0);
    mech_types.content.to_vec()
}

#[test]
fn every_vector_decodes_to_its_fields_and_reencodes_byte_for_byte() {
    let files = vector_files();
    let mut count = 0;
    for (path, file) in &files {
        for v in &file.vector {
            assert!(!v.source.is_empty(), "{path}: {}: no source", v.name);
            check_vector(&format!("{path}: {}", v.name), v);
            count += 1;
        }
    }
    assert!(count >= 8, "expected the vector files to hold at least 8 tokens, found {count}");
}

#[test]
fn mech_type_list_vectors_match() {
    let mut count = 0;
    for (path, file) in vector_files() {
        for v in &file.mech_type_list {
            assert!(!v.source.is_empty());
            let mechs: Vec<Oid> = v.mechs.iter().map(|s| oid(s)).collect();
            assert_eq!(mech_type_list_der(&mechs), hex(&v.hex), "{path}: {:?}", v.mechs);
            count += 1;
        }
    }
    assert!(count >= 2);
}

#[test]
fn every_vector_survives_every_truncation_with_an_error() {
    for (_, file) in vector_files() {
        for v in &file.vector {
            let bytes = hex(&v.hex);
            for cut in 0..bytes.len() {
                assert!(decode(&bytes[..cut]).is_err(), "{}: prefix of {cut} bytes decoded", v.name);
            }
        }
    }
}

// ---- error cases ----

/// The Windows NegTokenInit2 (pyspnego's `initial_context_token_neg_token_init2`).
const WINDOWS_INIT2: &str = "607606062b0601050502a06c306aa03c303a060a2b06010401823702021e06092a864882f71201020206092a864886f712010202060a2a864886f71201020203060a2b06010401823702020aa32a3028a0261b246e6f745f646566696e65645f696e5f5246433431373840706c656173655f69676e6f7265";

#[test]
fn empty_input_is_truncated() {
    assert_eq!(decode(&[]), Err(Error::Truncated { at: 0, what: "an identifier octet" }));
}

#[test]
fn trailing_byte_after_a_token_is_refused() {
    let mut bytes = hex(WINDOWS_INIT2);
    bytes.push(0);
    assert_eq!(decode(&bytes), Err(Error::TrailingData { at: 120, extra: 1 }));
}

#[test]
fn non_minimal_length_is_refused() {
    // `a1 07 ...` rewritten as `a1 81 07 ...`.
    assert_eq!(decode(&hex("a181073005a0030a0100")), Err(Error::NonMinimalLength { at: 1 }));
}

#[test]
fn indefinite_length_is_refused() {
    assert_eq!(decode(&hex("a1803005a0030a01000000")), Err(Error::IndefiniteLength { at: 1 }));
}

#[test]
fn unknown_neg_state_is_refused() {
    assert_eq!(decode(&hex("a1073005a0030a0104")), Err(Error::UnknownNegState { at: 8, value: Some(4) }));
    assert_eq!(decode(&hex("a1073005a0030a01ff")), Err(Error::UnknownNegState { at: 8, value: Some(-1) }));
}

#[test]
fn non_minimal_enumerated_is_refused() {
    assert_eq!(decode(&hex("a1083006a0040a020001")), Err(Error::BadEnumerated { at: 8 }));
}

#[test]
fn nesting_too_deep_is_refused() {
    // negTokenResp [1] { SEQUENCE { [0] { SEQUENCE { SEQUENCE { ... } } } } }: constructed
    // values nested past the limit, where negState's ENUMERATED belongs.
    let mut inner = der::tlv(0x04, &[]);
    for _ in 0..der::MAX_DEPTH {
        inner = der::tlv(0x30, &inner);
    }
    let token = der::tlv(0xa1, &der::tlv(0x30, &der::tlv(0xa0, &inner)));
    assert!(matches!(decode(&token), Err(Error::TooDeep { limit: der::MAX_DEPTH, .. })));
}

#[test]
fn wrong_tag_for_a_field_is_refused() {
    // negState as INTEGER (02) instead of ENUMERATED (0a).
    assert_eq!(
        decode(&hex("a1073005a003020100")),
        Err(Error::UnexpectedTag { at: 6, expected: "negState ENUMERATED", found: 0x02 })
    );
}

#[test]
fn fields_out_of_order_or_repeated_are_refused() {
    // supportedMech [1] before negState [0].
    let token = hex("a1153013a10c060a2b06010401823702020aa0030a0100");
    assert!(matches!(decode(&token), Err(Error::UnexpectedField { tag: 0xa0, within: "NegTokenResp", .. })));
    let repeated = hex("a10c300aa0030a0100a0030a0100");
    assert!(matches!(decode(&repeated), Err(Error::UnexpectedField { tag: 0xa0, .. })));
}

#[test]
fn another_mechanisms_initial_token_is_not_spnego() {
    // [APPLICATION 0] { 1.2.840.113554.1.2.2, 01 00 } : a raw Kerberos token.
    let token = hex("600f06092a864886f71201020201000000");
    assert_eq!(decode(&token), Err(Error::NotSpnego { mech: KERBEROS }));
}

#[test]
fn framed_neg_token_resp_is_refused() {
    let resp = hex("a1073005a0030a0100");
    let mut content = der::tlv(0x06, SPNEGO.as_der_contents());
    content.extend_from_slice(&resp);
    assert_eq!(decode(&der::tlv(0x60, &content)), Err(Error::FramedResponse));
}

#[test]
fn init_without_mech_types_or_hints_decodes_as_init2() {
    // [0] { SEQUENCE { [2] { OCTET STRING 00 } } }
    let token = hex("a0073005a203040100");
    let decoded = decode(&token).expect("decodes");
    assert_eq!(
        decoded.token,
        NegotiationToken::Init2(NegTokenInit2 { mech_token: Some(vec![0]), ..Default::default() })
    );
}

#[test]
fn bad_bit_strings_are_refused() {
    for contents in ["", "08", "01", "0101", "0381"] {
        let flags = der::tlv(0x03, &hex(contents));
        let seq = [der::tlv(0xa0, &mech_type_list_der(&[NTLMSSP])), der::tlv(0xa1, &flags)].concat();
        let token = der::tlv(0xa0, &der::tlv(0x30, &seq));
        assert!(matches!(decode(&token), Err(Error::BadBitString { .. })), "{contents}");
    }
}

#[test]
fn context_flags_encode_minimally_and_read_back() {
    let flags = ContextFlags::new(&[ContextFlag::MUTUAL, ContextFlag::INTEG]);
    assert_eq!((flags.unused_bits(), flags.bytes()), (1, &[0x42][..]));
    assert!(flags.contains(ContextFlag::MUTUAL) && flags.contains(ContextFlag::INTEG));
    assert!(!flags.contains(ContextFlag::DELEG) && !flags.contains(ContextFlag(40)));
    let deleg = ContextFlags::new(&[ContextFlag::DELEG]);
    assert_eq!((deleg.unused_bits(), deleg.bytes()), (7, &[0x80][..]));
    assert_eq!(ContextFlags::new(&[]).bytes(), &[] as &[u8]);
}

#[test]
fn errors_print_their_offset() {
    let e = decode(&hex("a1073005a0030a0104")).expect_err("unknown state");
    assert_eq!(e.to_string(), "unknown negState 4 at byte 8");
}

// ---- properties ----

fn arb_oid() -> BoxedStrategy<Oid> {
    prop_oneof![
        Just(NTLMSSP),
        Just(KERBEROS),
        Just(MS_KERBEROS),
        Just(NEGOEX),
        (0u64..3, 0u64..40, prop::collection::vec(any::<u64>(), 0..5)).prop_map(|(a, b, rest)| {
            let arcs: Vec<u64> = [a, b].into_iter().chain(rest).collect();
            Oid::from_arcs(&arcs).expect("arcs in range")
        }),
    ]
    .boxed()
}

fn arb_bytes() -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..300).boxed()
}

fn arb_flags() -> BoxedStrategy<ContextFlags> {
    prop::collection::vec(0u8..7, 0..7)
        .prop_map(|bits| ContextFlags::new(&bits.into_iter().map(ContextFlag).collect::<Vec<_>>()))
        .boxed()
}

fn arb_state() -> BoxedStrategy<NegState> {
    prop_oneof![
        Just(NegState::AcceptCompleted),
        Just(NegState::AcceptIncomplete),
        Just(NegState::Reject),
        Just(NegState::RequestMic)
    ]
    .boxed()
}

fn arb_token() -> impl Strategy<Value = SpnegoToken> {
    let mechs = prop::collection::vec(arb_oid(), 0..5);
    let init =
        (mechs.clone(), prop::option::of(arb_flags()), prop::option::of(arb_bytes()), prop::option::of(arb_bytes()))
            .prop_map(|(mech_types, req_flags, mech_token, mech_list_mic)| {
                NegotiationToken::Init(NegTokenInit { mech_types, req_flags, mech_token, mech_list_mic })
            });
    // Always with negHints, so that the bytes cannot also be read as a NegTokenInit.
    let hints = (prop::option::of(arb_bytes()), prop::option::of(arb_bytes()))
        .prop_map(|(hint_name, hint_address)| NegHints { hint_name, hint_address });
    let init2 = (
        prop::option::of(mechs),
        prop::option::of(arb_flags()),
        prop::option::of(arb_bytes()),
        hints,
        prop::option::of(arb_bytes()),
    )
        .prop_map(|(mech_types, req_flags, mech_token, hints, mech_list_mic)| {
            NegotiationToken::Init2(NegTokenInit2 {
                mech_types,
                req_flags,
                mech_token,
                neg_hints: Some(hints),
                mech_list_mic,
            })
        });
    let resp = (
        prop::option::of(arb_state()),
        prop::option::of(arb_oid()),
        prop::option::of(arb_bytes()),
        prop::option::of(arb_bytes()),
    )
        .prop_map(|(neg_state, supported_mech, response_token, mech_list_mic)| {
            NegotiationToken::Resp(NegTokenResp { neg_state, supported_mech, response_token, mech_list_mic })
        });
    prop_oneof![
        prop_oneof![init.clone(), init2.clone()].prop_map(SpnegoToken::initial),
        prop_oneof![init, init2, resp].prop_map(SpnegoToken::bare),
    ]
}

/// Every vector's bytes, for mutation.
fn corpus() -> Vec<Vec<u8>> {
    vector_files().iter().flat_map(|(_, f)| f.vector.iter().map(|v| hex(&v.hex))).collect()
}

proptest! {
    #[test]
    fn random_bytes_never_panic_and_reencode_when_they_decode(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(token) = decode(&bytes) {
            prop_assert_eq!(token.encode(), bytes);
        }
    }

    #[test]
    fn framed_random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256), head in 0usize..4) {
        // Random bytes behind a plausible prefix reach deeper into the schema.
        let prefixes: [&[u8]; 4] = [&[0x60], &[0xa0], &[0xa1], &[0x60, 0x81]];
        let mut bytes = prefixes[head].to_vec();
        bytes.extend_from_slice(&body);
        if let Ok(token) = decode(&bytes) {
            prop_assert_eq!(token.encode(), bytes);
        }
    }

    #[test]
    fn mutated_vectors_never_panic_and_reencode_when_they_decode(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let corpus = corpus();
        let mut bytes = corpus[pick.index(corpus.len())].clone();
        for (at, value, op) in edits {
            let i = at.index(bytes.len().max(1));
            match op {
                0 if !bytes.is_empty() => bytes[i] = value,
                1 => bytes.insert(i.min(bytes.len()), value),
                _ if !bytes.is_empty() => { bytes.remove(i); }
                _ => {}
            }
        }
        if let Ok(token) = decode(&bytes) {
            prop_assert_eq!(token.encode(), bytes);
        }
    }

    #[test]
    fn encode_then_decode_gives_the_token_back(token in arb_token()) {
        let bytes = token.encode();
        prop_assert_eq!(decode(&bytes), Ok(token));
    }

    #[test]
    fn mech_type_list_der_is_the_wire_form_of_mech_types(mechs in prop::collection::vec(arb_oid(), 0..6)) {
        let init = NegTokenInit { mech_types: mechs.clone(), ..Default::default() };
        let bytes = SpnegoToken::initial(NegotiationToken::Init(init)).encode();
        prop_assert_eq!(bytes_of_mech_list(&bytes), mech_type_list_der(&mechs));
    }
}
