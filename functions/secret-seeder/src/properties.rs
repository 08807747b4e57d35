//! `Custom::SeededSecret`'s properties: parsed, checked and normalised, so that every problem
//! is a `Reason` naming the property (`Keys.db_password.Length`) and equal specs compare equal
//! however the template spelled them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use custom_resource::Secret;
use custom_resource::properties::{PropertyError, canonical_json, de, scalar_text};
use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Password length when a spec gives none.
pub const DEFAULT_PASSWORD_LENGTH: u16 = 32;
/// Shortest password accepted: anything shorter is guessable.
pub const MIN_PASSWORD_LENGTH: u16 = 8;
/// Longest password accepted (Secrets Manager's `GetRandomPassword` limit).
pub const MAX_PASSWORD_LENGTH: u16 = 4096;
/// Token size in bytes when a spec gives none (256 bits).
pub const DEFAULT_TOKEN_BYTES: u16 = 32;
/// Smallest token accepted (128 bits).
pub const MIN_TOKEN_BYTES: u16 = 16;
/// Largest token accepted.
pub const MAX_TOKEN_BYTES: u16 = 1024;
/// `RecoveryWindowInDays` when none is given.
pub const DEFAULT_RECOVERY_WINDOW_DAYS: i64 = 7;
/// How many generated keys one secret may hold: their fingerprints must fit in one tag value
/// (see [`crate::plan`]).
pub const MAX_GENERATED_KEYS: usize = crate::plan::MAX_FINGERPRINTS;
/// How many tags a template may set: Secrets Manager allows 50, and this resource keeps up to
/// four of its own (the owner and the fingerprints of two or three versions).
pub const MAX_USER_TAGS: usize = 46;
/// Tag key prefixes a template may not set.
pub const RESERVED_TAG_PREFIXES: [&str; 2] = ["aws:", "stackwright:"];

/// ASCII punctuation, the set Secrets Manager's `GetRandomPassword` uses.
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// The properties of a `Custom::SeededSecret`.
#[derive(Debug, Deserialize)]
#[serde(try_from = "RawProperties")]
#[non_exhaustive]
pub struct Properties {
    /// The secret's name; `None` means `<stack name>/<LogicalResourceId>`.
    pub name: Option<String>,
    /// The secret's description.
    pub description: Option<String>,
    /// The KMS key (id, ARN or alias) that encrypts the secret.
    pub kms_key_id: Option<String>,
    /// Tags set by the template.
    pub tags: Vec<Tag>,
    /// What the secret holds: key name → spec.
    pub keys: BTreeMap<String, Spec>,
    /// Any value; when it changes every generated key gets a new value. Kept in canonical form.
    pub rotate: Option<String>,
    /// Whether Create takes over a secret that already has the name.
    pub adopt: Adopt,
    /// What Delete does with the secret.
    pub on_delete: OnDelete,
    /// The recovery window of `OnDelete: Delete`, 7 to 30 days.
    pub recovery_window_in_days: i64,
    /// How the rotation function rotates the secret (tag `stackwright:rotation`); `None`: no tag.
    pub rotation: Option<RotationMode>,
}

/// How the rotation function rotates a secret: the value of its tag `stackwright:rotation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RotationMode {
    /// One login, a new password set through the admin secret.
    Single,
    /// Two logins (`<name>` and `<name>_clone`) taking turns.
    Alternating,
    /// Each key that has a recorded spec made anew with it; no login.
    Regenerate,
}

impl fmt::Display for RotationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Single => "single",
            Self::Alternating => "alternating",
            Self::Regenerate => "regenerate",
        })
    }
}

/// How many tags Secrets Manager keeps on one secret.
pub const MAX_SECRET_TAGS: usize = 50;
/// The tags of this resource's own besides the specs and the mode: the owner and the records
/// of up to three versions (the current one, the previous one, and one whose write failed).
pub const OWN_TAGS: usize = 4;

impl TryFrom<RawProperties> for Properties {
    type Error = PropertyError;

    fn try_from(raw: RawProperties) -> Result<Self, PropertyError> {
        let specs = crate::spec::spec_tags(&raw.keys)?.len();
        let mode = usize::from(raw.rotation.is_some());
        let total = raw.tags.len() + specs + mode + OWN_TAGS;
        if total > MAX_SECRET_TAGS {
            return Err(PropertyError::new(
                "Tags",
                format!(
                    "the secret would carry {total} tags and Secrets Manager keeps at most {MAX_SECRET_TAGS}: \
                     {} from `Tags`, one `stackwright:spec:<key>` for each of the {specs} generated keys, {mode} for \
                     `Rotation` and {OWN_TAGS} of the function's own; remove tags, or split the keys over several secrets",
                    raw.tags.len()
                ),
            ));
        }
        Ok(Self {
            name: raw.name,
            description: raw.description,
            kms_key_id: raw.kms_key_id,
            tags: raw.tags,
            keys: raw.keys,
            rotate: raw.rotate,
            adopt: raw.adopt,
            on_delete: raw.on_delete,
            recovery_window_in_days: raw.recovery_window_in_days,
            rotation: raw.rotation,
        })
    }
}

