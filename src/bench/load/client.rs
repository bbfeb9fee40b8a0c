//! A minimal HTTP/1.1 client for the load benchmark: one connection per request
//! (`Connection: close`), JSON in, status and body out. Enough for copydesk's own server and any
//! proxy in front of it; no TLS (run the load next to the server).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How a request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 200, with the tokens the server says it generated (`usage.output_tokens`).
    Ok { output_tokens: u64 },
    /// 429: the server's concurrency limit.
    Rejected,
    /// Anything else: status and message, or the connection error.
    Failed(String),
}

/// The server under load.
#[derive(Debug, Clone)]
pub struct Client {
    /// `host:port`.
    authority: String,
    key: Option<String>,
}

impl Client {
    /// `url`: `http://host:port` (a trailing `/` is fine).
    pub fn new(url: &str, key: Option<String>) -> Result<Self, String> {
        let authority = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?
            .trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(format!("{url:?}: expected http://host:port"));
        }
        Ok(Self {
            authority: authority.to_string(),
            key,
        })
    }

    async fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        let mut stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.authority))?;
        let auth = self
            .key
            .as_ref()
            .map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n{auth}\r\n",
            self.authority,
            body.len()
        );
        let io = |e: std::io::Error| format!("{method} {path}: {e}");
        stream.write_all(head.as_bytes()).await.map_err(io)?;
        stream.write_all(body).await.map_err(io)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(io)?;
        parse_response(&raw)
    }

    /// `POST /v1/translate`.
    pub async fn translate(&self, body: &serde_json::Value) -> Reply {
        let bytes = body.to_string().into_bytes();
        match self.call("POST", "/v1/translate", &bytes).await {
            Ok((200, body)) => {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                Reply::Ok {
                    output_tokens: v["usage"]["output_tokens"].as_u64().unwrap_or(0),
                }
            }
            Ok((429, _)) => Reply::Rejected,
            Ok((status, body)) => {
                let text = String::from_utf8_lossy(&body);
                Reply::Failed(format!(
                    "HTTP {status}: {}",
                    text.chars().take(200).collect::<String>()
                ))
            }
            Err(e) => Reply::Failed(e),
        }
    }

    /// Seconds of batch compute the server has spent so far (the sum of its
    /// `copydesk_inference_duration_seconds` histograms), when `/metrics` answers.
    pub async fn compute_seconds(&self) -> Option<f64> {
        let (status, body) = self.call("GET", "/metrics", b"").await.ok()?;
        (status == 200).then(|| inference_seconds(&String::from_utf8_lossy(&body)))
    }

    /// Waits until `/ready` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.call("GET", "/ready", b"").await {
                Ok((200, _)) => return Ok(()),
                _ if Instant::now() >= deadline => {
                    return Err(format!(
                        "{} was not ready within {timeout:?}",
                        self.authority
                    ))
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

/// Status and body of a raw HTTP/1.1 response (`Content-Length` or chunked or to the end).
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the response has no header end")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {:?}", head.lines().next()))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    Ok((
        status,
        if chunked {
            dechunk(body)?
        } else {
            body.to_vec()
        },
    ))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

/// The sum of every `copydesk_inference_duration_seconds_sum` sample of a Prometheus page.
fn inference_seconds(page: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with("copydesk_inference_duration_seconds_sum"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_with_length_or_chunks_and_metric_sums() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain).unwrap(), (200, b"{}".to_vec()));
        let chunked = b"HTTP/1.1 429 Too Many\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (429, b"abcde".to_vec()));
        assert!(parse_response(b"HTTP/1.1 200").is_err());
        let page = "# TYPE x summary\ncopydesk_inference_duration_seconds_sum{model=\"a\"} 1.5\n\
                    copydesk_inference_duration_seconds_count{model=\"a\"} 3\n\
                    copydesk_inference_duration_seconds_sum{model=\"b\"} 0.25\n";
        assert_eq!(inference_seconds(page), 1.75);
        assert!(Client::new("https://x:1", None).is_err());
        assert!(Client::new("http://127.0.0.1:8080/", None).is_ok());
    }
}
