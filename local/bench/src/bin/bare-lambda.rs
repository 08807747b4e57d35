//! `make bench`'s yardstick: a bare `lambda_runtime` binary that answers every event with `{}`.
//!
//! Built with the workspace's release profile like the functions, so its cold init (process
//! start to the first `invocation/next`) is the floor theirs is compared with: the issue's
//! target is at most twice this figure.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({}))
    }))
    .await
}
