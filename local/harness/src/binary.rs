//! The function binaries tests run, built for the test that asks: a test never runs a binary
//! older than its sources, nor one that another build replaced while the test was running.
//!
//! [`binary`] runs `cargo build` once per test process and binary (parallel tests of the
//! process wait for that one build; cargo's own lock on the target directory serialises
//! builds of parallel processes), always with the features `cargo test --workspace` and
//! `make test` build with (every package's dev-dependencies unified, so `db-migration` has
//! its test-only `test-folders` feature): under `make test` that build is a no-op. It then
//! hands out a hard link to what cargo built, in `target/<profile>/harness-bin/`: when
//! another `cargo build` (`make up`, a colleague's `cargo build -p db-migration`) replaces
//! `target/debug/db-migration` with a build of other features, the test keeps the one it was
//! given. [`pinned`] does the same for a binary cargo built for the test itself
//! (`env!("CARGO_BIN_EXE_<name>")` in a package's own integration tests).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;

use crate::Error;

/// A folder of ready binaries (release builds, say): when set, nothing is built.
const BIN_DIR_VAR: &str = "STACKWRIGHT_BIN_DIR";

/// Pinned binaries nobody has used for this long, and that cargo has since replaced, are removed.
const PIN_LIFETIME: Duration = Duration::from_secs(3600);

/// What this process has built and pinned: binary name → the pinned path.
static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());

/// What [`pinned`] pinned in this process: the path asked for → the pinned path.
static PINNED: Mutex<BTreeMap<PathBuf, PathBuf>> = Mutex::new(BTreeMap::new());

/// The directory cargo builds into for the running test or binary (`target/debug` for
/// `cargo test`), or `STACKWRIGHT_BIN_DIR` when set.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(BIN_DIR_VAR) {
        return PathBuf::from(dir);
    }
    profile_dir()
}

/// `target/<profile>` (or `target/<triple>/<profile>`) of the running executable.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    // Test binaries live in target/<profile>/deps, examples in target/<profile>/examples.
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    dir
}

/// Binary or example `name` of this workspace, freshly built: `cargo build --workspace
/// --examples --bin <name>` (or `--example <name>`) runs the first time a process asks for
/// it, and every later call returns the binary built then (see the module's documentation).
///
/// With `STACKWRIGHT_BIN_DIR` set, nothing is built: the binary is taken from that folder.
/// A package's tests that run the package's own binary can use cargo's
/// `env!("CARGO_BIN_EXE_<name>")` instead, through [`pinned`]: cargo builds that one for them.
///
/// # Errors
///
/// [`Error::Build`] naming the cargo command when the build fails (or cargo cannot be
/// started); [`Error::MissingBinary`] when `STACKWRIGHT_BIN_DIR` lacks it; [`Error::Io`]
/// when it cannot be linked into `harness-bin/`.
pub fn binary(name: &str) -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os(BIN_DIR_VAR).map(PathBuf::from) {
        return ready(&dir, name);
    }
    // Held while building: parallel tests of this process wait for the one build.
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = built.get(name) {
        return Ok(path.clone());
    }
    let output = build(name)?;
    let path = pin(&pins_dir(), &[(name.to_owned(), output)])?.join(name);
    built.insert(name.to_owned(), path.clone());
    Ok(path)
}

/// A folder holding binaries `names`, each built as [`binary`] builds it: what a runner that
/// looks its functions up by name in one folder (the stage runner's `bin_dir`) needs.
///
/// # Errors
///
/// As [`binary`].
pub fn bin_dir(names: &[&str]) -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os(BIN_DIR_VAR).map(PathBuf::from) {
        for name in names {
            ready(&dir, name)?;
        }
        return Ok(dir);
    }
    let mut built = Vec::new();
    for name in names {
        built.push(((*name).to_owned(), binary(name)?));
    }
    pin(&pins_dir(), &built)
}

