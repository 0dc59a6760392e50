//! The upstream Streamable HTTP server, as the proxy reaches it: one HTTP/1.1 connection per
//! exchange (a POST whose answer may be a long SSE stream, a GET stream, a DELETE), the
//! client's MCP headers passed on, and a time limit on connecting and on the answer's head.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where the upstream server listens.
#[derive(Clone, Debug)]
pub struct Upstream {
    host: String,
    port: u16,
    authority: HeaderValue,
    path: String,
    timeout: Duration,
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

impl Upstream {
    /// Reads `http://host[:port][/path]`. Only plain HTTP is spoken (TLS belongs to a
    /// terminator in front of the server, or to the server on the same host).
    pub fn parse(url: &str, timeout: Duration) -> Result<Upstream, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "`{url}`: https upstreams are not spoken; put the proxy beside the server and use http"
                ));
            }
            _ => return Err(format!("`{url}` is not an http:// URL")),
        }
        let Some(auth) = uri.authority() else {
            return Err(format!("`{url}` names no host"));
        };
        let host = auth.host().trim_start_matches('[').trim_end_matches(']');
        let authority = HeaderValue::from_str(auth.as_str())
            .map_err(|_| format!("`{url}`: the host is not a valid header value"))?;
        Ok(Upstream {
            host: host.to_string(),
            port: auth.port_u16().unwrap_or(80),
            authority,
            path: uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
            timeout,
        })
    }

    /// The URL, for logs.
    pub fn shown(&self) -> String {
        format!(
            "http://{}{}",
            self.authority.to_str().unwrap_or("?"),
            self.path
        )
    }

    /// Sends one request; returns the answer's head (its body streams from the connection).
    /// Connecting and the head each have the time limit.
    pub async fn send(
        &self,
        method: Method,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, String> {
        let connect = TcpStream::connect((self.host.as_str(), self.port));
        let stream = match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("cannot connect to the MCP server: {e}")),
            Err(_) => return Err("the MCP server did not accept the connection in time".into()),
        };
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("cannot speak HTTP to the MCP server: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder().method(method).uri(self.path.as_str());
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
        match tokio::time::timeout(self.timeout, sender.send_request(req)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(format!("the MCP server did not answer: {e}")),
            Err(_) => Err(format!(
                "the MCP server did not answer within {} s",
                self.timeout.as_secs_f64()
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Upstream::parse("http://127.0.0.1:8000/mcp", Duration::from_secs(1)).unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8000, "/mcp")
        );
        assert_eq!(u.shown(), "http://127.0.0.1:8000/mcp");
        let u = Upstream::parse("http://[::1]/", Duration::from_secs(1)).unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 80));
        assert!(Upstream::parse("https://x/mcp", Duration::from_secs(1)).is_err());
        assert!(Upstream::parse("ftp://x/", Duration::from_secs(1)).is_err());
        assert!(Upstream::parse("not a url", Duration::from_secs(1)).is_err());
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
