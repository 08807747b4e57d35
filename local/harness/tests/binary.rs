//! `harness::binary` builds what a test runs, from inside `cargo test`, and hands out a path
//! that later builds cannot change.

use std::os::unix::fs::MetadataExt;

#[test]
fn the_binary_is_built_once_and_pinned() -> anyhow::Result<()> {
    // Parallel callers in one process share the one build.
    let callers: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(|| harness::binary("example-resource")))
        .collect();
    let paths = callers
        .into_iter()
        .map(|c| c.join().expect("no panic"))
        .collect::<Result<Vec<_>, _>>()?;
    assert!(paths.windows(2).all(|w| w[0] == w[1]), "{paths:?}");
    let pinned = &paths[0];
    assert!(
        pinned
            .parent()
            .and_then(|p| p.parent())
            .is_some_and(|p| p.ends_with("harness-bin")),
        "{}",
        pinned.display()
    );
    // The pin is cargo's output itself (a hard link), not a copy of an older one.
    let built = harness::target_dir().join("examples/example-resource");
    assert_eq!(
        std::fs::metadata(pinned)?.ino(),
        std::fs::metadata(&built)?.ino(),
        "{} is not {}",
        pinned.display(),
        built.display()
    );
    Ok(())
}

#[test]
fn an_unknown_binary_names_the_command_that_failed() {
    let err = harness::binary("no-such-function").expect_err("there is no such binary");
    let message = err.to_string();
    assert!(
        message.starts_with("`cargo build --workspace --examples --bin no-such-function` failed"),
        "{message}"
    );
}
