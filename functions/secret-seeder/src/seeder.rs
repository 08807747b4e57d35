//! The resource: Create, Update and Delete as sequences of Secrets Manager calls, every
//! decision taken by the pure functions in [`crate::plan`].

use std::collections::BTreeMap;

use custom_resource::aws::Aws;
use custom_resource::{CustomResource, Outcome, Redactor, Request, Switch};

use crate::Error;
use crate::generate;
use crate::plan::{
    self, Basis, Claim, Content, OWNER_TAG, Source, TagChanges, Takeover, Version, WantedTags,
};
use crate::properties::{OnDelete, Properties, Spec};
use crate::store::{
    BY_NAME, BY_PHYSICAL_ID, CURRENT, Described, NewSecret, PREVIOUS, Store, WriteError,
};

/// The `Custom::SeededSecret` resource: seeds a secret's keys on Create and Update, and
/// deletes or keeps the secret on Delete as `OnDelete` says.
#[derive(Debug, Clone)]
pub struct SecretSeeder {
    aws: Aws,
}

impl SecretSeeder {
    /// The resource over the process's AWS configuration: its Secrets Manager client is built
    /// by the first request that calls Secrets Manager.
    pub fn new(aws: Aws) -> Self {
        Self { aws }
    }

    /// The work of one request, over the store made for it.
    async fn seeding<'a>(&'a self, req: &'a Request<Properties>) -> Result<Seeding<'a>, Error> {
        Ok(Seeding {
            store: Store::for_request(&self.aws, req).await?,
        })
    }
}

/// One request's Create or Update: the Secrets Manager calls go to the store made for it.
struct Seeding<'a> {
    store: Store<'a>,
}

/// Whether `physical_id` is a Secrets Manager secret ARN, the only ids this resource issues.
pub fn is_secret_arn(physical_id: &str) -> bool {
    physical_id.starts_with("arn:")
        && physical_id.contains(":secretsmanager:")
        && physical_id.contains(":secret:")
}

fn token(req: &Request<Properties>) -> String {
    plan::request_token(&req.stack_id, &req.logical_resource_id, &req.request_id)
}

/// The secret's name: `Name`, or `<stack name>/<LogicalResourceId>`.
fn name(req: &Request<Properties>) -> String {
    req.properties.name.clone().unwrap_or_else(|| req.owner())
}

fn outcome(arn: &str, name: &str, version_id: &str, props: &Properties) -> Outcome {
    let keys: Vec<&str> = props.key_names().collect();
    Outcome::new(arn)
        .with("Arn", arn)
        .with("Name", name)
        .with("VersionId", version_id)
        .with("Keys", keys.join(","))
}

fn names(sources: &BTreeMap<String, Source>, which: Source) -> Vec<&str> {
    sources
        .iter()
        .filter(|(_, s)| **s == which)
        .map(|(k, _)| k.as_str())
        .collect()
}

