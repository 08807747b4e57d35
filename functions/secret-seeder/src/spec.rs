//! A generated key's normalised spec as text, so that it can travel with the secret: the seeder
//! records it in the tag `stackwright:spec:<key>`, and the rotation function reads it back to
//! make a new value the way the first one was made (`regenerate`, and `single`'s password).
//!
//! The text is compact, deterministic (one spelling per spec, whatever the template wrote) and
//! made of the characters tag values allow (letters, digits, spaces and `_.:/=+-@`):
//!
//! - `password length=32 each=true classes=lowercase+uppercase+digits+punctuation exclude=222f405c`:
//!   `classes` are the character classes left after the exclusions; `exclude` the lower-case
//!   hex of the characters of those classes excluded (sorted; left out when none);
//! - `token bytes=32 encoding=base64url`;
//! - `uuid`.
//!
//! `Rotate` values are not part of it: they say when to make a new value, not how.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use custom_resource::properties::PropertyError;

use crate::properties::{
    Encoding, Generator, MAX_PASSWORD_LENGTH, MAX_TOKEN_BYTES, MIN_PASSWORD_LENGTH,
    MIN_TOKEN_BYTES, PUNCTUATION, PasswordSpec, Properties, password_spec,
};

/// The tag that chooses how the rotation function rotates a secret (`Rotation`).
pub const ROTATION_TAG: &str = "stackwright:rotation";
/// Prefix of the tags that record a generated key's spec: `stackwright:spec:<key>`.
pub const SPEC_TAG_PREFIX: &str = "stackwright:spec:";
/// Longest tag key Secrets Manager takes.
pub const MAX_TAG_KEY: usize = 128;
/// Longest tag value Secrets Manager takes.
pub const MAX_TAG_VALUE: usize = 256;
/// Longest key name whose spec tag key fits.
pub const MAX_SPEC_KEY_NAME: usize = MAX_TAG_KEY - SPEC_TAG_PREFIX.len();

/// The four classes of printable ASCII, in the order a spec lists them.
const CLASSES: [(&str, &str); 4] = [
    ("lowercase", "abcdefghijklmnopqrstuvwxyz"),
    ("uppercase", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    ("digits", "0123456789"),
    ("punctuation", PUNCTUATION),
];

/// The tag that records `key`'s spec.
pub fn spec_tag(key: &str) -> String {
    format!("{SPEC_TAG_PREFIX}{key}")
}

/// `generator` as text (see the module docs).
pub fn encode(generator: &Generator) -> String {
    match generator {
        Generator::Password(p) => encode_password(p),
        Generator::Token { bytes, encoding } => format!("token bytes={bytes} encoding={encoding}"),
        Generator::Uuid => "uuid".to_owned(),
    }
}

fn encode_password(p: &PasswordSpec) -> String {
    let alphabet = p.alphabet();
    let mut classes = Vec::new();
    let mut excluded: Vec<u8> = Vec::new();
    for (name, chars) in CLASSES {
        if chars.bytes().any(|c| alphabet.contains(&c)) {
            classes.push(name);
            excluded.extend(chars.bytes().filter(|c| !alphabet.contains(c)));
        }
    }
    excluded.sort_unstable();
    let mut text = format!(
        "password length={} each={} classes={}",
        p.length,
        p.require_each,
        classes.join("+")
    );
    if !excluded.is_empty() {
        text.push_str(" exclude=");
        for c in excluded {
            let _ = write!(text, "{c:02x}");
        }
    }
    text
}

/// Reads a spec written by [`encode`]. Only the one spelling [`encode`] writes is accepted,
/// and the ranges are the properties' own (`Length` 8 to 4096, `Bytes` 16 to 1024).
///
/// # Errors
///
/// What is wrong with it, for a message that names the tag.
pub fn decode(text: &str) -> Result<Generator, String> {
    let mut words = text.split(' ');
    let kind = words.next().unwrap_or_default();
    let fields: Vec<(&str, &str)> = words
        .map(|w| {
            w.split_once('=')
                .ok_or_else(|| format!("`{w}` is not `name=value`"))
        })
        .collect::<Result<_, _>>()?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("`{name}=` is missing"))
    };
    let number = |name: &str, min: u16, max: u16| -> Result<u16, String> {
        field(name)?
            .parse::<u16>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| format!("`{name}` must be a whole number from {min} to {max}"))
    };
    let generator = match kind {
        "uuid" => Generator::Uuid,
        "token" => Generator::Token {
            bytes: number("bytes", MIN_TOKEN_BYTES, MAX_TOKEN_BYTES)?,
            encoding: match field("encoding")? {
                "base64url" => Encoding::Base64Url,
                "hex" => Encoding::Hex,
                _ => return Err("`encoding` must be `base64url` or `hex`".to_owned()),
            },
        },
        "password" => {
            let length = number("length", MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH)?;
            let each = match field("each")? {
                "true" => true,
                "false" => false,
                _ => return Err("`each` must be `true` or `false`".to_owned()),
            };
            let listed: Vec<&str> = field("classes")?.split('+').collect();
            if let Some(bad) = listed
                .iter()
                .find(|c| !CLASSES.iter().any(|(n, _)| n == *c))
            {
                return Err(format!(
                    "unknown class `{bad}`; expected `lowercase`, `uppercase`, `digits` or `punctuation`"
                ));
            }
            let excluded = match fields.iter().find(|(n, _)| *n == "exclude") {
                Some((_, hex)) => unhex(hex).ok_or("`exclude` must be lower-case hex")?,
                None => Vec::new(),
            };
            // Everything not in a listed class is excluded too.
            let mut exclude: String = excluded.iter().map(|b| char::from(*b)).collect();
            for (name, chars) in CLASSES {
                if !listed.contains(&name) {
                    exclude.push_str(chars);
                }
            }
            Generator::Password(
                password_spec(length, &exclude, false, each).map_err(|e| e.to_string())?,
            )
        }
        other => {
            return Err(format!(
                "unknown kind `{other}`; expected `password`, `token` or `uuid`"
            ));
        }
    };
    // One spelling per spec: anything else (another order, a class left empty, a repeated
    // field) is not what the seeder wrote.
    if encode(&generator) != text {
        return Err(format!(
            "not in the seeder's form; expected `{}`",
            encode(&generator)
        ));
    }
    Ok(generator)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The spec tags `props` ask for: `stackwright:spec:<key>` → [`encode`], for every generated
