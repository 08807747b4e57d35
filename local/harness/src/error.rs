//! The harness's one error type.

/// What can go wrong while standing CloudFormation and Lambda up on loopback.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket, a file or a process.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A function binary is missing.
    #[error(
        "binary `{name}` not found in `{dir}`; build it first with `cargo build --workspace --bins --examples` (`make test` does)"
    )]
    MissingBinary {
        /// The binary's name.
        name: String,
        /// Where it was looked for.
        dir: String,
    },
    /// The test CA or its certificates.
    #[error("test CA: {0}")]
    Tls(String),
    /// The event given to [`crate::Lambda::invoke`] cannot be sent.
    #[error("invalid event: {0}")]
    Event(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}
