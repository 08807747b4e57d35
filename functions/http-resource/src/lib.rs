//! `Custom::HttpResource`: a create/read/update/delete resource over any JSON REST API (a
//! webhook at a Git host, a monitor at an observability vendor, a tenant in a SaaS).
//!
//! The physical id is the remote object's id. Create sends `Create` and reads the id from the
//! answer; Update sends `Update`, or replaces the object when there is none; Delete sends
//! `Delete` only when the template configures it (and `OnDelete` is not `Retain`).
//!
//! # Layout
//!
//! Decisions are plain functions, tested without I/O:
//! - [`properties`]: the properties, parsed and checked across each other.
//! - [`endpoint`]: `BaseUrl` rules, request URLs with the id encoded, ids in `Location`.
//! - [`hosts`]: where requests may go (`STACKWRIGHT_HTTP_HOSTS`): names, patterns, addresses.
//! - [`retry`]: which answers are retried, backoff with full jitter, `Retry-After`.
//! - [`plan`]: the idempotency key and what an Update does.
//! - [`outputs`]: the id and `Outputs` read from a response.
//! - [`error`]: the errors, whose `Display` is the `Reason`.
//!
//! The I/O is narrow: [`sender`] sends one operation with retries; [`auth`] turns `Auth`
//! secrets into headers; [`resolver`] checks `BaseUrl`'s host and vets every address the
//! client connects to; [`HttpResource`] orchestrates.
//!
//! # Trust
//!
//! The event is untrusted input: anyone allowed to invoke the function can write one. So:
//! - Requests go only to hosts the stage lists in [`hosts::HOSTS_VARIABLE`]; the check comes
//!   before any `Auth` secret is read, and the client connects only to addresses its own
//!   resolver vetted, follows no redirect and ignores proxy variables.
//! - Deleting the remote object is [`Switch::DeleteRemote`]: when the stage does not allow
//!   it, a Delete retains (SUCCESS, nothing sent), and a failed Create's new object is left
//!   in place. The runner fails a Create that asks for it.
//!
//! The protocol library does the rest: ids CloudFormation invents never reach this crate
//! (the runner answers their Delete and turns their Update into a Create), secrets are read
//! through [`custom_resource::secrets`], and the request's [`Redactor`] (taught the `Auth`
//! values and credential-like headers here) masks them in every `Reason` and log line, with
//! [`custom_resource::redact`] masking token-like words in what an API answers.

pub mod auth;
pub mod endpoint;
pub mod error;
pub mod hosts;
pub mod outputs;
pub mod plan;
pub mod properties;
pub mod resolver;
pub mod retry;
pub mod sender;

use std::sync::Arc;
use std::time::Duration;

use custom_resource::redact::{Redactor, sensitive_name};
use custom_resource::secrets::{SecretSource, SecretsManager};
use custom_resource::{CustomResource, Outcome, Request, Switch};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};

pub use error::Error;
pub use properties::{Properties, parse_properties};

use crate::hosts::HostList;
use crate::outputs::{IdProblem, describe_body, id_from_body, read_outputs};
use crate::plan::{UpdatePlan, idempotency_key, plan_update};
use crate::properties::{IdFrom, OnDelete, Op};
use crate::sender::{Answer, Sender};

/// The longest the check of `BaseUrl`'s host waits for its name to resolve.
const CHECK_RESOLVE_LIMIT: Duration = Duration::from_secs(5);

/// The resource: one HTTP client, one secret reader and the stage's host list for the whole
/// process (Secrets Manager through the library's shared AWS configuration, unless a test
/// gives another).
pub struct HttpResource<S = SecretsManager> {
    client: reqwest::Client,
    secrets: S,
    hosts: Result<Arc<HostList>, String>,
}

