//! The crate's one error type. Its `Display` is the `Reason` CloudFormation shows: it names the
//! secret and what to do, and never carries a secret value.

use custom_resource::PropertyError;

/// What can go wrong seeding a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A property is missing, unknown or wrong.
    #[error(transparent)]
    Property(#[from] PropertyError),
    /// The secret exists and may not be taken over; the reason says what would allow it.
    #[error("{0}")]
    Refused(String),
    /// The secret's value is not a JSON object, so keys cannot be applied to it.
    #[error(
        "secret `{name}` holds a value that is not a JSON object of keys; it was left as it is. \
         Give this resource another `Name`, or replace the value with a JSON object (or delete the secret) and deploy again"
    )]
    NotAnObject {
        /// The secret's name, as Secrets Manager reports it.
        name: String,
    },
    /// A Secrets Manager call failed or did not answer before the request's deadline.
    #[error("could not {action} secret `{secret}`: {message}")]
    Aws {
        /// What was being done (`describe`, `create`, …).
        action: &'static str,
        /// The secret's name, or the ARN or name it was looked up by.
        secret: String,
        /// The reason from [`custom_resource::secrets`]' table (never the SDK's whole
        /// rendering, which the log carries).
        message: String,
    },
    /// The protocol library failed: the AWS SDK configuration could not be made (no region in
    /// the environment).
    #[error(transparent)]
    Library(#[from] custom_resource::Error),
    /// The operating system's random number generator failed.
    #[error(transparent)]
    Random(#[from] crate::generate::RandomError),
}