/// The properties as written, each checked on its own; [`Properties`] checks them together.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawProperties {
    #[serde(default, deserialize_with = "secret_name")]
    name: Option<String>,
    #[serde(default, deserialize_with = "description")]
    description: Option<String>,
    #[serde(default, deserialize_with = "kms_key_id")]
    kms_key_id: Option<String>,
    #[serde(default, deserialize_with = "tags")]
    tags: Vec<Tag>,
    #[serde(deserialize_with = "keys")]
    keys: BTreeMap<String, Spec>,
    #[serde(default, deserialize_with = "rotate")]
    rotate: Option<String>,
    #[serde(default)]
    adopt: Adopt,
    #[serde(default)]
    on_delete: OnDelete,
    #[serde(
        default = "default_recovery_window",
        deserialize_with = "recovery_window"
    )]
    recovery_window_in_days: i64,
    #[serde(default)]
    rotation: Option<RotationMode>,
}

impl Properties {
    /// The names of the keys, in order.
    pub fn key_names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// A tag set by the template.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Tag {
    /// 1 to 127 characters; not `aws:…` or `stackwright:…`.
    pub key: String,
    /// 0 to 255 characters.
    pub value: String,
}

/// When Create may take over a secret that already has the name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Adopt {
    /// Only when it carries this resource's ownership tag.
    #[default]
    IfTagged,
    /// Always (the ownership tag is then set).
    Always,
    /// Never, except a secret this same request created (a re-delivered Create).
    Never,
}

/// What Delete does with the secret.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum OnDelete {
    /// Leave it as it is.
    #[default]
    Retain,
    /// Schedule its deletion, recoverable for `RecoveryWindowInDays`.
    Delete,
    /// Delete it at once, without recovery.
    ForceDelete,
}

/// One key of the secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "SpecObject")]
pub enum Spec {
    /// A value generated once from the operating system's CSPRNG.
    Generate {
        /// What to generate.
        generator: Generator,
        /// The spec's own `Rotate`, canonical: when it changes, only this key is regenerated.
        rotate: Option<String>,
    },
    /// A value given by the template (a user name, a host): not generated, follows the template.
    Literal(Secret<String>),
}

impl Spec {
    /// The generator, for generated keys.
    pub fn generator(&self) -> Option<&Generator> {
        match self {
            Self::Generate { generator, .. } => Some(generator),
            Self::Literal(_) => None,
        }
    }
}

/// What a generated key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generator {
    /// A password of printable ASCII characters.
    Password(PasswordSpec),
    /// Random bytes, encoded.
    Token {
        /// How many random bytes.
        bytes: u16,
        /// How they are written.
        encoding: Encoding,
    },
    /// A random (version 4) UUID, hyphenated, lower case.
    Uuid,
}

/// A password's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordSpec {
    /// Length in characters.
    pub length: u16,
    /// The character classes left after the exclusions, each non-empty.
    pub classes: Vec<CharClass>,
    /// Whether every class in [`PasswordSpec::classes`] must appear.
    pub require_each: bool,
}

impl PasswordSpec {
    /// Every character a password may hold, in ASCII order.
    pub fn alphabet(&self) -> Vec<u8> {
        let mut all: Vec<u8> = self
            .classes
            .iter()
            .flat_map(|c| c.chars.iter().copied())
            .collect();
        all.sort_unstable();
        all
    }
}

/// One class of characters (lower case, upper case, digits, punctuation), minus exclusions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharClass {
    /// `lowercase`, `uppercase`, `digits` or `punctuation`.
    pub name: &'static str,
    /// Its characters, in ASCII order.
    pub chars: Vec<u8>,
}

/// How a token's bytes are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Encoding {
    /// URL-safe base64 without padding (RFC 4648 §5).
    #[default]
    #[serde(rename = "base64url")]
    Base64Url,
    /// Lower-case hexadecimal.
    #[serde(rename = "hex")]
    Hex,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Base64Url => "base64url",
            Self::Hex => "hex",
        })
    }
}

/// The kinds of `Generate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Password,
    Token,
    Uuid,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Password => "password",
            Self::Token => "token",
            Self::Uuid => "uuid",
        })
    }
}

/// A spec as written, read only from an object: serde would fill [`RawSpec`] from a list too,
/// position by position, and a list's first item would reach `Generate` (whose reason names
/// the unknown value).
struct SpecObject(RawSpec);

