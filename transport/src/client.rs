//! The hyper client the exporter sends with: keep-alive connection pool, HTTP/1.1 and HTTP/2
//! (ALPN for `https://`, or prior knowledge), TLS by rustls with the `ring` provider.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::config::{ExporterConfig, Roots};
use crate::error::Error;

/// The client type: one connection pool for the exporter's lifetime.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls config trusting only the certificates of a PEM file.
/// The certificates of a PEM file; the reason, for a person, if it holds none or cannot be read.
pub(crate) fn read_ca_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(certs)
}

fn ca_file_config(path: &std::path::Path) -> Result<rustls::ClientConfig, Error> {
    let setting = || format!("CA certificate file {}", path.display());
    let bad = |why: String| {
        Error::io(
            setting(),
            std::io::Error::new(std::io::ErrorKind::InvalidData, why),
        )
    };
    let certs = read_ca_file(path).map_err(bad)?;
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        roots.add(c).map_err(|e| bad(e.to_string()))?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Builds the client for `config` (call inside the exporter's runtime).
pub(crate) fn build(config: &ExporterConfig) -> Result<HttpClient, Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.timeout));
    let tls = HttpsConnectorBuilder::new();
    let tls = match &config.roots {
        Roots::Webpki => tls
            .with_provider_and_webpki_roots(provider())
            .map_err(|e| Error::io("TLS setup", std::io::Error::other(e.to_string())))?,
        Roots::Native => tls
            .with_provider_and_native_roots(provider())
            .map_err(|e| Error::io("loading the system's CA certificates", e))?,
        Roots::CaFile(path) => tls.with_tls_config(ca_file_config(path)?),
    };
    let connector = tls
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        // Prior knowledge is for cleartext only: over TLS, ALPN decides.
        .http2_only(config.http2_prior_knowledge && config.endpoint.scheme_str() == Some("http"))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(config.max_in_flight)
        .build(connector))
}
