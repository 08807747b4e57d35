//! CloudFormation's lifecycle for a stage's custom resources, on one machine: Create what is
//! new, Update what changed, replace when the physical id changes (the old one is deleted at
//! cleanup), roll back on failure, and recreate what local services lost (drift).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use harness::{Lambda, LambdaConfig, ResponseServer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::graph;
use crate::intrinsics::{Context, Lookup, Mode, StackInfo, scalar_text};
use crate::overrides::Overrides;
use crate::plan::{self, Done, Policy, Removal, Step, Undo};
use crate::samconfig;
use crate::services::{self, Services};
use crate::state::{ResourceState, StageState};
use crate::template::Template;

/// Where the stage's inputs and state are.
#[derive(Debug, Clone)]
pub struct Options {
    /// dev, test, stage or prod.
    pub stage: String,
    /// `template.yaml`.
    pub template: PathBuf,
    /// `samconfig.toml`.
    pub samconfig: PathBuf,
    /// `local/overrides.yaml`.
    pub overrides: PathBuf,
    /// Where per-stage state is kept.
    pub state_dir: PathBuf,
    /// Local services.
    pub services: services::Options,
    /// Where the function binaries are.
    pub bin_dir: PathBuf,
    /// Parameter values given on the command line (over samconfig and overrides).
    pub parameters: BTreeMap<String, String>,
    /// Extra environment per function binary: (binary, key, value).
    pub env: Vec<(String, String, String)>,
}

/// One line of the event log, as CloudFormation shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Seconds since the run started.
    pub at: Duration,
    /// The resource's (or the stack's) logical id.
    pub logical_id: String,
    /// Its type.
    pub kind: String,
    /// `CREATE_COMPLETE`, `UPDATE_FAILED`, …
    pub status: String,
    /// Why, when CloudFormation would say.
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The events, in order.
    pub events: Vec<Event>,
    /// Whether the stack ended where it was asked to go.
    pub ok: bool,
}

impl Report {
    /// The statuses of `logical_id`, in order.
    pub fn statuses(&self, logical_id: &str) -> Vec<&str> {
        self.events
            .iter()
            .filter(|e| e.logical_id == logical_id)
            .map(|e| e.status.as_str())
            .collect()
    }
}

struct Function {
    binary: String,
    name: String,
    timeout: Duration,
    env: Vec<(String, String)>,
}

struct Run<'o> {
    options: &'o Options,
    template: Template,
    stack: StackInfo,
    overrides: Overrides,
    services: Services,
    secrets: BTreeMap<String, String>,
    functions: BTreeMap<String, Function>,
    versions: BTreeMap<String, String>,
    state: StageState,
    responses: ResponseServer,
    lambdas: BTreeMap<String, Lambda>,
    http: reqwest::Client,
    events: Vec<Event>,
    /// The stack's status, as the last stack event set it.
    stack_status: String,
    started: Instant,
    out: &'o mut dyn Write,
}

/// Values of resources: custom resources from the state, functions from the template,
/// AWS-only resources from the overrides file.
struct Values<'r> {
    state: &'r StageState,
    functions: &'r BTreeMap<String, Function>,
    versions: &'r BTreeMap<String, String>,
    secrets: &'r BTreeMap<String, String>,
    overrides: &'r Overrides,
    stack: &'r StackInfo,
}

impl Lookup for Values<'_> {
    fn reference(&self, logical_id: &str) -> Option<Value> {
        if let Some(r) = self.state.resources.get(logical_id) {
            return Some(Value::String(r.physical_id.clone()));
        }
        if let Some((function, suffix)) = logical_id.split_once('.') {
            let f = self.functions.get(function)?;
            return match suffix {
                "Version" => self
                    .versions
                    .get(&f.binary)
                    .map(|v| Value::String(v.clone())),
                "Alias" => Some(Value::String(format!(
                    "{}:live",
                    function_arn(self.stack, &f.name)
                ))),
                _ => None,
            };
        }
        if let Some(f) = self.functions.get(logical_id) {
            return Some(Value::String(f.name.clone()));
        }
        if let Some(arn) = self.secrets.get(logical_id) {
            return Some(Value::String(arn.clone()));
        }
        self.overrides
            .resources
            .get(logical_id)
            .and_then(|r| r.reference.clone())
    }

    fn attribute(&self, logical_id: &str, attribute: &str) -> Option<Value> {
        if let Some(r) = self.state.resources.get(logical_id) {
            return r.data.get(attribute).cloned();
        }
        if let Some(f) = self.functions.get(logical_id) {
            return (attribute == "Arn").then(|| Value::String(function_arn(self.stack, &f.name)));
        }
        if let Some(arn) = self.secrets.get(logical_id) {
            return matches!(attribute, "Arn" | "Id").then(|| Value::String(arn.clone()));
        }
        self.overrides
            .resources
            .get(logical_id)
            .and_then(|r| r.attributes.get(attribute).cloned())
    }
}