/// `path` (a binary cargo built, such as `env!("CARGO_BIN_EXE_<name>")`) as it is now, for
/// the rest of this process: the first call links it into `harness-bin/`, and every later call
/// returns that link, even after another build replaced the file at `path`.
///
/// # Errors
///
/// [`Error::MissingBinary`] when `path` is not a file; [`Error::Io`] when it cannot be linked.
pub fn pinned(path: impl AsRef<Path>) -> Result<PathBuf, Error> {
    let path = path.as_ref();
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Err(Error::MissingBinary {
            name: path.display().to_string(),
            dir: String::new(),
        });
    };
    let mut pinned = PINNED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(p) = pinned.get(path) {
        return Ok(p.clone());
    }
    ready(path.parent().unwrap_or(Path::new(".")), &name)?;
    let link = pin(&pins_dir(), &[(name.clone(), path.to_path_buf())])?.join(name);
    pinned.insert(path.to_path_buf(), link.clone());
    Ok(link)
}

/// `dir/name`, when it is a file.
fn ready(dir: &Path, name: &str) -> Result<PathBuf, Error> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingBinary {
            name: name.to_owned(),
            dir: dir.display().to_string(),
        })
    }
}

fn pins_dir() -> PathBuf {
    profile_dir().join("harness-bin")
}

/// Runs cargo to build `name`; returns the path cargo reported.
fn build(name: &str) -> Result<PathBuf, Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = crate::workspace_root();
    let is_example = examples(&cargo, &root)?.iter().any(|e| e == name);
    // `--examples` builds dev-dependencies, which unifies their features as `cargo test
    // --workspace` does; without it `db-migration` would be built without `test-folders`.
    let mut shown = vec!["build", "--workspace", "--examples"];
    if !is_example {
        shown.extend(["--bin", name]);
    }
    let command = format!("cargo {}", shown.join(" "));
    let mut args: Vec<String> = shown.iter().map(|s| (*s).to_owned()).collect();
    args.push("--message-format=json-render-diagnostics".into());
    args.extend(layout_args(&profile_dir()));
    let output = Command::new(&cargo)
        .args(&args)
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Build {
            command: command.clone(),
            output: format!("cannot start `{}`: {e}", Path::new(&cargo).display()),
        })?;
    if !output.status.success() {
        return Err(Error::Build {
            command,
            output: tail(&String::from_utf8_lossy(&output.stderr), 40),
        });
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| Error::Build {
            command,
            output: format!("cargo reported no executable named `{name}`"),
        })
}

/// The names of the workspace's examples (`cargo metadata`).
fn examples(cargo: &std::ffi::OsStr, root: &Path) -> Result<Vec<String>, Error> {
    let command = "cargo metadata --no-deps --format-version 1";
    let output = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Build {
            command: command.into(),
            output: e.to_string(),
        })?;
    let metadata: Value = serde_json::from_slice(&output.stdout).map_err(|_| Error::Build {
        command: command.into(),
        output: tail(&String::from_utf8_lossy(&output.stderr), 20),
    })?;
    Ok(metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.contains(&"example".into()))
        })
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect())
}

