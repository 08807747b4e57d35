//! Shared helpers for the end-to-end tests in this folder.

use std::path::PathBuf;

/// The folder of CloudFormation event fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("events")
}