/// The HTTP client every request goes through: the protocol library's TLS set-up (rustls on
/// aws-lc-rs, Mozilla's roots plus `SSL_CERT_FILE`); names resolved only through a resolver
/// that vets every address against `hosts`; no redirects, so that a credential never follows
/// one to another address; and no proxy, so that neither `HTTPS_PROXY` nor any other variable
/// sends a request (and its credential) elsewhere.
pub(crate) fn http_client(hosts: Arc<HostList>) -> Result<reqwest::Client, Error> {
    custom_resource::http::client_builder()
        .map_err(|e| Error::Internal(e.to_string()))?
        .no_proxy()
        .dns_resolver(Arc::new(resolver::VettingResolver::new(hosts)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Internal(e.without_url().to_string()))
}

impl<S: SecretSource> HttpResource<S> {
    /// A resource over this secret reader, sending only where `hosts` allows (read once, in
    /// `main`, with [`HostList::from_env`]), through one HTTP client built here on the same
    /// list. A list that does not parse is kept as its problem: every request that would send
    /// fails naming it, and the client's resolver allows nothing. The reader builds its AWS
    /// client on the first request that has `Auth`.
    ///
    /// # Errors
    ///
    /// When the HTTP client's TLS set-up fails.
    pub fn new(secrets: S, hosts: Result<HostList, String>) -> Result<Self, Error> {
        let list = Arc::new(hosts.clone().unwrap_or_default());
        let client = http_client(Arc::clone(&list))?;
        Ok(Self {
            client,
            secrets,
            hosts: hosts.map(|_| list),
        })
    }

    /// Refuses a `BaseUrl` whose host the stage does not allow. Called before anything is
    /// sent, and before any `Auth` secret is read.
    async fn check_host(
        &self,
        props: &Properties,
        request: &Request<Properties>,
    ) -> Result<(), Error> {
        let hosts = self
            .hosts
            .as_ref()
            .map_err(|problem| Error::HostsSetting(problem.clone()))?;
        let limit = request.remaining().min(CHECK_RESOLVE_LIMIT);
        resolver::check(hosts, &props.base_url, limit).await
    }

    /// Reads the `Auth` secrets and sets up the requests of one invocation. What must not
    /// be shown is taught to the request's redactor, which the runner applies too.
    async fn session<'a>(
        &'a self,
        props: &'a Properties,
        request: &'a Request<Properties>,
    ) -> Result<Session<'a>, Error> {
        let redactor = &request.redactor;
        let mut headers = HeaderMap::new();
        for (name, value) in &props.headers {
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| Error::Internal(format!("header `{name}` has an invalid value")))?;
            if sensitive_name(name.as_str()) {
                value.set_sensitive(true);
                redactor.add(value.to_str().unwrap_or_default());
            }
            headers.insert(name.clone(), value);
        }
        for (name, value) in
            auth::headers(&self.secrets, &props.auth, redactor, request.deadline).await?
        {
            headers.insert(name, value);
        }
        Ok(Session {
            props,
            redactor,
            delete_allowed: request.allows(Switch::DeleteRemote),
            sender: Sender {
                client: &self.client,
                base: &props.base_url,
                headers,
                redactor,
                retry: props.retry,
                deadline: request.deadline,
            },
        })
    }
}

/// One invocation's requests.
struct Session<'a> {
    props: &'a Properties,
    redactor: &'a Redactor,
    /// Whether the stage allows deleting a remote object ([`Switch::DeleteRemote`]).
    delete_allowed: bool,
    sender: Sender<'a>,
}

