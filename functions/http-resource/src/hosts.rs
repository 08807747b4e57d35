//! Where HTTP may go: the stage's allowlist ([`HOSTS_VARIABLE`]) parsed, host names matched
//! against it, and addresses classified and vetted. Plain functions of plain data; the
//! client's resolver and the check before any request ([`crate::resolver`]) apply them.
//!
//! The rules:
//! - A host name is allowed when it is listed, or matches a listed `*.suffix` pattern (which
//!   matches names under the suffix, not the suffix itself). Names compare without case and
//!   without a trailing dot. A name that is not listed is refused before it is resolved, even
//!   when it would resolve to a listed address.
//! - Every address a listed name resolves to is vetted: a public address is allowed; a
//!   loopback, private, unspecified, link-local, metadata or otherwise special-purpose
//!   address only when an address or range listed in [`HOSTS_VARIABLE`] covers it *and* lies
//!   within that address's own special block (so `0.0.0.0/0` never allows `127.0.0.1` or
//!   `169.254.169.254`). A listed name alone never allows them: Lambda's Runtime API listens
//!   on loopback, and the metadata and VPC services on link-local addresses.
//! - A URL that names an address (an IP literal) needs that address listed (a literal or a
//!   range), with the same rule for special addresses.
//! - IPv4-mapped IPv6 addresses (`::ffff:169.254.169.254`) are their IPv4 address; an
//!   address with an IPv6 zone id (`fe80::1%eth0`) is refused, and so is a listed one.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::Host;

/// The variable listing the hosts `http-resource` may send requests to, comma-separated:
/// host names, `*.suffix` patterns, IP addresses and CIDR ranges. Unset or empty: none.
pub const HOSTS_VARIABLE: &str = "STACKWRIGHT_HTTP_HOSTS";

/// An IP network: an address with its bits past the prefix zero, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Self {
        Self {
            addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Self {
        let [a, b, c, d, e, f, g, h] = segments;
        Self {
            addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
            prefix,
        }
    }

    /// The network of one address.
    pub fn host(ip: IpAddr) -> Self {
        let ip = normalise(ip);
        Self {
            addr: ip,
            prefix: if ip.is_ipv4() { 32 } else { 128 },
        }
    }

    /// Whether `ip` is in this network (an IPv4 address is never in an IPv6 network).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                (u32::from(net) ^ u32::from(ip)) & mask == 0
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                (u128::from(net) ^ u128::from(ip)) & mask == 0
            }
            _ => false,
        }
    }

    /// Whether every address of this network is in `other`.
    pub fn within(&self, other: &Net) -> bool {
        self.prefix >= other.prefix && other.contains(self.addr)
    }

    /// Parses `address/prefix` (`10.0.0.0/8`, `::1/128`, `[fd00::]/8`). An IPv4-mapped range
    /// (`::ffff:10.0.0.0/104`) becomes its IPv4 range.
    ///
    /// # Errors
    ///
    /// What is wrong with it, in words.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = text.rsplit_once('/').ok_or_else(|| invalid(text))?;
        // Not normalised yet: the prefix length is the IPv6 one for an IPv4-mapped range.
        let addr = match parse_ip_as_written(addr) {
            Ok(addr) => addr,
            Err(zone) if addr.contains('%') => return Err(zone),
            Err(_) => return Err(invalid(text)),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("`{text}` has a prefix length that is not 0 to {max}"))?;
        let net = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Self {
                    addr: IpAddr::V4(v4),
                    prefix: prefix - 96,
                },
                None => Self { addr, prefix },
            },
            _ => Self { addr, prefix },
        };
        let zeroed = Self {
            addr: match net.addr {
                IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(
                    u32::from(a)
                        & u32::MAX
                            .checked_shl(32 - u32::from(net.prefix))
                            .unwrap_or(0),
                )),
                IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(
                    u128::from(a)
                        & u128::MAX
                            .checked_shl(128 - u32::from(net.prefix))
                            .unwrap_or(0),
                )),
            },
            prefix: net.prefix,
        };
        if zeroed != net {
            return Err(format!(
                "`{text}` has bits set past its prefix length; write the range's first address, `{zeroed}`"
            ));
        }
        Ok(net)
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The words for an entry that is nothing the list knows.
fn invalid(text: &str) -> String {
    format!(
        "`{text}` is not a host name, a `*.suffix` pattern, an IP address or a CIDR range (write no scheme, port or path)"
    )
}

