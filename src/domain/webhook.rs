//! Where webhooks may point: HTTPS to public addresses, so that registering one cannot make the
//! service reach into its own network (server-side request forgery). `WEBHOOK_ALLOW_PRIVATE`
//! lifts that for closed networks and tests: then plain HTTP and private addresses are allowed.

use std::net::IpAddr;

/// The policy for webhook targets.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookTarget {
    pub allow_private: bool,
}

/// Longest URL accepted.
pub const MAX_URL: usize = 2000;

impl WebhookTarget {
    /// Checks a URL's shape: absolute, `https` (or `http` when private targets are allowed), a
    /// host, no credentials, and, for an address written as such, a public one. Returns the URL.
    pub fn check_shape(&self, text: &str) -> Result<url::Url, String> {
        let text = text.trim();
        if text.len() > MAX_URL {
            return Err(format!("a URL has at most {MAX_URL} characters"));
        }
        let url = url::Url::parse(text).map_err(|e| format!("not an absolute URL: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            other => {
                return Err(format!("webhooks are delivered over https, not {other}"));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a URL with a user name or password would log it; use the signature to authenticate deliveries".to_owned());
        }
        match url.host() {
            None => return Err("the URL has no host".to_owned()),
            Some(url::Host::Ipv4(ip)) => self.check_address(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_address(IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) => {}
        }
        Ok(url)
    }

    /// Refuses loopback, private, link-local, shared, unspecified, broadcast and multicast
    /// addresses, unless private targets are allowed.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(format!(
                "{ip} is not a public address (WEBHOOK_ALLOW_PRIVATE=true allows it)"
            ))
        }
    }
}

/// Whether `ip` is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT; 0.0.0.0/8 "this network".
                || (a == 100 && (64..128).contains(&b))
                || a == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_addresses_are_refused() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["203.0.114.1", "8.8.8.8", "2001:4860:4860::8888"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_https_to_public_hosts_unless_private_targets_are_allowed() {
        let strict = WebhookTarget::default();
        assert!(
            strict
                .check_shape("https://hooks.city.nagano.lg.jp/kyodo")
                .is_ok()
        );
        for refused in [
            "http://hooks.example.jp/",
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://user:pass@hooks.example.jp/",
            "ftp://hooks.example.jp/",
            "hooks.example.jp/hook",
        ] {
            assert!(strict.check_shape(refused).is_err(), "{refused}");
        }
        let open = WebhookTarget {
            allow_private: true,
        };
        assert!(open.check_shape("http://127.0.0.1:8080/hook").is_ok());
    }
}
