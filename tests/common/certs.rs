//! Certificates for HTTPS tests, made by each test run (never checked in): a test
//! CA, and leaves it signed for `localhost` and 127.0.0.1, written as PEM files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use smol_toy::CertificateFiles;

/// When the leaves expire: 2030-01-01T00:00:00Z, as Unix time.
pub const NOT_AFTER_UNIX: i64 = 1_893_456_000;

/// A test CA, and the directory its files go to (removed when dropped).
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub cert_der: CertificateDer<'static>,
    pub cert_pem: String,
    pub dir: PathBuf,
}

/// A leaf certificate, and where its files are.
pub struct Leaf {
    pub files: CertificateFiles,
    pub der: CertificateDer<'static>,
}

impl Leaf {
    /// The options that serve this certificate: `--tls-cert PATH --tls-key PATH`.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.files.cert.display().to_string(),
            "--tls-key".into(),
            self.files.key.display().to_string(),
        ]
    }
}

impl TestCa {
    pub fn new() -> Self {
        static RUN: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "smol-toy-tls-{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "smol-toy test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let cert_pem = cert.pem();
        std::fs::write(dir.join("ca.pem"), &cert_pem).unwrap();
        TestCa {
            issuer: Issuer::new(params, key),
            cert_der: cert.der().clone(),
            cert_pem,
            dir,
        }
    }

    /// The CA's certificate file.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A leaf for `localhost` and 127.0.0.1 whose common name is `name`, written
    /// as `name.crt` and `name.key`.
    pub fn leaf(&self, name: &str) -> Leaf {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params.distinguished_name.push(DnType::CommonName, name);
        params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let files = CertificateFiles {
            cert: self.dir.join(format!("{name}.crt")),
            key: self.dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        Leaf {
            files,
            der: cert.der().clone(),
        }
    }

    /// A client configuration that trusts this CA, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert_der.clone()).unwrap();
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Copies a leaf's files over `to`'s, as a renewal does.
pub fn install(from: &Leaf, to: &CertificateFiles) {
    copy(&from.files.cert, &to.cert);
    copy(&from.files.key, &to.key);
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}
