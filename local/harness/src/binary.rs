//! Finding the function binaries cargo built.

use std::path::{Path, PathBuf};

use crate::Error;

/// The directory cargo builds into for the running test or binary (`target/debug` for
/// `cargo test`), or `STACKWRIGHT_BIN_DIR` when set.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STACKWRIGHT_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    // Test binaries live in target/<profile>/deps.
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    dir
}

/// The path of binary or example `name` in [`target_dir`].
///
/// # Errors
///
/// [`Error::MissingBinary`] when it has not been built.
pub fn binary(name: &str) -> Result<PathBuf, Error> {
    let dir = target_dir();
    [dir.join(name), dir.join("examples").join(name)]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| Error::MissingBinary {
            name: name.to_owned(),
            dir: dir.display().to_string(),
        })
}
