//! The decisions, as plain functions of plain data: which value each key gets, whether a new
//! version is needed, which tags change, whether an existing secret may be taken over, and the
//! request's `ClientRequestToken`.
//!
//! # How values are kept, restored or generated
//!
//! Every generated key has a *fingerprint*: a short hash of its name, its normalised spec and
//! the `Rotate` values that apply to it. When this resource writes a version it records, in a
//! tag `stackwright:version:<VersionId>`, the fingerprints of the generated keys that version
//! holds. (Never a value, nor a hash of one.) For each generated key the template asks for:
//!
//! 1. the `AWSCURRENT` version holds the key and recorded its fingerprint: keep its value;
//! 2. the `AWSCURRENT` version was not written by this resource (it was adopted, or written
//!    by hand): keep its value if the spec did not change (on Update, old properties against
//!    new; on Create, if the value meets the spec);
//! 3. the `AWSPREVIOUS` version recorded the fingerprint: take its value. This is the
//!    rollback of a `Rotate` (or of a spec change): CloudFormation sends the old properties
//!    again, and the previous values come back instead of a third set;
//! 4. otherwise generate a new value.
//!
//! Literal keys follow the template; keys no longer in the template are dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use custom_resource::trust::ALLOW_VARIABLE;
use custom_resource::{RequestType, Secret, Switch};
use sha2::{Digest, Sha256};

use crate::properties::{Adopt, Encoding, Generator, OnDelete, Properties, Spec, Tag};

/// The tag that says which stack resource owns a secret: `<stack name>/<LogicalResourceId>`.
pub const OWNER_TAG: &str = "stackwright:owner";
/// Prefix of the tags that record a version's fingerprints: `stackwright:version:<VersionId>`.
pub const VERSION_TAG_PREFIX: &str = "stackwright:version:";
/// Characters in one fingerprint (base64url: 36 bits).
pub const FINGERPRINT_LEN: usize = 6;
/// How many fingerprints fit in one tag value (255 characters).
pub const MAX_FINGERPRINTS: usize = 255 / FINGERPRINT_LEN;

/// The `ClientRequestToken` for this request: the same on every delivery of the event, unique
/// per request. A UUID (version 8, 36 characters) from a SHA-256 of the stack, the resource and
/// the request id, so it looks like the version ids Secrets Manager users know.
pub fn request_token(stack_id: &str, logical_id: &str, request_id: &str) -> String {
    let mut hash = Sha256::new();
    for part in [
        "stackwright/secret-seeder",
        stack_id,
        logical_id,
        request_id,
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// The fingerprint of generated key `key` under `generator`, its own `Rotate` and the
/// resource's `Rotate`.
pub fn fingerprint(
    key: &str,
    generator: &Generator,
    key_rotate: Option<&str>,
    rotate: Option<&str>,
) -> String {
    let spec = match generator {
        Generator::Password(p) => format!(
            "password;length={};each={};alphabet={}",
            p.length,
            p.require_each,
            String::from_utf8_lossy(&p.alphabet())
        ),
        Generator::Token { bytes, encoding } => format!(
            "token;bytes={bytes};encoding={}",
            match encoding {
                Encoding::Base64Url => "base64url",
                Encoding::Hex => "hex",
            }
        ),
        Generator::Uuid => "uuid".into(),
    };
    let mut hash = Sha256::new();
    for part in [
        "v1",
        key,
        &spec,
        key_rotate.unwrap_or_default(),
        rotate.unwrap_or_default(),
    ] {
        hash.update(part.len().to_le_bytes());
        hash.update(part.as_bytes());
    }
    let encoded = URL_SAFE_NO_PAD.encode(&hash.finalize()[..6]);
    encoded[..FINGERPRINT_LEN].to_owned()
}

/// The fingerprint of every generated key of `props`.
pub fn fingerprints(props: &Properties) -> BTreeMap<String, String> {
    props
        .keys
        .iter()
        .filter_map(|(key, spec)| match spec {
            Spec::Generate { generator, rotate } => Some((
                key.clone(),
                fingerprint(key, generator, rotate.as_deref(), props.rotate.as_deref()),
            )),
            Spec::Literal(_) => None,
        })
        .collect()
}

/// A version's fingerprints as a tag value: sorted, concatenated.
pub fn encode_fingerprints(fps: &BTreeMap<String, String>) -> String {
    let sorted: BTreeSet<&str> = fps.values().map(String::as_str).collect();
    sorted.into_iter().collect()
}

/// Reads a tag value written by [`encode_fingerprints`]; `None` when it is not one.
pub fn decode_fingerprints(value: &str) -> Option<BTreeSet<String>> {
    if !value.len().is_multiple_of(FINGERPRINT_LEN)
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some(
        value
            .as_bytes()
            .chunks(FINGERPRINT_LEN)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect(),
    )
}

/// The tag that records version `version_id`'s fingerprints.
pub fn version_tag(version_id: &str) -> String {
    format!("{VERSION_TAG_PREFIX}{version_id}")
}

/// The fingerprints recorded for `version_id` in `tags`, if any.
pub fn recorded(tags: &BTreeMap<String, String>, version_id: &str) -> Option<BTreeSet<String>> {
    tags.get(&version_tag(version_id))
        .and_then(|v| decode_fingerprints(v))
}

/// A secret's value: key → value, every value a [`Secret`]. `Debug` shows the keys only.
#[derive(Clone, Default)]
pub struct Content(BTreeMap<String, Secret<String>>);

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// A `SecretString` that is not a JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the secret's value is not a JSON object of keys")]
pub struct NotAnObject;

impl Content {
    /// Reads a `SecretString`. Non-string values are kept as their JSON text.
    ///
    /// # Errors
    ///
    /// [`NotAnObject`] when it is not a JSON object (a plain-text secret).
    pub fn parse(secret_string: &str) -> Result<Self, NotAnObject> {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(secret_string).map_err(|_| NotAnObject)?;
        Ok(Self(
            map.into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, Secret::new(text))
                })
                .collect(),
        ))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Secret<String>> {
        self.0.get(key)
    }

    /// Sets `key` to `value`, replacing what it held.
    pub fn insert(&mut self, key: impl Into<String>, value: Secret<String>) {
        self.0.insert(key.into(), value);
    }

    /// The key names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Whether both hold the same keys with the same values.
    pub fn same_as(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|((ka, va), (kb, vb))| ka == kb && va.expose() == vb.expose())
    }

    /// The `SecretString` to send: built from the exposed values at the last moment, and
    /// itself a [`Secret`].
    pub fn to_secret_string(&self) -> Secret<String> {
        let exposed: BTreeMap<&str, &str> = self
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose().as_str()))
            .collect();
        let estimate = self
            .0
            .iter()
            .map(|(k, v)| k.len() + v.expose().len() * 2 + 8)
            .sum::<usize>()
            + 2;
        let mut buffer = Vec::with_capacity(estimate);
        // Serialising strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut buffer, &exposed);
        Secret::new(String::from_utf8(buffer).unwrap_or_default())
    }
}

