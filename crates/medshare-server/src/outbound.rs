//! Outbound HTTP the hub makes on a user's say-so (patients' notice webhooks; notification
//! channels later) that cannot be turned against the hub's own network. A destination is
//! checked twice: its URL when it is registered (scheme, no credentials, allowed port, and a
//! literal address must be public), and every address its name resolves to at connect time, by
//! the resolver the HTTP client uses, so a name that later resolves to 169.254.169.254, 10.0.0.1,
//! `::ffff:127.0.0.1` or `localhost` is never connected to. Redirects are not followed.

use crate::config::OutboundConfig;
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Why a destination is refused (safe to show: names no address).
pub type Refusal = &'static str;

/// Addresses the hub may connect to.
#[derive(Clone, Debug)]
pub struct Destinations {
    allow: Vec<IpNet>,
    ports: Vec<u16>,
    allow_http: bool,
}

impl Destinations {
    /// From the operator's configuration; `allow_http` only for sandboxes and tests.
    pub fn new(c: &OutboundConfig, allow_http: bool) -> anyhow::Result<Self> {
        let allow = c
            .allow_networks
            .iter()
            .map(|n| {
                n.parse::<IpNet>()
                    .map_err(|_| anyhow::anyhow!("outbound.allow_networks: {n:?} is not a CIDR"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            allow,
            ports: c.allow_ports.clone(),
            allow_http,
        })
    }

    /// May the hub connect to `ip`?
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allow.iter().any(|n| n.contains(&ip)) || is_public(ip)
    }

    /// Check a URL before it is stored.
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, Refusal> {
        let u = reqwest::Url::parse(url).map_err(|_| "the address is not a valid URL")?;
        match u.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err("the address must be an https:// URL"),
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err("the address must carry no credentials");
        }
        let port = u.port_or_known_default().ok_or("the address has no port")?;
        if !self.ports.is_empty() && !self.ports.contains(&port) {
            return Err("the address uses a port the hub does not connect to");
        }
        match u.host() {
            Some(url::Host::Ipv4(ip)) if !self.allows(IpAddr::V4(ip)) => {
                Err("the address is not a public internet address")
            }
            Some(url::Host::Ipv6(ip)) if !self.allows(IpAddr::V6(ip)) => {
                Err("the address is not a public internet address")
            }
            Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                Err("the address is not a public internet address")
            }
            Some(_) => Ok(u),
            None => Err("the address must name a host"),
        }
    }

    /// An HTTP client whose every connection goes through these checks.
    pub fn client(&self, timeout: Duration) -> reqwest::Result<Guarded> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(CheckingResolver(self.clone())))
            .build()?;
        Ok(Guarded {
            http,
            rules: self.clone(),
        })
    }
}

/// A client that connects only to allowed destinations.
#[derive(Clone)]
pub struct Guarded {
    http: reqwest::Client,
    rules: Destinations,
}

