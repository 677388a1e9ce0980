//! The parameters and results of the security-context calls: `InitializeSecurityContext`,
//! `AcceptSecurityContext`, their async forms, and `QueryContextAttributes`.
//!
//! Inputs travel in owned argument structs (the async forms capture them at queue time);
//! outputs are [`Out`] slots that the package writes when the call completes, so one code path
//! serves the sync and the async calls, and a test can see that nothing is written before
//! completion (decision 0007).

use crate::{
    AscReq, AscRet, Charset, CredHandle, CtxtHandle, IscReq, IscRet, Out, SecBufferDesc, SecPkgInfo, SecString,
    TimeStamp, data_rep,
};

/// The parameters of `InitializeSecurityContext` (A or W by [`InitializeSecurityContext::charset`])
/// and of `SspiInitializeSecurityContextAsyncA/W`.
#[derive(Clone, Debug)]
pub struct InitializeSecurityContext {
    /// A or W entry point.
    pub charset: Charset,
    /// `phCredential`: needed on the first call; NULL afterwards is allowed.
    pub credential: Option<CredHandle>,
    /// `phContext`: NULL on the first call, then the handle the first call returned.
    pub context: Option<CtxtHandle>,
    /// `pszTargetName`: the SPN of the server (`HTTP/web.contoso.com`).
    pub target_name: Option<SecString>,
    /// `fContextReq`.
    pub context_req: IscReq,
    /// `Reserved1`: must be 0.
    pub reserved1: u32,
    /// `TargetDataRep`: `SECURITY_NATIVE_DREP` or `SECURITY_NETWORK_DREP`.
    pub target_data_rep: u32,
    /// `pInput`: NULL on the first call; the server's token (and channel bindings) after.
    pub input: Option<SecBufferDesc>,
    /// `Reserved2`: must be 0.
    pub reserved2: u32,
}

impl InitializeSecurityContext {
    /// W-form parameters of a first call with `credential`, `target_name` and `context_req`.
    pub fn new(credential: CredHandle, target_name: Option<&str>, context_req: IscReq) -> Self {
        Self {
            charset: Charset::Unicode,
            credential: Some(credential),
            context: None,
            target_name: target_name.map(SecString::wide),
            context_req,
            reserved1: 0,
            target_data_rep: data_rep::NATIVE,
            input: None,
            reserved2: 0,
        }
    }

    /// The same call in the A form (the target name as an ANSI string).
    pub fn ansi(mut self) -> Self {
        self.charset = Charset::Ansi;
        self.target_name = self.target_name.map(|t| SecString::ansi(&t.decode().unwrap_or_default()));
        self
    }

    /// A follow-up call: `phContext` and `pInput` set.
    pub fn next(mut self, context: CtxtHandle, input: SecBufferDesc) -> Self {
        self.context = Some(context);
        self.input = Some(input);
        self
    }
}

/// The parameters of `AcceptSecurityContext` and `SspiAcceptSecurityContextAsync`.
#[derive(Clone, Debug)]
pub struct AcceptSecurityContext {
    /// `phCredential`: inbound (or both) credentials.
    pub credential: Option<CredHandle>,
    /// `phContext`: NULL on the first call.
    pub context: Option<CtxtHandle>,
    /// `pInput`: the client's token (and channel bindings).
    pub input: Option<SecBufferDesc>,
    /// `fContextReq`.
    pub context_req: AscReq,
    /// `TargetDataRep`.
    pub target_data_rep: u32,
}

impl AcceptSecurityContext {
    /// Parameters of a first call with `credential`, the client's `input` and `context_req`.
    pub fn new(credential: CredHandle, input: SecBufferDesc, context_req: AscReq) -> Self {
        Self {
            credential: Some(credential),
            context: None,
            input: Some(input),
            context_req,
            target_data_rep: data_rep::NATIVE,
        }
    }

    /// A follow-up call: `phContext` and `pInput` set.
    pub fn next(mut self, context: CtxtHandle, input: SecBufferDesc) -> Self {
        self.context = Some(context);
        self.input = Some(input);
        self
    }
}

/// The output parameters of `InitializeSecurityContext` / `AcceptSecurityContext` (`R` is
/// [`IscRet`] or [`AscRet`]): written by the package when the call completes, left untouched
/// when it fails before the package runs.
#[derive(Clone, Debug)]
pub struct ContextOutputs<R> {
    /// `phNewContext`: NULL (`None`) is refused with `SEC_E_INVALID_HANDLE` by the async forms.
    pub new_context: Option<Out<CtxtHandle>>,
    /// `pOutput`: the caller's buffers go in (a `SECBUFFER_TOKEN` of some capacity, or empty
    /// with `*_REQ_ALLOCATE_MEMORY`); the package writes the token and its length.
    pub output: Option<Out<SecBufferDesc>>,
    /// `pfContextAttr`.
    pub context_attr: Out<R>,
    /// `ptsExpiry`.
    pub expiry: Option<Out<TimeStamp>>,
}

