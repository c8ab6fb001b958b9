//! Listen addresses in dm-tracer's (Go's) form.

use anyhow::Context as _;
use tokio::net::TcpListener;

/// Go's `net.Listen` accepts `:8263` for "every interface"; Rust does not.
pub fn normalize(addr: &str) -> String {
    let addr = addr.trim();
    match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_owned(),
    }
}

/// Binds the listen address, with a message that says what went wrong.
pub async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    let normalized = normalize(addr);
    TcpListener::bind(&normalized).await.map_err(|error| {
        let reason = if error.kind() == std::io::ErrorKind::AddrInUse {
            "the address is already in use (is another tracer running?)".to_owned()
        } else {
            error.to_string()
        };
        anyhow::anyhow!("listen on {addr}: {reason}")
    })
}

/// Resolves without binding, to fail fast on a malformed address.
pub fn check(addr: &str) -> anyhow::Result<()> {
    check_named("tracer-addr", addr)
}

/// [`check`] for the listen address set by the config key `name`.
pub fn check_named(name: &str, addr: &str) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs as _;
    normalize(addr)
        .to_socket_addrs()
        .map(|_| ())
        .with_context(|| format!("{name} {addr:?} is not host:port or :port"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_addresses_mean_every_interface() {
        assert_eq!(normalize(":8263"), "0.0.0.0:8263");
        assert_eq!(normalize("127.0.0.1:0"), "127.0.0.1:0");
        assert!(check(":8263").is_ok());
        assert!(check("nonsense").is_err());
    }
}
