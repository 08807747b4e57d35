//! The `ResponseURL` check: `ResponseUrl::parse` then `ResponsePolicy::check`, with the policy
//! of a function in `eu-west-1` whose stage adds one local origin.
//!
//! Asserted: no panic; the check accepts exactly what an independent oracle (written from
//! CloudFormation's documented hosts, not from the library's code) accepts; the URL prints
//! without its path or query.
#![no_main]

use custom_resource::ResponseUrl;
use custom_resource::response_url::ResponsePolicy;
use libfuzzer_sys::fuzz_target;
use url::Url;

const REGION: &str = "eu-west-1";
const LOCAL: &str = "http://127.0.0.1:9009";

/// The hosts CloudFormation answers at for eu-west-1, spelled out: path-style and
/// virtual-hosted, global and regional S3 endpoints.
const HOSTS: [&str; 3] = [
    "cloudformation-custom-resource-response-euwest1.s3.amazonaws.com",
    "cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com",
    "cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com",
];

fn oracle(text: &str) -> bool {
    let Ok(url) = Url::parse(text.trim()) else {
        return false;
    };
    let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
        return false;
    };
    let port = url.port_or_known_default();
    let local = url.scheme() == "http" && host == "127.0.0.1" && port == Some(9009);
    let cloudformation =
        url.scheme() == "https" && port == Some(443) && HOSTS.contains(&host.as_str());
    local || cloudformation
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut policy = ResponsePolicy::for_region(Some(REGION));
    policy.allow(LOCAL).expect("the local origin is an origin");
    let accepted = match ResponseUrl::parse(text) {
        Ok(url) => {
            let shown = url.to_string();
            assert!(shown.ends_with("/…"), "{shown}");
            assert!(!shown.contains('?'), "{shown}");
            policy.check(&url).is_ok()
        }
        Err(_) => false,
    };
    assert_eq!(accepted, oracle(text), "{text:?}");
});