/// An address, as text, normalised ([`normalise`]).
fn parse_ip(text: &str) -> Result<IpAddr, String> {
    parse_ip_as_written(text).map(normalise)
}

/// An address, as text: a plain literal or one in brackets; never one with a zone id.
fn parse_ip_as_written(text: &str) -> Result<IpAddr, String> {
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if bare.contains('%') {
        return Err(format!(
            "`{text}` has an IPv6 zone id, which is not supported: list the address without it"
        ));
    }
    bare.parse::<IpAddr>()
        .map_err(|_| format!("`{text}` is not an IP address"))
}

/// The IPv4 address of an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`); any other unchanged.
pub fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// What kind of special-purpose address an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `0.0.0.0/8`, `::`: on Linux a connection to `0.0.0.0` reaches this host.
    Unspecified,
    /// `127.0.0.0/8`, `::1`: this host, where Lambda's Runtime API listens.
    Loopback,
    /// RFC 1918, shared address space (`100.64.0.0/10`), unique local (`fc00::/7`),
    /// site-local (`fec0::/10`): a private network, a VPC.
    Private,
    /// `169.254.0.0/16` (the instance metadata service and the VPC resolver among them),
    /// `fe80::/10`.
    LinkLocal,
    /// `fd00:ec2::/32`: the instance metadata service, DNS and time over IPv6 on AWS.
    Metadata,
    /// Multicast, broadcast, documentation, benchmarking, IPv4-compatible and other ranges
    /// that are no host on the internet.
    Reserved,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "an unspecified address (this host)",
            Self::Loopback => "a loopback address",
            Self::Private => "a private address",
            Self::LinkLocal => "a link-local address",
            Self::Metadata => "a cloud metadata address",
            Self::Reserved => "a reserved address",
        })
    }
}

/// The special-purpose blocks, the first containing an address deciding its class (so the
/// narrower blocks come first).
const SPECIAL: [(Net, Class); 29] = [
    // IPv4 (RFC 6890's registry, the parts a request could be pointed at).
    (Net::v4(0, 0, 0, 0, 8), Class::Unspecified),
    (Net::v4(127, 0, 0, 0, 8), Class::Loopback),
    (Net::v4(10, 0, 0, 0, 8), Class::Private),
    (Net::v4(172, 16, 0, 0, 12), Class::Private),
    (Net::v4(192, 168, 0, 0, 16), Class::Private),
    (Net::v4(100, 64, 0, 0, 10), Class::Private),
    (Net::v4(169, 254, 0, 0, 16), Class::LinkLocal),
    (Net::v4(192, 0, 0, 0, 24), Class::Reserved),
    (Net::v4(192, 0, 2, 0, 24), Class::Reserved),
    (Net::v4(198, 18, 0, 0, 15), Class::Reserved),
    (Net::v4(198, 51, 100, 0, 24), Class::Reserved),
    (Net::v4(203, 0, 113, 0, 24), Class::Reserved),
    (Net::v4(224, 0, 0, 0, 4), Class::Reserved),
    (Net::v4(240, 0, 0, 0, 4), Class::Reserved),
    // IPv6 (IPv4-mapped addresses are normalised to IPv4 before this is consulted).
    (Net::v6([0, 0, 0, 0, 0, 0, 0, 0], 128), Class::Unspecified),
    (Net::v6([0, 0, 0, 0, 0, 0, 0, 1], 128), Class::Loopback),
    // IPv4-compatible (deprecated), and what the normalisation did not take.
    (Net::v6([0, 0, 0, 0, 0, 0, 0, 0], 96), Class::Reserved),
    (Net::v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96), Class::Reserved),
    // NAT64 would reach any IPv4 address, private ones included; local-use NAT64 too.
    (
        Net::v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),
        Class::Reserved,
    ),
    (
        Net::v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        Class::Reserved,
    ),
    (Net::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), Class::Reserved),
    (
        Net::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        Class::Reserved,
    ),
    // 6to4 embeds any IPv4 address too.
    (Net::v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), Class::Reserved),
    // Before `fc00::/7`, which contains it: never allowed by listing the private range.
    (
        Net::v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0], 32),
        Class::Metadata,
    ),
    (Net::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), Class::Private),
    (Net::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), Class::LinkLocal),
    (Net::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), Class::Private),
    (Net::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), Class::Reserved),
    // Teredo tunnels to any IPv4 address as well.
    (Net::v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), Class::Reserved),
];

