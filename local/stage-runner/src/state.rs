//! What exists for a stage, kept between runs in `.local/state/<stage>.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;
use crate::plan::{Done, Policy};

/// One custom resource as CloudFormation remembers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// `Custom::…`.
    pub kind: String,
    /// The function binary that serves it.
    pub function: String,
    /// Its physical id.
    pub physical_id: String,
    /// The properties it was last created or updated with (resolved).
    pub properties: Value,
    /// The `Data` it last returned.
    pub data: Map<String, Value>,
    /// Its `DeletionPolicy` as last deployed (what a stack delete or its removal from the
    /// template follows).
    #[serde(default)]
    pub deletion_policy: Policy,
    /// Its `UpdateReplacePolicy` as last deployed.
    #[serde(default)]
    pub update_replace_policy: Policy,
}

/// A stage's stack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageState {
    /// The stack name.
    pub stack_name: String,
    /// The stack ARN events carry (stable across runs).
    pub stack_id: String,
    /// Custom resources by logical id.
    pub resources: BTreeMap<String, ResourceState>,
    /// Logical ids in the order they were created (deletes go in reverse).
    pub created: Vec<String>,
    /// While the stack is `UPDATE_ROLLBACK_FAILED`: the rollback steps that failed, for
    /// `continue-rollback`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_rollback: Vec<Done>,
}

/// The state file of `stage` under `dir`.
pub fn path(dir: &Path, stage: &str) -> PathBuf {
    dir.join(format!("{stage}.json"))
}

impl StageState {
    /// Loads the stage's state; none yet means empty.
    ///
    /// # Errors
    ///
    /// [`Error::State`] when the file exists but cannot be read.
    pub fn load(dir: &Path, stage: &str) -> Result<Option<Self>, Error> {
        let file = path(dir, stage);
        match std::fs::read_to_string(&file) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::State(format!("`{}`: {e}", file.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::State(format!(
                "cannot read `{}`: {e}",
                file.display()
            ))),
        }
    }

    /// Writes the state atomically.
    ///
    /// # Errors
    ///
    /// [`Error::State`] when it cannot be written.
    pub fn save(&self, dir: &Path, stage: &str) -> Result<(), Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::State(format!("cannot create `{}`: {e}", dir.display())))?;
        let file = path(dir, stage);
        let tmp = file.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::State(e.to_string()))?;
        std::fs::write(&tmp, text)
            .map_err(|e| Error::State(format!("cannot write `{}`: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &file)
            .map_err(|e| Error::State(format!("cannot write `{}`: {e}", file.display())))
    }

    /// Removes the stage's state file.
    ///
    /// # Errors
    ///
    /// [`Error::State`] when it exists and cannot be removed.
    pub fn remove(dir: &Path, stage: &str) -> Result<(), Error> {
        match std::fs::remove_file(path(dir, stage)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::State(e.to_string())),
        }
    }
}