impl Guarded {
    /// POST JSON to `url` (checked again: a stored URL may predate a stricter configuration).
    pub async fn post_json<T: serde::Serialize + ?Sized>(
        &self,
        url: &str,
        body: &T,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response, OutboundError> {
        let u = self.rules.check_url(url).map_err(OutboundError::Refused)?;
        let mut rb = self.http.post(u).json(body);
        for (k, v) in headers {
            rb = rb.header(*k, v);
        }
        rb.send().await.map_err(OutboundError::Http)
    }

    /// POST exact JSON bytes (what a signature covers) to `url`, checked like [`Self::post_json`].
    pub async fn post_bytes(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response, OutboundError> {
        self.post_typed(url, "application/json", body, headers)
            .await
    }

    /// POST `body` of `content_type` to `url`, checked like [`Self::post_json`].
    pub async fn post_typed(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response, OutboundError> {
        let u = self.rules.check_url(url).map_err(OutboundError::Refused)?;
        let mut rb = self
            .http
            .post(u)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        for (k, v) in headers {
            rb = rb.header(*k, v);
        }
        rb.send().await.map_err(OutboundError::Http)
    }
}

/// Why an outbound request did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("destination refused: {0}")]
    Refused(Refusal),
    #[error("request failed")]
    Http(#[source] reqwest::Error),
}

/// Resolves names and drops every address the rules refuse (none left: an error, so the
/// client never connects).
struct CheckingResolver(Destinations);

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let rules = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| rules.allows(a.ip()))
                .collect();
            if found.is_empty() {
                return Err("the destination resolves to no public address".into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// IPv4-mapped and IPv4-compatible IPv6 addresses, and NAT64's well-known prefix, are judged
/// as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            // ::a.b.c.d (deprecated IPv4-compatible) and 64:ff9b::a.b.c.d (NAT64).
            if (s[..6] == [0, 0, 0, 0, 0, 0] && (s[6] != 0 || s[7] > 1))
                || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
            {
                let o = v6.octets();
                return IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

/// Globally routable unicast: not loopback, private, shared (CGNAT), link-local, unspecified,
/// broadcast, multicast, documentation, benchmarking, reserved, unique-local or site-local.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str]) -> Destinations {
        Destinations::new(
            &OutboundConfig {
                allow_networks: allow.iter().map(|s| s.to_string()).collect(),
                allow_ports: vec![443, 8443],
            },
            false,
        )
        .unwrap()
    }

    #[test]
    fn special_addresses_are_refused_in_every_spelling() {
        let r = rules(&[]);
        for url in [
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/",
            "https://172.16.5.4/",
            "https://192.168.1.1/",
            "https://127.0.0.1/",
            "https://127.1.2.3/",
            "https://0.0.0.0/",
            "https://100.64.0.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[fe80::1]/",
            "https://[fd00:ec2::254]/",
            "https://localhost/",
            "https://LOCALHOST/",
            "https://2130706433/",
            "https://0x7f.1/",
        ] {
            assert!(r.check_url(url).is_err(), "{url} must be refused");
        }
        for url in [
            "https://8.8.8.8/",
            "https://[2606:4700::1111]/hook",
            "https://hooks.example.org/medshare",
            "https://hooks.example.org:8443/x",
        ] {
            assert!(r.check_url(url).is_ok(), "{url} must be allowed");
        }
    }

    #[test]
    fn scheme_port_and_credentials_are_checked() {
        let r = rules(&[]);
        assert!(r.check_url("http://hooks.example.org/").is_err());
        assert!(r.check_url("ftp://hooks.example.org/").is_err());
        assert!(r.check_url("https://hooks.example.org:22/").is_err());
        assert!(r.check_url("https://user:pw@hooks.example.org/").is_err());
        assert!(r.check_url("not a url").is_err());
    }

    #[test]
    fn operators_may_allow_their_own_networks() {
        let r = rules(&["10.20.0.0/16"]);
        assert!(r.check_url("https://10.20.3.4/relay").is_ok());
        assert!(r.check_url("https://10.21.3.4/relay").is_err());
        assert!(r.allows("::ffff:10.20.0.9".parse().unwrap()));
        assert!(
            Destinations::new(
                &OutboundConfig {
                    allow_networks: vec!["nonsense".into()],
                    allow_ports: vec![443]
                },
                false
            )
            .is_err()
        );
    }

    #[tokio::test]
    async fn names_resolving_to_special_addresses_are_never_connected_to() {
        use std::str::FromStr;
        // A name is judged by what it resolves to, at connect time: `localhost` (from the
        // hosts file) resolves to loopback only, so nothing is left to connect to.
        let strict = CheckingResolver(rules(&[]));
        let name = Name::from_str("localhost").unwrap();
        assert!(strict.resolve(name).await.is_err());
        // An operator who allows loopback (a sandbox) gets the addresses.
        let sandbox = CheckingResolver(rules(&["127.0.0.0/8", "::1/128"]));
        let found: Vec<SocketAddr> = sandbox
            .resolve(Name::from_str("localhost").unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!found.is_empty() && found.iter().all(|a| a.ip().is_loopback()));
    }
}
