//! No request run twice in one sandbox: each answered request is recorded in the sandbox's
//! temporary directory, and the same event delivered again gets the recorded answer PUT again
//! instead of running the resource again.
//!
//! Lambda may deliver an asynchronous event more than once, and CloudFormation may send a
//! request again; in the same sandbox (the same `/tmp`) the second delivery finds the record.
//! A record is keyed by `StackId|LogicalResourceId|RequestId` and holds a hash of the whole
//! event: the same ids with another event (a forged copy that changes the properties) are
//! refused, and nothing is PUT. What a `NoEcho` answer carries is never written to disk: such a
//! request runs again. Replays in another sandbox rely on each resource's idempotency.
//! At most [`MAX_RECORDS`] are kept, the oldest removed first.

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::request::Ids;

/// The folder under the temporary directory (`$TMPDIR`, else `/tmp`) that holds the records.
const FOLDER: &str = "stackwright-answered";
/// How many records are kept.
pub const MAX_RECORDS: usize = 64;

/// What the records say about an event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Never answered here.
    New,
    /// Answered here: the body that was PUT.
    Answered(Vec<u8>),
    /// The same ids were answered for another event.
    Mismatch,
}

/// The record of one request.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    path: PathBuf,
    event_hash: String,
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Record {
    /// The record for `payload`, whose ids are `ids`.
    pub(crate) fn for_event(payload: &Value, ids: &Ids) -> Self {
        let key = Sha256::digest(
            format!(
                "{}|{}|{}",
                ids.stack_id, ids.logical_resource_id, ids.request_id
            )
            .as_bytes(),
        );
        let event = Sha256::digest(serde_json::to_vec(payload).unwrap_or_default());
        Self {
            path: std::env::temp_dir()
                .join(FOLDER)
                .join(format!("{}.json", hex(&key))),
            event_hash: hex(&event),
        }
    }

    /// What was recorded for this request.
    pub(crate) fn seen(&self) -> Seen {
        let Ok(text) = std::fs::read(&self.path) else {
            return Seen::New;
        };
        let Some(newline) = text.iter().position(|b| *b == b'\n') else {
            return Seen::New;
        };
        if text[..newline] == *self.event_hash.as_bytes() {
            Seen::Answered(text[newline + 1..].to_vec())
        } else {
            Seen::Mismatch
        }
    }

    /// Records the body PUT for this request (never call it for a `NoEcho` answer), then
    /// keeps only the newest [`MAX_RECORDS`]. Failing to write is logged, never fatal.
    pub(crate) fn store(&self, body: &[u8]) {
        if let Err(err) = self.write(body) {
            tracing::debug!(error = %err, "could not record the answered request");
        }
        prune(self.path.parent());
    }

    fn write(&self, body: &[u8]) -> std::io::Result<()> {
        let Some(folder) = self.path.parent() else {
            return Ok(());
        };
        std::fs::create_dir_all(folder)?;
        let partial = self.path.with_extension("partial");
        let mut file = std::fs::File::create(&partial)?;
        file.write_all(self.event_hash.as_bytes())?;
        file.write_all(b"\n")?;
        file.write_all(body)?;
        file.sync_all()?;
        std::fs::rename(&partial, &self.path)
    }
}

/// Removes the oldest records beyond [`MAX_RECORDS`].
fn prune(folder: Option<&std::path::Path>) {
    let Some(folder) = folder else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    let mut records: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((modified, e.path()))
        })
        .collect();
    if records.len() <= MAX_RECORDS {
        return;
    }
    records.sort();
    let excess = records.len() - MAX_RECORDS;
    for (_, path) in records.into_iter().take(excess) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ids(request_id: &str) -> Ids {
        Ids {
            request_id: request_id.into(),
            stack_id: "arn:aws:cloudformation:us-east-1:1:stack/app/uuid".into(),
            logical_resource_id: "Thing".into(),
            physical_resource_id: None,
        }
    }

    #[test]
    fn a_request_is_answered_once_and_a_changed_copy_is_refused() {
        let request_id = format!("replay-test-{}", std::process::id());
        let event = json!({"RequestId": request_id, "ResourceProperties": {"Name": "a"}});
        let record = Record::for_event(&event, &ids(&request_id));
        assert_eq!(record.seen(), Seen::New);
        record.store(br#"{"Status":"SUCCESS"}"#);
        assert_eq!(
            Record::for_event(&event, &ids(&request_id)).seen(),
            Seen::Answered(br#"{"Status":"SUCCESS"}"#.to_vec())
        );
        let forged = json!({"RequestId": request_id, "ResourceProperties": {"Name": "b"}});
        assert_eq!(
            Record::for_event(&forged, &ids(&request_id)).seen(),
            Seen::Mismatch
        );
        let _ = std::fs::remove_file(&record.path);
    }
}
