//! Which seed files a run applies: the sets asked for, in order, each file once per database.

use std::collections::BTreeMap;

use crate::source::{SeedCatalog, SeedFile};

/// A seed file the database has applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedSeed {
    /// The seed set it belongs to.
    pub set: String,
    /// Its file name.
    pub file: String,
    /// The checksum it was applied with.
    pub checksum: Vec<u8>,
}

/// `Seeds` names a set the function does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSet {
    /// The name asked for.
    pub set: String,
    /// The sets carried.
    pub known: Vec<String>,
}

/// A seed file was applied with other content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditedSeed {
    /// The seed set it belongs to.
    pub set: String,
    /// Its file name.
    pub file: String,
}

/// Checks the requested sets exist (before connecting: a typo fails fast).
///
/// # Errors
///
/// [`UnknownSet`] for the first set not carried.
pub fn check_sets(requested: &[String], known: &[&str]) -> Result<(), UnknownSet> {
    match requested.iter().find(|s| !known.contains(&s.as_str())) {
        Some(set) => Err(UnknownSet {
            set: set.clone(),
            known: known.iter().map(|s| (*s).to_owned()).collect(),
        }),
        None => Ok(()),
    }
}

/// The seed files to apply, in order: each requested set in the order asked, its files by
/// name, those not yet applied. Each file is applied once per database. A set the catalog does
/// not carry gives nothing ([`check_sets`] refuses it before connecting).
///
/// # Errors
///
/// [`EditedSeed`] when an applied file has changed.
pub fn plan_seeds<'a>(
    requested: &[String],
    catalog: &'a SeedCatalog,
    applied: &[AppliedSeed],
) -> Result<Vec<&'a SeedFile>, EditedSeed> {
    let applied: BTreeMap<(&str, &str), &[u8]> = applied
        .iter()
        .map(|a| ((a.set.as_str(), a.file.as_str()), a.checksum.as_slice()))
        .collect();
    let mut todo = Vec::new();
    for set in requested {
        let mut in_set: Vec<&SeedFile> = catalog.set(set).unwrap_or_default().iter().collect();
        in_set.sort_by(|a, b| a.file.cmp(&b.file));
        for file in in_set {
            match applied.get(&(file.set.as_str(), file.file.as_str())) {
                Some(sum) if *sum == file.checksum.as_slice() => {}
                Some(_) => {
                    return Err(EditedSeed {
                        set: file.set.clone(),
                        file: file.file.clone(),
                    });
                }
                None => todo.push(file),
            }
        }
    }
    Ok(todo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(tag: &str) -> Vec<u8> {
        tag.as_bytes().to_vec()
    }

    fn seed(set: &str, file: &str, tag: &str) -> SeedFile {
        SeedFile {
            set: set.into(),
            file: file.into(),
            sql: tag.to_owned().into(),
            checksum: sum(tag),
            no_tx: false,
        }
    }

    #[test]
    fn seeds_apply_once_in_the_order_asked() {
        let files = SeedCatalog::new(
            [
                seed("dev", "002_b.sql", "b"),
                seed("common", "001_x.sql", "x"),
                seed("dev", "001_a.sql", "a"),
            ],
            &[],
        );
        let req = vec!["dev".to_owned(), "common".to_owned()];
        let todo: Vec<&str> = plan_seeds(&req, &files, &[])
            .unwrap()
            .iter()
            .map(|f| f.file.as_str())
            .collect();
        assert_eq!(todo, ["001_a.sql", "002_b.sql", "001_x.sql"]);
        let done = [AppliedSeed {
            set: "dev".into(),
            file: "001_a.sql".into(),
            checksum: sum("a"),
        }];
        let todo = plan_seeds(&req, &files, &done).unwrap();
        assert_eq!(todo.len(), 2);
        let common_only = plan_seeds(&["common".to_owned()], &files, &done).unwrap();
        assert_eq!(common_only.len(), 1);
    }

    #[test]
    fn an_edited_seed_is_refused_and_unknown_sets_named() {
        let files = SeedCatalog::new([seed("dev", "001_a.sql", "a2")], &[]);
        let done = [AppliedSeed {
            set: "dev".into(),
            file: "001_a.sql".into(),
            checksum: sum("a"),
        }];
        assert_eq!(
            plan_seeds(&["dev".to_owned()], &files, &done),
            Err(EditedSeed {
                set: "dev".into(),
                file: "001_a.sql".into()
            })
        );
        assert_eq!(
            check_sets(&["dev".to_owned(), "prod".to_owned()], &["common", "dev"]),
            Err(UnknownSet {
                set: "prod".into(),
                known: vec!["common".into(), "dev".into()]
            })
        );
        assert!(check_sets(&["dev".to_owned()], &["common", "dev"]).is_ok());
    }
}