impl<'de> Deserialize<'de> for SpecObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de::object_expecting(
            d,
            "an object such as {\"Generate\": \"password\"} or {\"Value\": \"…\"}",
        )
        .map(SpecObject)
    }
}

impl TryFrom<SpecObject> for Spec {
    type Error = PropertyError;

    fn try_from(raw: SpecObject) -> Result<Self, PropertyError> {
        Self::try_from(raw.0)
    }
}

/// A spec as written, before the keys that belong to its kind are checked.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawSpec {
    #[serde(default)]
    generate: Option<Kind>,
    #[serde(default, deserialize_with = "password_length")]
    length: Option<u16>,
    #[serde(default)]
    exclude_characters: Option<String>,
    #[serde(default, deserialize_with = "de::opt_boolean")]
    exclude_punctuation: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_boolean")]
    require_each_included_type: Option<bool>,
    #[serde(default, deserialize_with = "token_bytes")]
    bytes: Option<u16>,
    #[serde(default)]
    encoding: Option<Encoding>,
    #[serde(default, deserialize_with = "literal")]
    value: Option<Secret<String>>,
    #[serde(default, deserialize_with = "rotate")]
    rotate: Option<String>,
}

impl RawSpec {
    /// The keys present, in the order a reason lists them.
    fn present(&self) -> Vec<&'static str> {
        [
            ("Length", self.length.is_some()),
            ("ExcludeCharacters", self.exclude_characters.is_some()),
            ("ExcludePunctuation", self.exclude_punctuation.is_some()),
            (
                "RequireEachIncludedType",
                self.require_each_included_type.is_some(),
            ),
            ("Bytes", self.bytes.is_some()),
            ("Encoding", self.encoding.is_some()),
            ("Rotate", self.rotate.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect()
    }
}

/// Why a spec is not usable: a [`PropertyError`] with an empty path, which serde places at the
/// key's path (`Keys.db_password`).
fn spec_error(message: impl Into<String>) -> PropertyError {
    PropertyError::new("", message)
}

fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [] => "nothing".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

impl TryFrom<RawSpec> for Spec {
    type Error = PropertyError;

    fn try_from(raw: RawSpec) -> Result<Self, PropertyError> {
        let present = raw.present();
        let kind = match (raw.generate, &raw.value) {
            (None, None) => {
                return Err(spec_error(
                    "expected `Generate` (`password`, `token` or `uuid`) or `Value`",
                ));
            }
            (Some(kind), Some(_)) => {
                return Err(spec_error(format!(
                    "give either `Generate: {kind}` or `Value`, not both"
                )));
            }
            (None, Some(_)) => {
                if let Some(extra) = present.first() {
                    return Err(spec_error(format!(
                        "unknown key `{extra}` next to `Value`; a literal takes only `Value` (use `Generate` for generated values)"
                    )));
                }
                let value = raw.value.unwrap_or_default();
                return Ok(Self::Literal(value));
            }
            (Some(kind), None) => kind,
        };
        let allowed: &[&str] = match kind {
            Kind::Password => &[
                "Length",
                "ExcludeCharacters",
                "ExcludePunctuation",
                "RequireEachIncludedType",
                "Rotate",
            ],
            Kind::Token => &["Bytes", "Encoding", "Rotate"],
            Kind::Uuid => &["Rotate"],
        };
        if let Some(extra) = present.iter().find(|p| !allowed.contains(p)) {
            return Err(spec_error(format!(
                "unknown key `{extra}` for `Generate: {kind}`; expected {}",
                list(allowed)
            )));
        }
        let generator = match kind {
            Kind::Password => Generator::Password(password_spec(
                raw.length.unwrap_or(DEFAULT_PASSWORD_LENGTH),
                raw.exclude_characters.as_deref().unwrap_or_default(),
                raw.exclude_punctuation.unwrap_or(false),
                raw.require_each_included_type.unwrap_or(true),
            )?),
            Kind::Token => Generator::Token {
                bytes: raw.bytes.unwrap_or(DEFAULT_TOKEN_BYTES),
                encoding: raw.encoding.unwrap_or_default(),
            },
            Kind::Uuid => Generator::Uuid,
        };
        Ok(Self::Generate {
            generator,
            rotate: raw.rotate,
        })
    }
}

/// Builds a password's classes from its options.
pub(crate) fn password_spec(
    length: u16,
    exclude: &str,
    exclude_punctuation: bool,
    require_each: bool,
) -> Result<PasswordSpec, PropertyError> {
    let excluded: BTreeSet<char> = exclude.chars().collect();
    let class = |name: &'static str, chars: &str| CharClass {
        name,
        chars: chars
            .bytes()
            .filter(|b| !excluded.contains(&char::from(*b)))
            .collect(),
    };
    let mut classes = vec![
        class("lowercase", "abcdefghijklmnopqrstuvwxyz"),
        class("uppercase", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        class("digits", "0123456789"),
    ];
    if !exclude_punctuation {
        classes.push(class("punctuation", PUNCTUATION));
    }
    classes.retain(|c| !c.chars.is_empty());
    if classes.is_empty() {
        return Err(spec_error(
            "`ExcludeCharacters` and `ExcludePunctuation` leave no character to build a password \
             from; exclude fewer characters",
        ));
    }
    if require_each && usize::from(length) < classes.len() {
        return Err(spec_error(format!(
            "`Length` {length} is too short to hold one character of each of the {} included types; raise `Length` or set `RequireEachIncludedType: false`",
            classes.len()
        )));
    }
    Ok(PasswordSpec {
        length,
        classes,
        require_each,
    })
}

fn password_length<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    de::bounded(d, MIN_PASSWORD_LENGTH.into(), MAX_PASSWORD_LENGTH.into())
        .map(|n| n.and_then(|n| u16::try_from(n).ok()))
}

