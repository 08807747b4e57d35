//! The local stand-in for CloudFormation: reads `template.yaml` and a stage's environment in
//! `samconfig.toml`, starts what the stage needs on loopback, and drives the stage's custom
//! resources through CloudFormation's lifecycle with the real function binaries.
//!
//! - [`template`]: the template, short-form intrinsics made long.
//! - [`intrinsics`]: `Ref`, `Fn::Sub`, `Fn::Join`, `Fn::If`, `Fn::FindInMap`, `Fn::GetAtt` …
//! - [`resolved`]: a stage's whole template resolved, for the template checks
//!   (`stackwright template resolve`).
//! - [`samconfig`]: a stage's stack name and parameter overrides.
//! - [`overrides`]: what AWS-only resources become locally (`local/overrides.yaml`).
//! - [`graph`]: the order custom resources are created in.
//! - [`state`]: what exists per stage (`.local/state/<stage>.json`).
//! - [`plan`]: CloudFormation's decisions as plain functions: the next request, the status
//!   names, whether a Delete is sent (`DeletionPolicy`, `UpdateReplacePolicy`), the rollback.
//! - [`engine`]: up, down, status: runs what [`plan`] decides, with the real functions.
//! - [`services`]: moto, PostgreSQL and the HTTP stand-in, started idempotently.
//! - [`standin`]: the HTTP resource's local remote API.

pub mod engine;
pub mod graph;
pub mod intrinsics;
pub mod overrides;
pub mod plan;
pub mod resolved;
pub mod samconfig;
pub mod services;
pub mod standin;
pub mod state;
pub mod template;

/// What can go wrong running a stage locally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The template cannot be read.
    #[error("template: {0}")]
    Template(String),
    /// An intrinsic or parameter cannot be resolved.
    #[error("resource `{resource}`: {message}")]
    Intrinsic {
        /// Where (a logical id, or `Parameters`/`Conditions`).
        resource: String,
        /// What was wrong.
        message: String,
    },
    /// samconfig.toml or the overrides file.
    #[error("configuration: {0}")]
    Config(String),
    /// A local service.
    #[error("service: {0}")]
    Service(String),
    /// The state file.
    #[error("state: {0}")]
    State(String),
    /// Running a function.
    #[error("invoke: {0}")]
    Invoke(String),
}
