//! `tracekeep-test-cert DIR`: a throwaway certificate authority and a server
//! certificate for `localhost` and `127.0.0.1` signed by it, for the TLS
//! tests (tests/interop/tls-clients.sh). Writes `ca.pem`, `server.pem` and
//! `server-key.pem` into DIR.

use anyhow::Context as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).context("usage: tracekeep-test-cert DIR")?;
    let dir = std::path::Path::new(&dir);

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tracekeep test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().context("generate the CA key")?;
    let ca = ca_params.self_signed(&ca_key).context("sign the CA")?;

    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).context("server parameters")?;
    params
        .distinguished_name
        .push(DnType::CommonName, "tracekeep test server");
    let key = KeyPair::generate().context("generate the server key")?;
    let issuer = Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).context("sign the server certificate")?;

    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    for (name, pem) in [
        ("ca.pem", ca.pem()),
        ("server.pem", cert.pem()),
        ("server-key.pem", key.serialize_pem()),
    ] {
        std::fs::write(dir.join(name), pem).with_context(|| format!("write {name}"))?;
    }
    Ok(())
}