fn token_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    de::bounded(d, MIN_TOKEN_BYTES.into(), MAX_TOKEN_BYTES.into())
        .map(|n| n.and_then(|n| u16::try_from(n).ok()))
}

fn default_recovery_window() -> i64 {
    DEFAULT_RECOVERY_WINDOW_DAYS
}

fn recovery_window<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(de::bounded(d, 7, 30)?
        .and_then(|n| i64::try_from(n).ok())
        .unwrap_or(DEFAULT_RECOVERY_WINDOW_DAYS))
}

/// A literal's value: a string, or a number or boolean written as one.
fn literal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret<String>>, D::Error> {
    Ok(de::opt_scalar_text(d)?.map(Secret::new))
}

/// `Rotate`, any JSON value, in a canonical text: a scalar as its text ([`scalar_text`]:
/// CloudFormation turns `1` into `"1"`, and either must mean the same), a list or an object as
/// [`canonical_json`] (keys sorted, numbers and booleans as strings at every depth, as
/// CloudFormation delivers them). `null` and absent are the same.
fn rotate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(value
        .filter(|v| !v.is_null())
        .map(|v| scalar_text(&v).unwrap_or_else(|| canonical_json(&v))))
}

/// Whether `name` is a valid secret name: 1 to 512 of letters, digits and `/_+=.@-`.
pub fn is_valid_secret_name(name: &str) -> bool {
    (1..=512).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
}

/// `Name`. A valid name is shown wherever it is used; text that is not one is never repeated
/// (it may be a secret put in the wrong property): the reason says what is wrong with it.
fn secret_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = Option::<String>::deserialize(d)?;
    match name {
        Some(name) if !is_valid_secret_name(&name) => {
            let got = match name
                .chars()
                .position(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)))
            {
                _ if name.is_empty() => "an empty string".to_owned(),
                Some(at) => format!("one with another character at position {}", at + 1),
                None => format!("{} characters", name.len()),
            };
            Err(D::Error::custom(format!(
                "expected a secret name of 1 to 512 letters, digits and `/_+=.@-`, got {got}; or leave `Name` out for `<stack name>/<LogicalResourceId>`"
            )))
        }
        name => Ok(name),
    }
}

fn description<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    match text {
        Some(t) if t.chars().count() > 2048 => Err(D::Error::custom(format!(
            "expected at most 2048 characters, got {}",
            t.chars().count()
        ))),
        text => Ok(text.filter(|t| !t.is_empty())),
    }
}

fn kms_key_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let key = Option::<String>::deserialize(d)?;
    match key {
        Some(k) if k.len() > 2048 => Err(D::Error::custom(
            "expected a KMS key id, ARN or alias of at most 2048 characters",
        )),
        key => Ok(key.filter(|k| !k.trim().is_empty())),
    }
}

fn is_tag_text(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
}

fn tags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Tag>, D::Error> {
    let tags = Option::<Vec<Tag>>::deserialize(d)?.unwrap_or_default();
    if tags.len() > MAX_USER_TAGS {
        return Err(D::Error::custom(format!(
            "expected at most {MAX_USER_TAGS} tags, got {}",
            tags.len()
        )));
    }
    let mut seen = BTreeSet::new();
    for (i, tag) in tags.iter().enumerate() {
        let key = &tag.key;
        // A key that is not one is not repeated (it may be a secret in the wrong place); a
        // valid key is a name, and named below.
        if key.is_empty() || key.chars().count() > 127 || !is_tag_text(key) {
            return Err(D::Error::custom(format!(
                "the key of tag {} must be 1 to 127 letters, digits, spaces and `_.:/=+-@`",
                i + 1
            )));
        }
        if let Some(prefix) = RESERVED_TAG_PREFIXES
            .iter()
            .find(|p| key.to_ascii_lowercase().starts_with(*p))
        {
            return Err(D::Error::custom(format!(
                "tag key `{key}` starts with `{prefix}`, which is reserved; choose another key"
            )));
        }
        if tag.value.chars().count() > 255 || !is_tag_text(&tag.value) {
            return Err(D::Error::custom(format!(
                "the value of tag `{key}` must be at most 255 letters, digits, spaces and `_.:/=+-@`"
            )));
        }
        if !seen.insert(key.as_str()) {
            return Err(D::Error::custom(format!("tag key `{key}` appears twice")));
        }
    }
    Ok(tags)
}

