//! A minimal HTTP/1.1 client over a Tokio TCP stream, enough for the dashboard API: one
//! request per connection (`Connection: close`), bodies by length, chunks or end of stream.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    let mut stream = TcpStream::connect(connect)
        .await
        .map_err(HttpError::Connect)?;
    let exchange = async {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\nAccept: application/json\r\nUser-Agent: lilt/{}\r\n",
            env!("CARGO_PKG_VERSION")
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        match json_body {
            Some(body) => head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )),
            None => head.push_str("\r\n"),
        }
        stream.write_all(head.as_bytes()).await?;
        if let Some(body) = json_body {
            stream.write_all(body).await?;
        }
        stream.flush().await?;
        let mut raw = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            if raw.len() + n > MAX_RESPONSE {
                return Err(std::io::Error::other("response too large"));
            }
            raw.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| HttpError::Exchange("no answer within 30s".to_owned()))?
        .map_err(|e| HttpError::Exchange(e.to_string()))?;
    parse_response(&raw).map_err(HttpError::Exchange)
}

/// Parses a complete response read until the server closed the connection.
fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| "the reply is not HTTP (no end of headers)".to_owned())?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "the reply's headers are not text")?;
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/"))
        .ok_or_else(|| format!("the reply is not HTTP: {status_line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    let body = if chunked {
        decode_chunked(rest)?
    } else if let Some(n) = length {
        if rest.len() < n {
            return Err(format!(
                "the reply was cut short ({} of {n} bytes)",
                rest.len()
            ));
        }
        rest[..n].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, body })
}

fn decode_chunked(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| "the chunked reply was cut short".to_owned())?;
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap_or_default();
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("the chunked reply was cut short".to_owned());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_delimited_bodies() {
        let raw = b"HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\n\r\nhello";
        let resp = parse_response(raw).unwrap();
        assert_eq!(resp.status, 404);
        assert_eq!(resp.body, b"hello");
    }

    #[test]
    fn decodes_chunked_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let resp = parse_response(raw).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"abcde");
    }

    #[test]
    fn reads_to_the_end_without_a_length() {
        let resp = parse_response(b"HTTP/1.0 200 OK\r\n\r\n[1]").unwrap();
        assert_eq!(resp.body, b"[1]");
    }

    #[test]
    fn rejects_what_is_not_http() {
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc").is_err());
    }
}