/// `--target-dir`, and the profile and target triple the running test was built for, read
/// off `target[/<triple>]/<profile>`.
fn layout_args(profile_dir: &Path) -> Vec<String> {
    let tagged = |dir: &Path| dir.join("CACHEDIR.TAG").is_file();
    let mut args = Vec::new();
    let Some(parent) = profile_dir.parent() else {
        return args;
    };
    let (target_root, triple) = match parent.parent() {
        Some(grandparent) if !tagged(parent) && tagged(grandparent) => {
            (grandparent, parent.file_name())
        }
        _ => (parent, None),
    };
    args.push("--target-dir".into());
    args.push(target_root.display().to_string());
    if let Some(triple) = triple {
        args.push("--target".into());
        args.push(triple.to_string_lossy().into_owned());
    }
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => args.push("--release".into()),
        Some(other) => {
            args.push("--profile".into());
            args.push(other.to_owned());
        }
    }
    args
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A folder under `pins` holding hard links to `built` (name, path), named after the files'
/// inodes: the same build always gets the same folder, and a later build a new one.
fn pin(pins: &Path, built: &[(String, PathBuf)]) -> Result<PathBuf, Error> {
    std::fs::create_dir_all(pins).map_err(Error::io(format!("creating `{}`", pins.display())))?;
    let mut entries = Vec::new();
    for (name, path) in built {
        let meta =
            std::fs::metadata(path).map_err(Error::io(format!("reading `{}`", path.display())))?;
        entries.push((name.as_str(), path.as_path(), meta.ino()));
    }
    entries.sort_by_key(|(name, _, _)| *name);
    entries.dedup_by_key(|(name, _, _)| *name);
    let key: Vec<String> = entries
        .iter()
        .map(|(name, _, ino)| format!("{name}-{ino:x}"))
        .collect();
    let dir = pins.join(key.join("+"));
    let holds_these = |dir: &Path| {
        entries
            .iter()
            .all(|(name, _, ino)| std::fs::metadata(dir.join(name)).is_ok_and(|m| m.ino() == *ino))
    };
    if !holds_these(&dir) {
        let staging = pins.join(format!(
            ".staging-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir(&staging)
            .map_err(Error::io(format!("creating `{}`", staging.display())))?;
        for (name, path, _) in &entries {
            let link = staging.join(name);
            // A copy would do where hard links cannot be made; it is only slower.
            std::fs::hard_link(path, &link)
                .or_else(|_| std::fs::copy(path, &link).map(drop))
                .map_err(Error::io(format!(
                    "linking `{}` to `{}`",
                    path.display(),
                    link.display()
                )))?;
        }
        // Another process may have made the same folder meanwhile: then use that one.
        if std::fs::rename(&staging, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&staging);
            if !holds_these(&dir) {
                return Err(Error::Io {
                    context: format!("pinning binaries in `{}`", dir.display()),
                    source: std::io::Error::other("the folder holds other files"),
                });
            }
        }
        sweep(pins, &dir);
    }
    mark_used(&dir);
    Ok(dir)
}

/// Refreshes `dir`'s modification time, which [`sweep`] reads as its last use.
fn mark_used(dir: &Path) {
    let marker = dir.join(format!(".used-{}", std::process::id()));
    if std::fs::write(&marker, b"").is_ok() {
        let _ = std::fs::remove_file(marker);
    }
}

/// Removes the pinned folders unused for [`PIN_LIFETIME`] whose binaries cargo no longer
/// holds (a link count of one: only the pin is left), and abandoned staging folders.
fn sweep(pins: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(pins) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > PIN_LIFETIME);
        if path == keep || !old {
            continue;
        }
        let staging = entry.file_name().to_string_lossy().starts_with(".staging-");
        let replaced = std::fs::read_dir(&path).is_ok_and(|files| {
            files
                .flatten()
                .any(|f| f.metadata().is_ok_and(|m| m.nlink() == 1))
        });
        if staging || replaced {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_is_the_same_folder_for_the_same_build_and_a_new_one_after_a_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let built = dir.path().join("fn");
        std::fs::write(&built, b"first build").unwrap();
        let pins = dir.path().join("pins");
        let first = pin(&pins, &[("fn".into(), built.clone())]).unwrap();
        assert_eq!(std::fs::read(first.join("fn")).unwrap(), b"first build");
        assert_eq!(pin(&pins, &[("fn".into(), built.clone())]).unwrap(), first);

        // cargo replaces its output (a new inode); the pinned one stays what it was.
        std::fs::remove_file(&built).unwrap();
        std::fs::write(&built, b"second build").unwrap();
        let second = pin(&pins, &[("fn".into(), built)]).unwrap();
        assert_ne!(second, first);
        assert_eq!(std::fs::read(second.join("fn")).unwrap(), b"second build");
        assert_eq!(std::fs::read(first.join("fn")).unwrap(), b"first build");
    }

    #[test]
    fn several_binaries_share_one_folder() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let pinned = pin(
            &dir.path().join("pins"),
            &[("b".into(), b), ("a".into(), a)],
        )
        .unwrap();
        assert_eq!(std::fs::read(pinned.join("a")).unwrap(), b"a");
        assert_eq!(std::fs::read(pinned.join("b")).unwrap(), b"b");
    }

    #[test]
    fn the_build_follows_the_running_tests_profile_and_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::create_dir_all(target.join("x86_64-unknown-linux-gnu/release")).unwrap();
        std::fs::create_dir_all(target.join("debug")).unwrap();
        std::fs::write(target.join("CACHEDIR.TAG"), b"").unwrap();
        let root = target.display().to_string();
        assert_eq!(
            layout_args(&target.join("debug")),
            ["--target-dir", root.as_str()]
        );
        assert_eq!(
            layout_args(&target.join("x86_64-unknown-linux-gnu/release")),
            [
                "--target-dir",
                root.as_str(),
                "--target",
                "x86_64-unknown-linux-gnu",
                "--release"
            ]
        );
    }
}