/// The class and block of a special-purpose address; `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<(Class, Net)> {
    let ip = normalise(ip);
    SPECIAL
        .iter()
        .find(|(net, _)| net.contains(ip))
        .map(|(net, class)| (*class, *net))
}

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A host name: lowercase, no trailing dot, IDNA (punycode) as URLs carry it.
    Name(String),
    /// `*.suffix`: any name under the suffix (stored without `*.`).
    Suffix(String),
    /// An address (a one-address network) or a CIDR range.
    Net(Net),
}

/// Parses one entry of [`HOSTS_VARIABLE`].
///
/// # Errors
///
/// What is wrong with it, naming it (the variable is the stage's configuration, not input).
pub fn parse_entry(text: &str) -> Result<Entry, String> {
    if text.contains('/') {
        return Net::parse(text).map(Entry::Net);
    }
    if text.contains('%') {
        return parse_ip(text).map(|ip| Entry::Net(Net::host(ip)));
    }
    if let Ok(ip) = parse_ip(text) {
        return Ok(Entry::Net(Net::host(ip)));
    }
    if let Some(suffix) = text.strip_prefix("*.") {
        return match parse_name(suffix)? {
            Entry::Name(name) => Ok(Entry::Suffix(name)),
            _ => Err(format!(
                "`{text}`: a `*.` pattern needs a domain name after it, not an address"
            )),
        };
    }
    if text.contains('*') {
        return Err(format!(
            "`{text}`: `*` is allowed only as a whole first label, as in `*.example.com`"
        ));
    }
    parse_name(text)
}

/// A host name as a URL parser normalises it (lowercase, punycode); an unusual spelling of
/// an address (`0x7f.1`) is that address.
fn parse_name(text: &str) -> Result<Entry, String> {
    let trimmed = text.strip_suffix('.').unwrap_or(text);
    let invalid = || invalid(text);
    if trimmed.is_empty() || trimmed.contains(':') {
        return Err(invalid());
    }
    match Host::parse(trimmed).map_err(|_| invalid())? {
        Host::Domain(name) if !name.is_empty() && !name.starts_with('.') => {
            Ok(Entry::Name(name.to_ascii_lowercase()))
        }
        Host::Domain(_) => Err(invalid()),
        Host::Ipv4(ip) => Ok(Entry::Net(Net::host(IpAddr::V4(ip)))),
        Host::Ipv6(ip) => Ok(Entry::Net(Net::host(IpAddr::V6(ip)))),
    }
}

/// A host name as it is compared: lowercase, without a trailing dot.
pub fn normalise_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// How an address was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// The URL names the address itself.
    Literal,
    /// A listed name resolved to it.
    Resolved,
}