/// Where a key's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The template's literal.
    Literal,
    /// Kept from the `AWSCURRENT` version.
    Current,
    /// Taken back from the `AWSPREVIOUS` version (a rollback).
    Previous,
    /// Generated now.
    Generate,
}

/// What the request is, for the rules that depend on it.
#[derive(Debug, Clone, Copy)]
pub enum Basis<'a> {
    /// A Create (possibly adopting an existing secret).
    Create,
    /// An Update, with the old properties when they still parse.
    Update {
        /// `OldResourceProperties`, parsed.
        old: Option<&'a Properties>,
    },
}

/// A version as the planner sees it.
#[derive(Debug, Clone, Copy)]
pub struct Version<'a> {
    /// The version's value, key by key.
    pub content: &'a Content,
    /// The fingerprints this resource recorded for it; `None` when it did not write it.
    pub fingerprints: Option<&'a BTreeSet<String>>,
}

/// Chooses each key's source (see the module docs). `previous` is only the fingerprints: the
/// caller reads the previous version's value only when some key comes from it.
pub fn sources(
    props: &Properties,
    basis: Basis<'_>,
    current: Option<Version<'_>>,
    previous: Option<&BTreeSet<String>>,
    meets: impl Fn(&Generator, &str) -> bool,
) -> BTreeMap<String, Source> {
    let wanted = fingerprints(props);
    let old = match basis {
        Basis::Update { old: Some(old) } => Some(fingerprints(old)),
        _ => None,
    };
    props
        .keys
        .iter()
        .map(|(key, spec)| {
            let Some(generator) = spec.generator() else {
                return (key.clone(), Source::Literal);
            };
            let fp = &wanted[key];
            let keep = current.is_some_and(|cur| {
                let Some(value) = cur.content.get(key) else {
                    return false;
                };
                match (cur.fingerprints, &old) {
                    (Some(recorded), _) => recorded.contains(fp),
                    (None, Some(old)) => old.get(key) == Some(fp),
                    (None, None) => meets(generator, value.expose()),
                }
            });
            let source = if keep {
                Source::Current
            } else if previous.is_some_and(|p| p.contains(fp)) {
                Source::Previous
            } else {
                Source::Generate
            };
            (key.clone(), source)
        })
        .collect()
}

/// The destructive switches ([`Switch`]) `props` ask for: `OnDelete: Delete` or `ForceDelete`
/// ask for [`Switch::DeleteSecret`], `Adopt: Always` for [`Switch::AdoptAnySecret`].
pub fn switches(props: &Properties) -> Vec<Switch> {
    let mut asked = Vec::new();
    if matches!(props.on_delete, OnDelete::Delete | OnDelete::ForceDelete) {
        asked.push(Switch::DeleteSecret);
    }
    if props.adopt == Adopt::Always {
        asked.push(Switch::AdoptAnySecret);
    }
    asked
}

/// Whether an existing secret may be written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Takeover {
    /// It carries this resource's ownership tag, or this very request created it.
    Ours,
    /// It is someone else's (or nobody's) and `Adopt: Always`, allowed by the stage, takes it.
    Adopt,
    /// It must be left alone: the reason says why and what to do.
    Refuse(String),
}

/// Who asks to take over an existing secret, and what it may do.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// Create or Update (an Update takes over a secret by name when its `Name` changed, or when
    /// its secret is gone).
    pub request_type: RequestType,
    /// The `Adopt` property.
    pub adopt: Adopt,
    /// Whether the stage allows [`Switch::AdoptAnySecret`]; without it, `Adopt: Always` acts as
    /// `IfTagged`.
    pub adopt_any_allowed: bool,
    /// This resource's ownership tag value, `<stack name>/<LogicalResourceId>`.
    pub owner: &'a str,
}

