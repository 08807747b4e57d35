//! Addresses: `BaseUrl` checks, request URLs with `{id}` filled in, and the id in a
//! `Location` header.

use std::net::IpAddr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use url::{Host, Url};

use crate::properties::Op;

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded, so an
/// id can never add a path segment, a query or a fragment.
const ID_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The placeholder for the physical id in a path.
pub const ID_PLACEHOLDER: &str = "{id}";

/// Checks `BaseUrl`: `https`, or `http` to a loopback host or with `AllowHttp`; no
/// credentials, query or fragment.
///
/// # Errors
///
/// A message saying what is wrong and how to fix it. It names the offending part (a scheme,
/// a host) and never repeats the URL: a query or user info may hold a credential, and text
/// that is not a URL may be a secret put in the wrong property.
pub fn base_url(text: &str, allow_http: bool) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| {
        format!("expected an absolute URL such as `https://api.example.com/v1`, got text that is not one ({e})")
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo the URL: it holds a credential.
        return Err(
            "must not hold a user name or password; put the credential in Secrets Manager and name it in `Auth`"
                .into(),
        );
    }
    let host = url
        .host()
        .ok_or_else(|| {
            format!(
                "expected an `https://` URL with a host, got {} URL without one",
                scheme_shown(&url)
            )
        })?
        .to_owned();
    match url.scheme() {
        "https" => {}
        "http" if allow_http || is_loopback(&host) => {}
        "http" => {
            return Err(format!(
                "plain `http` to `{host}` would send the request and any credential unencrypted; use `https://`, or set `AllowHttp: true` if the network is private"
            ));
        }
        _ => {
            return Err(format!(
                "expected an `https://` URL, got {} URL",
                scheme_shown(&url)
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        // Not shown: a query often carries an API key.
        return Err(
            "must not have a query or fragment; put a query in each operation's `Path`".into(),
        );
    }
    // `…/v1/` and `…/v1` are the same base: a trailing slash must not look like a move.
    let mut url = url;
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

/// How a reason names a URL's scheme: a well-known one by name (`ftp`), any other not at
/// all, since text such as `admin:p4ss` parses as a URL whose "scheme" is part of a secret.
fn scheme_shown(url: &Url) -> String {
    const KNOWN: [&str; 8] = [
        "http", "https", "ftp", "ws", "wss", "file", "mailto", "data",
    ];
    match url.scheme() {
        known if KNOWN.contains(&known) => format!("an `{known}:`"),
        _ => "a non-web".to_owned(),
    }
}

/// Whether `host` is this machine: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback(host: &Host<String>) -> bool {
    match host {
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// Checks an operation's `Path`: it starts with `/`, has no fragment, and uses no
/// placeholder but `{id}`, which `Create` cannot use and `Delete` must.
///
/// # Errors
///
/// A message saying what is wrong, never repeating the path (its query may carry a key).
pub fn check_path(path: &str, op: Op) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(
            "expected a path starting with `/` (it is appended to `BaseUrl`), got text that does not start with one"
                .into(),
        );
    }
    if path.contains('#') {
        return Err("must not contain a fragment (`#`)".into());
    }
    let rest = path.replace(ID_PLACEHOLDER, "");
    if rest.contains('{') || rest.contains('}') {
        return Err(format!(
            "the only placeholder is `{ID_PLACEHOLDER}` (the physical id), got other braces; fill in other values with `Fn::Sub`"
        ));
    }
    let has_id = path.contains(ID_PLACEHOLDER);
    match op {
        Op::Create if has_id => Err(format!(
            "`{ID_PLACEHOLDER}` cannot be used in `Create`: the id is not known until the object exists"
        )),
        Op::Delete if !has_id => Err(format!(
            "must contain `{ID_PLACEHOLDER}`, so that only the resource's own object can be deleted (a path without it could delete a whole collection)"
        )),
        _ => Ok(()),
    }
}

/// Whether `id` can be put into a path: not empty, and not `.` or `..`, which a URL parser
/// would resolve to a parent path even when encoded.
pub fn usable_id(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".."
}

/// The URL for `path` under `base`, with `{id}` replaced by `id`, URL-encoded.
///
/// # Errors
///
/// When the id cannot be used in a path, or the result is not under `base`'s origin.
pub fn request_url(base: &Url, path: &str, id: Option<&str>) -> Result<Url, String> {
    let filled = if path.contains(ID_PLACEHOLDER) {
        let id = id.unwrap_or_default();
        if !usable_id(id) {
            return Err(format!("the physical id `{id}` cannot be put into a path"));
        }
        let encoded = utf8_percent_encode(id, ID_ENCODE).to_string();
        path.replace(ID_PLACEHOLDER, &encoded)
    } else {
        path.to_owned()
    };
    // The joined URL is not shown: the path's query may carry a key.
    let joined = format!("{}{filled}", base.as_str().trim_end_matches('/'));
    let url = Url::parse(&joined)
        .map_err(|e| format!("`BaseUrl` and the path do not make a URL ({e})"))?;
    if url.origin() != base.origin() {
        return Err(format!(
            "the path leads away from `BaseUrl`'s host `{}`",
            base.host_str().unwrap_or_default()
        ));
    }
    Ok(url)
}

/// The id in a `Location` header (absolute or relative): its last non-empty path segment,
/// percent-decoded. Read from the header's own text, not a resolved URL, so that `..` is
/// refused rather than resolved into a parent's name.
pub fn id_from_location(location: &str) -> Option<String> {
    let text = location.trim();
    let text = text.split(['#', '?']).next().unwrap_or_default();
    let path = match text.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => text,
    };
    let segment = path.trim_end_matches('/').rsplit('/').next()?;
    let id = percent_decode_str(segment).decode_utf8().ok()?.into_owned();
    usable_id(&id).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(text: &str) -> Url {
        base_url(text, false).unwrap()
    }

    #[test]
    fn https_anywhere_http_only_on_loopback_or_when_allowed() {
        for fine in [
            "https://api.github.com",
            "https://api.datadoghq.com/api/v1/",
            "http://127.0.0.1:3000",
            "http://127.1.2.3",
            "http://[::1]:8080/x",
            "http://localhost:8080",
            "http://api.localhost",
        ] {
            assert!(base_url(fine, false).is_ok(), "{fine}");
        }
        assert!(base_url("http://api.internal", false).is_err());
        assert!(base_url("http://api.internal", true).is_ok());
        assert!(base_url("http://10.0.0.1", false).is_err());
        assert!(
            base_url("ftp://files.example.com", true)
                .unwrap_err()
                .contains("got an `ftp:` URL")
        );
        assert!(
            base_url("api.github.com", false)
                .unwrap_err()
                .starts_with("expected an absolute URL")
        );
        assert!(
            base_url("https://a.example.com/v1?key=1", false)
                .unwrap_err()
                .contains("query")
        );
    }

    #[test]
    fn a_trailing_slash_makes_no_difference() {
        assert_eq!(
            base("https://api.example.com/v1/"),
            base("https://api.example.com/v1")
        );
        assert_eq!(
            base("https://api.example.com/").as_str(),
            "https://api.example.com/"
        );
    }

    #[test]
    fn credentials_in_base_url_are_refused_without_echoing_them() {
        let problem = base_url("https://user:hunter2@api.example.com", false).unwrap_err();
        assert!(!problem.contains("hunter2"), "{problem}");
        assert!(problem.contains("`Auth`"), "{problem}");
    }

    #[test]
    fn problems_with_urls_and_paths_never_repeat_them() {
        const SECRET: &str = "hunter2";
        for text in [
            "hunter2",
            "https://api.example.com/v1?api_key=hunter2",
            "https://api.example.com/v1#hunter2",
            "ftp://hunter2.example.com",
            "mailto:hunter2@example.com",
            "https://[hunter2]",
            "hunter2:x",
            "hunter2:x@example.com",
        ] {
            let problem = base_url(text, false).unwrap_err();
            assert!(!problem.contains(SECRET), "{text}: {problem}");
        }
        for path in [
            "hunter2",
            "/v1?key=hunter2#x",
            "/v1/{hunter2}",
            "/v1?key=hunter2",
        ] {
            if let Err(problem) = check_path(path, Op::Delete) {
                assert!(!problem.contains(SECRET), "{path}: {problem}");
            }
        }
        let b = base("https://api.example.com");
        let problem = request_url(&b, "@evil.example/x?key=hunter2", None).unwrap_err();
        assert!(!problem.contains(SECRET), "{problem}");
        assert!(problem.contains("`api.example.com`"), "{problem}");
    }

    #[test]
    fn paths() {
        assert!(check_path("/v1/hooks", Op::Create).is_ok());
        assert!(check_path("/v1/hooks/{id}", Op::Delete).is_ok());
        assert!(check_path("/v1/hooks?id={id}", Op::Delete).is_ok());
        assert!(check_path("/v1/settings", Op::Update).is_ok());
        assert!(check_path("v1/hooks", Op::Create).is_err());
        assert!(check_path("/v1/{owner}/hooks", Op::Create).is_err());
        assert!(check_path("/v1/hooks/{Id}", Op::Read).is_err());
        assert!(check_path("/v1/hooks#x", Op::Read).is_err());
    }

    #[test]
    fn ids_are_encoded_so_they_stay_one_segment() {
        let b = base("https://api.example.com/v1/");
        let url = request_url(&b, "/hooks/{id}", Some("a b/../c?d#e")).unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.example.com/v1/hooks/a%20b%2F..%2Fc%3Fd%23e"
        );
        let url = request_url(&b, "/hooks?id={id}&x=1", Some("ü&=")).unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.example.com/v1/hooks?id=%C3%BC%26%3D&x=1"
        );
        assert_eq!(
            request_url(&b, "/hooks", None).unwrap().as_str(),
            "https://api.example.com/v1/hooks"
        );
        for bad in ["", ".", ".."] {
            assert!(
                request_url(&b, "/hooks/{id}", Some(bad)).is_err(),
                "{bad:?}"
            );
        }
        // A path cannot leave the host.
        let url = request_url(&base("https://api.example.com"), "//evil.example/x", None).unwrap();
        assert_eq!(url.host_str(), Some("api.example.com"));
        assert!(request_url(&base("https://api.example.com"), "@evil.example/x", None).is_err());
    }

    #[test]
    fn location_ids() {
        for (location, id) in [
            ("/v1/things/42", Some("42")),
            ("https://api.example.com/v1/things/abc%20d/", Some("abc d")),
            ("things/7?x=1#y", Some("7")),
            ("/", None),
            ("https://api.example.com", None),
            ("https://api.example.com/", None),
            ("/v1/things/..", None),
            ("/v1/things/%2e%2E", None),
            ("", None),
        ] {
            assert_eq!(id_from_location(location).as_deref(), id, "{location}");
        }
    }
}