/// Whether `name` may name a key: 1 to 128 letters, digits, `_`, `-` and `.`. Colons would
/// break dynamic references (`…:SecretString:<key>`) and commas the `Keys` attribute.
pub fn is_valid_key_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

fn keys<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Spec>, D::Error> {
    let keys = BTreeMap::<String, Spec>::deserialize(d)?;
    if keys.is_empty() {
        return Err(D::Error::custom(
            "expected at least one key, such as `password: {Generate: password}`",
        ));
    }
    if let Some(bad) = keys.keys().find(|k| !is_valid_key_name(k)) {
        return Err(D::Error::custom(format!(
            "key name `{bad}` must be 1 to 128 letters, digits, `_`, `-` and `.`"
        )));
    }
    let generated = keys.values().filter(|s| s.generator().is_some()).count();
    if generated > MAX_GENERATED_KEYS {
        return Err(D::Error::custom(format!(
            "expected at most {MAX_GENERATED_KEYS} generated keys in one secret, got {generated}; split them over several secrets"
        )));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(raw: Value) -> Result<Properties, PropertyError> {
        crate::parse_properties(&raw)
    }

    fn reason(raw: Value) -> String {
        parse(raw).unwrap_err().to_string()
    }

    #[test]
    fn a_full_template_parses_with_strings_for_numbers_and_booleans() {
        let props = parse(json!({
            "ServiceToken": "arn:aws:lambda:eu-west-1:1:function:f",
            "Name": "app/db",
            "Description": "database credentials",
            "KmsKeyId": "alias/app",
            "Tags": [{"Key": "team", "Value": "data"}],
            "Keys": {
                "password": {"Generate": "password", "Length": "40", "ExcludeCharacters": "\"@/\\", "ExcludePunctuation": "false", "RequireEachIncludedType": "true", "Rotate": "1"},
                "api_token": {"Generate": "token", "Bytes": "48", "Encoding": "hex"},
                "id": {"Generate": "uuid"},
                "username": {"Value": "app"},
                "port": {"Value": 5432}
            },
            "Rotate": "2026-01",
            "Adopt": "Always",
            "OnDelete": "Delete",
            "RecoveryWindowInDays": "14"
        }))
        .unwrap();
        assert_eq!(props.name.as_deref(), Some("app/db"));
        assert_eq!(props.adopt, Adopt::Always);
        assert_eq!(props.on_delete, OnDelete::Delete);
        assert_eq!(props.recovery_window_in_days, 14);
        assert_eq!(props.rotate.as_deref(), Some("2026-01"));
        let Spec::Generate {
            generator: Generator::Password(pw),
            rotate,
        } = &props.keys["password"]
        else {
            panic!("password spec");
        };
        assert_eq!(pw.length, 40);
        assert_eq!(rotate.as_deref(), Some("1"));
        let alphabet = pw.alphabet();
        for c in [b'"', b'@', b'/', b'\\'] {
            assert!(!alphabet.contains(&c));
        }
        assert_eq!(alphabet.len(), 94 - 4);
        assert!(matches!(
            props.keys["api_token"],
            Spec::Generate {
                generator: Generator::Token {
                    bytes: 48,
                    encoding: Encoding::Hex
                },
                ..
            }
        ));
        let Spec::Literal(port) = &props.keys["port"] else {
            panic!("literal")
        };
        assert_eq!(port.expose(), "5432");
        assert_eq!(
            props.key_names().collect::<Vec<_>>(),
            ["api_token", "id", "password", "port", "username"]
        );
    }

    #[test]
    fn defaults_are_filled_in() {
        let props =
            parse(json!({"Keys": {"p": {"Generate": "password"}, "t": {"Generate": "token"}}}))
                .unwrap();
        assert_eq!(props.name, None);
        assert_eq!(props.adopt, Adopt::IfTagged);
        assert_eq!(props.on_delete, OnDelete::Retain);
        assert_eq!(props.recovery_window_in_days, 7);
        let Some(Generator::Password(pw)) = props.keys["p"].generator() else {
            panic!()
        };
        assert_eq!(
            (pw.length, pw.require_each, pw.classes.len()),
            (32, true, 4)
        );
        assert_eq!(
            props.keys["t"].generator(),
            Some(&Generator::Token {
                bytes: 32,
                encoding: Encoding::Base64Url
            })
        );
    }

    #[test]
    fn bad_specs_name_the_key_and_the_property() {
        let cases = [
            (
                json!({"Keys": {"db_password": {"Generate": "password", "Length": "abc"}}}),
                "property `Keys.db_password.Length`: expected a whole number from 8 to 4096, got a string that is not a number",
            ),
            (
                json!({"Keys": {"db_password": {"Generate": "password", "Length": 4}}}),
                "property `Keys.db_password.Length`: expected a whole number from 8 to 4096, got a number outside that range",
            ),
            (
                json!({"Keys": {"db_password": {"Generate": "passphrase"}}}),
                "property `Keys.db_password.Generate`: unknown value `passphrase`; expected one of `password`, `token`, `uuid`",
            ),
            (
                json!({"Keys": {"db_password": {"Generate": "password", "Size": 3}}}),
                "property `Keys.db_password`: unknown key `Size`; expected one of `Generate`, `Length`, `ExcludeCharacters`, \
                 `ExcludePunctuation`, `RequireEachIncludedType`, `Bytes`, `Encoding`, `Value`, `Rotate`",
            ),
            (
                json!({"Keys": {"api": {"Generate": "token", "Length": 12}}}),
                "property `Keys.api`: unknown key `Length` for `Generate: token`; expected `Bytes`, `Encoding` or `Rotate`",
            ),
            (
                json!({"Keys": {"id": {"Generate": "uuid", "Bytes": 16}}}),
                "property `Keys.id`: unknown key `Bytes` for `Generate: uuid`; expected `Rotate`",
            ),
            (
                json!({"Keys": {"api": {"Generate": "token", "Encoding": "base32"}}}),
                "property `Keys.api.Encoding`: unknown value `base32`; expected `base64url` or `hex`",
            ),
            (
                json!({"Keys": {"api": {"Generate": "token", "Bytes": 8}}}),
                "property `Keys.api.Bytes`: expected a whole number from 16 to 1024, got a number outside that range",
            ),
            (
                json!({"Keys": {"user": {"Value": "app", "Rotate": 1}}}),
                "property `Keys.user`: unknown key `Rotate` next to `Value`; a literal takes only `Value` (use `Generate` for generated values)",
            ),
            (
                json!({"Keys": {"user": {"Value": "app", "Generate": "uuid"}}}),
                "property `Keys.user`: give either `Generate: uuid` or `Value`, not both",
            ),
            (
                json!({"Keys": {"user": {}}}),
                "property `Keys.user`: expected `Generate` (`password`, `token` or `uuid`) or `Value`",
            ),
            (
                json!({"Keys": {"user": {"Value": {"nested": 1}}}}),
                "property `Keys.user.Value`: expected a string, got an object",
            ),
            (
                json!({"Keys": {"user": "app"}}),
                "property `Keys.user`: expected an object such as {\"Generate\": \"password\"} or {\"Value\": \"…\"}, got a string",
            ),
            (
                json!({"Keys": {"user": ["password"]}}),
                "property `Keys.user`: expected an object such as {\"Generate\": \"password\"} or {\"Value\": \"…\"}, got a list",
            ),
            (
                json!({"Keys": {"p": {"Generate": "password", "ExcludePunctuation": true, "ExcludeCharacters": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}}}),
                "property `Keys.p`: `ExcludeCharacters` and `ExcludePunctuation` leave no character to build a password from; exclude fewer characters",
            ),
            (
                json!({"Keys": {}}),
                "property `Keys`: expected at least one key, such as `password: {Generate: password}`",
            ),
            (
                json!({"Keys": {"a:b": {"Generate": "uuid"}}}),
                "property `Keys`: key name `a:b` must be 1 to 128 letters, digits, `_`, `-` and `.`",
            ),
            (json!({}), "missing required property `Keys`"),
        ];
        for (raw, expected) in cases {
            assert_eq!(reason(raw.clone()), expected, "{raw}");
        }
    }

    #[test]
    fn top_level_properties_are_checked() {
        let keys = json!({"p": {"Generate": "uuid"}});
        let cases = [
            (
                json!({"Keys": keys, "RecoveryWindowInDays": 3}),
                "property `RecoveryWindowInDays`: expected a whole number from 7 to 30, got a number outside that range",
            ),
            (
                json!({"Keys": keys, "Adopt": "Sometimes"}),
                "property `Adopt`: unknown value `Sometimes`; expected one of `IfTagged`, `Always`, `Never`",
            ),
            (
                json!({"Keys": keys, "OnDelete": "Destroy"}),
                "property `OnDelete`: unknown value `Destroy`; expected one of `Retain`, `Delete`, `ForceDelete`",
            ),
            (
                json!({"Keys": keys, "Name": "has space"}),
                "property `Name`: expected a secret name of 1 to 512 letters, digits and `/_+=.@-`, got one with another character at position 4; \
                 or leave `Name` out for `<stack name>/<LogicalResourceId>`",
            ),
            (
                json!({"Keys": keys, "Name": "a".repeat(513)}),
                "property `Name`: expected a secret name of 1 to 512 letters, digits and `/_+=.@-`, got 513 characters; \
                 or leave `Name` out for `<stack name>/<LogicalResourceId>`",
            ),
            (
                json!({"Keys": keys, "Tags": [{"Key": "team", "Value": "a"}, {"Key": "a\nb", "Value": "x"}]}),
                "property `Tags`: the key of tag 2 must be 1 to 127 letters, digits, spaces and `_.:/=+-@`",
            ),
            (
                json!({"Keys": keys, "Tags": [{"Key": "stackwright:owner", "Value": "x"}]}),
                "property `Tags`: tag key `stackwright:owner` starts with `stackwright:`, which is reserved; choose another key",
            ),
            (
                json!({"Keys": keys, "Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}),
                "property `Tags`: tag key `a` appears twice",
            ),
            (
                json!({"Keys": keys, "Tags": [{"Key": "a"}]}),
                "property `Tags[0]`: missing required key `Value`",
            ),
            (
                json!({"Keys": keys, "Colour": "red"}),
                "unknown property `Colour`; expected one of `Name`, `Description`, `KmsKeyId`, `Tags`, `Keys`, `Rotate`, `Adopt`, `OnDelete`, `RecoveryWindowInDays`, `Rotation`",
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(reason(raw.clone()), expected, "{raw}");
        }
    }

    #[test]
    fn too_many_generated_keys_are_refused() {
        let keys: serde_json::Map<String, Value> = (0..=MAX_GENERATED_KEYS)
            .map(|i| (format!("k{i}"), json!({"Generate": "uuid"})))
            .collect();
        let err = reason(json!({ "Keys": keys }));
        assert!(
            err.starts_with("property `Keys`: expected at most"),
            "{err}"
        );
    }

    #[test]
    fn rotation_names_a_mode() {
        let keys = json!({"p": {"Generate": "password"}});
        for (given, mode) in [
            ("single", RotationMode::Single),
            ("alternating", RotationMode::Alternating),
            ("regenerate", RotationMode::Regenerate),
        ] {
            let props = parse(json!({"Keys": keys, "Rotation": given})).unwrap();
            assert_eq!(props.rotation, Some(mode));
            assert_eq!(mode.to_string(), given);
        }
        assert_eq!(parse(json!({"Keys": keys})).unwrap().rotation, None);
        assert_eq!(
            reason(json!({"Keys": keys, "Rotation": "Single"})),
            "property `Rotation`: unknown value `Single`; expected one of `single`, `alternating`, `regenerate`"
        );
        // The mode is set through `Rotation`, never through `Tags`.
        assert!(
            reason(
                json!({"Keys": keys, "Tags": [{"Key": "stackwright:rotation", "Value": "single"}]})
            )
            .contains("reserved")
        );
    }

    #[test]
    fn the_secrets_tags_must_fit_in_fifty_with_the_functions_own() {
        let tags = |n: usize| -> Vec<Value> {
            (0..n)
                .map(|i| json!({"Key": format!("t{i}"), "Value": "x"}))
                .collect()
        };
        let keys = |n: usize| -> serde_json::Map<String, Value> {
            (0..n)
                .map(|i| (format!("k{i}"), json!({"Generate": "uuid"})))
                .chain([("user".to_owned(), json!({"Value": "app"}))])
                .collect()
        };
        // 40 tags, 5 generated keys, the mode and the function's 4: 50.
        assert!(
            parse(json!({"Keys": keys(5), "Tags": tags(40), "Rotation": "regenerate"})).is_ok()
        );
        assert_eq!(
            reason(json!({"Keys": keys(6), "Tags": tags(40), "Rotation": "regenerate"})),
            "property `Tags`: the secret would carry 51 tags and Secrets Manager keeps at most 50: 40 from `Tags`, \
             one `stackwright:spec:<key>` for each of the 6 generated keys, 1 for `Rotation` and 4 of the \
             function's own; remove tags, or split the keys over several secrets"
        );
        assert!(parse(json!({"Keys": keys(6), "Tags": tags(40)})).is_ok());
        assert!(parse(json!({"Keys": keys(MAX_GENERATED_KEYS)})).is_ok());
    }

    #[test]
    fn require_each_needs_room_for_each_type() {
        let err = password_spec(8, "", false, true).map(|_| ());
        assert!(err.is_ok());
        // Only 3 characters wide is refused by the Length range before this; the check
        // still guards the invariant for the generator.
        let err = password_spec(3, "", false, true).unwrap_err().to_string();
        assert!(err.contains("too short"), "{err}");
    }

    #[test]
    fn rotate_is_canonical() {
        let rotate = |value: Value| {
            parse(json!({"Keys": {"p": {"Generate": "uuid", "Rotate": value.clone()}}, "Rotate": value}))
                .map(|props| {
                    let Spec::Generate { rotate, .. } = &props.keys["p"] else {
                        panic!("generated")
                    };
                    assert_eq!(rotate, &props.rotate);
                    props.rotate
                })
                .unwrap()
        };
        assert_eq!(rotate(json!(1)), rotate(json!("1")));
        assert_eq!(rotate(json!(true)).as_deref(), Some("true"));
        assert_eq!(rotate(json!("2026-01")).as_deref(), Some("2026-01"));
        assert_eq!(
            rotate(json!({"b": 1, "a": [1, "x"]})),
            rotate(json!({"a": [1, "x"], "b": 1}))
        );
        // The library's rule: numbers and booleans are strings at every depth, as
        // CloudFormation delivers them.
        assert_eq!(
            rotate(json!({"b": 1, "a": [true, "x", null]})).as_deref(),
            Some(r#"{"a":["true","x",null],"b":"1"}"#)
        );
        assert_eq!(rotate(json!([1, 2])), rotate(json!(["1", "2"])));
        assert_eq!(rotate(json!(null)), None);
    }

    /// A secret put in the wrong property (a dynamic reference, a `NoEcho` parameter) must
    /// not reach the stack events through the `Reason`; nor a literal `Value` of the wrong kind.
    #[test]
    fn a_secret_in_the_wrong_property_is_never_echoed() {
        const SECRET: &str = "hunter2-Pa55w0rd!0123456789";
        let number = json!(987_654_321_987_654_u64);
        let keys = json!({"p": {"Generate": "password"}});
        let in_spec = |spec: Value| json!({"Keys": {"p": spec}});
        let cases = [
            json!({"Keys": keys, "Name": SECRET}),
            json!({"Keys": keys, "Name": {"password": SECRET}}),
            json!({"Keys": keys, "Description": {"password": SECRET}}),
            json!({"Keys": keys, "Description": [SECRET]}),
            json!({"Keys": keys, "Description": SECRET.repeat(100)}),
            json!({"Keys": keys, "KmsKeyId": {"password": SECRET}}),
            json!({"Keys": keys, "KmsKeyId": SECRET.repeat(100)}),
            json!({"Keys": keys, "Tags": SECRET}),
            json!({"Keys": keys, "Tags": [{"Key": SECRET, "Value": "x"}]}),
            json!({"Keys": keys, "Tags": [{"Key": "team", "Value": SECRET}]}),
            json!({"Keys": keys, "Tags": [{"Key": "team", "Value": {"password": SECRET}}]}),
            json!({"Keys": keys, "Adopt": [SECRET]}),
            json!({"Keys": keys, "OnDelete": {"Delete": SECRET}}),
            json!({"Keys": keys, "RecoveryWindowInDays": SECRET}),
            json!({"Keys": keys, "RecoveryWindowInDays": number}),
            json!({"Keys": SECRET}),
            json!({"Keys": [SECRET]}),
            json!({"Keys": {"p": SECRET}}),
            json!({"Keys": {"p": [SECRET]}}),
            in_spec(json!({"Value": {"password": SECRET}})),
            in_spec(json!({"Value": [SECRET]})),
            in_spec(json!({"Value": SECRET, "Generate": "password"})),
            in_spec(json!({"Value": SECRET, "Length": 12})),
            in_spec(json!({"Generate": [SECRET]})),
            in_spec(json!({"Generate": "password", "Length": SECRET})),
            in_spec(json!({"Generate": "password", "Length": number})),
            in_spec(json!({"Generate": "password", "ExcludeCharacters": {"password": SECRET}})),
            in_spec(json!({"Generate": "password", "ExcludePunctuation": SECRET})),
            in_spec(json!({"Generate": "password", "RequireEachIncludedType": SECRET})),
            in_spec(json!({"Generate": "token", "Bytes": SECRET})),
            in_spec(json!({"Generate": "token", "Encoding": [SECRET]})),
        ];
        for raw in cases {
            let reason = reason(raw.clone());
            for shown in ["hunter2", "987654321"] {
                assert!(!reason.contains(shown), "{raw}: {reason}");
            }
        }
    }

    #[test]
    fn literals_never_show_in_debug_output() {
        let props = parse(json!({"Keys": {"user": {"Value": "pa55-literal"}}})).unwrap();
        let shown = format!("{props:?}");
        assert!(!shown.contains("pa55-literal"), "{shown}");
    }
}
