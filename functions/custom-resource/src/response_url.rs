//! The `ResponseURL`: a presigned URL, which is a credential, so it never prints whole.

use std::fmt;

use url::Url;

use crate::Error;

/// Where CloudFormation waits for the response: an S3 presigned URL.
///
/// Its query string is a signature that lets anyone holding it answer for this resource,
/// so `Debug` and `Display` show only the scheme and host.
///
/// ```
/// use custom_resource::ResponseUrl;
///
/// let url = ResponseUrl::parse("https://cfn.s3.amazonaws.com/arn%3A/1?X-Amz-Signature=abc").unwrap();
/// assert_eq!(url.to_string(), "https://cfn.s3.amazonaws.com/…");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseUrl(Url);

impl ResponseUrl {
    /// Parses and checks a `ResponseURL`: an absolute `http` or `https` URL with a host.
    ///
    /// # Errors
    ///
    /// [`Error::ResponseUrl`] when the text is not such a URL; the message never repeats the
    /// query string.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let url = Url::parse(text.trim()).map_err(|e| Error::ResponseUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::ResponseUrl(format!(
                "expected an `https` URL, got scheme `{}`",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::ResponseUrl("the URL has no host".into()));
        }
        Ok(Self(url))
    }

    /// The host, for log lines.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    /// The full URL, query string included: only for sending the response.
    pub fn expose(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for ResponseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.port() {
            Some(port) => write!(f, "{}://{}:{}/…", self.0.scheme(), self.host(), port),
            None => write!(f, "{}://{}/…", self.0.scheme(), self.host()),
        }
    }
}

impl fmt::Debug for ResponseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_only_scheme_and_host() {
        let url = ResponseUrl::parse(
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws/abc?X-Amz-Credential=AKIA&X-Amz-Signature=deadbeef",
        )
        .unwrap();
        for shown in [url.to_string(), format!("{url:?}")] {
            assert!(
                !shown.contains("deadbeef") && !shown.contains("AKIA") && !shown.contains("arn"),
                "{shown}"
            );
            assert!(shown.contains("s3.amazonaws.com"));
        }
        let local = ResponseUrl::parse("http://127.0.0.1:8080/r/1?sig=x").unwrap();
        assert_eq!(local.to_string(), "http://127.0.0.1:8080/…");
    }

    #[test]
    fn rejects_what_cannot_be_answered() {
        for bad in [
            "",
            "not a url",
            "ftp://example.com/x",
            "file:///etc/passwd",
            "/relative",
        ] {
            assert!(ResponseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_messages_do_not_repeat_the_query() {
        let err = ResponseUrl::parse("ftp://h/p?X-Amz-Signature=topsecret").unwrap_err();
        assert!(!err.to_string().contains("topsecret"));
    }
}
