//! The HTTP client set-up every function shares: rustls on aws-lc-rs, Mozilla's roots compiled
//! in, plus any certificates named by `SSL_CERT_FILE`.

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::Error;

/// A TLS client configuration that verifies certificates against Mozilla's root store
/// (compiled into the binary: nothing to read at start-up) and, in addition, against the
/// certificates in the PEM file named by `SSL_CERT_FILE`, if set.
///
/// An unreadable `SSL_CERT_FILE` is logged and skipped: a function that cannot start cannot
/// answer CloudFormation at all.
///
/// # Errors
///
/// [`Error::HttpClient`] when the crypto provider cannot be set up.
pub fn tls_config() -> Result<rustls::ClientConfig, Error> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = std::env::var_os("SSL_CERT_FILE") {
        let path = path.to_string_lossy().into_owned();
        match extra_roots(&path) {
            Ok(certs) => {
                let (added, ignored) = roots.add_parsable_certificates(certs);
                tracing::debug!(
                    added,
                    ignored,
                    "trusting extra certificates from SSL_CERT_FILE"
                );
            }
            Err(err) => tracing::warn!(error = %err, "ignoring SSL_CERT_FILE"),
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::HttpClient(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn extra_roots(path: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::CertFile {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(Error::CertFile {
            path: path.to_owned(),
            message: "no PEM certificates in it".into(),
        });
    }
    Ok(certs)
}

/// A `reqwest` client builder with [`tls_config`], a connect timeout, and no proxy
/// discovery. Build the client once per process and share it.
///
/// # Errors
///
/// As [`tls_config`].
pub fn client_builder() -> Result<reqwest::ClientBuilder, Error> {
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls_config()?)
        .connect_timeout(Duration::from_secs(5))
        // Proxy variables are not the function's to follow: an answer (a credential in its
        // URL) goes straight to CloudFormation.
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(concat!("stackwright/", env!("CARGO_PKG_VERSION"))))
}
