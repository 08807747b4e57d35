//! `secret-rotation`: Secrets Manager's rotation function for the users `Custom::DatabaseUser`
//! makes. Secrets Manager invokes it with `{"SecretId", "ClientRequestToken", "Step"}` for each
//! of the four steps; the secret's tag `stackwright:rotation` chooses how it rotates.
//!
//! # A tour
//!
//! - [`plan`]: the decisions, plain functions: the event, the mode, whether a step goes
//!   ahead, what setSecret and finishSecret do.
//! - [`store`]: Secrets Manager (describe, read a version, stage a pending value, move
//!   `AWSCURRENT`).
//! - [`rotation`]: the steps.
//!
//! The user secret, the password's stored forms, connecting and the SQL are `db-user`'s, the
//! password generator `secret-seeder`'s: used as libraries.
//!
//! # Modes
//!
//! - `single`: a new password, set through the admin secret the user secret's `masterarn`
//!   names, after checking that both name the same server and that the current password (or
//!   already the pending one) logs in. `testSecret` logs in with `AWSPENDING` and runs a query;
//!   when it cannot log in, it sets the current password back. The new password follows the
//!   spec the seeder recorded (`stackwright:spec:password`), or 32 letters and digits.
//! - `regenerate` (signing keys, tokens that are not logins): each key whose spec the seeder
//!   recorded (`stackwright:spec:<key>`) made anew with it, every other key kept; no login, so
//!   setSecret does nothing and testSecret checks the pending value.
//! - `alternating`: two logins, `<name>` and `<name>_clone`, taking turns; the pending value
//!   names the one not in use, whose password setSecret sets through the admin secret (the
//!   clone made on the first rotation: on PostgreSQL a member of `<name>` whose sessions act
//!   as it, on MySQL given `<name>`'s grants on every rotation to it). The login in use is
//!   never touched, so it keeps working through the switch.

pub mod error;
pub mod plan;
pub mod rotation;
pub mod store;

pub use error::Error;
pub use rotation::{Config, Rotation};
