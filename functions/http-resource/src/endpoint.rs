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
/// A message saying what is wrong and how to fix it.
pub fn base_url(text: &str, allow_http: bool) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| {
        format!(
            "expected an absolute URL such as `https://api.example.com/v1`, got `{}` ({e})",
            text.chars().take(100).collect::<String>()
        )
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
        .ok_or_else(|| format!("`{url}` has no host"))?
        .to_owned();
    match url.scheme() {
        "https" => {}
        "http" if allow_http || is_loopback(&host) => {}
        "http" => {
            return Err(format!(
                "plain `http` to `{host}` would send the request and any credential unencrypted; use `https://`, or set `AllowHttp: true` if the network is private"
            ));
        }
        other => {
            return Err(format!(
                "expected an `https://` URL, got the scheme `{other}`"
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "must not have a query or fragment (`{}`); put a query in each operation's `Path`",
            url.as_str().chars().take(100).collect::<String>()
        ));
    }
    // `…/v1/` and `…/v1` are the same base: a trailing slash must not look like a move.
    let mut url = url;
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
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
/// A message saying what is wrong.
pub fn check_path(path: &str, op: Op) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "expected a path starting with `/` (it is appended to `BaseUrl`), got `{}`",
            path.chars().take(100).collect::<String>()
        ));
    }
    if path.contains('#') {
        return Err("must not contain a fragment (`#`)".into());
    }
    let rest = path.replace(ID_PLACEHOLDER, "");
    if rest.contains('{') || rest.contains('}') {
        return Err(format!(
            "the only placeholder is `{ID_PLACEHOLDER}` (the physical id), got `{}`; fill in other values with `Fn::Sub`",
            path.chars().take(100).collect::<String>()
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
    let joined = format!("{}{filled}", base.as_str().trim_end_matches('/'));
    let url = Url::parse(&joined).map_err(|e| format!("`{joined}` is not a URL: {e}"))?;
    if url.origin() != base.origin() {
        return Err(format!("`{joined}` leaves `BaseUrl`'s host"));
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
                .contains("scheme `ftp`")
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
