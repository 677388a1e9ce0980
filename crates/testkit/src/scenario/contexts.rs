//! Scenario steps for the security-context calls: `InitializeSecurityContext`,
//! `AcceptSecurityContext`, their async forms, `DeleteSecurityContext`,
//! `QueryContextAttributesW`, `EncryptMessage` / `DecryptMessage`, and token checks.
//!
//! Tokens and contexts are named in the scenario: a step's `output = "t1"` names the token the
//! call writes, a later step's `input = "t1"` passes it on; `context = "client"` names the
//! `CtxtHandle` variable (`phContext` in, `phNewContext` out). Async calls write their outputs
//! at completion, so a token is read when a later step uses it, not when the call is queued.

use sspi_emu::{
    AcceptSecurityContext, AscOutputs, AscReq, Backend, ContextAttribute, ContextAttributeValue, CtxtHandle,
    InitializeSecurityContext, IscOutputs, IscReq, Out, SecBuffer, SecBufferDesc, SecBufferType, SecStatus,
};

use super::{Runner, Step};

/// The default output token buffer: NTLM's `cbMaxToken` on current Windows.
const DEFAULT_CAPACITY: usize = 2888;

/// Where a named token comes from: a call's `pOutput`, read when used.
#[derive(Clone)]
pub(super) struct TokenSource(Out<SecBufferDesc>);

impl TokenSource {
    /// The token: the first `SECBUFFER_TOKEN`, else the first buffer (callers read
    /// `pBuffers[0]`; Wine's NTLM types its CHALLENGE `SECBUFFER_DATA`).
    fn bytes(&self) -> Vec<u8> {
        self.0.with(|d| {
            d.find(SecBufferType::TOKEN).or_else(|| d.buffers.first()).map(|b| b.data.clone()).unwrap_or_default()
        })
    }
}

/// The kind part of a description (`NTLM NEGOTIATE_MESSAGE`), without sizes, which differ
/// between implementations.
fn kind_of(description: &str) -> &str {
    match description.split_once('(') {
        Some((_, rest)) => rest.trim_end_matches(')'),
        None => description,
    }
}

/// A short description of a token for the transcript.
fn describe(token: &[u8]) -> String {
    let kind = match token {
        [] => return "no token".into(),
        t if t.iter().all(|&b| b == 0) => return format!("buffer not written ({} zero bytes)", t.len()),
        [b'N', b'T', b'L', b'M', b'S', b'S', b'P', 0, t, ..] => match t {
            1 => "NTLM NEGOTIATE_MESSAGE",
            2 => "NTLM CHALLENGE_MESSAGE",
            3 => "NTLM AUTHENTICATE_MESSAGE",
            _ => "NTLM message",
        },
        [0x60, ..] => "SPNEGO NegTokenInit",
        [0xa1, ..] => "SPNEGO NegTokenResp",
        [0xa0, ..] => "SPNEGO NegTokenInit (bare)",
        _ => "unrecognised bytes",
    };
    format!("token {} B ({kind})", token.len())
}

