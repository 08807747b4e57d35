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
    /// Building a binary the tests run failed (or cargo could not be started).
    #[error("`{command}` failed; run it in the workspace to see why:\n{output}")]
    Build {
        /// The cargo command, as a person would type it.
        command: String,
        /// The end of what cargo printed.
        output: String,
    },
    /// An AWS API (moto) refused a call: its error code and message.
    #[error("{operation}: {code}: {message}")]
    Aws {
        /// The operation, `CreateSecret` say.
        operation: String,
        /// The service's error code, `ResourceNotFoundException` say.
        code: String,
        /// The service's message.
        message: String,
    },
    /// An HTTP call could not be made, or its answer was not what the protocol promises.
    #[error("{context}: {message}")]
    Http {
        /// What was being called.
        context: String,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// Whether an AWS API answered that the thing asked for does not exist
    /// (`ResourceNotFoundException`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Aws { code, .. } if code == "ResourceNotFoundException")
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}
