//! Naming rules shared by the build script (embedded seeds) and the library (seed folders in
//! test builds): one definition, so an embedded seed and a folder seed are read alike.

/// Whether `name` can be a seed set: `seeds/<set>/`, lowercase letters, digits, `_` and `-`.
pub fn is_seed_set_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Whether `file` is a seed file name: `<digits>_<name>.sql`.
#[cfg_attr(not(feature = "test-folders"), allow(dead_code))] // the build script uses it
pub fn is_seed_file_name(file: &str) -> bool {
    let Some(stem) = file.strip_suffix(".sql") else {
        return false;
    };
    let Some((number, name)) = stem.split_once('_') else {
        return false;
    };
    !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && file.len() <= 200
        && !file.contains(['/', '\\'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_names() {
        for ok in ["common", "dev", "pr-42", "load_test"] {
            assert!(is_seed_set_name(ok), "{ok}");
        }
        for bad in ["", "Dev", "a b", "a/b", "..", &"x".repeat(65)] {
            assert!(!is_seed_set_name(bad), "{bad}");
        }
        for ok in ["001_plans.sql", "2_x.sql", "010_demo_data.sql"] {
            assert!(is_seed_file_name(ok), "{ok}");
        }
        for bad in [
            "plans.sql",
            "001_.sql",
            "_x.sql",
            "001_x.txt",
            "a1_x.sql",
            "001x.sql",
        ] {
            assert!(!is_seed_file_name(bad), "{bad}");
        }
    }
}
