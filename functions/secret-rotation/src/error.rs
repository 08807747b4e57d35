//! The crate's one error type. Messages name secrets by id and versions by token, never a value.

/// Why a rotation step failed: Secrets Manager records it and retries the rotation later.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The invocation is not `{"SecretId", "ClientRequestToken", "Step"}`.
    #[error("the event is not a Secrets Manager rotation request: {0}")]
    Event(String),

    /// `Step` is not one of the four.
    #[error(
        "unknown rotation step `{0}`; expected `createSecret`, `setSecret`, `testSecret` or `finishSecret`"
    )]
    UnknownStep(String),

    /// Rotation is off for the secret.
    #[error(
        "secret `{0}` is not enabled for rotation; turn rotation on for it or do not invoke this function for it"
    )]
    NotEnabled(String),

    /// The secret has no `stackwright:rotation` tag.
    #[error(
        "secret `{0}` has no tag `stackwright:rotation`; tag it `single`, `alternating` or `regenerate`"
    )]
    NoMode(String),

    /// `regenerate`: the secret records no spec, so nothing would be made anew.
    #[error(
        "secret `{0}` has no tag `stackwright:spec:<key>`; `regenerate` makes anew each key whose spec the seeder recorded (a `Custom::SeededSecret` with `Generate` keys), and this secret records none"
    )]
    NoSpecs(String),

    /// A `stackwright:spec:<key>` tag is not a spec.
    #[error("secret `{secret}` has tag `{tag}` that is not a spec: {problem}")]
    BadSpec {
        /// The secret.
        secret: String,
        /// The tag.
        tag: String,
        /// What is wrong.
        problem: String,
    },

    /// testSecret of `regenerate`: the pending value is not what createSecret makes.
    #[error("version `{token}` (AWSPENDING) of secret `{secret}`: {problem}")]
    BadPending {
        /// The secret.
        secret: String,
        /// The `ClientRequestToken`.
        token: String,
        /// What is wrong, naming keys only.
        problem: String,
    },

    /// `alternating`: `<name>_clone` would be too long for the engine.
    #[error(
        "secret `{secret}` names user `{user}`, whose alternate `{clone}` would have {} characters; the engine takes at most {max}: choose a user name of at most {} characters for `alternating`, or rotate it `single`",
        clone.len(),
        max - 6
    )]
    CloneTooLong {
        /// The secret.
        secret: String,
        /// The current user.
        user: String,
        /// `<user>_clone`.
        clone: String,
        /// The engine's limit.
        max: usize,
    },

    /// testSecret of `alternating`: the pending login does not log in; the current one was
    /// never touched.
    #[error(
        "the AWSPENDING login `{user}` of secret `{secret}` does not log in; AWSCURRENT was not touched and keeps working"
    )]
    AlternateTestFailed {
        /// The secret.
        secret: String,
        /// The pending user.
        user: String,
    },

    /// setSecret of `alternating` on MySQL: a line of `SHOW GRANTS` that cannot be copied.
    #[error(
        "grant {line} of user `{user}` (SHOW GRANTS) has a shape the clone cannot be given; the clone was not changed"
    )]
    UncopiableGrant {
        /// The user whose grants are copied.
        user: String,
        /// Which line, from 1.
        line: usize,
    },

    /// The tag names no mode.
    #[error(
        "secret `{secret}` has tag `stackwright:rotation` = `{mode}`; expected `single`, `alternating` or `regenerate`"
    )]
    UnknownMode {
        /// The secret.
        secret: String,
        /// The tag's value.
        mode: String,
    },

    /// The token is not a version of the secret.
    #[error(
        "`{token}` is not a version of secret `{secret}`; Secrets Manager starts a rotation with createSecret"
    )]
    UnknownVersion {
        /// The secret.
        secret: String,
        /// The `ClientRequestToken`.
        token: String,
    },

    /// The token's version is neither pending nor current.
    #[error(
        "version `{token}` of secret `{secret}` is not staged AWSPENDING; it is not being rotated to"
    )]
    NotPending {
        /// The secret.
        secret: String,
        /// The `ClientRequestToken`.
        token: String,
    },

    /// No version is `AWSCURRENT`.
    #[error("secret `{0}` has no AWSCURRENT version")]
    NoCurrent(String),

    /// The pending version has no value (createSecret has not run for this token).
    #[error(
        "version `{token}` (AWSPENDING) of secret `{secret}` has no value; createSecret runs first"
    )]
    NoPending {
        /// The secret.
        secret: String,
        /// The `ClientRequestToken`.
        token: String,
    },

    /// The pending value names another user or server than the current one.
    #[error(
        "version `{token}` (AWSPENDING) of secret `{secret}` names {what} than AWSCURRENT; a rotation changes only the password"
    )]
    PendingDiffers {
        /// The secret.
        secret: String,
        /// The `ClientRequestToken`.
        token: String,
        /// `another user` or `another server`.
        what: &'static str,
    },

    /// Single rotation sets the password as the admin, and the secret names none.
    #[error(
        "secret `{0}` has no `masterarn`; single rotation sets the new password through the admin secret it names"
    )]
    NoMaster(String),

    /// The admin secret names another server than the user secret.
    #[error(
        "the admin secret `{admin}` names server `{admin_server}`, but secret `{secret}` names `{user_server}`; both must name the same server (engine, host, port), so no credential goes elsewhere"
    )]
    OtherServer {
        /// The user secret.
        secret: String,
        /// The admin secret (`masterarn`).
        admin: String,
        /// `engine://host:port` of the admin secret.
        admin_server: String,
        /// `engine://host:port` of the user secret.
        user_server: String,
    },

    /// Neither the current nor the pending password logs in: the user was changed outside
    /// rotation, and setting a password over it would hide that.
    #[error(
        "neither the AWSCURRENT nor the AWSPENDING password of secret `{secret}` logs in as `{user}`; the user's password was changed elsewhere: put the working password in the secret, then rotate again"
    )]
    NoLogin {
        /// The secret.
        secret: String,
        /// The user.
        user: String,
    },

    /// testSecret: the pending password does not log in.
    #[error(
        "the AWSPENDING password of secret `{secret}` does not log in as `{user}`; the AWSCURRENT password was set back"
    )]
    TestFailed {
        /// The secret.
        secret: String,
        /// The user.
        user: String,
    },

    /// A Secrets Manager call failed.
    #[error("secrets manager {operation} on `{secret}` failed: {message}")]
    SecretsManager {
        /// The API operation.
        operation: &'static str,
        /// The secret.
        secret: String,
        /// The service's message.
        message: String,
    },

    /// The database side (secret format, connection, SQL), as `Custom::DatabaseUser` reports it.
    #[error(transparent)]
    User(#[from] db_user::Error),

    /// The shared database pieces (admin secret format, time budget).
    #[error(transparent)]
    Database(#[from] db_migration::Error),

    /// The protocol library (a secret that is not a JSON object).
    #[error(transparent)]
    Library(#[from] custom_resource::Error),

    /// The operating system's random number generator failed.
    #[error(transparent)]
    Random(#[from] secret_seeder::generate::RandomError),
}
