//! The library's one error type.

use crate::properties::PropertyError;

/// What can go wrong in the protocol itself (not in a resource).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The event's `ResponseURL` is missing or cannot be used.
    #[error("unusable `ResponseURL`: {0}")]
    ResponseUrl(String),
    /// The event is not a custom-resource request CloudFormation could have sent.
    #[error("{0}")]
    InvalidEvent(String),
    /// A property is missing, unknown or of the wrong kind.
    #[error(transparent)]
    Property(#[from] PropertyError),
    /// A file named by `SSL_CERT_FILE` could not be read.
    #[error("could not read the certificates in `SSL_CERT_FILE` (`{path}`): {message}")]
    CertFile {
        /// The path `SSL_CERT_FILE` named.
        path: String,
        /// What was wrong with it.
        message: String,
    },
    /// The AWS SDK configuration cannot be made (no region in the environment).
    #[error("AWS configuration: {0}")]
    AwsConfig(String),
    /// A secret could not be read or is not what it should be. `problem` names fields, never
    /// values.
    #[error("could not read the secret `{secret}`: {problem}")]
    Secret {
        /// The secret's ARN or name, as given.
        secret: String,
        /// What went wrong and what to do, from [`crate::secrets`]' table.
        problem: String,
    },
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
    /// The response could not be delivered to the `ResponseURL`.
    #[error("could not deliver the response to `{host}` after {attempts} attempt(s): {message}")]
    Delivery {
        /// The `ResponseURL`'s host (never its query string).
        host: String,
        /// How many PUTs were tried.
        attempts: u32,
        /// The last failure.
        message: String,
    },
}