fn function_arn(stack: &StackInfo, name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        stack.region, stack.account
    )
}

/// Brings the stage up: starts services, then creates, updates or replaces its custom
/// resources, rolling back on failure.
///
/// # Errors
///
/// For problems before any resource is touched (template, configuration, services); a failed
/// resource is a `Report` with `ok == false`, after rollback.
pub async fn up(options: &Options, out: &mut dyn Write) -> Result<Report, Error> {
    let mut run = Run::prepare(options, out).await?;
    run.up().await
}

/// Deletes the stage's custom resources in reverse dependency order.
///
/// # Errors
///
/// As [`up`].
pub async fn down(options: &Options, out: &mut dyn Write) -> Result<Report, Error> {
    let mut run = Run::prepare(options, out).await?;
    run.down().await
}

/// Prints the stage's state.
///
/// # Errors
///
/// [`Error::State`] when the state file cannot be read.
pub fn status(options: &Options, out: &mut dyn Write) -> Result<(), Error> {
    let Some(state) = StageState::load(&options.state_dir, &options.stage)? else {
        let _ = writeln!(out, "Stage `{}`: nothing deployed locally.", options.stage);
        return Ok(());
    };
    let _ = writeln!(
        out,
        "Stack {} ({} custom resources)",
        state.stack_name,
        state.resources.len()
    );
    for id in &state.created {
        if let Some(r) = state.resources.get(id) {
            let _ = writeln!(out, "  {id:<22} {:<27} {}", r.kind, r.physical_id);
            for (k, v) in &r.data {
                let _ = writeln!(out, "      {k} = {}", scalar_text(v));
            }
        }
    }
    Ok(())
}

impl<'o> Run<'o> {
    async fn prepare(options: &'o Options, out: &'o mut dyn Write) -> Result<Run<'o>, Error> {
        let template = Template::load(&options.template)?;
        let config = samconfig::load(&options.samconfig, &options.stage)?;
        let raw_overrides = Overrides::load(&options.overrides)?;
        let state = StageState::load(&options.state_dir, &options.stage)?;
        let stack_id = state
            .as_ref()
            .map(|s| s.stack_id.clone())
            .unwrap_or_else(|| {
                format!(
                    "arn:aws:cloudformation:{}:123456789012:stack/{}/{}",
                    config.region,
                    config.stack_name,
                    uuid::Uuid::new_v4()
                )
            });
        let stack = StackInfo {
            name: config.stack_name.clone(),
            region: config.region.clone(),
            account: "123456789012".into(),
            stack_id: stack_id.clone(),
        };
        let state = state.unwrap_or(StageState {
            stack_name: config.stack_name.clone(),
            stack_id,
            ..StageState::default()
        });
        let services = services::ensure(&options.services, &options.stage, out)?;
        let overrides = raw_overrides.fill(&services.placeholders(&stack.name, &options.stage))?;
        let responses = ResponseServer::start()
            .await
            .map_err(|e| Error::Invoke(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Service(e.to_string()))?;
        let mut run = Run {
            options,
            template,
            stack,
            overrides,
            services,
            secrets: BTreeMap::new(),
            functions: BTreeMap::new(),
            versions: BTreeMap::new(),
            state,
            responses,
            lambdas: BTreeMap::new(),
            http,
            events: Vec::new(),
            stack_status: String::new(),
            started: Instant::now(),
            out,
        };
        run.discover_functions(&config.parameters)?;
        Ok(run)
    }

    /// The parameter values: samconfig's, then the overrides file's, then the command line's.
    fn parameter_values(&self, samconfig: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut values = samconfig.clone();
        values.extend(self.overrides.parameters.clone());
        values.extend(self.options.parameters.clone());
        values
    }

    fn discover_functions(&mut self, samconfig: &BTreeMap<String, String>) -> Result<(), Error> {
        let values = self.parameter_values(samconfig);
        let template = self.template.clone();
        let ctx = Context::new(&template, &values, &self.stack, Mode::Lenient)?;
        let globals = template
            .globals
            .get("Function")
            .cloned()
            .unwrap_or(Value::Null);
        for (id, resource) in &template.resources {
            if !matches!(
                resource.kind.as_str(),
                "AWS::Serverless::Function" | "AWS::Lambda::Function"
            ) {
                continue;
            }
            let props = ctx.resolve(&resource.properties, id, &crate::intrinsics::NoResources)?;
            let binary = resource
                .metadata
                .pointer("/BuildProperties/Binary")
                .and_then(Value::as_str)
                .map_or_else(|| id.to_lowercase(), str::to_owned);
            let name = props
                .get("FunctionName")
                .and_then(Value::as_str)
                .filter(|n| !n.starts_with('<'))
                .map_or_else(|| format!("{}-{id}", self.stack.name), str::to_owned);
            let timeout = props
                .get("Timeout")
                .or_else(|| globals.get("Timeout"))
                .map(scalar_text)
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(3);
            let mut env: Vec<(String, String)> = Vec::new();
            for vars in [
                ctx.resolve(&globals, id, &crate::intrinsics::NoResources)?
                    .pointer("/Environment/Variables")
                    .cloned(),
                props.pointer("/Environment/Variables").cloned(),
            ]
            .into_iter()
            .flatten()
            {
                if let Value::Object(map) = vars {
                    for (k, v) in map {
                        let text = scalar_text(&v);
                        // Values that only AWS can supply stay unset locally.
                        if !text.starts_with('<') {
                            env.push((k, text));
                        }
                    }
                }
            }
            self.functions.insert(
                id.clone(),
                Function {
                    binary,
                    name,
                    timeout: Duration::from_secs(timeout),
                    env,
                },
            );
        }
        Ok(())
    }

