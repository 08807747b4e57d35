//! Values from the operating system's CSPRNG (`getrandom(2)` on Linux), held in
//! [`Secret`] from the moment they exist, and the check that an existing value meets a spec.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use custom_resource::Secret;
use zeroize::{Zeroize, Zeroizing};

use crate::properties::{Encoding, Generator, PasswordSpec};

/// The operating system could not provide random bytes.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

/// Random bytes from the OS, read in blocks and zeroed when dropped.
struct OsRandom {
    buffer: Zeroizing<[u8; 256]>,
    used: usize,
}

impl OsRandom {
    fn new() -> Self {
        Self {
            buffer: Zeroizing::new([0; 256]),
            used: 256,
        }
    }

    fn byte(&mut self) -> Result<u8, RandomError> {
        if self.used == self.buffer.len() {
            getrandom::fill(self.buffer.as_mut_slice()).map_err(|e| RandomError(e.to_string()))?;
            self.used = 0;
        }
        let b = self.buffer[self.used];
        self.buffer[self.used] = 0;
        self.used += 1;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, RandomError> {
        let mut bytes = [0u8; 4];
        for b in &mut bytes {
            *b = self.byte()?;
        }
        let n = u32::from_le_bytes(bytes);
        bytes.zeroize();
        Ok(n)
    }

    /// A uniform index below `n` (rejection sampling: no modulo bias).
    fn below(&mut self, n: usize) -> Result<usize, RandomError> {
        let n = u32::try_from(n).unwrap_or(u32::MAX).max(1);
        let limit = u32::MAX - u32::MAX % n;
        loop {
            let x = self.u32()?;
            if x < limit {
                return Ok((x % n) as usize);
            }
        }
    }
}

/// Generates a value meeting `generator`'s spec.
///
/// # Errors
///
/// When the operating system's random number generator fails.
pub fn generate(generator: &Generator) -> Result<Secret<String>, RandomError> {
    let mut rng = OsRandom::new();
    match generator {
        Generator::Password(spec) => password(spec, &mut rng),
        Generator::Token { bytes, encoding } => {
            let mut raw = Zeroizing::new(vec![0u8; usize::from(*bytes)]);
            getrandom::fill(raw.as_mut_slice()).map_err(|e| RandomError(e.to_string()))?;
            Ok(Secret::new(match encoding {
                Encoding::Base64Url => URL_SAFE_NO_PAD.encode(raw.as_slice()),
                Encoding::Hex => hex(&raw),
            }))
        }
        Generator::Uuid => {
            let mut raw = Zeroizing::new([0u8; 16]);
            getrandom::fill(raw.as_mut_slice()).map_err(|e| RandomError(e.to_string()))?;
            let id = uuid::Builder::from_random_bytes(*raw).into_uuid();
            Ok(Secret::new(id.hyphenated().to_string()))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// How many uniform draws to try before placing one character of each type by hand.
const UNIFORM_ATTEMPTS: usize = 64;

/// A password: uniform over the alphabet; when each type is required, uniform draws are
/// retried until one has every type (uniform over the passwords that do), and only when that
/// keeps failing (a type reduced to a few characters) one character of each type is placed
/// and the whole shuffled.
fn password(spec: &PasswordSpec, rng: &mut OsRandom) -> Result<Secret<String>, RandomError> {
    let alphabet = spec.alphabet();
    let length = usize::from(spec.length);
    let mut chars = Zeroizing::new(Vec::with_capacity(length));
    for _ in 0..UNIFORM_ATTEMPTS {
        chars.clear();
        for _ in 0..length {
            chars.push(alphabet[rng.below(alphabet.len())?]);
        }
        if !spec.require_each || has_each_type(spec, &chars) {
            return Ok(into_secret(chars));
        }
    }
    chars.clear();
    for class in &spec.classes {
        chars.push(class.chars[rng.below(class.chars.len())?]);
    }
    while chars.len() < length {
        chars.push(alphabet[rng.below(alphabet.len())?]);
    }
    for i in (1..chars.len()).rev() {
        let j = rng.below(i + 1)?;
        chars.swap(i, j);
    }
    Ok(into_secret(chars))
}

fn into_secret(mut chars: Zeroizing<Vec<u8>>) -> Secret<String> {
    // The alphabet is ASCII, so this never fails; the bytes move into the String unchanged.
    let bytes = std::mem::take(&mut *chars);
    Secret::new(String::from_utf8(bytes).unwrap_or_default())
}

fn has_each_type(spec: &PasswordSpec, chars: &[u8]) -> bool {
    spec.classes
        .iter()
        .all(|class| chars.iter().any(|c| class.chars.contains(c)))
}

/// Whether an existing value (of a secret being adopted) meets `generator`'s spec, so that it
/// can be kept rather than replaced.
pub fn meets(generator: &Generator, value: &str) -> bool {
    match generator {
        Generator::Password(spec) => {
            let alphabet = spec.alphabet();
            value.len() == usize::from(spec.length)
                && value.bytes().all(|b| alphabet.contains(&b))
                && (!spec.require_each || has_each_type(spec, value.as_bytes()))
        }
        Generator::Token { bytes, encoding } => {
            let decoded = match encoding {
                Encoding::Base64Url => URL_SAFE_NO_PAD.decode(value).ok(),
                Encoding::Hex => unhex(value),
            };
            decoded.map(Zeroizing::new).map(|d| d.len()) == Some(usize::from(*bytes))
        }
        Generator::Uuid => value.len() == 36 && uuid::Uuid::try_parse(value).is_ok(),
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;
    use crate::properties::{PUNCTUATION, Spec};

    fn generator(spec: serde_json::Value) -> Generator {
        let props = crate::parse_properties(&json!({ "Keys": { "k": spec } })).expect("valid spec");
        match &props.keys["k"] {
            Spec::Generate { generator, .. } => generator.clone(),
            Spec::Literal(_) => panic!("not generated"),
        }
    }

    #[test]
    fn passwords_have_the_length_and_only_allowed_characters() {
        let g = generator(
            json!({"Generate": "password", "Length": 40, "ExcludeCharacters": "\"@/\\ lI1O0"}),
        );
        for _ in 0..200 {
            let pw = generate(&g).unwrap();
            let pw = pw.expose();
            assert_eq!(pw.len(), 40);
            assert!(pw.bytes().all(|b| b.is_ascii_graphic()), "printable ASCII");
            assert!(!pw.contains(['"', '@', '/', '\\', ' ', 'l', 'I', '1', 'O', '0']));
            assert!(meets(&g, pw));
        }
    }

    #[test]
    fn each_included_type_appears_when_required() {
        let g = generator(json!({"Generate": "password", "Length": 8}));
        for _ in 0..500 {
            let pw = generate(&g).unwrap();
            let pw = pw.expose();
            assert!(pw.bytes().any(|b| b.is_ascii_lowercase()), "lower");
            assert!(pw.bytes().any(|b| b.is_ascii_uppercase()), "upper");
            assert!(pw.bytes().any(|b| b.is_ascii_digit()), "digit");
            assert!(
                pw.bytes().any(|b| PUNCTUATION.as_bytes().contains(&b)),
                "punct"
            );
        }
    }

    #[test]
    fn a_type_reduced_to_one_character_is_still_placed() {
        // Every punctuation mark but `#` excluded: uniform draws rarely include it, so the
        // placement fallback runs.
        let excluded: String = PUNCTUATION.chars().filter(|c| *c != '#').collect();
        let g =
            generator(json!({"Generate": "password", "Length": 8, "ExcludeCharacters": excluded}));
        for _ in 0..200 {
            let pw = generate(&g).unwrap();
            assert!(pw.expose().contains('#'));
            assert!(meets(&g, pw.expose()));
        }
    }

    #[test]
    fn exclude_punctuation_leaves_letters_and_digits() {
        let g = generator(
            json!({"Generate": "password", "ExcludePunctuation": true, "RequireEachIncludedType": false}),
        );
        for _ in 0..100 {
            let pw = generate(&g).unwrap();
            assert_eq!(pw.expose().len(), 32);
            assert!(pw.expose().bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn characters_are_spread_over_the_whole_alphabet() {
        let g = generator(json!({"Generate": "password", "Length": 4096}));
        let pw = generate(&g).unwrap();
        let distinct: BTreeSet<u8> = pw.expose().bytes().collect();
        // 4096 uniform draws over 94 characters miss one with probability ~94·e^-43.
        assert_eq!(distinct.len(), 94);
    }

    #[test]
    fn tokens_decode_to_their_byte_count() {
        let b64 = generator(json!({"Generate": "token", "Bytes": 33}));
        let hexg = generator(json!({"Generate": "token", "Bytes": 20, "Encoding": "hex"}));
        let mut seen = BTreeSet::new();
        for _ in 0..100 {
            let t = generate(&b64).unwrap();
            assert_eq!(URL_SAFE_NO_PAD.decode(t.expose()).unwrap().len(), 33);
            assert!(!t.expose().contains(['=', '+', '/']));
            assert!(meets(&b64, t.expose()));
            assert!(seen.insert(t.expose().clone()), "values repeat");
            let h = generate(&hexg).unwrap();
            assert_eq!(h.expose().len(), 40);
            assert!(h.expose().bytes().all(|b| b"0123456789abcdef".contains(&b)));
            assert_eq!(unhex(h.expose()).unwrap().len(), 20);
            assert!(meets(&hexg, h.expose()));
        }
        assert!(!meets(&b64, "short"));
        assert!(!meets(&hexg, "zz"));
    }

    #[test]
    fn uuids_are_version_4() {
        let g = generator(json!({"Generate": "uuid"}));
        for _ in 0..100 {
            let id = generate(&g).unwrap();
            let id = id.expose();
            assert_eq!(id.len(), 36);
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 4);
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(
                id,
                &parsed.hyphenated().to_string(),
                "lower-case, hyphenated"
            );
            assert!(meets(&g, id));
        }
        assert!(!meets(&g, "not-a-uuid"));
    }

    #[test]
    fn meets_refuses_values_outside_the_spec() {
        let g = generator(json!({"Generate": "password", "Length": 12}));
        assert!(meets(&g, "Abcdefgh12!?"));
        assert!(!meets(&g, "Abcdefgh12!"), "too short");
        assert!(!meets(&g, "abcdefgh12!?"), "no upper case");
        assert!(!meets(&g, "Abcdefgh12 ?"), "space is not in the alphabet");
    }

    #[test]
    fn below_is_in_range() {
        let mut rng = OsRandom::new();
        for n in [1, 2, 3, 94, 1000] {
            for _ in 0..200 {
                assert!(rng.below(n).unwrap() < n);
            }
        }
    }
}