impl<R: Copy + Default> ContextOutputs<R> {
    /// Outputs as a typical caller passes them: a fresh handle variable, one output
    /// `SECBUFFER_TOKEN` of `capacity` bytes (0 with `*_REQ_ALLOCATE_MEMORY`), and an expiry.
    pub fn with_token(capacity: usize) -> Self {
        let token = if capacity == 0 {
            crate::SecBuffer::new(crate::SecBufferType::TOKEN, Vec::new())
        } else {
            crate::SecBuffer::output_token(capacity)
        };
        Self {
            new_context: Some(Out::new(CtxtHandle::default())),
            output: Some(Out::new(SecBufferDesc::new(vec![token]))),
            context_attr: Out::new(R::default()),
            expiry: Some(Out::new(TimeStamp::default())),
        }
    }

    /// The handle written to `phNewContext` (the default handle if none was written).
    pub fn context(&self) -> CtxtHandle {
        self.new_context.as_ref().map(Out::get).unwrap_or_default()
    }

    /// The bytes of the output token: the first `SECBUFFER_TOKEN` of `pOutput`, else its first
    /// buffer whatever its type (as callers read `pBuffers[0]`; Wine's NTLM types its CHALLENGE
    /// `SECBUFFER_DATA`). Empty if there is none.
    pub fn token(&self) -> Vec<u8> {
        self.output
            .as_ref()
            .and_then(|o| {
                o.with(|d| d.find(crate::SecBufferType::TOKEN).or_else(|| d.buffers.first()).map(|b| b.data.clone()))
            })
            .unwrap_or_default()
    }

    /// `*pfContextAttr`.
    pub fn attributes(&self) -> R {
        self.context_attr.get()
    }

    /// Sets the output token buffer back to `capacity` zero bytes, for the next call of a loop
    /// (reusing its allocation, as a C caller reuses its buffer).
    pub fn reset_token(&self, capacity: usize) {
        if let Some(o) = &self.output {
            o.with_mut(|d| match d.find_mut(crate::SecBufferType::TOKEN) {
                Some(b) => {
                    b.data.clear();
                    b.data.resize(capacity, 0);
                }
                None => *d = SecBufferDesc::new(vec![crate::SecBuffer::output_token(capacity)]),
            });
        }
    }
}

/// Outputs of `InitializeSecurityContext`.
pub type IscOutputs = ContextOutputs<IscRet>;
/// Outputs of `AcceptSecurityContext`.
pub type AscOutputs = ContextOutputs<AscRet>;

/// `ulAttribute` of `QueryContextAttributes`: the `SECPKG_ATTR_*` values of `sspi.h` \[H\].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum ContextAttribute {
    /// `SECPKG_ATTR_SIZES` (0).
    Sizes,
    /// `SECPKG_ATTR_NAMES` (1).
    Names,
    /// `SECPKG_ATTR_LIFESPAN` (2).
    Lifespan,
    /// `SECPKG_ATTR_KEY_INFO` (5).
    KeyInfo,
    /// `SECPKG_ATTR_SESSION_KEY` (9).
    SessionKey,
    /// `SECPKG_ATTR_PACKAGE_INFO` (10).
    PackageInfo,
    /// `SECPKG_ATTR_NEGOTIATION_INFO` (12).
    NegotiationInfo,
    /// `SECPKG_ATTR_NATIVE_NAMES` (13).
    NativeNames,
    /// `SECPKG_ATTR_FLAGS` (14).
    Flags,
    /// Any other `SECPKG_ATTR_*` value.
    Other(u32),
}

impl ContextAttribute {
    /// The `SECPKG_ATTR_*` number.
    pub const fn value(self) -> u32 {
        match self {
            Self::Sizes => 0,
            Self::Names => 1,
            Self::Lifespan => 2,
            Self::KeyInfo => 5,
            Self::SessionKey => 9,
            Self::PackageInfo => 10,
            Self::NegotiationInfo => 12,
            Self::NativeNames => 13,
            Self::Flags => 14,
            Self::Other(v) => v,
        }
    }

    /// The attribute of a `SECPKG_ATTR_*` number.
    pub const fn from_value(value: u32) -> Self {
        match value {
            0 => Self::Sizes,
            1 => Self::Names,
            2 => Self::Lifespan,
            5 => Self::KeyInfo,
            9 => Self::SessionKey,
            10 => Self::PackageInfo,
            12 => Self::NegotiationInfo,
            13 => Self::NativeNames,
            14 => Self::Flags,
            v => Self::Other(v),
        }
    }
}

/// `SecPkgContext_Sizes`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ContextSizes {
    /// `cbMaxToken`.
    pub max_token: u32,
    /// `cbMaxSignature`.
    pub max_signature: u32,
    /// `cbBlockSize`.
    pub block_size: u32,
    /// `cbSecurityTrailer`.
    pub security_trailer: u32,
}