/// Why a host or an address is refused. The `Display` says it in words that name
/// [`HOSTS_VARIABLE`] and what to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A host name the list does not match.
    NameNotListed {
        /// Whether the list is empty (unset, or nothing in it).
        empty: bool,
    },
    /// A public address, named in the URL, that no listed address or range covers.
    AddressNotListed {
        /// The address.
        address: IpAddr,
    },
    /// A special-purpose address no listed address or range within its block covers.
    Special {
        /// The address (IPv4-mapped ones as IPv4).
        address: IpAddr,
        /// Its class.
        class: Class,
        /// Its block.
        block: Net,
        /// How it was reached.
        reached: Reached,
    },
    /// An address with an IPv6 zone id.
    ZoneId {
        /// The address, without the zone id.
        address: IpAddr,
    },
    /// A name that resolved to no address.
    NoAddress,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NameNotListed { empty: true } => write!(
                f,
                "`{HOSTS_VARIABLE}` is empty, so no host is allowed; list the API's host name in it (the stage's `HttpHosts` parameter)"
            ),
            Self::NameNotListed { empty: false } => write!(
                f,
                "it is not listed in `{HOSTS_VARIABLE}`; add the name (or a `*.suffix` pattern) to it (the stage's `HttpHosts` parameter)"
            ),
            Self::AddressNotListed { address } => write!(
                f,
                "the address `{address}` is not listed in `{HOSTS_VARIABLE}`; list it or its range (the stage's `HttpHosts` parameter)"
            ),
            Self::Special {
                address,
                class,
                block,
                reached,
            } => {
                let what = match reached {
                    Reached::Literal => format!("`{address}` is {class}"),
                    Reached::Resolved => format!("it resolves to `{address}`, {class}"),
                };
                write!(
                    f,
                    "{what}, which only an address or range within `{block}` listed in `{HOSTS_VARIABLE}` allows (a listed name is not enough)"
                )
            }
            Self::ZoneId { address } => write!(
                f,
                "it resolves to `{address}` with an IPv6 zone id, which `{HOSTS_VARIABLE}` never allows"
            ),
            Self::NoAddress => f.write_str("it resolves to no address"),
        }
    }
}

/// What a URL's host comes to when it is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A listed name, still to be resolved (and each address vetted).
    Name(String),
    /// An address the list allows.
    Address(IpAddr),
}

/// The parsed [`HOSTS_VARIABLE`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostList {
    names: Vec<String>,
    suffixes: Vec<String>,
    nets: Vec<Net>,
}

impl HostList {
    /// Reads [`HOSTS_VARIABLE`]; unset is empty (nothing allowed).
    ///
    /// # Errors
    ///
    /// As [`HostList::parse`].
    pub fn from_env() -> Result<Self, String> {
        Self::parse(&std::env::var(HOSTS_VARIABLE).unwrap_or_default())
    }

