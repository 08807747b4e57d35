//! Applying [`crate::hosts`]: the check of `BaseUrl`'s host before any request (and before
//! any `Auth` secret is read), and the HTTP client's resolver, which vets every address a
//! name resolves to before the client may connect to it.
//!
//! The client resolves each name once per connection, through [`VettingResolver`] only, and
//! connects only to the addresses it returns: all of them vetted, so an answer that changes
//! between the check and the connection (DNS rebinding) is refused there. An address in the
//! URL itself is never resolved; the check before the request vets it, and the request URLs
//! never leave `BaseUrl`'s origin ([`crate::endpoint::request_url`]), nor follow redirects.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use crate::error::Error;
use crate::hosts::{HostList, Refusal, Target};

/// Resolves `name` through the system's resolver (`getaddrinfo`, as the client would).
async fn lookup(name: &str) -> std::io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((name, 0)).await?.collect())
}

/// The client's resolver: a name the list does not match is not even resolved; every
/// address of one it does is vetted, and one refused address refuses the name.
#[derive(Debug, Clone)]
pub struct VettingResolver {
    hosts: Arc<HostList>,
}

impl VettingResolver {
    /// A resolver for this list.
    pub fn new(hosts: Arc<HostList>) -> Self {
        Self { hosts }
    }
}

/// A refused name or address, as the client's connection error carries it.
#[derive(Debug)]
struct Refused {
    host: String,
    refusal: Refusal,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the host `{}` is refused: {}", self.host, self.refusal)
    }
}

impl std::error::Error for Refused {}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let hosts = Arc::clone(&self.hosts);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let refused = |refusal| -> Box<dyn std::error::Error + Send + Sync> {
                tracing::warn!(host = %host, refusal = %refusal, "refused to connect");
                Box::new(Refused {
                    host: host.clone(),
                    refusal,
                })
            };
            let addrs = match hosts.check_host(&url::Host::Domain(host.as_str())) {
                Err(refusal) => return Err(refused(refusal)),
                Ok(Target::Address(ip)) => vec![SocketAddr::new(ip, 0)],
                Ok(Target::Name(name)) => {
                    let found = lookup(&name).await?;
                    hosts.vet_resolved(&found).map_err(refused)?
                }
            };
            tracing::debug!(host = %host, addresses = ?addrs, "resolved and vetted");
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Checks `url`'s host before anything is sent or read: refused when the list does not
/// allow it; a listed name is resolved (within `limit`) and its addresses vetted. A name
/// that cannot be resolved now is let through: the client's resolver vets whatever it
/// resolves to when it connects, and its failure is reported (and retried) as a connection's.
///
/// # Errors
///
/// [`Error::HostRefused`], naming the host and [`crate::hosts::HOSTS_VARIABLE`].
pub async fn check(hosts: &HostList, url: &Url, limit: Duration) -> Result<(), Error> {
    let Some(host) = url.host() else {
        return Err(Error::Internal("`BaseUrl` has no host".into()));
    };
    let shown = url.host_str().unwrap_or_default().to_owned();
    let refused = |refusal: Refusal| {
        tracing::warn!(host = %shown, refusal = %refusal, "refused before any request");
        Error::HostRefused {
            host: shown.clone(),
            refusal,
        }
    };
    let name = match hosts.check_host(&host).map_err(refused)? {
        // An address in the URL is vetted already, and is never resolved.
        Target::Address(_) => return Ok(()),
        Target::Name(name) => name,
    };
    match tokio::time::timeout(limit, lookup(&name)).await {
        Ok(Ok(found)) => {
            let vetted = hosts.vet_resolved(&found).map_err(refused)?;
            tracing::debug!(host = %shown, addresses = ?vetted, "host allowed");
            Ok(())
        }
        Ok(Err(err)) => {
            tracing::warn!(host = %shown, error = %err, "could not resolve the host yet; the client's resolver decides when it connects");
            Ok(())
        }
        Err(_) => {
            tracing::warn!(host = %shown, "resolving the host took too long; the client's resolver decides when it connects");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    const LIMIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn localhost_needs_its_addresses_listed_besides_its_name() {
        let by_name = HostList::parse("localhost").unwrap();
        let err = check(&by_name, &url("http://localhost:1"), LIMIT)
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the host `localhost` of `BaseUrl` is refused: it resolves to `"),
            "{err}"
        );
        let by_address = HostList::parse("127.0.0.1").unwrap();
        let err = check(&by_address, &url("http://localhost:1"), LIMIT)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is not listed"), "{err}");
        let both = HostList::parse("localhost,127.0.0.0/8,::1").unwrap();
        check(&both, &url("http://localhost:1"), LIMIT)
            .await
            .unwrap();
        check(&by_address, &url("http://127.0.0.1:1"), LIMIT)
            .await
            .unwrap();
    }

    /// The HTTP client itself (not only the check before a request) connects only to what
    /// its resolver vetted: pointed at a listed name whose loopback address is not listed, it
    /// makes no connection.
    #[tokio::test]
    async fn the_client_connects_only_to_addresses_its_resolver_vetted() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://localhost:{port}/");
        let (accepted, mut arrived) = tokio::sync::mpsc::channel(4);
        let server = tokio::spawn(async move {
            while let Ok((_stream, _)) = listener.accept().await {
                let _ = accepted.send(()).await;
            }
        });

        let hosts = Arc::new(HostList::parse("localhost").unwrap());
        let client = crate::http_client(hosts).unwrap();
        let err = client.get(&url).send().await.unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let mut chain = Vec::new();
        let mut source: Option<&dyn std::error::Error> = Some(&err);
        while let Some(cause) = source {
            chain.push(cause.to_string());
            source = cause.source();
        }
        assert!(
            chain.iter().any(|c| c.contains("a loopback address")),
            "{chain:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(arrived.try_recv().is_err(), "a connection arrived");

        let hosts = Arc::new(HostList::parse("localhost,127.0.0.0/8,::1").unwrap());
        let client = crate::http_client(hosts).unwrap();
        let _ = client
            .get(&url)
            .timeout(Duration::from_millis(300))
            .send()
            .await;
        assert!(arrived.try_recv().is_ok(), "no connection arrived");
        server.abort();
    }

    #[tokio::test]
    async fn the_resolver_refuses_what_the_check_refuses() {
        let resolver = VettingResolver::new(Arc::new(HostList::parse("localhost").unwrap()));
        let err = resolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("a loopback address"), "{err}");
        let err = resolver
            .resolve("evil.example".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("is not listed"), "{err}");

        let resolver = VettingResolver::new(Arc::new(
            HostList::parse("localhost,127.0.0.0/8,::1").unwrap(),
        ));
        let addrs: Vec<SocketAddr> = resolver
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