/// `NegotiationState` of `SecPkgContext_NegotiationInfo` (`SECPKG_NEGOTIATION_*`) \[H\].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum NegotiationState {
    /// `SECPKG_NEGOTIATION_COMPLETE` (0).
    Complete,
    /// `SECPKG_NEGOTIATION_OPTIMISTIC` (1).
    Optimistic,
    /// `SECPKG_NEGOTIATION_IN_PROGRESS` (2).
    InProgress,
}

impl NegotiationState {
    /// The `SECPKG_NEGOTIATION_*` number.
    pub const fn value(self) -> u32 {
        match self {
            Self::Complete => 0,
            Self::Optimistic => 1,
            Self::InProgress => 2,
        }
    }
}

/// The answer to `QueryContextAttributes`.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ContextAttributeValue {
    /// `SecPkgContext_Sizes`.
    Sizes(ContextSizes),
    /// `SecPkgContext_Names::sUserName`: the client's `DOMAIN\user`.
    Names(String),
    /// `SecPkgContext_Lifespan`: `tsStart`, `tsExpiry`.
    Lifespan {
        /// `tsStart`.
        start: TimeStamp,
        /// `tsExpiry`.
        expiry: TimeStamp,
    },
    /// `SecPkgContext_SessionKey`: the session key bytes.
    SessionKey(Vec<u8>),
    /// `SecPkgContext_KeyInfo`.
    KeyInfo {
        /// `sSignatureAlgorithmName`.
        signature_algorithm_name: String,
        /// `sEncryptAlgorithmName`.
        encrypt_algorithm_name: String,
        /// `KeySize` (bits).
        key_size: u32,
        /// `SignatureAlgorithm`.
        signature_algorithm: u32,
        /// `EncryptAlgorithm` (an `ALG_ID`).
        encrypt_algorithm: u32,
    },
    /// `SecPkgContext_PackageInfo`.
    PackageInfo(SecPkgInfo),
    /// `SecPkgContext_NegotiationInfo`: the package in use and the negotiation state.
    NegotiationInfo {
        /// `PackageInfo`: the package chosen (NTLM under Negotiate).
        package: SecPkgInfo,
        /// `NegotiationState`.
        state: NegotiationState,
    },
    /// `SecPkgContext_NativeNames`: `sClientName`, `sServerName`.
    NativeNames {
        /// `sClientName`.
        client: String,
        /// `sServerName`.
        server: String,
    },
    /// `SecPkgContext_Flags::Flags`: the `ISC_RET_*` or `ASC_RET_*` attributes of the context.
    Flags(u32),
}

/// Flags that say which side a context is on, as [`ContextAttributeValue::Flags`] reports them.
pub trait ContextFlags: Copy + Default + Send + Sync + std::fmt::Debug + 'static {
    /// The raw value.
    fn bits(self) -> u32;
}

impl ContextFlags for IscRet {
    fn bits(self) -> u32 {
        self.0
    }
}

impl ContextFlags for AscRet {
    fn bits(self) -> u32 {
        self.0
    }
}

/// The `fQOP` value of `EncryptMessage` that asks for a signature without encryption:
/// `SECQOP_WRAP_NO_ENCRYPT` \[H\].
pub const SECQOP_WRAP_NO_ENCRYPT: u32 = 0x8000_0001;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_numbers_follow_sspi_h() {
        for (a, v) in [
            (ContextAttribute::Sizes, 0),
            (ContextAttribute::Names, 1),
            (ContextAttribute::Lifespan, 2),
            (ContextAttribute::KeyInfo, 5),
            (ContextAttribute::SessionKey, 9),
            (ContextAttribute::PackageInfo, 10),
            (ContextAttribute::NegotiationInfo, 12),
            (ContextAttribute::NativeNames, 13),
            (ContextAttribute::Flags, 14),
        ] {
            assert_eq!(a.value(), v);
            assert_eq!(ContextAttribute::from_value(v), a);
        }
        assert_eq!(ContextAttribute::from_value(4), ContextAttribute::Other(4));
        assert_eq!(ContextAttribute::from_value(5), ContextAttribute::KeyInfo);
        assert_eq!(NegotiationState::InProgress.value(), 2);
    }

    #[test]
    fn outputs_helpers_read_what_was_written() {
        let o = IscOutputs::with_token(16);
        assert_eq!(o.token(), vec![0; 16]);
        if let Some(out) = &o.output {
            out.with_mut(|d| d.buffers[0].data = b"tok".to_vec());
        }
        assert_eq!(o.token(), b"tok");
        o.reset_token(4);
        assert_eq!(o.token(), vec![0; 4]);
        assert_eq!(o.context(), CtxtHandle::default());
    }
}