fn flag_names<T: Copy>(names: &[String], table: &[(T, &'static str)], prefix: &str) -> Result<Vec<T>, String> {
    names
        .iter()
        .map(|n| {
            table
                .iter()
                .find(|(_, full)| full.strip_prefix(prefix) == Some(n.as_str()))
                .map(|(f, _)| *f)
                .ok_or_else(|| format!("unknown flag `{n}` (names are without the `{prefix}` prefix)"))
        })
        .collect()
}

impl Runner<'_> {
    fn sec_slot(&mut self, step: &Step) -> Result<(String, Out<CtxtHandle>), String> {
        let name = step.context.clone().ok_or("needs `context`")?;
        let slot = self.sec.entry(name.clone()).or_insert_with(|| Out::new(CtxtHandle::default())).clone();
        Ok((name, slot))
    }

    fn input_desc(&self, step: &Step) -> Result<Option<SecBufferDesc>, String> {
        let Some(name) = &step.input else { return Ok(None) };
        let mut token =
            self.tokens.get(name).map(TokenSource::bytes).ok_or_else(|| format!("no token named `{name}`"))?;
        // `tamper`: the token's first byte changes (the NTLM signature or the DER tag).
        if step.tamper
            && let Some(b) = token.first_mut()
        {
            *b ^= 0x5a;
        }
        Ok(Some(SecBufferDesc::new(vec![SecBuffer::token(token)])))
    }

    fn output_slot(&mut self, step: &Step) -> Out<SecBufferDesc> {
        // A token buffer is at most 64 KiB here (cbMaxToken is 48,256 for Negotiate): a larger
        // `capacity` in a scenario is clamped rather than allocated.
        let capacity =
            step.capacity.map_or(DEFAULT_CAPACITY, |c| usize::try_from(c).unwrap_or(usize::MAX).min(1 << 16));
        let out = Out::new(SecBufferDesc::new(vec![SecBuffer::new(SecBufferType::TOKEN, vec![0; capacity])]));
        if let Some(name) = &step.output {
            self.tokens.insert(name.clone(), TokenSource(out.clone()));
        }
        out
    }

    /// Runs a context step; `None` when `call` is not one.
    pub(super) fn context_step(&mut self, call: &str, step: &Step) -> Option<Result<(), String>> {
        let b = self.h.backend;
        Some(match call {
            "InitializeSecurityContextW"
            | "InitializeSecurityContextA"
            | "SspiInitializeSecurityContextAsyncW"
            | "SspiInitializeSecurityContextAsyncA" => self.isc(b, call, step),
            "AcceptSecurityContext" | "SspiAcceptSecurityContextAsync" => self.asc(b, call, step),
            "DeleteSecurityContext" | "SspiDeleteSecurityContextAsync" => (|| {
                let (name, slot) = self.sec_slot(step)?;
                let handle = slot.get();
                let got = if call == "DeleteSecurityContext" {
                    b.delete_security_context(handle)
                } else {
                    b.sspi_delete_security_context_async(self.ctx(step)?, handle)
                };
                self.expect_status(step, got, &format!("{call}(`{name}` = {:?})", handle.0))
            })(),
            "QueryContextAttributesW" => (|| {
                let (name, slot) = self.sec_slot(step)?;
                let attribute = match step.attribute.as_deref().ok_or("needs `attribute`")? {
                    "SIZES" => ContextAttribute::Sizes,
                    "NAMES" => ContextAttribute::Names,
                    "LIFESPAN" => ContextAttribute::Lifespan,
                    "SESSION_KEY" => ContextAttribute::SessionKey,
                    "PACKAGE_INFO" => ContextAttribute::PackageInfo,
                    "NEGOTIATION_INFO" => ContextAttribute::NegotiationInfo,
                    "NATIVE_NAMES" => ContextAttribute::NativeNames,
                    "FLAGS" => ContextAttribute::Flags,
                    other => return Err(format!("unknown attribute `{other}`")),
                };
                let what = format!(
                    "QueryContextAttributesW(`{name}`, SECPKG_ATTR_{})",
                    step.attribute.as_deref().unwrap_or("")
                );
                match b.query_context_attributes(slot.get(), attribute) {
                    Ok(v) => {
                        self.expect_status(step, SecStatus::SEC_E_OK, &what)?;
                        let shown = match &v {
                            ContextAttributeValue::Names(n) => n.clone(),
                            ContextAttributeValue::PackageInfo(p) => p.name.clone(),
                            ContextAttributeValue::NegotiationInfo { package, state } => {
                                format!("{} ({state:?})", package.name)
                            }
                            ContextAttributeValue::SessionKey(k) => format!("{} bytes", k.len()),
                            other => format!("{other:?}"),
                        };
                        self.say(&format!("    = {shown}"));
                        if let Some(want) = &step.names
                            && *want != shown
                        {
                            return Err(format!("expected `{want}`, got `{shown}`"));
                        }
                        Ok(())
                    }
                    Err(s) => self.expect_status(step, s, &what),
                }
            })(),
            "expect_token" => (|| {
                let name = step.output.as_deref().ok_or("needs `output` (the token's name)")?;
                let token =
                    self.tokens.get(name).map(TokenSource::bytes).ok_or_else(|| format!("no token `{name}`"))?;
                let got = describe(&token);
                self.record(step, None, Some(kind_of(&got).to_string()));
                self.say(&format!("check: `{name}` is a {got}"));
                match &step.kind {
                    Some(want) if !got.contains(want.as_str()) => Err(format!("expected {want}, got {got}")),
                    _ => Ok(()),
                }
            })(),
            "EncryptMessage" | "DecryptMessage" => (|| {
                let (name, slot) = self.sec_slot(step)?;
                let message = step.message.clone().ok_or("needs `message`")?;
                if call == "EncryptMessage" {
                    let text = step.text.clone().unwrap_or_default();
                    let mut desc = SecBufferDesc::new(vec![
                        SecBuffer::output_token(16),
                        SecBuffer::new(SecBufferType::DATA, text.clone().into_bytes()),
                    ]);
                    let got = b.encrypt_message(slot.get(), 0, &mut desc, 0);
                    self.messages.insert(message.clone(), desc);
                    self.expect_status(step, got, &format!("EncryptMessage(`{name}`, {text:?}) -> `{message}`"))
                } else {
                    let mut desc =
                        self.messages.get(&message).cloned().ok_or_else(|| format!("no message `{message}`"))?;
                    if step.tamper
                        && let Some(byte) = desc.buffers.get_mut(1).and_then(|d| d.data.first_mut())
                    {
                        *byte ^= 1;
                    }
                    let got = b.decrypt_message(slot.get(), &mut desc, 0).err().unwrap_or(SecStatus::SEC_E_OK);
                    let text =
                        String::from_utf8_lossy(&desc.buffers.get(1).map(|d| d.data.clone()).unwrap_or_default())
                            .into_owned();
                    self.expect_status(step, got, &format!("DecryptMessage(`{name}`, `{message}`)"))?;
                    if got == SecStatus::SEC_E_OK {
                        self.say(&format!("    plaintext: {text:?}"));
                        if let Some(want) = &step.names
                            && *want != text
                        {
                            return Err(format!("expected plaintext {want:?}, got {text:?}"));
                        }
                    }
                    Ok(())
                }
            })(),
            _ => return None,
        })
    }

    fn isc(&mut self, b: &dyn Backend, call: &str, step: &Step) -> Result<(), String> {
        let flags = flag_names(step.flags.as_deref().unwrap_or_default(), IscReq::NAMED, "ISC_REQ_")?;
        let req = flags.into_iter().fold(IscReq::default(), |a, f| a | f);
        let (name, slot) = self.sec_slot(step)?;
        let mut args = InitializeSecurityContext::new(self.cred(step)?, step.target.as_deref(), req);
        if call.ends_with('A') {
            args = args.ansi();
        }
        let existing = slot.get();
        if existing != CtxtHandle::default() {
            args.context = Some(existing);
        }
        args.input = self.input_desc(step)?;
        let out = IscOutputs {
            new_context: Some(slot.clone()),
            output: Some(self.output_slot(step)),
            context_attr: Out::new(Default::default()),
            expiry: None,
        };
        let what = format!(
            "{call}(`{name}`, target {:?}, {req:?}{})",
            step.target.as_deref().unwrap_or("NULL"),
            step.input.as_deref().map(|i| format!(", input `{i}`")).unwrap_or_default()
        );
        let got = if call.starts_with("Sspi") {
            b.sspi_initialize_security_context_async(self.ctx(step)?, args, &out)
        } else {
            b.initialize_security_context(args, &out)
        };
        self.expect_status(step, got, &what)?;
        if !call.starts_with("Sspi") && !got.is_error() {
            let token = out.token();
            self.say(&format!("    {}", describe(&token)));
        }
        Ok(())
    }

    fn asc(&mut self, b: &dyn Backend, call: &str, step: &Step) -> Result<(), String> {
        let flags = flag_names(step.flags.as_deref().unwrap_or_default(), AscReq::NAMED, "ASC_REQ_")?;
        let req = flags.into_iter().fold(AscReq::default(), |a, f| a | f);
        let (name, slot) = self.sec_slot(step)?;
        let input = self.input_desc(step)?.unwrap_or_default();
        let mut args = AcceptSecurityContext::new(self.cred(step)?, input.clone(), req);
        let existing = slot.get();
        if existing != CtxtHandle::default() {
            args = args.next(existing, input);
        }
        if step.input.is_none() {
            args.input = None;
        }
        let out = AscOutputs {
            new_context: Some(slot.clone()),
            output: Some(self.output_slot(step)),
            context_attr: Out::new(Default::default()),
            expiry: None,
        };
        let what = format!(
            "{call}(`{name}`, {req:?}{})",
            step.input.as_deref().map(|i| format!(", input `{i}`")).unwrap_or_default()
        );
        let got = if call.starts_with("Sspi") {
            b.sspi_accept_security_context_async(self.ctx(step)?, args, &out)
        } else {
            b.accept_security_context(args, &out)
        };
        self.expect_status(step, got, &what)?;
        if !call.starts_with("Sspi") && !got.is_error() {
            let token = out.token();
            self.say(&format!("    {}", describe(&token)));
        }
        Ok(())
    }
}
