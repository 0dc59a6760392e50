//! The upstream Streamable HTTP server, as the proxy reaches it: over `http://` or `https://`
//! (rustls on ring, no OpenSSL), through a pool of kept-alive HTTP/1.1 connections per worker
//! (hyper-util's client: an exchange takes an idle connection to the server when there is one,
//! and a POST whose answer is a long SSE stream, or a GET stream, holds its own), the client's
//! MCP headers passed on, and a time limit on connecting and on the answer's head.
//!
//! **TLS** fails closed: the server's certificate must chain to a trusted root and name the
//! URL's host (a DNS name or an IP address); the roots are the system's (as `curl` finds them),
//! or, with `--upstream-ca FILE`, only the certificates of that PEM file (a private CA). A
//! certificate that does not verify ends the exchange with an error naming why, never a
//! request sent in clear or to an unverified server.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// How long an unused pooled connection to the server stays open.
pub const POOL_IDLE: Duration = Duration::from_secs(60);
/// The most unused connections kept open to the server.
pub const POOL_MAX_IDLE: usize = 64;

/// Where the upstream server listens, and the pool of connections to it.
#[derive(Clone, Debug)]
pub struct Upstream {
    uri: Uri,
    authority: HeaderValue,
    tls: bool,
    timeout: Duration,
    connector: HttpsConnector<HttpConnector>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// The request headers passed on to the upstream server: content negotiation, the client's
/// credentials and every MCP header (`Mcp-Session-Id`, `MCP-Protocol-Version`, `Mcp-Method`,
/// `Mcp-Name`, `Mcp-Param-*`), and `Last-Event-ID`. Hop-by-hop and `Host` are the proxy's.
pub fn passed_on(name: &HeaderName) -> bool {
    let n = name.as_str();
    matches!(
        n,
        "accept" | "content-type" | "authorization" | "last-event-id" | "user-agent"
    ) || n.starts_with("mcp-")
}

/// The roots an https server's certificate must chain to: the certificates of the PEM file
/// `ca`, or else the system's.
fn roots(ca: Option<&Path>) -> Result<rustls::RootCertStore, String> {
    let mut store = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let shown = crate::source::display(path);
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read the CA file {shown}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("the CA file {shown} is not PEM: {e}"))?;
            if certs.is_empty() {
                return Err(format!(
                    "the CA file {shown} holds no certificate (`-----BEGIN CERTIFICATE-----`)"
                ));
            }
            for (i, c) in certs.into_iter().enumerate() {
                store.add(c).map_err(|e| {
                    format!(
                        "certificate {} of the CA file {shown} is not usable: {e}",
                        i + 1
                    )
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "none found".to_string(), ToString::to_string);
                return Err(format!(
                    "no trusted root certificates on this system ({why}): give the server's CA with `--upstream-ca FILE`"
                ));
            }
        }
    }
    Ok(store)
}

fn pool(
    connector: HttpsConnector<HttpConnector>,
) -> Client<HttpsConnector<HttpConnector>, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_max_idle_per_host(POOL_MAX_IDLE)
        .build(connector)
}

