//! `Custom::SeededSecret`: secrets seeded into AWS Secrets Manager as a stack builds, each
//! generated value made once from the operating system's CSPRNG and never echoed.
//!
//! # A tour
//!
//! - [`properties`]: the properties, parsed and normalised ([`parse_properties`]).
//! - [`generate`]: passwords, tokens and UUIDs from the OS CSPRNG, and the check that an
//!   existing value meets a spec.
//! - [`plan`]: every decision as a plain function: which value each key gets (kept, taken back
//!   from `AWSPREVIOUS` on a rollback, or generated), the fingerprints recorded in tags, tag
//!   changes, takeover of an existing secret, the ownership an Update checks before it writes,
//!   the destructive switches the properties ask for, the request's `ClientRequestToken`.
//! - [`spec`]: a generated key's normalised spec as text, recorded in the tag
//!   `stackwright:spec:<key>` so that the rotation function can make a new value the same way.
//! - [`store`]: the Secrets Manager calls, a thin layer over the shared client of
//!   [`custom_resource::aws`], every call bounded by the request's deadline and every failure
//!   given the reason from [`custom_resource::secrets`]' table.
//! - [`seeder`]: [`SecretSeeder`], the [`custom_resource::CustomResource`] that runs the plan.
//!
//! Values live in [`custom_resource::Secret`] from the moment they exist; the `SecretString`
//! sent to Secrets Manager is built from them at the last moment. Logs, `Reason`s and `Data`
//! carry key names, never values. As a second guard, every generated value and what
//! [`custom_resource::secrets::teach`] takes from each value read are taught to the request's
//! [`custom_resource::Redactor`], which the runner applies to every `Reason`.

pub mod generate;
pub mod plan;
pub mod properties;
pub mod seeder;
pub mod spec;
pub mod store;

mod error;

pub use error::Error;
pub use properties::Properties;
pub use seeder::SecretSeeder;

/// Parses and checks `ResourceProperties` exactly as the function does.
///
/// Every check is part of [`Properties`]' deserialisation (each spec's keys, ranges, names,
/// tags), so the runner refuses bad input before any call to Secrets Manager, and a template
/// test can use this to check a template's properties.
///
/// # Errors
///
/// A [`custom_resource::PropertyError`] naming the property (`Keys.db_password.Length`) and
/// what was expected.
pub fn parse_properties(
    raw: &serde_json::Value,
) -> Result<Properties, custom_resource::PropertyError> {
    custom_resource::properties::parse(raw)
}
