//! The function's one error type. Its `Display` is the `Reason` CloudFormation shows: what
//! went wrong and what to do, never a password, a verifier or a connection string.

use custom_resource::PropertyError;

/// Everything that makes a Create, Update or Delete fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A property is wrong.
    #[error(transparent)]
    Property(#[from] PropertyError),

    /// The protocol library could not do its part (reading a secret).
    #[error(transparent)]
    Library(#[from] custom_resource::Error),

    /// What the shared database pieces report: a secret not in the RDS format, a connection
    /// refused or timed out, a statement that ran out of time.
    #[error(transparent)]
    Migration(#[from] db_migration::Error),

    /// The user secret's `username` is not a name this function makes.
    #[error("the user secret `{secret}` has a `username` this function does not make: {problem}")]
    UserName {
        /// The ARN or name.
        secret: String,
        /// What is wrong (never the text).
        problem: String,
    },

    /// The two secrets name different servers.
    #[error(
        "the user secret `{user_secret}` names the server `{user_server}`, but the admin secret `{admin_secret}` names `{admin_server}`: a user is made on the admin secret's server and its credentials go nowhere else; make both secrets name the same engine, host and port"
    )]
    OtherServer {
        /// `UserSecretArn`.
        user_secret: String,
        /// Its server.
        user_server: String,
        /// `SecretArn`.
        admin_secret: String,
        /// Its server.
        admin_server: String,
    },

    /// No database to apply the grants in.
    #[error("no database for the grants: {0}")]
    NoDatabase(String),

    /// A grant does not fit the engine.
    #[error("{0}")]
    Grants(String),

    /// A user of that name exists and this resource cannot prove it is the secret's.
    #[error(
        "user `{user}` exists on `{server}` already and {why}: this resource adopts an existing user only when the user secret's current password logs in as it (or, with `IamAuth`, when it already uses IAM authentication); choose another `username`, put that user's password in the secret, or drop the user"
    )]
    NotAdoptable {
        /// The user name.
        user: String,
        /// The server, `host:port`.
        server: String,
        /// Why it was not adopted.
        why: &'static str,
    },

    /// `OnDelete: Drop` on PostgreSQL without `ReassignOwnedTo`.
    #[error(
        "`OnDelete: Drop` on PostgreSQL needs `ReassignOwnedTo`, the role that takes over what the user owns (its tables would otherwise be dropped with it): set it, or `OnDelete: Retain`"
    )]
    NoReassignTarget,

    /// A statement failed.
    #[error("{what} failed (user `{user}` on `{server}`): {message}")]
    Sql {
        /// What was being done.
        what: &'static str,
        /// The user name.
        user: String,
        /// The server, `host:port`.
        server: String,
        /// The server's message (never the SQL: it may hold a verifier).
        message: String,
    },
}
