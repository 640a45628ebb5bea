//! Runtime-generated TLS material for TLS fixtures.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A throwaway CA and a server certificate for `localhost` / `127.0.0.1`,
/// written as PEM files into a directory.
#[derive(Debug, Clone)]
pub(crate) struct TlsFiles {
    pub(crate) ca_pem: Vec<u8>,
    pub(crate) ca_file: PathBuf,
    pub(crate) cert_file: PathBuf,
    pub(crate) key_file: PathBuf,
}

impl TlsFiles {
    /// Generates the CA and the server certificate and writes `ca.crt`,
    /// `server.crt` and `server.key` into `dir`.
    pub(crate) fn generate(dir: &Path) -> io::Result<TlsFiles> {
        let (ca_pem, cert_pem, key_pem) = generate_pems().map_err(io::Error::other)?;
        let files = TlsFiles {
            ca_pem: ca_pem.into_bytes(),
            ca_file: dir.join("ca.crt"),
            cert_file: dir.join("server.crt"),
            key_file: dir.join("server.key"),
        };
        fs::write(&files.ca_file, &files.ca_pem)?;
        fs::write(&files.cert_file, cert_pem)?;
        fs::write(&files.key_file, key_pem)?;
        Ok(files)
    }
}

/// Returns `(ca_cert_pem, server_cert_pem, server_key_pem)`.
fn generate_pems() -> Result<(String, String, String), rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "redisq-test-support throwaway CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca)?;

    Ok((ca.pem(), cert.pem(), key.serialize_pem()))
}