/// key.
///
/// # Errors
///
/// A [`PropertyError`] naming the key when its tag key or value would not fit Secrets
/// Manager's limits (128 and 256 characters).
pub fn spec_tags(
    keys: &BTreeMap<String, crate::properties::Spec>,
) -> Result<BTreeMap<String, String>, PropertyError> {
    let mut tags = BTreeMap::new();
    for (key, spec) in keys {
        let Some(generator) = spec.generator() else {
            continue;
        };
        let tag = spec_tag(key);
        if tag.len() > MAX_TAG_KEY {
            return Err(PropertyError::new(
                "Keys",
                format!(
                    "generated key `{key}` has {} characters, too many for its spec tag \
                     `{SPEC_TAG_PREFIX}<key>` (tag keys hold {MAX_TAG_KEY}); name it with at most \
                     {MAX_SPEC_KEY_NAME} characters",
                    key.len()
                ),
            ));
        }
        let value = encode(generator);
        if value.len() > MAX_TAG_VALUE {
            return Err(PropertyError::new(
                format!("Keys.{key}"),
                format!(
                    "its spec, recorded in tag `{tag}` so that rotation can follow it, takes {} characters \
                     and tag values hold {MAX_TAG_VALUE}; exclude fewer characters, or whole classes \
                     (`ExcludePunctuation`)",
                    value.len()
                ),
            ));
        }
        tags.insert(tag, value);
    }
    Ok(tags)
}

/// Every tag of the seeder's own that `props` ask for besides the owner and the version
/// records: the spec of each generated key and, with `Rotation`, the mode.
pub fn managed_tags(props: &Properties) -> BTreeMap<String, String> {
    let mut tags = spec_tags(&props.keys).unwrap_or_default();
    if let Some(mode) = props.rotation {
        tags.insert(ROTATION_TAG.to_owned(), mode.to_string());
    }
    tags
}