impl Seeding<'_> {
    /// Create at `name`: a new secret, or an existing one when it is ours or `Adopt` (and the
    /// stage) allows. An Update comes here too, when its `Name` changed or its secret is gone.
    async fn create_at(&self, req: &Request<Properties>, name: &str) -> Result<Outcome, Error> {
        let props = &req.properties;
        let token = token(req);
        let owner = req.owner();
        let existing = match self.store.describe(name, BY_NAME).await? {
            Some(existing) => existing,
            None => {
                let sources = plan::sources(props, Basis::Create, None, None, generate::meets);
                let content = build(props, &sources, None, None, &req.redactor)?;
                let mut tags: BTreeMap<String, String> = props
                    .tags
                    .iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect();
                tags.extend(crate::spec::managed_tags(props));
                tags.insert(OWNER_TAG.to_owned(), owner.clone());
                tags.insert(
                    plan::version_tag(&token),
                    plan::encode_fingerprints(&plan::fingerprints(props)),
                );
                let created = self
                    .store
                    .create(NewSecret {
                        name,
                        description: props.description.as_deref(),
                        kms_key_id: props.kms_key_id.as_deref(),
                        tags: &tags,
                        content: &content,
                        token: &token,
                    })
                    .await;
                match created {
                    Ok(arn) => {
                        tracing::info!(
                            secret = name,
                            version_id = %token,
                            generated = ?names(&sources, Source::Generate),
                            literal = ?names(&sources, Source::Literal),
                            "created the secret"
                        );
                        return Ok(outcome(&arn, name, &token, props));
                    }
                    // Created meanwhile: by a concurrent delivery of this event, or by
                    // someone else. Look again and decide as for any existing secret.
                    Err(WriteError::Exists(err)) => match self.store.describe(name, BY_NAME).await?
                    {
                        Some(existing) => existing,
                        None => return Err(err),
                    },
                    Err(WriteError::Other(err)) => return Err(err),
                }
            }
        };
        let by_this_request = existing.has_version(&token);
        let claim = Claim {
            request_type: req.request_type,
            adopt: props.adopt,
            adopt_any_allowed: req.allows(Switch::AdoptAnySecret),
            owner: &owner,
        };
        match plan::takeover(
            claim,
            name,
            existing.tags.get(OWNER_TAG).map(String::as_str),
            by_this_request,
        ) {
            Takeover::Refuse(reason) => {
                tracing::warn!(secret = name, "refusing to take over an existing secret");
                Err(Error::Refused(reason))
            }
            Takeover::Adopt => {
                tracing::info!(
                    secret = name,
                    previous_owner = existing.tags.get(OWNER_TAG).map(String::as_str),
                    "adopting an existing secret (Adopt: Always)"
                );
                self.apply(req, existing, Basis::Create).await
            }
            Takeover::Ours => self.apply(req, existing, Basis::Create).await,
        }
    }

    /// Brings an existing secret (ours) to what the template asks.
    async fn apply(
        &self,
        req: &Request<Properties>,
        secret: Described,
        basis: Basis<'_>,
    ) -> Result<Outcome, Error> {
        let props = &req.properties;
        let token = token(req);
        let owner = req.owner();
        if secret.deleted {
            tracing::info!(secret = %secret.name, "the secret is scheduled for deletion: restoring it");
            self.store.restore(&secret).await?;
        }
        let old_tags = match basis {
            Basis::Update { old: Some(old) } => old.tags.as_slice(),
            _ => &[],
        };
        let managed = crate::spec::managed_tags(props);
        let wanted = WantedTags {
            tags: &props.tags,
            old: old_tags,
            owner: &owner,
            managed: &managed,
        };
        if secret.has_version(&token) {
            // A re-delivered event: its version exists. Answer from it; generate nothing.
            tracing::info!(secret = %secret.name, version_id = %token, "this request's version already exists: answering from it");
            let changes = plan::tag_changes(&secret.tags, wanted, None, None);
            check_tag_room(&secret, &changes, props)?;
            self.apply_metadata(props, &secret, basis).await?;
            self.apply_tags(&secret, &changes).await?;
            return Ok(outcome(&secret.arn, &secret.name, &token, props));
        }

        let current_id = secret.version_with(CURRENT).map(str::to_owned);
        let current = match &current_id {
            Some(id) => Some(self.store.read(&secret, id).await?),
            None => None,
        };
        let current_fps = current_id
            .as_deref()
            .and_then(|id| plan::recorded(&secret.tags, id));
        let previous_id = secret
            .version_with(PREVIOUS)
            .filter(|id| Some(*id) != current_id.as_deref())
            .map(str::to_owned);
        let previous_fps = previous_id
            .as_deref()
            .and_then(|id| plan::recorded(&secret.tags, id));
        let sources = plan::sources(
            props,
            basis,
            current.as_ref().map(|content| Version {
                content,
                fingerprints: current_fps.as_ref(),
            }),
            previous_fps.as_ref(),
            generate::meets,
        );
        let previous = match &previous_id {
            Some(id) if sources.values().any(|s| *s == Source::Previous) => {
                Some(self.store.read(&secret, id).await?)
            }
            _ => None,
        };
        let content = build(
            props,
            &sources,
            current.as_ref(),
            previous.as_ref(),
            &req.redactor,
        )?;
        let removed: Vec<&str> = current
            .as_ref()
            .map(|c| c.keys().filter(|k| !props.keys.contains_key(*k)).collect())
            .unwrap_or_default();

        let unchanged = current.as_ref().is_some_and(|c| c.same_as(&content));
        let new_version = match (&current_id, unchanged) {
            (Some(id), true) => Err(id.clone()),
            _ => Ok(plan::encode_fingerprints(&plan::fingerprints(props))),
        };
        let changes = match &new_version {
            Err(_) => plan::tag_changes(&secret.tags, wanted, None, None),
            Ok(fingerprints) => plan::tag_changes(
                &secret.tags,
                wanted,
                Some((&token, fingerprints)),
                current_id.as_deref(),
            ),
        };

        // Only now, with the value read and the plan made, is anything changed: a secret
        // that cannot be applied (not a JSON object, no room for the tags) is left as it was.
        check_tag_room(&secret, &changes, props)?;
        self.apply_metadata(props, &secret, basis).await?;
        let version_id = match new_version {
            Err(id) => {
                self.apply_tags(&secret, &changes).await?;
                tracing::info!(secret = %secret.name, version_id = %id, "the secret already holds these keys: no new version");
                id
            }
            Ok(_) => {
                // The version's record is tagged before the version exists: if the write then
                // fails, a record for a version that does not exist is harmless, while a
                // version without its record would be regenerated by the next Update.
                self.apply_tags(&secret, &changes).await?;
                match self.store.put(&secret, &content, &token).await {
                    Ok(()) => {}
                    Err(WriteError::Exists(err)) => {
                        // The token is in use: a concurrent delivery of this event wrote its
                        // version first. Answer from that one.
                        let again = self.store.describe(&secret.arn, secret.chosen_by).await?;
                        if !again.is_some_and(|s| s.has_version(&token)) {
                            return Err(err);
                        }
                    }
                    Err(WriteError::Other(err)) => return Err(err),
                }
                tracing::info!(
                    secret = %secret.name,
                    version_id = %token,
                    kept = ?names(&sources, Source::Current),
                    restored_from_previous = ?names(&sources, Source::Previous),
                    generated = ?names(&sources, Source::Generate),
                    literal = ?names(&sources, Source::Literal),
                    removed = ?removed,
                    "wrote a new version"
                );
                token
            }
        };
        Ok(outcome(&secret.arn, &secret.name, &version_id, props))
    }

    /// Description and KMS key, when they must change.
    async fn apply_metadata(
        &self,
        props: &Properties,
        secret: &Described,
        basis: Basis<'_>,
    ) -> Result<(), Error> {
        let description = plan::description_change(
            props.description.as_deref(),
            basis,
            secret.description.as_deref(),
        );
        let kms_key_id = plan::kms_change(
            props.kms_key_id.as_deref(),
            basis,
            secret.kms_key_id.as_deref(),
        );
        if description.is_some() || kms_key_id.is_some() {
            self.store
                .update_metadata(secret, description, kms_key_id)
                .await?;
        }
        Ok(())
    }

    /// Removals first: the secret never carries more tags than it will after the change
    /// ([`plan::check_tag_room`] checked that count).
    async fn apply_tags(&self, secret: &Described, changes: &TagChanges) -> Result<(), Error> {
        if !changes.remove.is_empty() {
            self.store.untag(secret, &changes.remove).await?;
        }
        if !changes.set.is_empty() {
            self.store.tag(secret, &changes.set).await?;
        }
        Ok(())
    }
}