    /// Parses a comma-separated list (blanks around entries and empty entries ignored).
    ///
    /// # Errors
    ///
    /// Every entry that is not a host name, `*.suffix` pattern, address or range, named,
    /// after the variable's name: one bad entry refuses the whole list, so that a typo never
    /// silently narrows or widens it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut list = Self::default();
        let mut problems = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match parse_entry(entry) {
                Ok(Entry::Name(name)) => list.names.push(name),
                Ok(Entry::Suffix(suffix)) => list.suffixes.push(suffix),
                Ok(Entry::Net(net)) => list.nets.push(net),
                Err(problem) => problems.push(problem),
            }
        }
        if problems.is_empty() {
            Ok(list)
        } else {
            Err(format!(
                "`{HOSTS_VARIABLE}` cannot be used: {}; entries are host names, `*.suffix` patterns, IP addresses and CIDR ranges, separated by commas",
                problems.join("; ")
            ))
        }
    }

    /// Whether nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.suffixes.is_empty() && self.nets.is_empty()
    }

    /// Whether the name `host` is listed or matches a listed pattern.
    pub fn lists_name(&self, host: &str) -> bool {
        let name = normalise_name(host);
        self.names.contains(&name)
            || self.suffixes.iter().any(|suffix| {
                name.strip_suffix(suffix.as_str())
                    .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
            })
    }

    /// Vets one address, normalised; returns it normalised.
    ///
    /// # Errors
    ///
    /// The [`Refusal`] when the list does not allow it.
    pub fn vet_address(&self, ip: IpAddr, reached: Reached) -> Result<IpAddr, Refusal> {
        let ip = normalise(ip);
        match classify(ip) {
            None if reached == Reached::Resolved => Ok(ip),
            None if self.nets.iter().any(|n| n.contains(ip)) => Ok(ip),
            None => Err(Refusal::AddressNotListed { address: ip }),
            Some((class, block)) => {
                if self.nets.iter().any(|n| n.contains(ip) && n.within(&block)) {
                    Ok(ip)
                } else {
                    Err(Refusal::Special {
                        address: ip,
                        class,
                        block,
                        reached,
                    })
                }
            }
        }
    }

    /// Vets what a listed name resolved to: every address must be allowed (one that is not
    /// refuses the name: a name that mixes a public and a private address is suspect), and
    /// none may carry a zone id. Returns the addresses normalised.
    ///
    /// # Errors
    ///
    /// The first address's [`Refusal`], or [`Refusal::NoAddress`].
    pub fn vet_resolved(&self, addrs: &[SocketAddr]) -> Result<Vec<SocketAddr>, Refusal> {
        if addrs.is_empty() {
            return Err(Refusal::NoAddress);
        }
        addrs
            .iter()
            .map(|addr| {
                if let SocketAddr::V6(v6) = addr
                    && v6.scope_id() != 0
                {
                    return Err(Refusal::ZoneId {
                        address: IpAddr::V6(*v6.ip()),
                    });
                }
                self.vet_address(addr.ip(), Reached::Resolved)
                    .map(|ip| SocketAddr::new(ip, addr.port()))
            })
            .collect()
    }

    /// Checks a URL's host: an address must be allowed; a name must be listed (its addresses
    /// are vetted once resolved).
    ///
    /// # Errors
    ///
    /// The [`Refusal`].
    pub fn check_host<S: AsRef<str>>(&self, host: &Host<S>) -> Result<Target, Refusal> {
        match host {
            Host::Ipv4(ip) => self
                .vet_address(IpAddr::V4(*ip), Reached::Literal)
                .map(Target::Address),
            Host::Ipv6(ip) => self
                .vet_address(IpAddr::V6(*ip), Reached::Literal)
                .map(Target::Address),
            Host::Domain(name) => {
                // A name that is an address in another spelling is that address.
                if let Ok(ip) = parse_ip(name.as_ref()) {
                    return self.vet_address(ip, Reached::Literal).map(Target::Address);
                }
                if self.lists_name(name.as_ref()) {
                    Ok(Target::Name(normalise_name(name.as_ref())))
                } else {
                    Err(Refusal::NameNotListed {
                        empty: self.is_empty(),
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> HostList {
        HostList::parse(text).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Whether a URL with this host may be requested, and (for a name) each address it
    /// resolves to is allowed.
    fn allowed(hosts: &str, url: &str, resolves_to: &[&str]) -> bool {
        let hosts = list(hosts);
        let url = url::Url::parse(url).unwrap();
        match hosts.check_host(&url.host().unwrap()) {
            Err(_) => false,
            Ok(Target::Address(_)) => true,
            Ok(Target::Name(_)) => {
                let addrs: Vec<SocketAddr> = resolves_to
                    .iter()
                    .map(|a| SocketAddr::new(ip(a), 443))
                    .collect();
                hosts.vet_resolved(&addrs).is_ok()
            }
        }
    }

    #[test]
    fn the_allowlist_decides_every_case() {
        let public = &["93.184.215.14"][..];
        for (hosts, url, resolves_to, expected) in [
            // Names: exact, case-insensitive, trailing dot on either side.
            (
                "api.example.com",
                "https://api.example.com/v1",
                public,
                true,
            ),
            ("API.Example.COM", "https://api.example.com", public, true),
            ("api.example.com.", "https://api.example.com", public, true),
            (
                "api.example.com",
                "https://api.example.com./x",
                public,
                true,
            ),
            ("api.example.com", "https://www.example.com", public, false),
            (
                "api.example.com",
                "https://api.example.com.evil.test",
                public,
                false,
            ),
            (
                "api.example.com",
                "https://evilapi.example.com",
                public,
                false,
            ),
            // Patterns: names under the suffix, not the suffix itself unless listed.
            ("*.example.com", "https://api.example.com", public, true),
            ("*.example.com", "https://a.b.example.com", public, true),
            ("*.example.com", "https://example.com", public, false),
            ("*.example.com", "https://badexample.com", public, false),
            (
                "*.example.com,example.com",
                "https://example.com",
                public,
                true,
            ),
            ("*.Example.com.", "https://API.example.com", public, true),
            // Nothing listed: nothing allowed.
            ("", "https://api.example.com", public, false),
            (" , ", "https://api.example.com", public, false),
            // A listed name never allows loopback, private or link-local addresses...
            (
                "localhost",
                "http://localhost:8080",
                &["127.0.0.1"][..],
                false,
            ),
            (
                "api.internal",
                "https://api.internal",
                &["10.1.2.3"][..],
                false,
            ),
            (
                "api.example.com",
                "https://api.example.com",
                &["169.254.169.254"][..],
                false,
            ),
            (
                "api.example.com",
                "https://api.example.com",
                &["::ffff:169.254.169.254"][..],
                false,
            ),
            (
                "api.example.com",
                "https://api.example.com",
                &["::ffff:127.0.0.1"][..],
                false,
            ),
            (
                "api.example.com",
                "https://api.example.com",
                &["fd00:ec2::254"][..],
                false,
            ),
            (
                "api.example.com",
                "https://api.example.com",
                &["0.0.0.0"][..],
                false,
            ),
            (
                "api.example.com",
                "https://api.example.com",
                &["::"][..],
                false,
            ),
            (
                "api.example.com",
                "https://api.example.com",
                &["100.64.0.1"][..],
                false,
            ),
            (
                "api.example.com",
                "https://api.example.com",
                &["64:ff9b::a9fe:a9fe"][..],
                false,
            ),
            // ...one bad address among good ones refuses the name...
            (
                "api.example.com",
                "https://api.example.com",
                &["93.184.215.14", "10.0.0.1"][..],
                false,
            ),
            // ...and its address or range must be listed too.
            (
                "localhost,127.0.0.1",
                "http://localhost:8080",
                &["127.0.0.1"][..],
                true,
            ),
            (
                "localhost,127.0.0.1",
                "http://localhost:8080",
                &["127.0.0.1", "::1"][..],
                false,
            ),
            (
                "localhost,127.0.0.0/8,::1/128",
                "http://localhost",
                &["127.0.0.1", "::1"][..],
                true,
            ),
            (
                "api.internal,10.0.0.0/8",
                "https://api.internal",
                &["10.1.2.3"][..],
                true,
            ),
            (
                "api.internal,10.0.0.0/16",
                "https://api.internal",
                &["10.1.2.3"][..],
                false,
            ),
            // A range wider than the special block does not count.
            (
                "api.example.com,0.0.0.0/0",
                "https://api.example.com",
                &["127.0.0.1"][..],
                false,
            ),
            (
                "api.example.com,::/0",
                "https://api.example.com",
                &["::1"][..],
                false,
            ),
            // The metadata block is not allowed by listing all private IPv6 addresses.
            (
                "api.example.com,fc00::/7",
                "https://api.example.com",
                &["fd00:ec2::254"][..],
                false,
            ),
            (
                "api.example.com,fc00::/7",
                "https://api.example.com",
                &["fd12::1"][..],
                true,
            ),
            (
                "api.example.com,fd00:ec2::254",
                "https://api.example.com",
                &["fd00:ec2::254"][..],
                true,
            ),
            // A name that is not listed is refused even when it resolves to a listed address.
            (
                "127.0.0.1",
                "http://localhost:8080",
                &["127.0.0.1"][..],
                false,
            ),
            // Addresses in the URL: listed as a literal or in a range.
            ("127.0.0.1", "http://127.0.0.1:3000", &[][..], true),
            ("127.0.0.0/8", "http://127.9.9.9", &[][..], true),
            ("127.0.0.1", "http://127.0.0.2", &[][..], false),
            ("127.0.0.1", "http://[::ffff:127.0.0.1]", &[][..], true),
            ("::ffff:127.0.0.1", "http://127.0.0.1", &[][..], true),
            ("127.0.0.1", "http://[::1]", &[][..], false),
            ("::1", "http://[::1]:80", &[][..], true),
            ("[::1]", "http://[::1]:80", &[][..], true),
            ("127.0.0.1", "http://0x7f.1", &[][..], true),
            ("127.0.0.1", "http://2130706433", &[][..], true),
            ("api.example.com", "http://127.0.0.1", &[][..], false),
            ("93.184.215.0/24", "https://93.184.215.14", &[][..], true),
            ("0.0.0.0/0", "https://93.184.215.14", &[][..], true),
            ("0.0.0.0/0", "http://169.254.169.254", &[][..], false),
            ("0.0.0.0/0", "http://127.0.0.1", &[][..], false),
            ("0.0.0.0/0", "http://0.0.0.0", &[][..], false),
            ("169.254.169.254", "http://169.254.169.254", &[][..], true),
            ("169.254.0.0/16", "http://169.254.169.254", &[][..], true),
            (
                "169.254.169.254",
                "http://[::ffff:169.254.169.254]",
                &[][..],
                true,
            ),
            ("10.0.0.0/8", "http://[::ffff:a9fe:a9fe]", &[][..], false),
            (
                "93.184.215.14",
                "https://[::ffff:93.184.215.14]",
                &[][..],
                true,
            ),
            // CIDR edges.
            ("10.0.0.0/8", "http://10.255.255.255", &[][..], true),
            ("10.0.0.0/8", "http://11.0.0.0", &[][..], false),
            ("172.16.0.0/12", "http://172.31.255.255", &[][..], true),
            ("172.16.0.0/12", "http://172.32.0.0", &[][..], false),
            ("192.168.1.0/24", "http://192.168.1.255", &[][..], true),
            ("192.168.1.0/24", "http://192.168.2.0", &[][..], false),
            ("192.168.1.7/32", "http://192.168.1.7", &[][..], true),
            ("192.168.1.7/32", "http://192.168.1.8", &[][..], false),
            ("::1/128", "http://[::1]", &[][..], true),
            (
                "fd12:3456::/32",
                "http://[fd12:3456:ffff::1]",
                &[][..],
                true,
            ),
            ("fd12:3456::/32", "http://[fd12:3457::1]", &[][..], false),
        ] {
            assert_eq!(
                allowed(hosts, url, resolves_to),
                expected,
                "hosts `{hosts}`, url `{url}`, resolving to {resolves_to:?}"
            );
        }
    }

    #[test]
    fn zone_ids_are_refused_listed_or_resolved() {
        assert!(
            HostList::parse("fe80::1%eth0")
                .unwrap_err()
                .contains("zone id")
        );
        assert!(
            HostList::parse("[fe80::1%25eth0]")
                .unwrap_err()
                .contains("zone id")
        );
        assert!(
            HostList::parse("fe80::%1/64")
                .unwrap_err()
                .contains("zone id")
        );
        let hosts = list("link.example,fe80::/10");
        let scoped = SocketAddr::V6(std::net::SocketAddrV6::new(
            "fe80::1".parse().unwrap(),
            80,
            0,
            2,
        ));
        assert!(matches!(
            hosts.vet_resolved(&[scoped]),
            Err(Refusal::ZoneId { .. })
        ));
        let unscoped = SocketAddr::new(ip("fe80::1"), 80);
        assert!(hosts.vet_resolved(&[unscoped]).is_ok());
        // The URL parser itself refuses a zone id in a host.
        assert!(url::Url::parse("http://[fe80::1%25eth0]/").is_err());
    }

    #[test]
    fn bad_entries_refuse_the_whole_list_naming_each() {
        for (text, says) in [
            ("https://api.example.com", "is not a host name"),
            ("api.example.com:443", "is not a host name"),
            ("api.example.com/v1", "is not a host name"),
            (
                "10.0.0.1/8",
                "write the range's first address, `10.0.0.0/8`",
            ),
            ("10.0.0.0/33", "not 0 to 32"),
            ("::/129", "not 0 to 128"),
            ("*", "only as a whole first label"),
            ("*example.com", "only as a whole first label"),
            ("api.*.example.com", "only as a whole first label"),
            ("*.10.0.0.1", "needs a domain name"),
            ("a b.example.com", "is not a host name"),
            (".", "is not a host name"),
        ] {
            let problem = HostList::parse(&format!("ok.example.com,{text}")).unwrap_err();
            assert!(
                problem.starts_with("`STACKWRIGHT_HTTP_HOSTS` cannot be used: "),
                "{problem}"
            );
            assert!(problem.contains(says), "{text}: {problem}");
        }
    }

    #[test]
    fn entries_parse_to_their_normal_form() {
        assert_eq!(
            parse_entry("Api.Example.COM."),
            Ok(Entry::Name("api.example.com".into()))
        );
        assert_eq!(
            parse_entry("bücher.example"),
            Ok(Entry::Name("xn--bcher-kva.example".into()))
        );
        assert_eq!(
            parse_entry("*.Example.com"),
            Ok(Entry::Suffix("example.com".into()))
        );
        assert_eq!(
            parse_entry("::ffff:10.0.0.0/104"),
            Ok(Entry::Net(Net::v4(10, 0, 0, 0, 8)))
        );
        assert_eq!(
            parse_entry("[::1]/128"),
            Ok(Entry::Net(Net::v6([0, 0, 0, 0, 0, 0, 0, 1], 128)))
        );
        assert_eq!(
            parse_entry("0x7f.1"),
            Ok(Entry::Net(Net::v4(127, 0, 0, 1, 32)))
        );
        // An internationalised name in a URL matches its listed spelling.
        let hosts = list("bücher.example");
        let url = url::Url::parse("https://BÜCHER.example/").unwrap();
        assert!(matches!(
            hosts.check_host(&url.host().unwrap()),
            Ok(Target::Name(_))
        ));
    }

    #[test]
    fn addresses_are_classified_with_ipv4_mapped_ones_as_ipv4() {
        for (address, class) in [
            ("93.184.215.14", None),
            ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", None),
            ("127.0.0.1", Some(Class::Loopback)),
            ("127.255.255.254", Some(Class::Loopback)),
            ("::1", Some(Class::Loopback)),
            ("::ffff:127.0.0.1", Some(Class::Loopback)),
            ("0.0.0.0", Some(Class::Unspecified)),
            ("::", Some(Class::Unspecified)),
            ("10.0.0.1", Some(Class::Private)),
            ("172.16.0.1", Some(Class::Private)),
            ("172.15.255.255", None),
            ("192.168.0.1", Some(Class::Private)),
            ("100.64.0.1", Some(Class::Private)),
            ("fd12::1", Some(Class::Private)),
            ("169.254.169.254", Some(Class::LinkLocal)),
            ("::ffff:169.254.169.254", Some(Class::LinkLocal)),
            ("::ffff:a9fe:a9fe", Some(Class::LinkLocal)),
            ("fe80::1", Some(Class::LinkLocal)),
            ("fd00:ec2::254", Some(Class::Metadata)),
            ("::127.0.0.1", Some(Class::Reserved)),
            ("64:ff9b::a9fe:a9fe", Some(Class::Reserved)),
            ("2002:7f00:1::", Some(Class::Reserved)),
            ("224.0.0.1", Some(Class::Reserved)),
            ("255.255.255.255", Some(Class::Reserved)),
            ("ff02::1", Some(Class::Reserved)),
        ] {
            assert_eq!(classify(ip(address)).map(|(c, _)| c), class, "{address}");
        }
    }

    #[test]
    fn refusals_name_the_variable_and_what_to_list() {
        let hosts = list("api.example.com");
        let refusal = hosts.check_host(&Host::Domain("evil.example")).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "it is not listed in `STACKWRIGHT_HTTP_HOSTS`; add the name (or a `*.suffix` pattern) to it (the stage's `HttpHosts` parameter)"
        );
        let refusal = hosts
            .vet_resolved(&[SocketAddr::new(ip("::ffff:127.0.0.1"), 80)])
            .unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "it resolves to `127.0.0.1`, a loopback address, which only an address or range within `127.0.0.0/8` listed in `STACKWRIGHT_HTTP_HOSTS` allows (a listed name is not enough)"
        );
        let refusal = hosts
            .check_host(&Host::<&str>::Ipv4("169.254.169.254".parse().unwrap()))
            .unwrap_err();
        assert!(
            refusal
                .to_string()
                .starts_with("`169.254.169.254` is a link-local address, which only"),
            "{refusal}"
        );
        assert!(
            HostList::default()
                .check_host(&Host::Domain("api.example.com"))
                .unwrap_err()
                .to_string()
                .starts_with("`STACKWRIGHT_HTTP_HOSTS` is empty")
        );
    }
}
