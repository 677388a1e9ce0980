//! The SSPI functions the simulator answers, by their Windows names.

use serde::Serialize;

macro_rules! functions {
    ($($variant:ident => $name:literal, async_op: $async_op:literal;)*) => {
        /// One SSPI entry point, named exactly as Windows names it.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
        #[allow(clippy::enum_variant_names)]
        pub enum FunctionId {
            $(
                #[doc = concat!("`", $name, "`.")]
                $variant,
            )*
        }

        impl FunctionId {
            /// Every function, in declaration order.
            pub const ALL: &'static [FunctionId] = &[$(FunctionId::$variant),*];
            /// Number of functions.
            pub const COUNT: usize = Self::ALL.len();

            /// The Windows name.
            pub const fn name(self) -> &'static str {
                match self { $(FunctionId::$variant => $name,)* }
            }

            /// True for the `Sspi*Async` operations that queue a call on an async context.
            pub const fn is_async_op(self) -> bool {
                match self { $(FunctionId::$variant => $async_op,)* }
            }
        }
    };
}

functions! {
    EnumerateSecurityPackagesW => "EnumerateSecurityPackagesW", async_op: false;
    QuerySecurityPackageInfoW => "QuerySecurityPackageInfoW", async_op: false;
    AcquireCredentialsHandleA => "AcquireCredentialsHandleA", async_op: false;
    AcquireCredentialsHandleW => "AcquireCredentialsHandleW", async_op: false;
    FreeCredentialsHandle => "FreeCredentialsHandle", async_op: false;
    QueryCredentialsAttributesW => "QueryCredentialsAttributesW", async_op: false;
    InitializeSecurityContextA => "InitializeSecurityContextA", async_op: false;
    InitializeSecurityContextW => "InitializeSecurityContextW", async_op: false;
    AcceptSecurityContext => "AcceptSecurityContext", async_op: false;
    CompleteAuthToken => "CompleteAuthToken", async_op: false;
    DeleteSecurityContext => "DeleteSecurityContext", async_op: false;
    QueryContextAttributesW => "QueryContextAttributesW", async_op: false;
    ImpersonateSecurityContext => "ImpersonateSecurityContext", async_op: false;
    RevertSecurityContext => "RevertSecurityContext", async_op: false;
    MakeSignature => "MakeSignature", async_op: false;
    VerifySignature => "VerifySignature", async_op: false;
    EncryptMessage => "EncryptMessage", async_op: false;
    DecryptMessage => "DecryptMessage", async_op: false;
    SspiCreateAsyncContext => "SspiCreateAsyncContext", async_op: false;
    SspiFreeAsyncContext => "SspiFreeAsyncContext", async_op: false;
    SspiReinitAsyncContext => "SspiReinitAsyncContext", async_op: false;
    SspiSetAsyncNotifyCallback => "SspiSetAsyncNotifyCallback", async_op: false;
    SspiAsyncContextRequiresNotify => "SspiAsyncContextRequiresNotify", async_op: false;
    SspiGetAsyncCallStatus => "SspiGetAsyncCallStatus", async_op: false;
    SspiAcquireCredentialsHandleAsyncA => "SspiAcquireCredentialsHandleAsyncA", async_op: true;
    SspiAcquireCredentialsHandleAsyncW => "SspiAcquireCredentialsHandleAsyncW", async_op: true;
    SspiFreeCredentialsHandleAsync => "SspiFreeCredentialsHandleAsync", async_op: true;
    SspiInitializeSecurityContextAsyncA => "SspiInitializeSecurityContextAsyncA", async_op: true;
    SspiInitializeSecurityContextAsyncW => "SspiInitializeSecurityContextAsyncW", async_op: true;
    SspiAcceptSecurityContextAsync => "SspiAcceptSecurityContextAsync", async_op: true;
    SspiDeleteSecurityContextAsync => "SspiDeleteSecurityContextAsync", async_op: true;
}

impl FunctionId {
    /// The functions a fault rule's `function` selects: an exact name, or a name without its
    /// `A`/`W` suffix, which selects both forms (`AcquireCredentialsHandle`). Case-sensitive,
    /// as the Windows names are.
    pub fn matching(name: &str) -> Vec<FunctionId> {
        Self::ALL
            .iter()
            .copied()
            .filter(|f| {
                let n = f.name();
                n == name
                    || (n.len() == name.len() + 1 && n.starts_with(name) && (n.ends_with('A') || n.ends_with('W')))
            })
            .collect()
    }

    /// True for the functions fault rules can hit: the operations (sync and async) and
    /// `SspiCreateAsyncContext` (a `fail` gives NULL). The other context functions only report
    /// state and are never faulted.
    pub const fn takes_faults(self) -> bool {
        !matches!(
            self,
            FunctionId::SspiFreeAsyncContext
                | FunctionId::SspiReinitAsyncContext
                | FunctionId::SspiSetAsyncNotifyCallback
                | FunctionId::SspiAsyncContextRequiresNotify
                | FunctionId::SspiGetAsyncCallStatus
        )
    }

    /// The index of this function in [`FunctionId::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Serialize for FunctionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for FunctionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixless_names_select_both_forms() {
        assert_eq!(
            FunctionId::matching("SspiAcquireCredentialsHandleAsync"),
            vec![FunctionId::SspiAcquireCredentialsHandleAsyncA, FunctionId::SspiAcquireCredentialsHandleAsyncW]
        );
        assert_eq!(FunctionId::matching("FreeCredentialsHandle"), vec![FunctionId::FreeCredentialsHandle]);
        assert!(FunctionId::matching("AcquireCredentialsHandleX").is_empty());
        assert!(FunctionId::matching("acquirecredentialshandlew").is_empty());
    }
}