/// Whether `key` is one of the tags [`managed_tags`] manages.
pub fn is_managed_tag(key: &str) -> bool {
    key == ROTATION_TAG || key.starts_with(SPEC_TAG_PREFIX)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn generator(spec: Value) -> Generator {
        let props = crate::parse_properties(&json!({ "Keys": { "k": spec } })).unwrap();
        props.keys["k"].generator().unwrap().clone()
    }

    #[test]
    fn each_kind_has_one_compact_spelling() {
        assert_eq!(encode(&generator(json!({"Generate": "uuid"}))), "uuid");
        assert_eq!(
            encode(&generator(json!({"Generate": "token"}))),
            "token bytes=32 encoding=base64url"
        );
        assert_eq!(
            encode(&generator(
                json!({"Generate": "token", "Bytes": "48", "Encoding": "hex", "Rotate": 3})
            )),
            "token bytes=48 encoding=hex"
        );
        assert_eq!(
            encode(&generator(json!({"Generate": "password"}))),
            "password length=32 each=true classes=lowercase+uppercase+digits+punctuation"
        );
        assert_eq!(
            encode(&generator(
                json!({"Generate": "password", "Length": 32, "ExcludePunctuation": true})
            )),
            "password length=32 each=true classes=lowercase+uppercase+digits"
        );
        // RDS's usual exclusions; the space is in no class, so it is not recorded.
        assert_eq!(
            encode(&generator(
                json!({"Generate": "password", "Length": "24", "ExcludeCharacters": "\"@/\\ '", "RequireEachIncludedType": false})
            )),
            "password length=24 each=false classes=lowercase+uppercase+digits+punctuation exclude=22272f405c"
        );
    }

    #[test]
    fn equal_specs_spelled_differently_encode_alike() {
        let a = generator(json!({"Generate": "password", "ExcludePunctuation": true}));
        let b = generator(json!({"Generate": "password", "ExcludeCharacters": PUNCTUATION}));
        assert_eq!(encode(&a), encode(&b));
        let c = generator(json!({"Generate": "password", "ExcludeCharacters": "0123456789"}));
        assert_eq!(
            encode(&c),
            "password length=32 each=true classes=lowercase+uppercase+punctuation"
        );
    }

    #[test]
    fn every_spec_round_trips() {
        for spec in [
            json!({"Generate": "uuid"}),
            json!({"Generate": "token", "Bytes": 1024, "Encoding": "hex"}),
            json!({"Generate": "token", "Bytes": 16}),
            json!({"Generate": "password", "Length": 8}),
            json!({"Generate": "password", "Length": 4096, "RequireEachIncludedType": false}),
            json!({"Generate": "password", "ExcludeCharacters": "abcXYZ019!~"}),
            json!({"Generate": "password", "ExcludePunctuation": true, "ExcludeCharacters": "lI1O0"}),
        ] {
            let g = generator(spec.clone());
            let text = encode(&g);
            assert_eq!(decode(&text), Ok(g), "{spec}");
            assert!(text.len() <= MAX_TAG_VALUE);
            assert!(
                text.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c)),
                "{text}"
            );
        }
    }

    #[test]
    fn a_spec_not_in_the_seeders_form_is_refused_saying_why() {
        let cases = [
            ("", "unknown kind ``"),
            ("passphrase", "unknown kind `passphrase`"),
            (
                "token bytes=8 encoding=hex",
                "`bytes` must be a whole number from 16 to 1024",
            ),
            ("token bytes=32", "`encoding=` is missing"),
            ("token bytes=32 encoding=base32", "`encoding` must be"),
            (
                "password length=4 each=true classes=digits",
                "`length` must be",
            ),
            (
                "password length=32 each=yes classes=digits",
                "`each` must be",
            ),
            (
                "password length=32 each=true classes=emoji",
                "unknown class `emoji`",
            ),
            (
                "password length=32 each=true classes=digits exclude=3G",
                "lower-case hex",
            ),
            (
                "password length=32 each=true classes=digits exclude=",
                "not in the seeder's form",
            ),
            // Another order of the same fields.
            ("token encoding=hex bytes=32", "not in the seeder's form"),
            // Every digit excluded leaves the class empty.
            (
                "password length=32 each=true classes=digits exclude=30313233343536373839",
                "no character",
            ),
            ("uuid x", "`x` is not `name=value`"),
        ];
        for (text, expected) in cases {
            let err = decode(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn spec_tags_cover_generated_keys_only_and_refuse_what_does_not_fit() {
        let keys = |raw: Value| crate::parse_properties(&json!({ "Keys": raw })).map(|p| p.keys);
        let tags = spec_tags(
            &keys(json!({"password": {"Generate": "password"}, "id": {"Generate": "uuid"}, "user": {"Value": "app"}}))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            tags.keys().collect::<Vec<_>>(),
            ["stackwright:spec:id", "stackwright:spec:password"]
        );
        // The parser refuses both: the check is part of the properties.
        let long = "k".repeat(MAX_SPEC_KEY_NAME + 1);
        let err = keys(json!({ long.clone(): {"Generate": "uuid"} }))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("property `Keys`: generated key `kkk")
                && err.contains("at most 111 characters"),
            "{err}"
        );
        // A literal of that name needs no tag.
        assert!(keys(json!({ long: {"Value": "x"} })).is_ok());
        // All but one character of each class excluded: 90 characters, 180 hex digits.
        let exclude = format!(
            "{}abcdefghijklmnopqrstuvwxyABCDEFGHIJKLMNOPQRSTUVWXY012345678",
            &PUNCTUATION[..31]
        );
        let err = keys(json!({"p": {"Generate": "password", "ExcludeCharacters": exclude}}))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("property `Keys.p`: its spec, recorded in tag `stackwright:spec:p`")
                && err.contains("tag values hold 256"),
            "{err}"
        );
    }
}
