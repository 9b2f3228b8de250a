//! HTTP/1.1 requests to a running lilt's API through hyper's connection API: one request per
//! connection (the CLI makes a handful), with a time limit and a cap on the response size.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long one API call may take; the API answers from memory, so this only catches a hung
/// peer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Responses larger than this are refused (a complete View with a huge log stays far below).
const MAX_RESPONSE: usize = 1 << 30;

/// An HTTP response: status code and body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The body as text, trimmed (the API's error bodies end with a newline).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_owned()
    }
}

/// Why a request failed below HTTP.
#[derive(Debug)]
pub(crate) enum HttpError {
    /// Nothing accepted the connection.
    Connect(std::io::Error),
    /// The connection broke, timed out or the reply was not HTTP.
    Exchange(String),
}

/// One request: `method path` with the given headers and optional JSON body.
pub(crate) async fn request(
    connect: (&str, u16),
    host_header: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json_body: Option<&[u8]>,
) -> Result<Response, HttpError> {
    let stream = TcpStream::connect(connect)
        .await
        .map_err(HttpError::Connect)?;
    let exchange = async {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        // The connection task ends when the response is read and the sender dropped.
        tokio::spawn(connection);
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("Host", host_header)
            .header("Accept", "application/json")
            .header("User-Agent", concat!("lilt/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = match json_body {
            Some(body) => {
                builder = builder.header("Content-Type", "application/json");
                Full::new(Bytes::copy_from_slice(body))
            }
            None => Full::new(Bytes::new()),
        };
        let request = builder.body(body).map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| format!("reading the reply: {e}"))?
            .to_bytes()
            .to_vec();
        Ok::<_, String>(Response { status, body })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| HttpError::Exchange("no answer within 30s".to_owned()))?
        .map_err(HttpError::Exchange)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Serves one connection with a canned reply; returns the address and the request seen.
    async fn serve_once(reply: &'static [u8]) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut seen = vec![0u8; 4096];
            let n = socket.read(&mut seen).await.expect("read");
            socket.write_all(reply).await.expect("write");
            let _ = socket.shutdown().await;
            String::from_utf8_lossy(&seen[..n]).into_owned()
        });
        (port, task)
    }

    #[tokio::test]
    async fn reads_length_delimited_and_chunked_bodies() {
        let (port, seen) =
            serve_once(b"HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\n\r\nhello").await;
        let resp = request(
            ("127.0.0.1", port),
            "localhost:1",
            "GET",
            "/api/view",
            &[],
            None,
        )
        .await
        .expect("response");
        assert_eq!((resp.status, resp.body.as_slice()), (404, &b"hello"[..]));
        let seen = seen.await.expect("server");
        assert!(seen.starts_with("GET /api/view HTTP/1.1\r\n"), "{seen}");
        assert!(
            seen.to_ascii_lowercase().contains("host: localhost:1"),
            "{seen}"
        );

        let (port, _) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .await;
        let resp = request(("127.0.0.1", port), "h", "POST", "/x", &[], Some(b"{}"))
            .await
            .expect("response");
        assert_eq!((resp.status, resp.body.as_slice()), (200, &b"abcde"[..]));
    }

    #[tokio::test]
    async fn rejects_what_is_not_http() {
        let (port, _) = serve_once(b"SSH-2.0-OpenSSH\r\n\r\n").await;
        let err = request(("127.0.0.1", port), "h", "GET", "/", &[], None).await;
        assert!(matches!(err, Err(HttpError::Exchange(_))), "{err:?}");
        let (port, _) = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc").await;
        let err = request(("127.0.0.1", port), "h", "GET", "/", &[], None).await;
        assert!(matches!(err, Err(HttpError::Exchange(_))), "{err:?}");
    }
}