    fn event(&mut self, logical_id: &str, kind: &str, status: &str, reason: &str) {
        let event = Event {
            at: self.started.elapsed(),
            logical_id: logical_id.to_owned(),
            kind: kind.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
        };
        let clock = utc_time_of_day();
        let _ = writeln!(
            self.out,
            "{clock}  {logical_id:<24} {kind:<28} {status:<26} {reason}"
        );
        self.events.push(event);
        if kind == "AWS::CloudFormation::Stack" {
            // What the stand-in CloudFormation tells a function that asks.
            self.stack_status = status.to_owned();
        }
    }

    fn report(&mut self, ok: bool) -> Report {
        Report {
            events: std::mem::take(&mut self.events),
            ok,
        }
    }

    async fn lambda(&mut self, binary: &str) -> Result<&Lambda, Error> {
        if !self.lambdas.contains_key(binary) {
            let path = self.options.bin_dir.join(binary);
            if !path.is_file() {
                return Err(Error::Invoke(format!(
                    "function binary `{}` is missing: build it with `cargo build -p {binary}` (`make up` does)",
                    path.display()
                )));
            }
            let timeout = self
                .functions
                .values()
                .find(|f| f.binary == binary)
                .map_or(Duration::from_secs(60), |f| f.timeout);
            let mut config = LambdaConfig::new(path)
                .name(format!("{}-{binary}", self.stack.name))
                .region(self.stack.region.clone())
                .timeout(timeout)
                .responses(&self.responses)
                .env("RUST_LOG", "info");
            for (k, v) in self.services.aws_env(&self.stack.region) {
                config = config.env(k, v);
            }
            let template_env: &[(String, String)] = self
                .functions
                .values()
                .find(|f| f.binary == binary)
                .map_or(&[], |f| &f.env);
            for (k, v) in template_env {
                config = config.env(k.clone(), v.clone());
            }
            // An override may extend the template's value: `{template}` stands for it.
            for (k, v) in self.overrides.environment.get(binary).into_iter().flatten() {
                let from_template = template_env
                    .iter()
                    .rev()
                    .find(|(key, _)| key == k)
                    .map_or("", |(_, value)| value.as_str());
                config = config.env(k.clone(), v.replace("{template}", from_template));
            }
            for (b, k, v) in &self.options.env {
                if b == binary {
                    config = config.env(k.clone(), v.clone());
                }
            }
            let lambda = Lambda::start(config)
                .await
                .map_err(|e| Error::Invoke(e.to_string()))?;
            self.lambdas.insert(binary.to_owned(), lambda);
        }
        self.lambdas
            .get(binary)
            .ok_or_else(|| Error::Invoke(format!("no function `{binary}`")))
    }

    /// Sends one request the way CloudFormation does and returns the response body; a
    /// function that cannot be run answers FAILED, as CloudFormation would report it.
    #[allow(clippy::too_many_arguments)] // one argument per field of CloudFormation's request
    async fn send(
        &mut self,
        request_type: &str,
        logical_id: &str,
        kind: &str,
        function: &str,
        physical_id: Option<&str>,
        properties: &Value,
        old_properties: Option<&Value>,
    ) -> Result<Value, Error> {
        let sent = self
            .try_send(
                request_type,
                logical_id,
                kind,
                function,
                physical_id,
                properties,
                old_properties,
            )
            .await;
        Ok(sent.unwrap_or_else(|e| {
            json!({
                "Status": "FAILED",
                "Reason": e.to_string(),
                "PhysicalResourceId": physical_id.unwrap_or_default(),
                "Data": {},
            })
        }))
    }