/// Decides whether `claim` may take over secret `name`, which exists.
///
/// A secret tagged for this resource is always taken back on an Update, whatever `Adopt` says:
/// a rollback of a `Name` change returns to the old secret, which is ours. On a Create,
/// `Adopt: Never` refuses even that (a leftover of an earlier stack of the same name).
pub fn takeover(
    claim: Claim<'_>,
    name: &str,
    owner_tag: Option<&str>,
    created_by_this_request: bool,
) -> Takeover {
    if created_by_this_request {
        return Takeover::Ours;
    }
    let owner = claim.owner;
    let tagged_ours = owner_tag == Some(owner);
    if tagged_ours && claim.request_type == RequestType::Update {
        return Takeover::Ours;
    }
    let whose = match owner_tag {
        Some(other) => format!("belongs to `{other}` (tag `{OWNER_TAG}`)"),
        None => format!("has no `{OWNER_TAG}` tag"),
    };
    match claim.adopt {
        Adopt::Never => Takeover::Refuse(format!(
            "secret `{name}` already exists and `Adopt` is `Never`; delete it, give this resource another `Name`, \
             or set `Adopt: IfTagged` (with the tag `{OWNER_TAG}={owner}` on the secret) or `Adopt: Always` to take it over"
        )),
        Adopt::IfTagged | Adopt::Always if tagged_ours => Takeover::Ours,
        Adopt::Always if claim.adopt_any_allowed => Takeover::Adopt,
        Adopt::Always => Takeover::Refuse(format!(
            "secret `{name}` already exists and {whose}; it was left untouched. `Adopt: Always` is not allowed \
             in this function's stage (switch `{}` in `{ALLOW_VARIABLE}`), so only a secret tagged \
             `{OWNER_TAG}={owner}` is taken over; tag it, or give this resource another `Name`",
            Switch::AdoptAnySecret
        )),
        Adopt::IfTagged => Takeover::Refuse(format!(
            "secret `{name}` already exists and {whose}; it was left untouched. To take it over, tag it `{OWNER_TAG}={owner}` or set `Adopt: Always`; or give this resource another `Name`"
        )),
    }
}

/// Whether the secret an Update's physical id names may be written to: only when it carries
/// this resource's ownership tag (`owner`). The physical id comes from the event, so without
/// this an Update naming any secret the function can reach would overwrite it. `Adopt` plays
/// no part: it is about a secret found by name, and a secret this resource made or took over
/// carries the tag.
///
/// # Errors
///
/// The `Reason` for a secret that is not this resource's: it names the tag expected.
pub fn check_owned(name: &str, owner_tag: Option<&str>, owner: &str) -> Result<(), String> {
    if owner_tag == Some(owner) {
        return Ok(());
    }
    let found = match owner_tag {
        Some(other) => format!("its tag says `{other}`"),
        None => "it has none".to_owned(),
    };
    Err(format!(
        "secret `{name}` does not carry this resource's ownership tag `{OWNER_TAG}={owner}` ({found}); \
         it was left untouched. An Update writes only to a secret this resource created or took over: \
         if this secret is this resource's, tag it `{OWNER_TAG}={owner}` and deploy again"
    ))
}

/// Tag changes to make.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagChanges {
    /// Tags to add or overwrite.
    pub set: BTreeMap<String, String>,
    /// Tag keys to remove.
    pub remove: Vec<String>,
}

impl TagChanges {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// What the template asks of the secret's tags.
#[derive(Debug, Clone, Copy)]
pub struct WantedTags<'a> {
    /// The template's `Tags`.
    pub tags: &'a [Tag],
    /// The previous template's `Tags` (on Update), whose removed keys are removed.
    pub old: &'a [Tag],
    /// This resource's ownership tag value.
    pub owner: &'a str,
    /// The tags of the seeder's own that follow the template exactly
    /// ([`crate::spec::managed_tags`]: each generated key's spec, `Rotation`'s mode): set when
    /// they differ, and any other tag of theirs removed.
    pub managed: &'a BTreeMap<String, String>,
}

