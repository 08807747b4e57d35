//! One AWS SDK configuration for every function: region and credentials from the environment
//! only, timeouts that fit a custom resource, the SDK's HTTPS client on Mozilla's roots
//! compiled in, and clients built the first time a request needs them.
//!
//! Lambda puts the region (`AWS_REGION`) and the role's credentials (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) in the environment. The SDK's default chain
//! would fall back to the instance metadata service when they are missing, which Lambda does
//! not have and a developer's machine must not call: here a missing region is an error that
//! names the variable, and missing credentials fail the call that needs them.
//! `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`) still point a client elsewhere, as the
//! tests do with moto.
//!
//! ```no_run
//! # async fn example() -> Result<(), custom_resource::Error> {
//! let aws = custom_resource::aws::Aws::from_env();
//! // Nothing is built until here, on the first request that needs Secrets Manager.
//! let client = aws.secrets_manager().await?;
//! # let _ = client;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::Error;

/// Mozilla's root certificates as one PEM bundle, written by `build.rs` from
/// webpki-root-certs: the same roots the protocol's own client trusts ([`crate::http`]).
pub const MOZILLA_ROOTS_PEM: &str = include_str!(concat!(env!("OUT_DIR"), "/mozilla-roots.pem"));

/// The variables the region is read from, in order.
pub const REGION_VARIABLES: [&str; 2] = ["AWS_REGION", "AWS_DEFAULT_REGION"];

/// How long a connection to an AWS endpoint may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt of a call may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call may take with its retries, when the request's deadline is later.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// The SDK configuration and clients of one process, shared by every invocation. Cheap to
/// create and to clone: the configuration is loaded and each client built on first use.
#[derive(Clone, Default)]
pub struct Aws {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws")
            .field("loaded", &self.inner.config.initialized())
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    config: OnceCell<SdkConfig>,
    clients: Clients,
}

/// One accessor per AWS service a function uses: adding a service is one line here (and its
/// crate in `Cargo.toml`).
macro_rules! clients {
    ($($(#[$doc:meta])* $name:ident: $client:ty,)*) => {
        #[derive(Default)]
        struct Clients {
            $($name: OnceCell<$client>,)*
        }

        impl Aws {
            $(
                $(#[$doc])*
                ///
                /// # Errors
                ///
                /// [`Error::AwsConfig`] when the region is not set.
                pub async fn $name(&self) -> Result<&$client, Error> {
                    let config = self.config().await?;
                    Ok(self
                        .inner
                        .clients
                        .$name
                        .get_or_init(|| async { <$client>::new(config) })
                        .await)
                }
            )*
        }
    };
}

clients! {
    /// The Secrets Manager client, built on the first call.
    secrets_manager: aws_sdk_secretsmanager::Client,
    /// The CloudFormation client (`DescribeStacks` and `DescribeStackResource` only, in
    /// [`crate::confirm`]), built on the first call.
    cloudformation: aws_sdk_cloudformation::Client,
}

impl Aws {
    /// The process's configuration, read from the environment when first needed: every call
    /// returns a clone of the same one, so the runner's CloudFormation client and a function's
    /// own clients share one configuration and one HTTPS client (one root store parsed).
    pub fn from_env() -> Self {
        static SHARED: std::sync::OnceLock<Aws> = std::sync::OnceLock::new();
        SHARED.get_or_init(Self::default).clone()
    }

    /// The SDK configuration, loaded on the first call.
    ///
    /// # Errors
    ///
    /// [`Error::AwsConfig`] when neither `AWS_REGION` nor `AWS_DEFAULT_REGION` is set.
    pub async fn config(&self) -> Result<&SdkConfig, Error> {
        self.inner.config.get_or_try_init(load).await
    }
}

/// The region from the environment, if set.
///
/// # Errors
///
/// [`Error::AwsConfig`] naming the variables when none is set.
pub fn region_from_env() -> Result<Region, Error> {
    REGION_VARIABLES
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .map(|region| Region::new(region.trim().to_owned()))
        .ok_or_else(|| {
            Error::AwsConfig(
                "neither `AWS_REGION` nor `AWS_DEFAULT_REGION` is set: Lambda sets `AWS_REGION`; \
                 elsewhere set it, the instance metadata service is never asked"
                    .into(),
            )
        })
}

async fn load() -> Result<SdkConfig, Error> {
    let region = region_from_env()?;
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        )
        .http_client(https_client())
        .timeout_config(timeouts)
        .load()
        .await;
    Ok(config)
}

/// The SDK's own HTTPS client (hyper and rustls on aws-lc, as the SDK builds it by default)
/// trusting Mozilla's roots, compiled in, and the certificates of `SSL_CERT_FILE`, never the
/// system store, whose reading a cold start would otherwise pay for.
pub fn https_client() -> aws_sdk_secretsmanager::config::SharedHttpClient {
    let mut store = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(MOZILLA_ROOTS_PEM.as_bytes());
    if let Some(extra) = extra_pem() {
        store = store.with_pem_certificate(extra);
    }
    let context = TlsContext::builder().with_trust_store(store).build();
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::AwsLc,
    ));
    match context {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(err) => {
            tracing::warn!(error = %err, "could not set the SDK's trust store; using its defaults");
            builder.build_https()
        }
    }
}

