//! The `ResponseURL`: a presigned URL, which is a credential, so it never prints whole; and
//! [`ResponsePolicy`], which decides who may be answered at all.

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

/// The variable that lists extra origins a function may answer (`scheme://host[:port]`,
/// comma-separated): the harness, `make up` and `make watch` set it to their local servers.
pub const RESPONSE_HOSTS_VARIABLE: &str = "STACKWRIGHT_RESPONSE_HOSTS";

/// Who may be answered: CloudFormation's response bucket for the function's own region, over
/// HTTPS on port 443, and the origins the function's environment adds. An event is untrusted
/// input; without this, anyone allowed to invoke the function could make it PUT to any URL
/// its network reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponsePolicy {
    region: Option<String>,
    extra: Vec<Origin>,
}

/// `scheme://host:port`, the port made explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn of(url: &Url) -> Option<Self> {
        Some(Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    fn parse(text: &str) -> Option<Self> {
        let url = Url::parse(text.trim()).ok()?;
        let bare = url.path() == "/" && url.query().is_none() && url.username().is_empty();
        let origin = Self::of(&url)?;
        (bare && matches!(url.scheme(), "http" | "https")).then_some(origin)
    }
}

impl ResponsePolicy {
    /// The policy of this process: the region from `AWS_REGION` (Lambda sets it) and the
    /// extra origins from [`RESPONSE_HOSTS_VARIABLE`]. An entry that is not an origin is
    /// logged and ignored.
    pub fn from_env() -> Self {
        let region = std::env::var("AWS_REGION")
            .ok()
            .filter(|r| !r.trim().is_empty());
        let mut policy = Self::for_region(region.as_deref());
        if let Ok(list) = std::env::var(RESPONSE_HOSTS_VARIABLE) {
            for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                if policy.allow(entry).is_err() {
                    tracing::warn!(
                        entry,
                        "ignoring an entry of {RESPONSE_HOSTS_VARIABLE}: expected `scheme://host[:port]`"
                    );
                }
            }
        }
        policy
    }

    /// CloudFormation's response hosts for `region` only.
    pub fn for_region(region: Option<&str>) -> Self {
        Self {
            region: region.map(|r| r.trim().to_ascii_lowercase()),
            extra: Vec::new(),
        }
    }

    /// Allows one more origin, `scheme://host[:port]` (the scheme's port when none is given).
    ///
    /// # Errors
    ///
    /// [`Error::ResponseUrl`] when `origin` is not an `http` or `https` origin.
    pub fn allow(&mut self, origin: &str) -> Result<(), Error> {
        let parsed = Origin::parse(origin).ok_or_else(|| {
            Error::ResponseUrl(format!(
                "`{origin}` is not an origin (`scheme://host[:port]`)"
            ))
        })?;
        self.extra.push(parsed);
        Ok(())
    }

    /// Whether `url` may be answered.
    ///
    /// # Errors
    ///
    /// [`Error::ResponseUrl`] naming the host (never the query) and what would allow it.
    pub fn check(&self, url: &ResponseUrl) -> Result<(), Error> {
        let origin = Origin::of(url.expose());
        if origin.as_ref().is_some_and(|o| self.extra.contains(o)) {
            return Ok(());
        }
        let cloudformation = url.expose().scheme() == "https"
            && url.expose().port_or_known_default() == Some(443)
            && self
                .region
                .as_deref()
                .is_some_and(|region| is_response_host(url.host(), region));
        if cloudformation {
            return Ok(());
        }
        Err(Error::ResponseUrl(format!(
            "`{url}` is not CloudFormation's response bucket for region `{}` (https, port 443) \
             nor an origin listed in `{RESPONSE_HOSTS_VARIABLE}`; nothing was done or sent",
            self.region.as_deref().unwrap_or("unset")
        )))
    }
}

/// Whether `host` is CloudFormation's custom-resource response bucket in `region`:
/// `cloudformation-custom-resource-response-<region without dashes>.s3`, then nothing,
/// `-<region>` or `.<region>`, then `.amazonaws.com` (`.amazonaws.com.cn` in China). These are
/// the forms CloudFormation's presigned URLs take (path-style and virtual-hosted, global and
/// regional S3 endpoints); GovCloud regions follow the same pattern, though no public sample
/// of theirs was found.
pub fn is_response_host(host: &str, region: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let region = region.to_ascii_lowercase();
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return false;
    }
    let bucket = format!(
        "cloudformation-custom-resource-response-{}.s3",
        region.replace('-', "")
    );
    let domain = if region.starts_with("cn-") {
        ".amazonaws.com.cn"
    } else {
        ".amazonaws.com"
    };
    let Some(middle) = host
        .strip_prefix(&bucket)
        .and_then(|rest| rest.strip_suffix(domain))
    else {
        return false;
    };
    middle.is_empty() || middle == format!("-{region}") || middle == format!(".{region}")
}