/// The tag changes that bring `existing` to what the template asks: its tags, the managed
/// tags and the owner tag set; tags the old template had and the new one dropped removed
/// (tags someone else put on the secret are left alone), and so are managed tags no longer
/// asked for. When a new version `(version id, fingerprints)` is about to be written, its
/// record is added and the records of versions other than it and `keep` (the version that
/// becomes `AWSPREVIOUS`) are removed.
pub fn tag_changes(
    existing: &BTreeMap<String, String>,
    wanted: WantedTags<'_>,
    new_version: Option<(&str, &str)>,
    keep: Option<&str>,
) -> TagChanges {
    let WantedTags {
        tags: wanted,
        old,
        owner,
        managed,
    } = wanted;
    let mut set = BTreeMap::new();
    let mut desired: Vec<(&str, &str)> = wanted
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .chain(managed.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect();
    desired.push((OWNER_TAG, owner));
    let new_tag = new_version.map(|(id, fps)| (version_tag(id), fps.to_owned()));
    for (key, value) in desired {
        if existing.get(key).map(String::as_str) != Some(value) {
            set.insert(key.to_owned(), value.to_owned());
        }
    }
    if let Some((key, value)) = &new_tag
        && existing.get(key) != Some(value)
    {
        set.insert(key.clone(), value.clone());
    }
    let mut remove: Vec<String> = old
        .iter()
        .filter(|t| existing.contains_key(&t.key) && !wanted.iter().any(|w| w.key == t.key))
        .map(|t| t.key.clone())
        .collect();
    remove.extend(
        existing
            .keys()
            .filter(|k| crate::spec::is_managed_tag(k) && !managed.contains_key(*k))
            .cloned(),
    );
    if let Some((new_id, _)) = new_version {
        let keep_tags: Vec<String> = [Some(new_id), keep]
            .into_iter()
            .flatten()
            .map(version_tag)
            .collect();
        remove.extend(
            existing
                .keys()
                .filter(|k| k.starts_with(VERSION_TAG_PREFIX) && !keep_tags.contains(k))
                .cloned(),
        );
    }
    remove.sort();
    remove.dedup();
    TagChanges { set, remove }
}

/// How many tags the secret carries once `changes` are made (removals first, as the seeder
/// makes them, so the count never peaks above this).
pub fn tag_count_after(existing: &BTreeMap<String, String>, changes: &TagChanges) -> usize {
    let mut keys: BTreeSet<&str> = existing.keys().map(String::as_str).collect();
    for key in &changes.remove {
        keys.remove(key.as_str());
    }
    keys.extend(changes.set.keys().map(String::as_str));
    keys.len()
}

/// Refuses changes that would leave more tags on the secret than Secrets Manager keeps: the
/// template's own count is checked with the properties, but tags others put on the secret
/// count too.
///
/// # Errors
///
/// The `Reason`, naming the secret and the tags that are neither the template's nor the
/// seeder's.
pub fn check_tag_room(
    name: &str,
    existing: &BTreeMap<String, String>,
    changes: &TagChanges,
    wanted: &[Tag],
) -> Result<(), String> {
    let count = tag_count_after(existing, changes);
    let max = crate::properties::MAX_SECRET_TAGS;
    if count <= max {
        return Ok(());
    }
    let others: Vec<String> = existing
        .keys()
        .filter(|k| {
            !k.starts_with("stackwright:")
                && !changes.remove.contains(k)
                && !wanted.iter().any(|t| &t.key == *k)
        })
        .map(|k| format!("`{k}`"))
        .collect();
    Err(format!(
        "secret `{name}` would carry {count} tags and Secrets Manager keeps at most {max}; it was left untouched. \
         Tags the template does not set: {}; remove some of them, or set fewer `Tags`",
        if others.is_empty() {
            "none".to_owned()
        } else {
            others.join(", ")
        }
    ))
}

/// The `Description` to set, if it must change. On Update a description the template dropped
/// is cleared; on Create (adoption) an existing one is left when the template gives none.
pub fn description_change(
    wanted: Option<&str>,
    basis: Basis<'_>,
    existing: Option<&str>,
) -> Option<String> {
    let existing = existing.unwrap_or_default();
    match (wanted, basis) {
        (Some(w), _) if w != existing => Some(w.to_owned()),
        (None, Basis::Update { old: Some(old) })
            if old.description.is_some() && !existing.is_empty() =>
        {
            Some(String::new())
        }
        _ => None,
    }
}

/// The KMS key to set, if it must change. Secrets Manager may report a key in another form
/// than the template wrote it (an ARN for an alias), so on Update the templates are compared;
/// on Create the existing key. A key the template dropped goes back to the AWS managed key.
pub fn kms_change(
    wanted: Option<&str>,
    basis: Basis<'_>,
    existing: Option<&str>,
) -> Option<String> {
    const AWS_MANAGED: &str = "alias/aws/secretsmanager";
    match basis {
        Basis::Update { old: Some(old) } => match (wanted, old.kms_key_id.as_deref()) {
            (Some(w), Some(o)) if w == o => None,
            (Some(w), _) => Some(w.to_owned()),
            (None, Some(_)) => Some(AWS_MANAGED.to_owned()),
            (None, None) => None,
        },
        _ => match wanted {
            Some(w) if Some(w) != existing => Some(w.to_owned()),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn props(raw: Value) -> Properties {
        crate::parse_properties(&raw).unwrap()
    }

    fn content(pairs: &[(&str, &str)]) -> Content {
        let mut c = Content::default();
        for (k, v) in pairs {
            c.insert(*k, Secret::from(*v));
        }
        c
    }

    fn fps_of(p: &Properties) -> BTreeSet<String> {
        fingerprints(p).into_values().collect()
    }

    fn never(_: &Generator, _: &str) -> bool {
        false
    }

    #[test]
    fn tokens_are_stable_per_request_and_32_to_64_characters() {
        let a = request_token("arn:stack/app/1", "Db", "req-1");
        assert_eq!(a, request_token("arn:stack/app/1", "Db", "req-1"));
        assert_ne!(a, request_token("arn:stack/app/1", "Db", "req-2"));
        assert_ne!(a, request_token("arn:stack/app/1", "Cache", "req-1"));
        assert!((32..=64).contains(&a.len()), "{a}");
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 8);
    }

    #[test]
    fn rotate_fingerprints_of_what_cloudformation_sends_did_not_change_with_the_library() {
        // Pinned before `Rotate` moved to the library's `scalar_text`/`canonical_json`: a
        // top-level scalar, and any value CloudFormation delivers (strings at every depth),
        // keep their fingerprints, so no deployed secret is regenerated by the move.
        let fps = |rotate: Value| {
            fingerprints(&props(json!({
                "Keys": {"p": {"Generate": "password"}, "t": {"Generate": "token", "Rotate": rotate.clone()}},
                "Rotate": rotate
            })))
        };
        for (rotate, p, t) in [
            (json!("1"), "6DhwKe", "Jpyh2U"),
            (json!(1), "6DhwKe", "Jpyh2U"),
            (json!(true), "vsRDeA", "_h3CO6"),
            (json!("2026-01"), "LNenHS", "s_XFvT"),
            (json!(["a", "b"]), "BT6wHv", "OhPaof"),
            (json!({"b": "x", "a": ["y", null]}), "0aFzgC", "THUgwO"),
        ] {
            let got = fps(rotate.clone());
            assert_eq!((got["p"].as_str(), got["t"].as_str()), (p, t), "{rotate}");
        }
        // What changed: a nested number now means the same as the string CloudFormation
        // would have delivered (before, `[1, "x"]` fingerprinted as `dwSMSL`/`glqdnk`).
        assert_eq!(fps(json!([1, "x"])), fps(json!(["1", "x"])));
        assert_ne!(fps(json!([1, "x"]))["p"], "dwSMSL");
    }

    #[test]
    fn fingerprints_follow_spec_and_rotate_not_spelling() {
        let base = props(json!({"Keys": {"p": {"Generate": "password"}}}));
        let spelled = props(
            json!({"Keys": {"p": {"Generate": "password", "Length": "32", "RequireEachIncludedType": "true"}}}),
        );
        assert_eq!(fingerprints(&base), fingerprints(&spelled));
        // Excluding every punctuation mark is ExcludePunctuation.
        let punct =
            props(json!({"Keys": {"p": {"Generate": "password", "ExcludePunctuation": true}}}));
        let listed = props(
            json!({"Keys": {"p": {"Generate": "password", "ExcludeCharacters": crate::properties::PUNCTUATION}}}),
        );
        assert_eq!(fingerprints(&punct), fingerprints(&listed));
        let longer = props(json!({"Keys": {"p": {"Generate": "password", "Length": 33}}}));
        assert_ne!(fingerprints(&base), fingerprints(&longer));
        let rotated = props(json!({"Keys": {"p": {"Generate": "password"}}, "Rotate": 1}));
        assert_ne!(fingerprints(&base), fingerprints(&rotated));
        let key_rotated = props(json!({"Keys": {"p": {"Generate": "password", "Rotate": 1}}}));
        assert_ne!(fingerprints(&base), fingerprints(&key_rotated));
        assert_ne!(fingerprints(&rotated), fingerprints(&key_rotated));
        let renamed = props(json!({"Keys": {"q": {"Generate": "password"}}}));
        assert_ne!(fps_of(&base), fps_of(&renamed));
        // Literals have no fingerprint, and do not change the others'.
        let with_literal =
            props(json!({"Keys": {"p": {"Generate": "password"}, "u": {"Value": "x"}}}));
        assert_eq!(fingerprints(&base), fingerprints(&with_literal));
    }

    #[test]
    fn fingerprints_round_trip_through_a_tag_value() {
        let keys: serde_json::Map<String, Value> = (0..MAX_FINGERPRINTS)
            .map(|i| (format!("key{i}"), json!({"Generate": "uuid"})))
            .collect();
        let p = props(json!({ "Keys": keys }));
        let fps = fingerprints(&p);
        let encoded = encode_fingerprints(&fps);
        assert!(encoded.len() <= 255, "{}", encoded.len());
        assert_eq!(
            decode_fingerprints(&encoded).unwrap(),
            fps.into_values().collect()
        );
        assert_eq!(decode_fingerprints("abc"), None);
        assert_eq!(decode_fingerprints("abc!ef"), None);
        assert_eq!(decode_fingerprints(""), Some(BTreeSet::new()));
    }

    #[test]
    fn an_unrelated_update_keeps_every_generated_value() {
        let p = props(
            json!({"Keys": {"a": {"Generate": "password"}, "b": {"Generate": "uuid"}, "u": {"Value": "x"}}}),
        );
        let cur = content(&[("a", "1"), ("b", "2"), ("u", "x")]);
        let recorded = fps_of(&p);
        let s = sources(
            &p,
            Basis::Update { old: Some(&p) },
            Some(Version {
                content: &cur,
                fingerprints: Some(&recorded),
            }),
            None,
            never,
        );
        assert_eq!(s["a"], Source::Current);
        assert_eq!(s["b"], Source::Current);
        assert_eq!(s["u"], Source::Literal);
    }

    #[test]
    fn a_changed_spec_regenerates_only_that_key_and_rotate_regenerates_all() {
        let old =
            props(json!({"Keys": {"a": {"Generate": "password"}, "b": {"Generate": "uuid"}}}));
        let recorded = fps_of(&old);
        let cur = content(&[("a", "1"), ("b", "2")]);
        let current = Some(Version {
            content: &cur,
            fingerprints: Some(&recorded),
        });
        let one = props(
            json!({"Keys": {"a": {"Generate": "password", "Length": 40}, "b": {"Generate": "uuid"}}}),
        );
        let s = sources(
            &one,
            Basis::Update { old: Some(&old) },
            current,
            None,
            never,
        );
        assert_eq!((s["a"], s["b"]), (Source::Generate, Source::Current));
        let key_rotate = props(
            json!({"Keys": {"a": {"Generate": "password"}, "b": {"Generate": "uuid", "Rotate": "x"}}}),
        );
        let s = sources(
            &key_rotate,
            Basis::Update { old: Some(&old) },
            current,
            None,
            never,
        );
        assert_eq!((s["a"], s["b"]), (Source::Current, Source::Generate));
        let all = props(
            json!({"Keys": {"a": {"Generate": "password"}, "b": {"Generate": "uuid"}}, "Rotate": "2"}),
        );
        let s = sources(
            &all,
            Basis::Update { old: Some(&old) },
            current,
            None,
            never,
        );
        assert_eq!((s["a"], s["b"]), (Source::Generate, Source::Generate));
    }

    #[test]
    fn a_rollback_takes_the_previous_values_back() {
        let before = props(
            json!({"Keys": {"a": {"Generate": "password"}, "b": {"Generate": "uuid"}}, "Rotate": "1"}),
        );
        let after = props(
            json!({"Keys": {"a": {"Generate": "password"}, "b": {"Generate": "uuid"}}, "Rotate": "2"}),
        );
        let cur = content(&[("a", "new-a"), ("b", "new-b")]);
        let cur_fps = fps_of(&after);
        let prev_fps = fps_of(&before);
        // CloudFormation's rollback: the old properties come back as the new ones.
        let s = sources(
            &before,
            Basis::Update { old: Some(&after) },
            Some(Version {
                content: &cur,
                fingerprints: Some(&cur_fps),
            }),
            Some(&prev_fps),
            never,
        );
        assert_eq!((s["a"], s["b"]), (Source::Previous, Source::Previous));
        // A third Rotate value is a real rotation.
        let third = props(
            json!({"Keys": {"a": {"Generate": "password"}, "b": {"Generate": "uuid"}}, "Rotate": "3"}),
        );
        let s = sources(
            &third,
            Basis::Update { old: Some(&after) },
            Some(Version {
                content: &cur,
                fingerprints: Some(&cur_fps),
            }),
            Some(&prev_fps),
            never,
        );
        assert_eq!((s["a"], s["b"]), (Source::Generate, Source::Generate));
    }

    #[test]
    fn a_version_written_by_someone_else_is_judged_by_the_templates_or_the_spec() {
        let p = props(
            json!({"Keys": {"a": {"Generate": "password", "Length": 12}, "b": {"Generate": "uuid"}}}),
        );
        let cur = content(&[("a", "Abcdefgh12!?"), ("b", "not-a-uuid")]);
        let unknown = Some(Version {
            content: &cur,
            fingerprints: None,
        });
        // Create (adoption): values that meet their spec are kept.
        let s = sources(&p, Basis::Create, unknown, None, crate::generate::meets);
        assert_eq!((s["a"], s["b"]), (Source::Current, Source::Generate));
        // Update: the templates decide; a hand-rotated value is kept while the spec stands.
        let s = sources(&p, Basis::Update { old: Some(&p) }, unknown, None, never);
        assert_eq!((s["a"], s["b"]), (Source::Current, Source::Current));
        let rotated = props(
            json!({"Keys": {"a": {"Generate": "password", "Length": 12}, "b": {"Generate": "uuid"}}, "Rotate": 1}),
        );
        let s = sources(
            &rotated,
            Basis::Update { old: Some(&p) },
            unknown,
            None,
            never,
        );
        assert_eq!((s["a"], s["b"]), (Source::Generate, Source::Generate));
    }

    #[test]
    fn a_key_missing_from_the_current_version_is_generated() {
        let p = props(json!({"Keys": {"a": {"Generate": "uuid"}, "b": {"Generate": "uuid"}}}));
        let cur = content(&[("a", "1")]);
        let recorded = fps_of(&p);
        let s = sources(
            &p,
            Basis::Update { old: Some(&p) },
            Some(Version {
                content: &cur,
                fingerprints: Some(&recorded),
            }),
            None,
            never,
        );
        assert_eq!((s["a"], s["b"]), (Source::Current, Source::Generate));
        let s = sources(&p, Basis::Create, None, None, never);
        assert_eq!((s["a"], s["b"]), (Source::Generate, Source::Generate));
    }

    fn claim(request_type: RequestType, adopt: Adopt, adopt_any_allowed: bool) -> Claim<'static> {
        Claim {
            request_type,
            adopt,
            adopt_any_allowed,
            owner: "app/Db",
        }
    }

    #[test]
    fn takeover_follows_adopt_and_the_owner_tag() {
        let owner = "app/Db";
        let t = |adopt, tag: Option<&str>, same| {
            takeover(claim(RequestType::Create, adopt, true), "app/db", tag, same)
        };
        assert_eq!(t(Adopt::IfTagged, Some(owner), false), Takeover::Ours);
        assert_eq!(t(Adopt::Always, Some(owner), false), Takeover::Ours);
        assert_eq!(t(Adopt::Always, None, false), Takeover::Adopt);
        assert_eq!(t(Adopt::Always, Some("other/X"), false), Takeover::Adopt);
        assert_eq!(t(Adopt::Never, None, true), Takeover::Ours);
        assert_eq!(t(Adopt::IfTagged, None, true), Takeover::Ours);
        let Takeover::Refuse(r) = t(Adopt::IfTagged, None, false) else {
            panic!()
        };
        assert_eq!(
            r,
            "secret `app/db` already exists and has no `stackwright:owner` tag; it was left untouched. \
             To take it over, tag it `stackwright:owner=app/Db` or set `Adopt: Always`; or give this resource another `Name`"
        );
        let Takeover::Refuse(r) = t(Adopt::IfTagged, Some("other/X"), false) else {
            panic!()
        };
        assert!(r.contains("belongs to `other/X`"), "{r}");
        let Takeover::Refuse(r) = t(Adopt::Never, Some(owner), false) else {
            panic!()
        };
        assert!(r.contains("`Adopt` is `Never`"), "{r}");
    }

    #[test]
    fn adopt_always_without_the_stage_switch_takes_over_only_a_tagged_secret() {
        for request_type in [RequestType::Create, RequestType::Update] {
            let t = |tag: Option<&str>| {
                takeover(
                    claim(request_type, Adopt::Always, false),
                    "app/db",
                    tag,
                    false,
                )
            };
            assert_eq!(t(Some("app/Db")), Takeover::Ours);
            for tag in [None, Some("other/X")] {
                let Takeover::Refuse(r) = t(tag) else {
                    panic!("{request_type} {tag:?}")
                };
                assert!(r.starts_with("secret `app/db` already exists and "), "{r}");
                assert!(
                    r.contains("`Adopt: Always` is not allowed in this function's stage (switch `AdoptAnySecret` in `STACKWRIGHT_ALLOW`)"),
                    "{r}"
                );
                assert!(r.contains("tagged `stackwright:owner=app/Db`"), "{r}");
            }
        }
    }

    #[test]
    fn an_update_takes_back_its_own_tagged_secret_whatever_adopt_says() {
        // The rollback of a `Name` change returns to the old secret, which is ours.
        for adopt in [Adopt::Never, Adopt::IfTagged, Adopt::Always] {
            for allowed in [false, true] {
                let c = claim(RequestType::Update, adopt, allowed);
                assert_eq!(
                    takeover(c, "app/db", Some("app/Db"), false),
                    Takeover::Ours,
                    "{adopt:?} {allowed}"
                );
            }
        }
        // Someone else's is still refused unless `Adopt: Always` is allowed.
        let c = claim(RequestType::Update, Adopt::Never, true);
        assert!(matches!(
            takeover(c, "app/db", Some("other/X"), false),
            Takeover::Refuse(_)
        ));
        let c = claim(RequestType::Update, Adopt::Always, true);
        assert_eq!(
            takeover(c, "app/db", Some("other/X"), false),
            Takeover::Adopt
        );
    }

    #[test]
    fn an_update_writes_only_to_a_secret_tagged_for_this_resource() {
        assert_eq!(check_owned("app/db", Some("app/Db"), "app/Db"), Ok(()));
        assert_eq!(
            check_owned("prod/app", None, "app/Db").unwrap_err(),
            "secret `prod/app` does not carry this resource's ownership tag `stackwright:owner=app/Db` \
             (it has none); it was left untouched. An Update writes only to a secret this resource \
             created or took over: if this secret is this resource's, tag it `stackwright:owner=app/Db` \
             and deploy again"
        );
        let r = check_owned("prod/app", Some("prod/App"), "app/Db").unwrap_err();
        assert!(r.contains("(its tag says `prod/App`)"), "{r}");
        // Another logical id of the same stack is not this resource.
        assert!(check_owned("app/db", Some("app/Cache"), "app/Db").is_err());
    }

    #[test]
    fn switches_follow_on_delete_and_adopt() {
        let keys = json!({"p": {"Generate": "uuid"}});
        let asked = |extra: Value| {
            let mut raw = json!({ "Keys": keys });
            raw.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            switches(&props(raw))
        };
        assert_eq!(asked(json!({})), []);
        assert_eq!(asked(json!({"OnDelete": "Retain", "Adopt": "Never"})), []);
        assert_eq!(asked(json!({"OnDelete": "Delete"})), [Switch::DeleteSecret]);
        assert_eq!(
            asked(json!({"OnDelete": "ForceDelete"})),
            [Switch::DeleteSecret]
        );
        assert_eq!(asked(json!({"Adopt": "Always"})), [Switch::AdoptAnySecret]);
        assert_eq!(
            asked(json!({"Adopt": "Always", "OnDelete": "Delete"})),
            [Switch::DeleteSecret, Switch::AdoptAnySecret]
        );
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn tag_changes_touch_only_what_the_templates_own() {
        let existing: BTreeMap<String, String> = [
            ("team", "data"),
            ("old", "1"),
            ("someone-elses", "x"),
            (OWNER_TAG, "app/Db"),
            ("stackwright:version:v1", "AAAAAA"),
            ("stackwright:version:v0", "BBBBBB"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let none = BTreeMap::new();
        let wanted = |tags, old| WantedTags {
            tags,
            old,
            owner: "app/Db",
            managed: &none,
        };
        let (current, before) = (
            [tag("team", "data"), tag("env", "dev")],
            [tag("team", "data"), tag("old", "1")],
        );
        let c = tag_changes(&existing, wanted(&current, &before), None, None);
        assert_eq!(c.set, [("env".to_owned(), "dev".to_owned())].into());
        assert_eq!(c.remove, ["old"]);
        let team = [tag("team", "data")];
        let c = tag_changes(
            &existing,
            wanted(&team, &team),
            Some(("v2", "CCCCCC")),
            Some("v1"),
        );
        assert_eq!(
            c.set,
            [("stackwright:version:v2".to_owned(), "CCCCCC".to_owned())].into()
        );
        assert_eq!(c.remove, ["stackwright:version:v0"]);
        // Adoption sets the owner tag.
        let c = tag_changes(&BTreeMap::new(), wanted(&[], &[]), None, None);
        assert_eq!(c.set, [(OWNER_TAG.to_owned(), "app/Db".to_owned())].into());
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_mode_and_spec_tags_follow_the_template_exactly() {
        let existing = map(&[
            (OWNER_TAG, "app/Db"),
            ("stackwright:rotation", "single"),
            (
                "stackwright:spec:password",
                "password length=24 each=true classes=digits",
            ),
            ("stackwright:spec:gone", "uuid"),
            ("team", "data"),
        ]);
        let managed = |p: Value| crate::spec::managed_tags(&props(p));
        let changes = |managed: &BTreeMap<String, String>| {
            tag_changes(
                &existing,
                WantedTags {
                    tags: &[],
                    old: &[],
                    owner: "app/Db",
                    managed,
                },
                None,
                None,
            )
        };
        // The mode changes, a spec changes, a key no longer generated loses its tag.
        let m = managed(
            json!({"Keys": {"password": {"Generate": "password"}, "gone": {"Value": "x"}}, "Rotation": "alternating"}),
        );
        let c = changes(&m);
        assert_eq!(
            c.set,
            map(&[
                ("stackwright:rotation", "alternating"),
                (
                    "stackwright:spec:password",
                    "password length=32 each=true classes=lowercase+uppercase+digits+punctuation"
                ),
            ])
        );
        assert_eq!(c.remove, ["stackwright:spec:gone"]);
        // `Rotation` removed: the tag goes; tags others set stay.
        let m = managed(
            json!({"Keys": {"password": {"Generate": "password", "Length": 24, "ExcludePunctuation": true, "ExcludeCharacters": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"}}}),
        );
        let c = changes(&m);
        assert!(c.set.is_empty(), "{:?}", c.set);
        assert_eq!(c.remove, ["stackwright:rotation", "stackwright:spec:gone"]);
    }

    #[test]
    fn tags_others_put_on_the_secret_count_against_the_fifty() {
        let mut existing = map(&[(OWNER_TAG, "app/Db"), ("stackwright:version:v1", "AAAAAA")]);
        for i in 0..46 {
            existing.insert(format!("other{i:02}"), "x".into());
        }
        let wanted = [tag("team", "data")];
        let mut changes = TagChanges::default();
        changes.set.insert("team".into(), "data".into());
        assert_eq!(tag_count_after(&existing, &changes), 49);
        assert_eq!(
            check_tag_room("app/db", &existing, &changes, &wanted),
            Ok(())
        );
        changes
            .set
            .insert("stackwright:rotation".into(), "single".into());
        changes
            .set
            .insert("stackwright:version:v2".into(), "BBBBBB".into());
        let r = check_tag_room("app/db", &existing, &changes, &wanted).unwrap_err();
        assert!(
            r.starts_with("secret `app/db` would carry 51 tags and Secrets Manager keeps at most 50; it was left untouched")
                && r.contains("`other00`, `other01`")
                && !r.contains("`team`")
                && !r.contains("stackwright"),
            "{r}"
        );
        // Removals come first, so what they free counts.
        changes.remove.push("stackwright:version:v1".into());
        assert_eq!(tag_count_after(&existing, &changes), 50);
        assert_eq!(
            check_tag_room("app/db", &existing, &changes, &wanted),
            Ok(())
        );
    }

    #[test]
    fn content_compares_and_serialises_without_showing_values() {
        let a = content(&[("u", "app"), ("p", "s3cr3t-\"q\"")]);
        let b = Content::parse(a.to_secret_string().expose()).unwrap();
        assert!(a.same_as(&b));
        assert!(!a.same_as(&content(&[("u", "app")])));
        assert!(!a.same_as(&content(&[("u", "app"), ("p", "other")])));
        assert_eq!(format!("{a:?}"), r#"{"p", "u"}"#);
        assert_eq!(Content::parse("plain text").unwrap_err(), NotAnObject);
        let mixed = Content::parse(r#"{"port": 5432, "tls": true}"#).unwrap();
        assert_eq!(mixed.get("port").unwrap().expose(), "5432");
    }

    #[test]
    fn description_and_kms_changes() {
        let old = props(
            json!({"Keys": {"a": {"Generate": "uuid"}}, "Description": "d", "KmsKeyId": "alias/a"}),
        );
        let upd = Basis::Update { old: Some(&old) };
        assert_eq!(description_change(Some("d"), upd, Some("d")), None);
        assert_eq!(
            description_change(Some("e"), upd, Some("d")),
            Some("e".into())
        );
        assert_eq!(
            description_change(None, upd, Some("d")),
            Some(String::new())
        );
        assert_eq!(description_change(None, Basis::Create, Some("d")), None);
        assert_eq!(
            kms_change(Some("alias/a"), upd, Some("arn:aws:kms:…")),
            None
        );
        assert_eq!(
            kms_change(Some("alias/b"), upd, None),
            Some("alias/b".into())
        );
        assert_eq!(
            kms_change(None, upd, Some("alias/a")),
            Some("alias/aws/secretsmanager".into())
        );
        assert_eq!(
            kms_change(Some("alias/a"), Basis::Create, Some("alias/a")),
            None
        );
        assert_eq!(kms_change(None, Basis::Create, Some("alias/a")), None);
    }
}
