//! A wrapper that keeps secret values out of logs, `Reason`s and `Data`.

use std::fmt;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroize;

/// A secret value: a password, a token, a generated key.
///
/// `Debug` and `Display` print `***`, it does not implement `Serialize`, and the value is
/// zeroed when dropped. Reading it takes a call to [`Secret::expose`], which reads as the
/// risky step it is.
///
/// ```
/// use custom_resource::Secret;
///
/// let password = Secret::new(String::from("hunter2"));
/// assert_eq!(format!("{password} {password:?}"), "*** ***");
/// assert_eq!(password.expose(), "hunter2");
/// ```
#[derive(Clone, Default)]
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps a value the moment it exists.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value itself, for the one place that must send or store it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl<'de, T: Zeroize + Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::from("s3cr3t-value");
        let shown = format!("{secret} {secret:?} {:?}", Some(&secret));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(secret.expose(), "s3cr3t-value");
    }

    #[test]
    fn a_struct_holding_a_secret_debugs_without_it() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Credentials {
            username: String,
            password: Secret<String>,
        }
        let creds: Credentials =
            serde_json::from_str(r#"{"username":"app","password":"pa55word"}"#).unwrap();
        let shown = format!("{creds:?}");
        assert!(
            shown.contains("app") && !shown.contains("pa55word"),
            "{shown}"
        );
    }
}