/// [`plan::check_tag_room`] for `secret`, as an [`Error`].
fn check_tag_room(
    secret: &Described,
    changes: &TagChanges,
    props: &Properties,
) -> Result<(), Error> {
    plan::check_tag_room(&secret.name, &secret.tags, changes, &props.tags).map_err(|reason| {
        tracing::warn!(secret = %secret.name, "no room for the secret's tags: left as it is");
        Error::Refused(reason)
    })
}

/// The secret's new value, from the sources chosen for each key. Every generated key's value,
/// kept or new, is taught to `redactor`: the runner then masks it wherever it would show.
fn build(
    props: &Properties,
    sources: &BTreeMap<String, Source>,
    current: Option<&Content>,
    previous: Option<&Content>,
    redactor: &Redactor,
) -> Result<Content, Error> {
    let mut content = Content::default();
    for (key, spec) in &props.keys {
        let value = match spec {
            Spec::Literal(value) => value.clone(),
            Spec::Generate { generator, .. } => {
                let from = match sources.get(key) {
                    Some(Source::Current) => current,
                    Some(Source::Previous) => previous,
                    _ => None,
                };
                let value = match from.and_then(|c| c.get(key)) {
                    Some(value) => value.clone(),
                    None => generate::generate(generator)?,
                };
                redactor.add(value.expose());
                value
            }
        };
        content.insert(key.clone(), value);
    }
    Ok(content)
}