/// `SSL_CERT_FILE`'s certificates, only when every one of them parses: the SDK's client
/// panics on a certificate it cannot read, and a function that cannot start cannot answer.
fn extra_pem() -> Option<Vec<u8>> {
    let path = std::env::var_os("SSL_CERT_FILE")?;
    let pem = match std::fs::read(&path) {
        Ok(pem) => pem,
        Err(err) => {
            tracing::warn!(path = %path.to_string_lossy(), error = %err, "ignoring SSL_CERT_FILE");
            return None;
        }
    };
    usable_pem(&pem).then_some(pem).or_else(|| {
        tracing::warn!(path = %path.to_string_lossy(), "ignoring SSL_CERT_FILE: not a PEM file of certificates the TLS client accepts");
        None
    })
}

/// Whether `pem` holds at least one certificate and every one is usable as a root.
fn usable_pem(pem: &[u8]) -> bool {
    let Ok(certs) = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>() else {
        return false;
    };
    let mut roots = rustls::RootCertStore::empty();
    !certs.is_empty() && certs.into_iter().all(|cert| roots.add(cert).is_ok())
}

/// Runs an AWS call, giving up at `deadline` (the request's), whatever the SDK's own timeouts
/// say. `Err(wait)` tells how long it was given.
///
/// # Errors
///
/// The time it was given, when `deadline` came first.
pub async fn within<F: Future>(deadline: Instant, call: F) -> Result<F::Output, Duration> {
    let given = deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout_at(deadline, call)
        .await
        .map_err(|_| given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_all_usable() {
        assert!(usable_pem(MOZILLA_ROOTS_PEM.as_bytes()));
        let count = MOZILLA_ROOTS_PEM.matches("BEGIN CERTIFICATE").count();
        assert_eq!(count, webpki_roots::TLS_SERVER_ROOTS.len());
    }

    #[test]
    fn a_broken_extra_bundle_is_refused_rather_than_handed_to_the_sdk() {
        assert!(!usable_pem(b""));
        assert!(!usable_pem(b"not a certificate"));
        assert!(!usable_pem(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        ));
    }

    #[tokio::test]
    async fn nothing_is_built_before_it_is_needed() {
        let aws = Aws::default();
        assert!(!aws.inner.config.initialized());
        // One configuration per process.
        assert!(Arc::ptr_eq(&Aws::from_env().inner, &Aws::from_env().inner));
        assert!(!aws.inner.config.initialized());
        assert!(format!("{aws:?}").contains("loaded: false"));
    }
}
