//! The CloudFormation custom-resource protocol, owned in one place so that no function can
//! forget to answer CloudFormation.
//!
//! # The contract
//!
//! Every invocation ends with **exactly one** response PUT to the event's `ResponseURL`,
//! before the deadline, whatever happens:
//!
//! 1. **One response, always.** A resource implements [`CustomResource`] (create, update,
//!    delete over typed properties) and [`run`] drives it:
//!    - success: SUCCESS with the returned physical id, `Data` and `NoEcho`;
//!    - a returned error: FAILED, its `Display` as the `Reason`;
//!    - a panic: FAILED ("internal error …"), the detail only in the log;
//!    - the deadline: FAILED ("timed out after N s …") with time left for the PUT. The deadline
//!      is the earlier of the Lambda deadline and `ServiceTimeout` (read at the top of the
//!      event and in `ResourceProperties`, counted from the start of the invocation);
//!    - an event that is not a valid request but has a usable `ResponseURL`: FAILED saying what
//!      is wrong. Without one, an error to Lambda and a log line.
//!
//!    The event is taken as raw JSON and parsed here: with a typed event, lambda_runtime would
//!    never call the handler for a malformed one, and the stack would wait an hour.
//! 2. **Properties** are typed structs ([`properties`]): strings accepted for numbers and
//!    booleans, unknown keys refused with the known ones listed (`ServiceToken` and
//!    `ServiceTimeout` always allowed), and every problem a FAILED `Reason` naming the property.
//! 3. **Physical ids.** A failed Create answers with an id derived from the request
//!    ([`response::failed_create_id`]); the Delete CloudFormation then sends succeeds at once.
//!    A Delete for an id CloudFormation invented (a Create that never answered,
//!    [`response::invented_by_cloudformation`]) or one the resource never issues
//!    ([`CustomResource::issued`]) succeeds too; an Update of such an id creates.
//!    Update keeps the id unless the resource returns a new one (a replacement).
//! 4. **The body** ([`Response`]) always has a string `Reason` and fits in 4096 bytes: control
//!    characters stripped, a long `Reason` cut keeping head and tail, oversized `Data` turned
//!    into FAILED naming the keys.
//! 5. **The PUT** has an empty `Content-Type` and a `Content-Length` (never chunked), connect
//!    and total timeouts, and retries on connection errors, 5xx, 408 and 429 with backoff and
//!    jitter up to the deadline; only a 2xx counts as delivered.
//! 6. **Logs** ([`init_tracing`]): one line per invocation; never the `ResponseURL`'s query
//!    string ([`ResponseUrl`] prints only its host) and never a secret ([`Secret`] prints `***`;
//!    what the request's [`Redactor`] was taught is masked in every `Reason` and runner line).
//! 7. **Who may be answered** ([`response_url::ResponsePolicy`]): CloudFormation's response
//!    bucket for the function's own region, over HTTPS on port 443, and the origins listed in
//!    `STACKWRIGHT_RESPONSE_HOSTS`. Any other `ResponseURL` (an event is untrusted input):
//!    nothing is done, nothing is PUT, Lambda is told, one log line names the host.
//! 8. **Which stacks** ([`trust::StackList`]): the function acts only for the stacks listed
//!    in `STACKWRIGHT_STACKS` (the template sets its own stack); for any other, or when the
//!    variable is unset, a Create or Update is FAILED naming the variable and a Delete
//!    retains (SUCCESS, nothing deleted: a Delete never strands a stack).
//! 9. **Is CloudFormation really asking?** ([`confirm`]): before a request acts, the
//!    library asks CloudFormation (`DescribeStacks`, `DescribeStackResource`) whether it is
//!    part of a stack operation in progress; a Create or Update it does not confirm is FAILED,
//!    a Delete retains. The stack's status tells a rollback apart ([`Request::phase`]); for an
//!    Update during a rollback, `DescribeStackEvents` tells which id the failed update replaced
//!    ([`Request::replaced_id`]).
//!    `STACKWRIGHT_CONFIRM=off` in the environment turns it off.
//! 10. **Destructive switches are the stage's** ([`trust::Allowed`]): what a resource's
//!     properties ask for through [`CustomResource::switches`] takes effect only when
//!     `STACKWRIGHT_ALLOW` lists it. Not allowed: a Create is FAILED naming the switch, an Update
//!     goes on without it and names it in `Data.Ignored`, a Delete retains
//!     ([`Request::allows`]).
//! 11. **What Lambda is told**: Ok once a response was delivered (so Lambda's retries repeat
//!     nothing), and Ok too when the `ResponseURL` refused it with a 4xx other than 408 and 429
//!     (expired or forged: a replay would only run the side effects again); an error only when
//!     delivery failed for want of an answer, so Lambda delivers the event again.
//!
//! # Layout
//!
//! - [`runner`]: the [`CustomResource`] trait, [`Outcome`], [`run`] and the deadline logic.
//! - [`request`]: the event, parsed by hand, and the typed [`Request`] a resource sees.
//! - [`properties`]: property parsing and the serde helpers in [`properties::de`].
//! - [`response`]: the response body, its size limit, the physical ids chosen here and the
//!   ones CloudFormation invents.
//! - `deliver`: the PUT; [`http`]: the TLS client set-up every function shares.
//! - [`aws`]: the one AWS SDK configuration, its clients built on first use; [`secrets`]: the
//!   one Secrets Manager reader and its table of reasons.
//! - [`redact`]: one [`Redactor`] per request, applied by the runner to every `Reason` and log
//!   line it writes.
//! - [`secret`], [`response_url`]: types that will not print what they hold.
//!
//! # Example
//!
//! ```no_run
//! use custom_resource::{CustomResource, Outcome, Request};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(rename_all = "PascalCase", deny_unknown_fields)]
//! struct Props {
//!     name: String,
//! }
//!
//! #[derive(Debug, thiserror::Error)]
//! enum Error {}
//!
//! struct Greeting;
//!
//! impl CustomResource for Greeting {
//!     type Properties = Props;
//!     type Error = Error;
//!
//!     async fn create(&self, req: &Request<Props>) -> Result<Outcome, Error> {
//!         Ok(Outcome::new(format!("greeting-{}", req.properties.name)).with("Text", "hello"))
//!     }
//!     async fn update(&self, req: &Request<Props>) -> Result<Outcome, Error> {
//!         self.create(req).await
//!     }
//!     async fn delete(&self, _req: &Request<Props>) -> Result<(), Error> {
//!         Ok(())
//!     }
//!     fn issued(&self, physical_id: &str, resource: custom_resource::Resource<'_>) -> bool {
//!         physical_id.starts_with(&format!("greeting-"))
//!             && !resource.logical_id.is_empty()
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     custom_resource::init_tracing();
//!     custom_resource::run(Greeting).await
//! }
//! ```

pub mod answer;
pub mod aws;
pub mod confirm;
mod deliver;
mod error;
pub mod http;
mod logging;
pub mod properties;
pub mod redact;
mod replay;
pub mod request;
pub mod response;
pub mod response_url;
pub mod runner;
pub mod secret;
pub mod secrets;
pub mod supervisor;
pub mod trust;

pub use error::Error;
pub use logging::init_tracing;
pub use properties::PropertyError;
pub use redact::Redactor;
pub use request::{Request, RequestType, Resource};
pub use response::{Response, Status};
pub use response_url::ResponseUrl;
pub use runner::{CustomResource, Outcome, Runner, run};
pub use secret::Secret;
pub use supervisor::serve;
pub use trust::{Allowed, Switch};