/// Whether the URL's path is the one CloudFormation makes for this request,
/// `/<StackId>|<LogicalResourceId>|<RequestId>` percent-encoded. Only logged when it is not:
/// the form is CloudFormation's to change.
pub fn path_matches(url: &ResponseUrl, stack_id: &str, logical_id: &str, request_id: &str) -> bool {
    let path = url.expose().path().trim_start_matches('/');
    let decoded = percent_decode(path);
    decoded == format!("{stack_id}|{logical_id}|{request_id}")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let (h, l) = (hex(h).unwrap_or(0), hex(l).unwrap_or(0));
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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

    fn url(text: &str) -> ResponseUrl {
        ResponseUrl::parse(text).unwrap()
    }

    #[test]
    fn cloudformation_response_hosts_of_the_own_region_only() {
        for host in [
            "cloudformation-custom-resource-response-useast1.s3.amazonaws.com",
            "cloudformation-custom-resource-response-useast1.s3-us-east-1.amazonaws.com",
            "cloudformation-custom-resource-response-useast1.s3.us-east-1.amazonaws.com",
            "CloudFormation-Custom-Resource-Response-UsEast1.S3.amazonaws.com",
        ] {
            assert!(is_response_host(host, "us-east-1"), "{host}");
        }
        assert!(is_response_host(
            "cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn",
            "cn-north-1"
        ));
        for host in [
            "cloudformation-custom-resource-response-euwest1.s3.amazonaws.com",
            "cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.example",
            "evil.example",
            "cloudformation-custom-resource-response-useast1.s3.eu-west-1.amazonaws.com",
            "cloudformation-custom-resource-response-useast1.s3.us-east-1.amazonaws.com.cn",
            "xcloudformation-custom-resource-response-useast1.s3.amazonaws.com",
            "cloudformation-custom-resource-response-useast1.s3..amazonaws.com",
        ] {
            assert!(!is_response_host(host, "us-east-1"), "{host}");
        }
        assert!(!is_response_host(
            "cloudformation-custom-resource-response-.s3.amazonaws.com",
            ""
        ));
    }

    #[test]
    fn only_https_on_443_to_cloudformation_or_a_listed_origin() {
        let policy = ResponsePolicy::for_region(Some("us-east-1"));
        let bucket = "cloudformation-custom-resource-response-useast1.s3.amazonaws.com";
        assert!(
            policy
                .check(&url(&format!("https://{bucket}/a?s=1")))
                .is_ok()
        );
        assert!(
            policy
                .check(&url(&format!("https://{bucket}:443/a")))
                .is_ok()
        );
        for refused in [
            format!("http://{bucket}/a"),
            format!("https://{bucket}:8443/a"),
            "https://169.254.169.254/latest/meta-data?x=1".to_owned(),
            "http://127.0.0.1:8080/r".to_owned(),
        ] {
            let err = policy.check(&url(&refused)).unwrap_err().to_string();
            assert!(err.contains(RESPONSE_HOSTS_VARIABLE), "{err}");
            assert!(!err.contains("?"), "{err}");
        }
        let mut local = ResponsePolicy::for_region(None);
        local.allow("http://127.0.0.1:8080").unwrap();
        local.allow("https://localhost").unwrap();
        assert!(local.check(&url("http://127.0.0.1:8080/r?sig=x")).is_ok());
        assert!(local.check(&url("https://LOCALHOST:443/r")).is_ok());
        assert!(local.check(&url("http://127.0.0.1:8081/r")).is_err());
        assert!(local.check(&url("https://127.0.0.1:8080/r")).is_err());
        assert!(
            local.check(&url(&format!("https://{bucket}/a"))).is_err(),
            "no region"
        );
        for bad in [
            "127.0.0.1:8080",
            "ftp://h",
            "http://h/path",
            "http://u@h",
            "",
        ] {
            assert!(local.allow(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_path_is_compared_decoded() {
        let stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/app/uuid";
        let u = url(
            "https://h/arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack/app/uuid%7CDb%7Cr-1?s=1",
        );
        assert!(path_matches(&u, stack, "Db", "r-1"));
        assert!(!path_matches(&u, stack, "Other", "r-1"));
        assert!(!path_matches(&url("https://h/%zz"), stack, "Db", "r-1"));
    }

    #[test]
    fn error_messages_do_not_repeat_the_query() {
        let err = ResponseUrl::parse("ftp://h/p?X-Amz-Signature=topsecret").unwrap_err();
        assert!(!err.to_string().contains("topsecret"));
    }
}
