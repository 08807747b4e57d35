//! The `http-resource` Lambda function: wiring only. Nothing AWS is built here: the secret
//! reader loads the SDK configuration on the first request that has `Auth`.

// The runner's future (the CloudFormation SDK call of the confirmation nested in it) is deeper
// than the default layout query depth of 128 when rustc computes `main`'s async block.
#![recursion_limit = "256"]

use custom_resource::aws::Aws;
use custom_resource::secrets::SecretsManager;
use http_resource::HttpResource;
use http_resource::hosts::{HOSTS_VARIABLE, HostList};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    custom_resource::init_tracing();
    // The bootstrap supervises a worker (the same binary): only the worker builds the
    // resource, and the supervisor answers for it if it dies.
    Box::pin(custom_resource::serve(|| async {
        // Read once. A list that does not parse is not fatal here (a function that cannot
        // start cannot answer CloudFormation): every request that would send fails naming it.
        let hosts = HostList::from_env();
        match &hosts {
            Ok(list) if list.is_empty() => {
                tracing::warn!("`{HOSTS_VARIABLE}` lists no host: no request will be sent");
            }
            Ok(_) => {}
            Err(problem) => tracing::error!(problem = %problem, "no request will be sent"),
        }
        HttpResource::new(SecretsManager::new(Aws::from_env()), hosts)
    }))
    .await
}