impl Session<'_> {
    /// Creates the object; on a problem after it exists, deletes it again when the template
    /// allows, and says so.
    async fn create(&self, request: &Request<Properties>) -> Result<Outcome, Error> {
        let props = self.props;
        let key = props.idempotency_key.clone().map(|name| {
            let key = idempotency_key(
                &request.stack_id,
                &request.logical_resource_id,
                &request.request_id,
            );
            tracing::debug!(header = %name, key, "idempotency key");
            (
                name,
                HeaderValue::from_str(&key).unwrap_or(HeaderValue::from_static("")),
            )
        });
        let answer = self
            .sender
            .send(Op::Create, &props.create, None, key)
            .await?;
        let id = self.id(&answer)?;
        tracing::info!(physical_id = %id, status = answer.status.as_u16(), "created");
        match self.outputs(&answer, &id).await {
            Ok(data) => Ok(Outcome::new(id).with_data(data).no_echo(props.no_echo)),
            Err(cause) => {
                let note = if request.physical_resource_id.as_deref() == Some(id.as_str()) {
                    // The API answered with the object the stack already has (a create by
                    // name, say): it is not new, and is not deleted.
                    format!("the object `{id}` is the resource's current one and was kept")
                } else {
                    self.undo_create(&id).await
                };
                Err(Error::AfterCreate {
                    cause: Box::new(cause),
                    note,
                })
            }
        }
    }

    /// The id in a Create answer, as `IdFrom` says.
    fn id(&self, answer: &Answer) -> Result<String, Error> {
        let props = self.props;
        let problem = match props.id_from {
            IdFrom::Body => match id_from_body(&answer.body, &props.id_pointer) {
                Ok(id) => return Ok(id),
                Err(IdProblem::NotJson) => format!(
                    "`IdPointer` `{}` needs a JSON body and got {} (`{}`); set `IdFrom: Location` if the id is in the `Location` header",
                    props.id_pointer,
                    describe_body(&answer.body),
                    self.redactor.snippet(&answer.body)
                ),
                Err(IdProblem::Missing { found }) => format!(
                    "`IdPointer` `{}` finds no id in it: the response has {found}; set `IdPointer` to where the id is, such as `/data/id`",
                    props.id_pointer
                ),
                Err(IdProblem::NotScalar { kind }) => format!(
                    "`IdPointer` `{}` finds {kind}, not a string or a number; point it at the id itself",
                    props.id_pointer
                ),
                Err(IdProblem::Unusable { why }) => {
                    format!("`IdPointer` `{}` finds an unusable id: {why}", props.id_pointer)
                }
            },
            IdFrom::Location => match &answer.location {
                None => "`IdFrom` is `Location` and the response has no `Location` header; set `IdFrom: Body` and `IdPointer`".to_owned(),
                Some(location) => match endpoint::id_from_location(location) {
                    Some(id) => match outputs::check_id(&id) {
                        Ok(()) => return Ok(id),
                        Err(why) => format!("the `Location` header holds an unusable id: {why}"),
                    },
                    None => "the `Location` header has no last path segment to use as the id"
                        .to_owned(),
                },
            },
        };
        tracing::error!(
            status = answer.status.as_u16(),
            "the Create succeeded but no id could be read: an object may have been created and is not managed by the stack"
        );
        Err(Error::NoId {
            exchange: answer.exchange.clone(),
            status: error::status_text(answer.status),
            problem,
        })
    }

    /// `Outputs` from `answer`, or from a `Read` when the answer lacks them (an empty 204, a
    /// 201 with only a `Location`).
    async fn outputs(&self, answer: &Answer, id: &str) -> Result<Map<String, Value>, Error> {
        let props = self.props;
        if props.outputs.is_empty() {
            return Ok(Map::new());
        }
        let (data, missing) = read_outputs(&props.outputs, &answer.body);
        if missing.is_empty() {
            return self.checked(data);
        }
        let read = match &props.read {
            // Reading again cannot find more than a Read just did.
            Some(_) if answer.exchange.op == Op::Read => {
                return Err(self.missing(answer, &missing, false));
            }
            Some(read) => read,
            None => return Err(self.missing(answer, &missing, true)),
        };
        tracing::debug!(missing = ?missing, "reading the object for the outputs its answer lacks");
        let read_answer = self.sender.send(Op::Read, read, Some(id), None).await?;
        let (data, missing) = read_outputs(&props.outputs, &read_answer.body);
        if missing.is_empty() {
            self.checked(data)
        } else {
            Err(self.missing(&read_answer, &missing, false))
        }
    }

    /// Refuses `Data` that would show an `Auth` value.
    fn checked(&self, data: Map<String, Value>) -> Result<Map<String, Value>, Error> {
        for (name, value) in &data {
            if self.redactor.reveals(value.as_str().unwrap_or_default()) {
                return Err(Error::OutputRevealsSecret { name: name.clone() });
            }
        }
        Ok(data)
    }

    fn missing(&self, answer: &Answer, missing: &[String], suggest_read: bool) -> Error {
        Error::OutputsMissing {
            exchange: answer.exchange.clone(),
            status: error::status_text(answer.status),
            names: missing
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            found: describe_body(&answer.body),
            read_hint: if suggest_read {
                ", or add `Read` so they are read from the object".into()
            } else {
                String::new()
            },
        }
    }

    /// After a failure that follows a successful Create: delete the new object when the
    /// template configures `Delete` and the stage allows it (it would be deleted on rollback
    /// anyway, but CloudFormation never learns its id), and say what became of it.
    async fn undo_create(&self, id: &str) -> String {
        let props = self.props;
        let delete = match (&props.delete, props.on_delete) {
            (Some(_), OnDelete::Delete) if !self.delete_allowed => {
                tracing::error!(physical_id = %id, "the new object is left in place: the stage does not allow `DeleteRemote`");
                return format!(
                    "the new object `{id}` was left in place (`{}` does not allow `DeleteRemote`): remove it by hand",
                    custom_resource::trust::ALLOW_VARIABLE
                );
            }
            (Some(delete), OnDelete::Delete) => delete,
            _ => {
                tracing::error!(physical_id = %id, "the new object is left in place: the template has no `Delete` operation or retains");
                return format!(
                    "the new object `{id}` was left in place (no `Delete` operation, or `OnDelete: Retain`): remove it by hand"
                );
            }
        };
        match self.sender.send(Op::Delete, delete, Some(id), None).await {
            Ok(_) => {
                tracing::warn!(physical_id = %id, "deleted the new object again");
                format!("the new object `{id}` was deleted again")
            }
            Err(err) => {
                tracing::error!(physical_id = %id, error = %err, "could not delete the new object again");
                format!(
                    "deleting the new object `{id}` again failed too ({err}): remove it by hand"
                )
            }
        }
    }

    /// Keeps `id` as it is, sending nothing that changes it: its `Outputs` read again with
    /// `Read` when there are any and it is configured ([`UpdatePlan::Refresh`] and
    /// [`UpdatePlan::Keep`], and a rollback that finds nothing was replaced).
    async fn keep(&self, id: &str) -> Result<Outcome, Error> {
        let props = self.props;
        let Some(read) = props.read.as_ref().filter(|_| !props.outputs.is_empty()) else {
            return Ok(Outcome::keep_id().no_echo(props.no_echo));
        };
        tracing::info!(physical_id = %id, "nothing to change remotely; reading the object for `Outputs`");
        let answer = self.sender.send(Op::Read, read, Some(id), None).await?;
        let data = self.outputs(&answer, id).await?;
        Ok(Outcome::keep_id().with_data(data).no_echo(props.no_echo))
    }

    /// The rollback of a replacement, when CloudFormation sends the old properties to the new
    /// id: the object the failed update replaced (`previous`, from CloudFormation's events)
    /// still exists, so the answer names it again instead of creating a third, and
    /// CloudFormation deletes the new one in the rollback's cleanup. With `Read`, the object
    /// is read first (for `Outputs`, and to see it is there); `None` when it is gone (404,
    /// 410): then a new one is created as usual, and nothing is left behind.
    async fn return_to(&self, previous: &str) -> Result<Option<Outcome>, Error> {
        let props = self.props;
        if !endpoint::usable_id(previous) {
            tracing::warn!(
                replaced_id = previous,
                "the id the failed update replaced cannot be put into a path; creating a new object"
            );
            return Ok(None);
        }
        let Some(read) = &props.read else {
            if !props.outputs.is_empty() {
                tracing::warn!(
                    replaced_id = previous,
                    "no `Read` operation: the object the failed update replaced is current again without `Outputs`"
                );
            }
            tracing::info!(
                replaced_id = previous,
                "rolling back a replacement: the object it replaced is current again"
            );
            return Ok(Some(Outcome::new(previous).no_echo(props.no_echo)));
        };
        let answer = match self.sender.send(Op::Read, read, Some(previous), None).await {
            Ok(answer) => answer,
            Err(Error::Status { status, .. })
                if status.starts_with("404") || status.starts_with("410") =>
            {
                tracing::warn!(
                    replaced_id = previous,
                    "the object the failed update replaced is gone; creating a new one"
                );
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        let data = self.outputs(&answer, previous).await?;
        tracing::info!(
            replaced_id = previous,
            "rolling back a replacement: the object it replaced is current again"
        );
        Ok(Some(
            Outcome::new(previous)
                .with_data(data)
                .no_echo(props.no_echo),
        ))
    }

    async fn update(
        &self,
        request: &Request<Properties>,
        plan: UpdatePlan,
    ) -> Result<Outcome, Error> {
        let props = self.props;
        let id = request.physical_id();
        match plan {
            UpdatePlan::Replace { why, moved } => {
                match request.replacement() {
                    // The rollback of a replacement: back to the object it replaced.
                    Some(Some(previous)) => {
                        if let Some(outcome) = self.return_to(previous).await? {
                            return Ok(outcome);
                        }
                    }
                    // The rollback of an update that did not replace the object (it failed
                    // before, or undid what it made): the current object is the one from
                    // before, where the old properties say; making another would leave two,
                    // and the cleanup would delete this id where the failed properties point.
                    Some(None) => {
                        tracing::info!(physical_id = %id, "rolling back an update that did not replace the object: it stays current");
                        return self.keep(id).await;
                    }
                    None => {}
                }
                tracing::info!(physical_id = %id, why, "replacing the object: creating a new one; CloudFormation then deletes the old id");
                let outcome = self.create(request).await?;
                if moved
                    && outcome.physical_id() == Some(id)
                    && request.rolling_back() != Some(true)
                {
                    // CloudFormation would take the same id for an update in place, and never
                    // delete the object at the old place.
                    tracing::error!(physical_id = %id, "the new object got the current object's id at another place: refusing the move");
                    let note = self.undo_create(id).await;
                    return Err(Error::MovedUnderSameId {
                        id: id.to_owned(),
                        note,
                    });
                }
                Ok(outcome)
            }
            UpdatePlan::InPlace => {
                let Some(update) = &props.update else {
                    return Err(Error::Internal(
                        "an in-place update without `Update`".into(),
                    ));
                };
                let answer = self.sender.send(Op::Update, update, Some(id), None).await?;
                let data = self.outputs(&answer, id).await?;
                Ok(Outcome::keep_id().with_data(data).no_echo(props.no_echo))
            }
            UpdatePlan::Refresh | UpdatePlan::Keep => self.keep(id).await,
        }
    }
}

impl<S: SecretSource> CustomResource for HttpResource<S> {
    type Properties = Properties;
    type Error = Error;

    async fn create(&self, request: &Request<Properties>) -> Result<Outcome, Error> {
        self.check_host(&request.properties, request).await?;
        let session = self.session(&request.properties, request).await?;
        session.create(request).await
    }

    async fn update(&self, request: &Request<Properties>) -> Result<Outcome, Error> {
        let props = &request.properties;
        let id = request.physical_id();
        let plan = plan_update(props, request.old_properties.as_ref());
        if plan == UpdatePlan::Keep {
            // Nothing to send, so no secret to read: a template that retains a resource whose
            // secret is gone can still be updated.
            tracing::info!(physical_id = %id, "nothing to change remotely and no `Outputs`");
            return Ok(Outcome::keep_id().no_echo(props.no_echo));
        }
        self.check_host(props, request).await?;
        let session = self.session(props, request).await?;
        session.update(request, plan).await
    }

    async fn delete(&self, request: &Request<Properties>) -> Result<(), Error> {
        let props = &request.properties;
        let id = request.physical_id();
        let delete = match (&props.delete, props.on_delete) {
            (_, OnDelete::Retain) => {
                tracing::info!(physical_id = %id, "`OnDelete: Retain`: the remote object is kept");
                return Ok(());
            }
            (None, _) => {
                tracing::info!(physical_id = %id, "no `Delete` operation: the remote object is kept");
                return Ok(());
            }
            (Some(delete), OnDelete::Delete) => delete,
        };
        if !request.allows(Switch::DeleteRemote) {
            tracing::warn!(
                physical_id = %id,
                "`{}` does not allow `DeleteRemote`: the remote object is kept",
                custom_resource::trust::ALLOW_VARIABLE
            );
            return Ok(());
        }
        // Before the secret is read: a host the stage does not allow gets nothing.
        self.check_host(props, request).await?;
        let session = self.session(props, request).await?;
        let answer = session
            .sender
            .send(Op::Delete, delete, Some(id), None)
            .await?;
        if answer.gone {
            tracing::info!(physical_id = %id, status = answer.status.as_u16(), "already gone");
        } else {
            tracing::info!(physical_id = %id, status = answer.status.as_u16(), "deleted");
        }
        Ok(())
    }

    /// Deleting the remote object: asked for when the template configures `Delete` and does
    /// not retain.
    fn switches(&self, props: &Properties) -> Vec<Switch> {
        if props.delete.is_some() && props.on_delete == OnDelete::Delete {
            vec![Switch::DeleteRemote]
        } else {
            Vec::new()
        }
    }

    /// Any id that can be put into a path may be a remote object's; the runner has already
    /// recognised the ids it made for failed Creates and those CloudFormation invents.
    fn issued(&self, physical_id: &str, _resource: custom_resource::Resource<'_>) -> bool {
        endpoint::usable_id(physical_id)
    }
}

/// Where `Read` finds the object `physical_id`, as this function would ask for it (its own
/// parsing of `properties`, raw as CloudFormation sends them, and its encoding of the id in
/// the path): the method and URL. `None` when the properties do not parse, there is no `Read`,
/// `Auth` is needed (its secret is not at hand), or the id cannot go into the path. The
/// stage runner's drift check asks this before telling whether a recorded object is gone.
pub fn read_request(properties: &Value, physical_id: &str) -> Option<(reqwest::Method, url::Url)> {
    let props = parse_properties(properties).ok()?;
    if !props.auth.is_empty() {
        return None;
    }
    let read = props.read.as_ref()?;
    let url = endpoint::request_url(&props.base_url, &read.path, Some(physical_id)).ok()?;
    Some((read.method.clone(), url))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_read_request_encodes_the_id_as_the_function_does_and_needs_no_secret() {
        let props = json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:1:function:f",
            "BaseUrl": "https://api.example.com/v1",
            "Create": {"Path": "/hooks"},
            "Read": {"Path": "/hooks/{id}?full=1"},
        });
        let (method, url) = read_request(&props, "a b/c").unwrap();
        assert_eq!(method, reqwest::Method::GET);
        assert_eq!(
            url.as_str(),
            "https://api.example.com/v1/hooks/a%20b%2Fc?full=1"
        );
        let mut without_read = props.clone();
        without_read.as_object_mut().unwrap().remove("Read");
        assert_eq!(read_request(&without_read, "1"), None);
        let mut with_auth = props.clone();
        with_auth["Auth"] =
            json!({"SecretArn": "arn:aws:secretsmanager:us-east-1:1:secret:t", "Key": "token"});
        assert_eq!(read_request(&with_auth, "1"), None);
        assert_eq!(read_request(&json!({"BaseUrl": 1}), "1"), None);
    }
}
