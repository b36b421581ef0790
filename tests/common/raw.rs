//! Requests reqwest cannot send: a request target exactly as written (reqwest normalises dot
//! segments away), through hyper's client, and raw bytes over a TCP socket for what no client
//! would send at all.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Response;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{TestGateway, http1};

/// A response, its body parsed as JSON (or kept as a string where it is not JSON).
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl TestGateway {
    /// `GET <path>` with the target exactly as written.
    pub async fn raw_get(&self, path: &str) -> RawResponse {
        let request = hyper::Request::get(path)
            .body(Empty::<Bytes>::new())
            .unwrap_or_else(|e| panic!("{path:?} is not a request target: {e}"));
        let response = http1::send(self.addr, request)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        RawResponse::from(response)
    }

    /// Sends `request` bytes as they are and reads one response with a `Content-Length` body.
    pub async fn raw(&self, request: &[u8]) -> RawResponse {
        let mut stream = TcpStream::connect(self.addr)
            .await
            .expect("connect to the gateway");
        // The gateway may answer and close before reading all of a refused body, so a failed
        // write is not an error as long as a response comes back.
        let _ = stream.write_all(request).await;
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(response) = parse(&received) {
                return response;
            }
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
        parse(&received).unwrap_or_else(|| {
            panic!(
                "no complete response: {:?}",
                String::from_utf8_lossy(&received)
            )
        })
    }
}

impl From<Response<Bytes>> for RawResponse {
    fn from(response: Response<Bytes>) -> RawResponse {
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect();
        let text = String::from_utf8_lossy(response.body());
        RawResponse {
            status: response.status().as_u16(),
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text.into_owned())),
        }
    }
}

/// A complete response in `bytes`, if there is one yet.
fn parse(bytes: &[u8]) -> Option<RawResponse> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())?;
    let body = rest.get(..length)?;
    let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    Some(RawResponse {
        status,
        headers,
        body,
    })
}