impl CustomResource for SecretSeeder {
    type Properties = Properties;
    type Error = Error;

    async fn create(&self, req: &Request<Properties>) -> Result<Outcome, Error> {
        self.seeding(req).await?.create_at(req, &name(req)).await
    }

    async fn update(&self, req: &Request<Properties>) -> Result<Outcome, Error> {
        let seeding = self.seeding(req).await?;
        let name = name(req);
        match seeding
            .store
            .describe(req.physical_id(), BY_PHYSICAL_ID)
            .await?
        {
            Some(secret) if secret.name == name => {
                // The physical id comes from the event: write only to a secret tagged for this
                // resource, whatever else says the request is genuine.
                let owner = req.owner();
                if let Err(reason) = plan::check_owned(
                    &secret.name,
                    secret.tags.get(OWNER_TAG).map(String::as_str),
                    &owner,
                ) {
                    tracing::warn!(
                        secret = %secret.name,
                        owner = secret.tags.get(OWNER_TAG).map(String::as_str),
                        "the Update's secret is not this resource's (tag {OWNER_TAG}): left as it is"
                    );
                    return Err(Error::Refused(reason));
                }
                let old = req.old_properties.as_ref();
                seeding.apply(req, secret, Basis::Update { old }).await
            }
            Some(secret) => {
                tracing::info!(
                    from = %secret.name,
                    to = %name,
                    "Name changed: replacing the secret (CloudFormation then deletes the old one as its OnDelete says)"
                );
                seeding.create_at(req, &name).await
            }
            None => {
                tracing::warn!(secret = %name, "the secret is gone: creating it again");
                seeding.create_at(req, &name).await
            }
        }
    }