impl Upstream {
    /// Reads `http://host[:port][/path]` or `https://…`; for https, the roots are those of
    /// the PEM file `ca`, else the system's (`ca` with an http URL is refused: it would
    /// protect nothing).
    pub fn parse(url: &str, timeout: Duration, ca: Option<&Path>) -> Result<Upstream, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(format!("`{url}` is not an http:// or https:// URL")),
        };
        if !tls && ca.is_some() {
            return Err(format!(
                "`{url}` is plain http: `--upstream-ca` only applies to an https:// upstream"
            ));
        }
        let Some(auth) = uri.authority() else {
            return Err(format!("`{url}` names no host"));
        };
        if auth.as_str().contains('@') {
            return Err(format!(
                "`{url}`: credentials in the URL are not sent; the client's `Authorization` header is passed on"
            ));
        }
        let authority = HeaderValue::from_str(auth.as_str())
            .map_err(|_| format!("`{url}`: the host is not a valid header value"))?;
        // ring, not aws-lc-rs: no C toolchain beyond a compiler, and a fraction of the build
        // time; its key exchange is classical (X25519, P-256, P-384), not post-quantum.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = if tls {
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("cannot set up TLS: {e}"))?
                .with_root_certificates(roots(ca)?)
                .with_no_client_auth()
        } else {
            // Never used (plain http goes without TLS), but the connector wants one.
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("cannot set up TLS: {e}"))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config);
        let connector = if tls {
            builder.https_only()
        } else {
            builder.https_or_http()
        }
        .enable_http1()
        .wrap_connector(http);
        Ok(Upstream {
            uri,
            authority,
            tls,
            timeout,
            client: pool(connector.clone()),
            connector,
        })
    }

    /// The same server over a pool of connections of its own (a clone shares the pool). A
    /// pooled connection is served by a task on the runtime that opened it: a worker with a
    /// pool of its own never hands its exchanges to another thread.
    pub fn own_pool(&self) -> Upstream {
        Upstream {
            client: pool(self.connector.clone()),
            ..self.clone()
        }
    }

    /// The URL, for logs.
    pub fn shown(&self) -> String {
        self.uri.to_string()
    }

    /// Sends one request; returns the answer's head (its body streams from the connection,
    /// which goes back to the pool once the body is read to its end). Connecting (with the
    /// TLS handshake) and the head have the time limit.
    pub async fn send(
        &self,
        method: Method,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, String> {
        let mut req = Request::builder().method(method).uri(self.uri.clone());
        if let Some(h) = req.headers_mut() {
            for (name, value) in headers {
                if passed_on(name) {
                    h.append(name, value.clone());
                }
            }
            h.insert(HOST, self.authority.clone());
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| format!("cannot build the request to the MCP server: {e}"))?;
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(self.failure(&e)),
            Err(_) => Err(format!(
                "the MCP server did not answer within {} s",
                self.timeout.as_secs_f64()
            )),
        }
    }

    /// Why an exchange failed, in words: the TLS errors (a certificate that does not verify)
    /// named with what to do.
    fn failure(&self, e: &hyper_util::client::legacy::Error) -> String {
        let mut chain = Vec::new();
        let mut tls = None;
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            let shown = err.to_string();
            if !chain.iter().any(|c: &String| c.contains(&shown)) {
                chain.push(shown);
            }
            // rustls's error travels inside I/O errors (nested: their `source` skips it).
            let mut inner = Some(err);
            while let Some(i) = inner {
                if let Some(r) = i.downcast_ref::<rustls::Error>() {
                    tls = Some(r.clone());
                    break;
                }
                inner = i
                    .downcast_ref::<std::io::Error>()
                    .and_then(std::io::Error::get_ref)
                    .map(|e| e as &(dyn std::error::Error + 'static));
            }
            cur = err.source();
        }
        let what = chain.join(": ");
        match tls {
            Some(rustls::Error::InvalidCertificate(c)) => {
                let hint = match c {
                    rustls::CertificateError::UnknownIssuer
                    | rustls::CertificateError::BadSignature => {
                        " (its certificate does not chain to a trusted root: give the server's CA with `--upstream-ca FILE`)"
                    }
                    rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. } => {
                        " (its certificate is for another host: use the host the certificate names in --upstream)"
                    }
                    rustls::CertificateError::Expired
                    | rustls::CertificateError::ExpiredContext { .. } => {
                        " (its certificate has expired)"
                    }
                    _ => "",
                };
                format!(
                    "the MCP server's TLS certificate was refused: {c:?}{hint}; nothing was sent"
                )
            }
            Some(other) => format!("the TLS handshake with the MCP server failed: {other}"),
            None if e.is_connect() && self.tls => {
                format!("cannot connect to the MCP server over TLS: {what}")
            }
            None if e.is_connect() => format!("cannot connect to the MCP server: {what}"),
            None => format!("the MCP server did not answer: {what}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Duration::from_secs(1);
        let u = Upstream::parse("http://127.0.0.1:8000/mcp", t, None).unwrap();
        assert_eq!(u.shown(), "http://127.0.0.1:8000/mcp");
        assert!(!u.tls);
        let u = Upstream::parse("http://[::1]/", t, None).unwrap();
        assert_eq!(u.authority, "[::1]");
        assert!(Upstream::parse("ftp://x/", t, None).is_err());
        assert!(Upstream::parse("not a url", t, None).is_err());
        assert!(Upstream::parse("http://user:pw@x/", t, None).is_err());
        // A CA for plain http protects nothing.
        let e = Upstream::parse("http://x/", t, Some(Path::new("ca.pem"))).unwrap_err();
        assert!(e.contains("only applies to an https"), "{e}");
        let e =
            Upstream::parse("https://x/", t, Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(e.contains("cannot read the CA file"), "{e}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("govern-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("empty.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        let e = Upstream::parse("https://x/", Duration::from_secs(1), Some(&p)).unwrap_err();
        assert!(e.contains("holds no certificate"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn headers_passed_on() {
        for h in [
            "mcp-session-id",
            "mcp-protocol-version",
            "mcp-name",
            "mcp-param-region",
            "accept",
            "authorization",
        ] {
            assert!(passed_on(&HeaderName::from_static(h)), "{h}");
        }
        for h in [
            "host",
            "connection",
            "transfer-encoding",
            "content-length",
            "cookie",
        ] {
            assert!(!passed_on(&HeaderName::from_static(h)), "{h}");
        }
    }
}
