//! The certificate and key HTTPS serves: read from their PEM files, checked against
//! each other, and described for the log (who it names, when it expires).

use std::fmt;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// Where the certificate chain and its key are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// The chain, PEM, leaf first.
    pub cert: PathBuf,
    /// The leaf's private key, PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key: PathBuf,
}

/// Why a certificate and key cannot be served: which file, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateError {
    /// The file at fault.
    pub file: PathBuf,
    /// What is wrong with it.
    pub why: String,
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.why)
    }
}

impl std::error::Error for CertificateError {}

/// A certificate chain with its signing key, ready for handshakes, and what it says.
#[derive(Debug)]
pub struct LoadedCertificate {
    /// What rustls serves.
    pub key: Arc<CertifiedKey>,
    /// What the log says of it.
    pub summary: Summary,
}

/// What the log says of a certificate: the names it is for, and its validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Its DNS names and IP addresses, or its subject when it has none.
    pub names: String,
    /// When it stops being valid (notAfter).
    pub not_after: SystemTime,
    /// When it starts being valid (notBefore).
    pub not_before: SystemTime,
}

impl Summary {
    /// notAfter as Unix time, in seconds.
    pub fn expiry_timestamp(&self) -> i64 {
        let seconds = self
            .not_after
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        i64::try_from(seconds).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, valid until {}",
            self.names,
            httpdate::fmt_http_date(self.not_after)
        )
    }
}

impl CertificateFiles {
    /// Reads the chain and the key, and checks that the key is the leaf's.
    pub fn load(&self, provider: &CryptoProvider) -> Result<LoadedCertificate, CertificateError> {
        let cert_error = |why: String| CertificateError {
            file: self.cert.clone(),
            why,
        };
        let key_error = |why: String| CertificateError {
            file: self.key.clone(),
            why,
        };
        let chain = read_chain(&read(&self.cert)?).map_err(cert_error)?;
        let summary = summarize(&chain[0]).map_err(cert_error)?;
        let key = read_key(&read(&self.key)?).map_err(key_error)?;
        let signing_key = (provider.key_provider.load_private_key(key))
            .map_err(|error| key_error(format!("not a key HTTPS can sign with: {error}")))?;
        let certified = CertifiedKey::new(chain, signing_key);
        match certified.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(_) => {
                return Err(key_error(format!(
                    "not the key of the certificate in {}",
                    self.cert.display()
                )));
            }
        }
        Ok(LoadedCertificate {
            key: Arc::new(certified),
            summary,
        })
    }
}

/// The leaf, the first certificate of the PEM chain in `path`.
pub fn read_leaf(path: &Path) -> Result<CertificateDer<'static>, CertificateError> {
    let mut chain = read_chain(&read(path)?).map_err(|why| CertificateError {
        file: path.to_owned(),
        why,
    })?;
    // read_chain returns at least one certificate.
    Ok(chain.swap_remove(0))
}

fn read(path: &Path) -> Result<Vec<u8>, CertificateError> {
    fs::read(path).map_err(|error| CertificateError {
        file: path.to_owned(),
        why: format!("cannot read it: {error}"),
    })
}

/// The certificates of a PEM chain, in order; at least one.
fn read_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("not a PEM certificate chain: {error}"))?;
    if chain.is_empty() {
        return Err("no PEM CERTIFICATE block in it".to_owned());
    }
    Ok(chain)
}

/// The first private key in a PEM file.
fn read_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|error| match error {
        pem::Error::NoItemsFound => {
            "no PEM private key in it (PKCS#8, PKCS#1 RSA or SEC1 EC)".to_owned()
        }
        error => format!("not a PEM private key: {error}"),
    })
}

/// What the leaf certificate says: its names and validity.
fn summarize(leaf: &CertificateDer<'_>) -> Result<Summary, String> {
    let certificate = Certificate::from_der(leaf)
        .map_err(|error| format!("the first certificate cannot be read: {error}"))?;
    let tbs = certificate.tbs_certificate();
    let mut names = Vec::new();
    if let Ok(Some((_, SubjectAltName(general_names)))) = tbs.get_extension::<SubjectAltName>() {
        for name in general_names {
            match name {
                GeneralName::DnsName(dns) => names.push(dns.as_str().to_owned()),
                GeneralName::IpAddress(octets) => {
                    if let Some(ip) = ip_address(octets.as_bytes()) {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let names = if names.is_empty() {
        format!("subject {}", tbs.subject())
    } else {
        names.join(", ")
    };
    let validity = tbs.validity();
    Ok(Summary {
        names,
        not_after: UNIX_EPOCH + validity.not_after.to_unix_duration(),
        not_before: UNIX_EPOCH + validity.not_before.to_unix_duration(),
    })
}

fn ip_address(octets: &[u8]) -> Option<IpAddr> {
    match octets.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(octets).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(octets).ok()?)),
        _ => None,
    }
}

/// Whether `summary`'s certificate is valid at `now`, and if not, why.
pub fn validity_problem(summary: &Summary, now: SystemTime) -> Option<&'static str> {
    if now > summary.not_after {
        Some("it has expired")
    } else if now + Duration::from_secs(60) < summary.not_before {
        Some("it is not valid yet")
    } else {
        None
    }
}
