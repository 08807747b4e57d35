//! Shared helpers for the end-to-end tests in this folder.

use std::path::PathBuf;

/// The folder of CloudFormation event fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("events")
}

/// Asserts that none of `needles` appears in any of `haystacks`, naming the first that does.
///
/// # Panics
///
/// When one does: that is the test failing.
#[track_caller]
pub fn assert_absent<'a>(needles: &[&str], haystacks: impl IntoIterator<Item = &'a str>) {
    for hay in haystacks {
        for needle in needles {
            assert!(
                needle.is_empty() || !hay.contains(needle),
                "a secret ({} characters) leaked into: {hay}",
                needle.len()
            );
        }
    }
}
