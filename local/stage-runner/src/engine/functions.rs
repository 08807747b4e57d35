//! The function binaries: found in the template, started under the harness, invoked as
//! CloudFormation invokes them, and versioned by a hash of their code.

use super::*;

impl Run<'_> {
    pub(super) fn discover_functions(
        &mut self,
        samconfig: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
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

    pub(super) async fn lambda(&mut self, binary: &str) -> Result<&Lambda, Error> {
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

    /// Sends one request the way CloudFormation does and returns the answer; a function that
    /// cannot be run answers FAILED, as CloudFormation would report it.
    pub(super) async fn send(
        &mut self,
        function: &str,
        request: Request<'_>,
    ) -> Result<Response, Error> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let sent = self.try_send(function, request, &request_id).await;
        Ok(sent.unwrap_or_else(|e| {
            self.failed(
                &request,
                &request_id,
                request.physical_id.unwrap_or_default(),
                e.to_string(),
            )
        }))
    }

    async fn try_send(
        &mut self,
        function: &str,
        request: Request<'_>,
        request_id: &str,
    ) -> Result<Response, Error> {
        let event = request.event(request_id, &self.responses.url_for(request_id));
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
            Some(body) => Ok(serde_json::from_value(body).unwrap_or_else(|e| {
                self.failed(
                    &request,
                    request_id,
                    request.physical_id.unwrap_or_default(),
                    format!("the function's response is not one CloudFormation reads: {e}"),
                )
            })),
            // CloudFormation would wait for ServiceTimeout; locally the answer is known now.
            // A Create that never answered gets the id CloudFormation makes up, which the
            // rollback's Delete then carries.
            None => Ok(self.failed(
                &request,
                request_id,
                &request.physical_id.map_or_else(
                    || {
                        plan::invented_physical_id(
                            &self.stack.name,
                            request.logical_id,
                            uuid::Uuid::new_v4().as_u128(),
                        )
                    },
                    str::to_owned,
                ),
                format!(
                    "the function sent no response ({:?}); CloudFormation would wait for ServiceTimeout",
                    invocation.lambda
                ),
            )),
        }
    }

    /// A FAILED answer the runner writes itself, where CloudFormation would report a failure
    /// the function did not send.
    fn failed(
        &self,
        request: &Request<'_>,
        request_id: &str,
        physical_id: &str,
        reason: String,
    ) -> Response {
        Response {
            status: Status::Failed,
            reason,
            physical_resource_id: physical_id.to_owned(),
            stack_id: request.stack_id.to_owned(),
            request_id: request_id.to_owned(),
            logical_resource_id: request.logical_id.to_owned(),
            no_echo: false,
            data: serde_json::Map::new(),
        }
    }

    /// A function's version: a hash of its code. Locally, code may also come from a folder
    /// named in its environment (db-migration's test-only migrations folder), so the files of
    /// such folders count too: a new migration there is a new version, as a new build would be.
    pub(super) fn version(&mut self, binary: &str) -> String {
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