    async fn delete(&self, req: &Request<Properties>) -> Result<(), Error> {
        let props = &req.properties;
        let id = req.physical_id();
        if props.on_delete == OnDelete::Retain {
            tracing::info!(
                secret = id,
                "OnDelete is Retain: the secret is left as it is"
            );
            return Ok(());
        }
        if !req.allows(Switch::DeleteSecret) {
            tracing::warn!(
                secret = id,
                on_delete = ?props.on_delete,
                "OnDelete asks to delete the secret, but this function's stage does not allow \
                 the switch DeleteSecret (STACKWRIGHT_ALLOW): the secret is left as it is"
            );
            return Ok(());
        }
        // Only now, with a secret to look at, is the client needed.
        let store = Store::for_request(&self.aws, req).await?;
        let Some(secret) = store.describe(id, BY_PHYSICAL_ID).await? else {
            tracing::info!(
                secret = id,
                "the secret no longer exists: nothing to delete"
            );
            return Ok(());
        };
        let owner = req.owner();
        if secret.tags.get(OWNER_TAG) != Some(&owner) {
            tracing::warn!(
                secret = %secret.name,
                owner = secret.tags.get(OWNER_TAG).map(String::as_str),
                "the secret is not this resource's (tag {OWNER_TAG}): left as it is"
            );
            return Ok(());
        }
        match props.on_delete {
            OnDelete::Retain => {}
            OnDelete::Delete if secret.deleted => {
                tracing::info!(secret = %secret.name, "the secret is already scheduled for deletion");
            }
            OnDelete::Delete => {
                store
                    .schedule_deletion(&secret, props.recovery_window_in_days)
                    .await?;
                tracing::info!(
                    secret = %secret.name,
                    recovery_window_in_days = props.recovery_window_in_days,
                    "scheduled the secret's deletion (RestoreSecret undoes it until then)"
                );
            }
            OnDelete::ForceDelete => {
                store.dangerous_delete_without_recovery(&secret).await?;
                tracing::info!(secret = %secret.name, "deleted the secret without recovery (OnDelete: ForceDelete)");
            }
        }
        Ok(())
    }

    fn issued(&self, physical_id: &str, _resource: custom_resource::Resource<'_>) -> bool {
        is_secret_arn(physical_id)
    }

    fn switches(&self, properties: &Properties) -> Vec<Switch> {
        plan::switches(properties)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;

    #[tokio::test]
    async fn a_delete_that_needs_no_secret_builds_no_client() {
        let responses = harness::ResponseServer::start().await.unwrap();
        let stack = harness::Stack::new("lazy", &responses);
        // A configuration of its own, not the process's (which other tests may load).
        let seeder = SecretSeeder::new(Aws::default());
        // Clones share the configuration: `seeder` sees what the runner's copy built.
        // No CloudFormation to ask in-process: this test is about the client, not confirmation.
        let runner = custom_resource::Runner::new(seeder.clone())
            .unwrap()
            .without_confirmation()
            .allow_response_origin(responses.base_url())
            .unwrap()
            .allow_stack("arn:aws:cloudformation:us-east-1:123456789012:stack/*");
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:lazy/Secret-AbCdEf";
        let keys = json!({"p": {"Generate": "uuid"}});
        for (physical_id, properties) in [
            // OnDelete: Retain, the default.
            (arn, json!({ "Keys": keys })),
            // An id this resource never issues.
            (
                "lazy-Secret-1a2b3c",
                json!({"Keys": keys, "OnDelete": "Delete"}),
            ),
        ] {
            let event = stack.delete("Secret", "Custom::SeededSecret", physical_id, properties);
            // Boxed: the runner's future (the confirmation's SDK call in it) is large.
            Box::pin(runner.handle_payload(event, Duration::from_secs(30)))
                .await
                .unwrap();
        }
        let statuses: Vec<Value> = responses
            .puts()
            .iter()
            .map(|put| put.json().unwrap()["Status"].clone())
            .collect();
        assert_eq!(statuses, [json!("SUCCESS"), json!("SUCCESS")]);
        assert!(
            format!("{seeder:?}").contains("loaded: false"),
            "{seeder:?}"
        );
    }

    #[test]
    fn only_secret_arns_are_issued() {
        assert!(is_secret_arn(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf"
        ));
        assert!(is_secret_arn(
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x-AbCdEf"
        ));
        assert!(!is_secret_arn("stackwright:create-failed:Db:r-1"));
        assert!(!is_secret_arn("app-Db-1a2b3c"));
        assert!(!is_secret_arn("arn:aws:ssm:us-east-1:1:parameter/x"));
    }
}