    #[allow(clippy::too_many_arguments)]
    async fn try_send(
        &mut self,
        request_type: &str,
        logical_id: &str,
        kind: &str,
        function: &str,
        physical_id: Option<&str>,
        properties: &Value,
        old_properties: Option<&Value>,
    ) -> Result<Value, Error> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut event = json!({
            "RequestType": request_type,
            "ServiceToken": properties.get("ServiceToken").cloned().unwrap_or(Value::Null),
            "ResponseURL": self.responses.url_for(&request_id),
            "StackId": self.stack.stack_id,
            "RequestId": request_id,
            "LogicalResourceId": logical_id,
            "ResourceType": kind,
            "ResourceProperties": properties,
        });
        if let Some(id) = physical_id {
            event["PhysicalResourceId"] = json!(id);
        }
        if let Some(old) = old_properties {
            event["OldResourceProperties"] = old.clone();
        }
        if let Some(t) = properties.get("ServiceTimeout") {
            event["ServiceTimeout"] = t.clone();
        }
        let stack_status = self.stack_status.clone();
        let lambda = self.lambda(function).await?;
        // The function asks CloudFormation whether this request is real: the stand-in answers
        // with the phase this run is in (a rollback, a cleanup, a delete).
        let invocation = if stack_status.ends_with("_IN_PROGRESS") {
            lambda.invoke_during(event, &stack_status).await
        } else {
            lambda.invoke(event).await
        };
        let invocation = invocation.map_err(|e| Error::Invoke(e.to_string()))?;
        let delivered = invocation.delivered();
        match delivered.first().and_then(|p| p.json()) {
            Some(body) => Ok(body),
            // CloudFormation would wait for ServiceTimeout; locally the answer is known now.
            None => Ok(json!({
                "Status": "FAILED",
                "Reason": format!("the function sent no response ({:?}); CloudFormation would wait for ServiceTimeout", invocation.lambda),
                "PhysicalResourceId": physical_id.unwrap_or_default(),
                "Data": {},
            })),
        }
    }

    /// A function's version: a hash of its code. Locally, code may also come from a folder
    /// named in its environment (db-migration's test-only migrations folder), so the files of
    /// such folders count too: a new migration there is a new version, as a new build would be.
    fn version(&mut self, binary: &str) -> String {
        if let Some(v) = self.versions.get(binary) {
            return v.clone();
        }
        let mut hasher = Sha256::new();
        hasher.update(std::fs::read(self.options.bin_dir.join(binary)).unwrap_or_default());
        let mut folders: Vec<PathBuf> = self
            .options
            .env
            .iter()
            .filter(|(b, _, _)| b == binary)
            .map(|(_, _, v)| PathBuf::from(v))
            .chain(
                self.overrides
                    .environment
                    .get(binary)
                    .into_iter()
                    .flatten()
                    .map(|(_, v)| PathBuf::from(v)),
            )
            .filter(|p| p.is_dir())
            .collect();
        folders.sort();
        for folder in folders {
            for file in files_under(&folder) {
                hasher.update(
                    file.strip_prefix(&folder)
                        .unwrap_or(&file)
                        .as_os_str()
                        .as_encoded_bytes(),
                );
                hasher.update(std::fs::read(&file).unwrap_or_default());
            }
        }
        let digest = hasher.finalize();
        let v: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        self.versions.insert(binary.to_owned(), v.clone());
        v
    }

    /// Puts the overrides file's secrets into moto, as the template's AWS-only secrets would be.
    async fn ensure_secrets(&mut self) -> Result<(), Error> {
        let secrets = self.overrides.secrets.clone();
        for (logical_id, secret) in secrets {
            let value = match &secret.value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let described = self
                .moto("DescribeSecret", &json!({"SecretId": secret.name}))
                .await?;
            let arn = if let Some(arn) = described.get("ARN").and_then(Value::as_str) {
                let current = self
                    .moto("GetSecretValue", &json!({"SecretId": arn}))
                    .await?;
                if current.get("SecretString").and_then(Value::as_str) != Some(value.as_str()) {
                    self.moto(
                        "PutSecretValue",
                        &json!({"SecretId": arn, "SecretString": value}),
                    )
                    .await?;
                }
                arn.to_owned()
            } else {
                let created = self
                    .moto(
                        "CreateSecret",
                        &json!({"Name": secret.name, "SecretString": value}),
                    )
                    .await?;
                created
                    .get("ARN")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Error::Service(format!(
                            "moto did not create secret `{}`: {created}",
                            secret.name
                        ))
                    })?
                    .to_owned()
            };
            self.secrets.insert(logical_id, arn);
        }
        Ok(())
    }

    /// One Secrets Manager call to moto over its JSON protocol; `{}` for not-found.
    async fn moto(&self, operation: &str, body: &Value) -> Result<Value, Error> {
        // The harness's one Secrets Manager client; "not found" reads as an empty answer.
        let client = harness::SecretsManager::new(&self.services.moto_endpoint)
            .region(self.stack.region.clone());
        match client.call(operation, body).await {
            Ok(value) => Ok(value),
            Err(err) if err.is_not_found() => Ok(json!({})),
            Err(err) => Err(Error::Service(format!("moto {operation}: {err}"))),
        }
    }

    /// Why a recorded resource no longer exists, if it does not (local services may have lost
    /// their state: moto keeps nothing on disk).
    async fn drift(&self, resource: &ResourceState) -> Option<String> {
        match resource.kind.as_str() {
            "Custom::SeededSecret" => {
                let described = self
                    .moto("DescribeSecret", &json!({"SecretId": resource.physical_id}))
                    .await
                    .ok()?;
                if described.get("ARN").is_none() {
                    Some("the secret no longer exists in moto (it keeps nothing on disk)".into())
                } else if described.get("DeletedDate").is_some_and(|d| !d.is_null()) {
                    Some("the secret is scheduled for deletion".into())
                } else {
                    None
                }
            }
            "Custom::DatabaseMigration" => {
                let (_, rest) = resource.physical_id.split_once("://")?;
                let (hostport, database) = rest.split_once('/')?;
                let (host, port) = hostport.rsplit_once(':')?;
                let port: u16 = port.parse().ok()?;
                if !resource.physical_id.starts_with("postgres") {
                    return None;
                }
                database_missing(host, port, database).await
            }
            "Custom::HttpResource" => {
                let base = resource.properties.get("BaseUrl").and_then(Value::as_str)?;
                let path = resource
                    .properties
                    .pointer("/Read/Path")
                    .and_then(Value::as_str)?;
                if resource.properties.get("Auth").is_some() {
                    return None;
                }
                let url = format!(
                    "{}{}",
                    base.trim_end_matches('/'),
                    path.replace("{id}", &resource.physical_id)
                );
                let status = self.http.get(&url).send().await.ok()?.status();
                matches!(status.as_u16(), 404 | 410)
                    .then(|| format!("the remote object is gone ({status} from {url})"))
            }
            _ => None,
        }
    }

    fn resolve(
        &mut self,
        logical_id: &str,
        samconfig_values: &BTreeMap<String, String>,
    ) -> Result<(Value, String), Error> {
        let resource = self
            .template
            .resources
            .get(logical_id)
            .cloned()
            .ok_or_else(|| Error::Template(format!("no resource `{logical_id}`")))?;
        let function_id = graph::references(
            resource
                .properties
                .get("ServiceToken")
                .unwrap_or(&Value::Null),
            &self.template,
        )
        .into_iter()
        .find(|r| self.functions.contains_key(r))
        .ok_or_else(|| Error::Intrinsic {
            resource: logical_id.to_owned(),
            message: "its `ServiceToken` does not refer to a function of this template".into(),
        })?;
        let binary = self.functions[&function_id].binary.clone();
        let binaries: Vec<String> = self.functions.values().map(|f| f.binary.clone()).collect();
        for b in binaries {
            self.version(&b);
        }
        let values = self.parameter_values(samconfig_values);
        let template = self.template.clone();
        let ctx = Context::new(&template, &values, &self.stack, Mode::Strict)?;
        let lookup = Values {
            state: &self.state,
            functions: &self.functions,
            versions: &self.versions,
            secrets: &self.secrets,
            overrides: &self.overrides,
            stack: &self.stack,
        };
        let mut properties = ctx.resolve(&resource.properties, logical_id, &lookup)?;
        if let (Some(local), Value::Object(map)) =
            (self.overrides.properties.get(logical_id), &mut properties)
        {
            for (k, v) in local {
                map.insert(k.clone(), v.clone());
            }
        }
        Ok((properties, binary))
    }

    async fn up(&mut self) -> Result<Report, Error> {
        let config = samconfig::load(&self.options.samconfig, &self.options.stage)?;
        let values = self.parameter_values(&config.parameters);
        let template = self.template.clone();
        let ctx = Context::new(&template, &values, &self.stack, Mode::Strict)?;
        let mut included = BTreeSet::new();
        for (id, resource) in template.custom_resources() {
            let wanted = match &resource.condition {
                Some(c) => ctx.condition(c)?,
                None => true,
            };
            if wanted {
                included.insert(id.to_owned());
            }
        }
        let order = graph::order(&template, &included)?;
        self.ensure_secrets().await?;
        let _ = writeln!(
            self.out,
            "\nStack {} (stage {}):",
            self.stack.name, self.options.stage
        );
        let stack_name = self.stack.name.clone();
        let phases = plan::phases(self.state.resources.is_empty());
        self.event(&stack_name, "AWS::CloudFormation::Stack", phases.begin, "");
        let mut done: Vec<Done> = Vec::new();
        let mut replaced: Vec<(String, ResourceState)> = Vec::new();
        let mut failure: Option<String> = None;
        for id in &order {
            let kind = template.resources[id].kind.clone();
            let (properties, function) = match self.resolve(id, &config.parameters) {
                Ok(p) => p,
                Err(e) => {
                    self.event(
                        id,
                        &kind,
                        if self.state.resources.contains_key(id) {
                            "UPDATE_FAILED"
                        } else {
                            "CREATE_FAILED"
                        },
                        &e.to_string(),
                    );
                    failure = Some(format!("resource `{id}`: {e}"));
                    break;
                }
            };
            let (deletion_policy, update_replace_policy) = match self.policies(id, &ctx) {
                Ok(p) => p,
                Err(e) => {
                    self.event(id, &kind, "CREATE_FAILED", &e.to_string());
                    failure = Some(format!("resource `{id}`: {e}"));
                    break;
                }
            };
            if let Some(r) = self.state.resources.get_mut(id) {
                // CloudFormation applies a changed policy without a request to the resource.
                r.deletion_policy = deletion_policy;
                r.update_replace_policy = update_replace_policy;
            }
            let previous = self.state.resources.get(id).cloned();
            let previous = match previous {
                Some(p) => match self.drift(&p).await {
                    Some(why) => {
                        self.event(id, &kind, "DRIFTED", &format!("{why}: creating it again"));
                        done.push(Done::Updated(id.clone(), p.clone(), properties.clone()));
                        self.state.resources.remove(id);
                        None
                    }
                    None => Some(p),
                },
                None => None,
            };
            let outcome = match plan::step(previous.as_ref(), &properties, &function) {
                Step::Unchanged => continue,
                Step::Create => {
                    self.event(id, &kind, "CREATE_IN_PROGRESS", "");
                    let response = self
                        .send("Create", id, &kind, &function, None, &properties, None)
                        .await?;
                    let ok = response["Status"] == "SUCCESS";
                    let physical_id = response["PhysicalResourceId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    if physical_id.is_empty() {
                        // Nothing was created and no id came back: there is nothing to delete.
                        self.event(
                            id,
                            &kind,
                            "CREATE_FAILED",
                            response["Reason"].as_str().unwrap_or_default(),
                        );
                        failure = Some(format!(
                            "resource `{id}`: {}",
                            response["Reason"].as_str().unwrap_or_default()
                        ));
                        break;
                    }
                    if !done
                        .iter()
                        .any(|d| matches!(d, Done::Updated(d_id, ..) if d_id == id))
                    {
                        done.push(Done::Created(id.clone()));
                    }
                    self.state.resources.insert(
                        id.clone(),
                        ResourceState {
                            kind: kind.clone(),
                            function: function.clone(),
                            physical_id,
                            properties: properties.clone(),
                            data: response["Data"].as_object().cloned().unwrap_or_default(),
                            deletion_policy,
                            update_replace_policy,
                        },
                    );
                    if !self.state.created.contains(id) {
                        self.state.created.push(id.clone());
                    }
                    (ok, "CREATE", response)
                }
                Step::Update => {
                    let Some(prev) = previous.as_ref() else {
                        continue;
                    };
                    self.event(id, &kind, "UPDATE_IN_PROGRESS", "");
                    let response = self
                        .send(
                            "Update",
                            id,
                            &kind,
                            &function,
                            Some(&prev.physical_id),
                            &properties,
                            Some(&prev.properties),
                        )
                        .await?;
                    let ok = response["Status"] == "SUCCESS";
                    done.push(Done::Updated(id.clone(), prev.clone(), properties.clone()));
                    if ok {
                        let physical_id = response["PhysicalResourceId"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        if physical_id != prev.physical_id {
                            replaced.push((id.clone(), prev.clone()));
                        }
                        self.state.resources.insert(
                            id.clone(),
                            ResourceState {
                                kind: kind.clone(),
                                function: function.clone(),
                                physical_id,
                                properties: properties.clone(),
                                data: response["Data"].as_object().cloned().unwrap_or_default(),
                                deletion_policy,
                                update_replace_policy,
                            },
                        );
                    }
                    (ok, "UPDATE", response)
                }
            };
            let (ok, verb, response) = outcome;
            let reason = response["Reason"].as_str().unwrap_or_default().to_owned();
            if ok {
                self.event(id, &kind, &format!("{verb}_COMPLETE"), &reason);
                self.state
                    .save(&self.options.state_dir, &self.options.stage)?;
            } else {
                self.event(id, &kind, &format!("{verb}_FAILED"), &reason);
                failure = Some(format!("resource `{id}`: {reason}"));
                break;
            }
        }
        if let Some(why) = failure {
            self.event(
                &stack_name,
                "AWS::CloudFormation::Stack",
                phases.rolling_back,
                &why,
            );
            let clean = self.rollback(&done).await?;
            self.state
                .save(&self.options.state_dir, &self.options.stage)?;
            let status = if clean {
                phases.rolled_back
            } else {
                phases.rollback_failed
            };
            self.event(&stack_name, "AWS::CloudFormation::Stack", status, "");
            self.summary();
            return Ok(self.report(false));
        }
        // Cleanup: the replaced physical resources, and what left the template.
        if !replaced.is_empty() || self.state.resources.keys().any(|id| !included.contains(id)) {
            self.event(
                &stack_name,
                "AWS::CloudFormation::Stack",
                "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                "",
            );
        }
        for (id, old) in replaced.into_iter().rev() {
            // The replacement's own policy, as the template now gives it.
            let policy = self
                .state
                .resources
                .get(&id)
                .map_or(Policy::Delete, |r| r.update_replace_policy);
            if plan::sends_delete(Removal::Replaced, Policy::Delete, policy) {
                self.delete(&id, &old).await?;
            } else {
                self.skipped(&id, &old, "UpdateReplacePolicy: Retain");
            }
        }
        let removed: Vec<String> = self
            .state
            .created
            .iter()
            .rev()
            .filter(|id| !included.contains(*id) && self.state.resources.contains_key(*id))
            .cloned()
            .collect();
        for id in removed {
            let Some(old) = self.state.resources.get(&id).cloned() else {
                continue;
            };
            let gone = if plan::sends_delete(
                Removal::LeftTemplate,
                old.deletion_policy,
                old.update_replace_policy,
            ) {
                self.delete(&id, &old).await?
            } else {
                self.skipped(&id, &old, "DeletionPolicy: Retain");
                true
            };
            if gone {
                self.state.resources.remove(&id);
                self.state.created.retain(|c| c != &id);
            }
        }
        self.state
            .save(&self.options.state_dir, &self.options.stage)?;
        self.event(
            &stack_name,
            "AWS::CloudFormation::Stack",
            phases.complete,
            "",
        );
        self.summary();
        Ok(self.report(true))
    }

    /// Sends a Delete; true when it succeeded.
    async fn delete(&mut self, id: &str, resource: &ResourceState) -> Result<bool, Error> {
        self.event(
            id,
            &resource.kind,
            "DELETE_IN_PROGRESS",
            &resource.physical_id,
        );
        let response = self
            .send(
                "Delete",
                id,
                &resource.kind,
                &resource.function,
                Some(&resource.physical_id),
                &resource.properties,
                None,
            )
            .await?;
        let reason = response["Reason"].as_str().unwrap_or_default().to_owned();
        if response["Status"] == "SUCCESS" {
            self.event(id, &resource.kind, "DELETE_COMPLETE", &reason);
            Ok(true)
        } else {
            self.event(id, &resource.kind, "DELETE_FAILED", &reason);
            Ok(false)
        }
    }

    /// Says that a Delete was not sent (`DELETE_SKIPPED`, as CloudFormation shows it).
    fn skipped(&mut self, id: &str, resource: &ResourceState, why: &str) {
        self.event(
            id,
            &resource.kind,
            "DELETE_SKIPPED",
            &format!("{}: {why}", resource.physical_id),
        );
    }

    /// The resource's `DeletionPolicy` and `UpdateReplacePolicy`, resolved (either may be an
    /// `Fn::If`).
    fn policies(&self, id: &str, ctx: &Context<'_>) -> Result<(Policy, Policy), Error> {
        let resource = &self.template.resources[id];
        let resolve = |value: &Option<Value>, attribute: &str| -> Result<Policy, Error> {
            let Some(value) = value else {
                return Ok(Policy::Delete);
            };
            let text = scalar_text(&ctx.resolve(value, id, &crate::intrinsics::NoResources)?);
            Policy::parse(&text).ok_or_else(|| {
                Error::Template(format!(
                    "resource `{id}`: `{attribute}` must be `Delete`, `Retain`, \
                     `RetainExceptOnCreate` or `Snapshot`, got `{text}`"
                ))
            })
        };
        Ok((
            resolve(&resource.deletion_policy, "DeletionPolicy")?,
            resolve(&resource.update_replace_policy, "UpdateReplacePolicy")?,
        ))
    }

    /// Undoes this run as [`plan::rollback`] says; true when every request succeeded.
    async fn rollback(&mut self, done: &[Done]) -> Result<bool, Error> {
        let resources = self.state.resources.clone();
        let undo = plan::rollback(
            done,
            |id| resources.get(id),
            |id| {
                resources
                    .get(id)
                    .map_or(Policy::Delete, |r| r.deletion_policy)
            },
        );
        let mut clean = true;
        for step in undo {
            match step {
                Undo::Delete { id, current } => {
                    if self.delete(&id, &current).await? {
                        self.forget(&id);
                    } else {
                        clean = false;
                    }
                }
                Undo::Skip { id, current } => {
                    self.skipped(&id, &current, "DeletionPolicy: Retain");
                    self.forget(&id);
                }
                Undo::DeleteReplacement {
                    id,
                    current,
                    previous,
                } => {
                    if self.delete(&id, &current).await? {
                        self.state.resources.insert(id, previous);
                    } else {
                        clean = false;
                    }
                }
                Undo::Restore { id, previous } => {
                    self.state.resources.insert(id, previous);
                }
                Undo::UpdateBack {
                    id,
                    current,
                    previous,
                    attempted,
                } => {
                    self.event(
                        &id,
                        &current.kind,
                        "UPDATE_IN_PROGRESS",
                        "rolling back to the previous properties",
                    );
                    let response = self
                        .send(
                            "Update",
                            &id,
                            &current.kind,
                            &previous.function,
                            Some(&current.physical_id),
                            &previous.properties,
                            // As CloudFormation does: what was last sent, even by an Update
                            // that failed, is the old.
                            Some(&attempted),
                        )
                        .await?;
                    let reason = response["Reason"].as_str().unwrap_or_default().to_owned();
                    if response["Status"] == "SUCCESS" {
                        self.event(&id, &current.kind, "UPDATE_COMPLETE", &reason);
                        let mut restored = previous;
                        if let Some(data) = response["Data"].as_object() {
                            restored.data = data.clone();
                        }
                        self.state.resources.insert(id, restored);
                    } else {
                        self.event(&id, &current.kind, "UPDATE_FAILED", &reason);
                        clean = false;
                    }
                }
            }
        }
        Ok(clean)
    }

    /// Drops a resource from the record.
    fn forget(&mut self, id: &str) {
        self.state.resources.remove(id);
        self.state.created.retain(|c| c != id);
    }

    async fn down(&mut self) -> Result<Report, Error> {
        let stack_name = self.stack.name.clone();
        if self.state.resources.is_empty() {
            let _ = writeln!(
                self.out,
                "Stage `{}`: nothing deployed locally.",
                self.options.stage
            );
            StageState::remove(&self.options.state_dir, &self.options.stage)?;
            return Ok(self.report(true));
        }
        let _ = writeln!(
            self.out,
            "\nStack {stack_name} (stage {}):",
            self.options.stage
        );
        self.event(
            &stack_name,
            "AWS::CloudFormation::Stack",
            "DELETE_IN_PROGRESS",
            "",
        );
        let order: Vec<String> = self.state.created.iter().rev().cloned().collect();
        let mut ok = true;
        for id in order {
            let Some(resource) = self.state.resources.get(&id).cloned() else {
                continue;
            };
            let gone = if plan::sends_delete(
                Removal::StackDeleted,
                resource.deletion_policy,
                resource.update_replace_policy,
            ) {
                self.delete(&id, &resource).await?
            } else {
                self.skipped(&id, &resource, "DeletionPolicy: Retain");
                true
            };
            if gone {
                self.forget(&id);
                self.state
                    .save(&self.options.state_dir, &self.options.stage)?;
            } else {
                ok = false;
                break;
            }
        }
        if ok {
            StageState::remove(&self.options.state_dir, &self.options.stage)?;
            self.event(
                &stack_name,
                "AWS::CloudFormation::Stack",
                "DELETE_COMPLETE",
                "",
            );
        } else {
            self.event(
                &stack_name,
                "AWS::CloudFormation::Stack",
                "DELETE_FAILED",
                "",
            );
        }
        let _ = writeln!(
            self.out,
            "\nLocal services keep running (see .local/services); retained data stays where it is."
        );
        Ok(self.report(ok))
    }

    fn summary(&mut self) {
        let _ = writeln!(self.out, "\nResources:");
        let ids = self.state.created.clone();
        for id in ids {
            if let Some(r) = self.state.resources.get(&id) {
                let data: Vec<String> = r
                    .data
                    .iter()
                    .map(|(k, v)| format!("{k}={}", scalar_text(v)))
                    .collect();
                let _ = writeln!(self.out, "  {id:<24} {:<28} {}", r.kind, r.physical_id);
                if !data.is_empty() {
                    let _ = writeln!(self.out, "  {:<24} {}", "", data.join(" "));
                }
            }
        }
    }
}

/// The time of day in UTC, `HH:MM:SS.mmm`, as CloudFormation's event log shows a timestamp.
fn utc_time_of_day() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        now.subsec_millis()
    )
}

/// Every file below `dir`, sorted.
fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Whether PostgreSQL at `host:port` lacks `database`.
async fn database_missing(host: &str, port: u16, database: &str) -> Option<String> {
    // psql is on every machine with a PostgreSQL server; without it, no drift is reported.
    let output = tokio::process::Command::new("psql")
        .args([
            "-h",
            host,
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
        ])
        .arg(format!(
            "SELECT 1 FROM pg_database WHERE datname = '{}'",
            database.replace('\'', "''")
        ))
        .output()
        .await
        .ok()?;
    if output.status.success() && String::from_utf8_lossy(&output.stdout).trim().is_empty() {
        Some(format!("database `{database}` no longer exists"))
    } else {
        None
    }
}
