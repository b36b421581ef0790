//! A small HTTP/1.1 client connection: one request at a time, keep-alive, no allocation per
//! request beyond the read buffer's growth. Written here so the generator costs little and
//! does exactly what is measured (no pool, no redirects, no decompression).

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// `GET path` with the headers a plain client sends.
pub fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: gatehouse-e2e\r\n\
         Accept: application/json\r\n\r\n"
    )
    .into_bytes()
}

pub struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    /// False once the server said `Connection: close`.
    reusable: bool,
}

/// Where a response's parts are in the read buffer.
struct Framed {
    status: u16,
    body_start: usize,
    body: BodyLength,
}

enum BodyLength {
    Fixed(usize),
    Chunked,
    /// Until the server closes the connection.
    ToClose,
}

impl Connection {
    pub async fn connect(addr: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buf: Vec::with_capacity(8 * 1024),
            reusable: true,
        })
    }

    /// False once the server has asked to close; make a new connection then.
    pub fn is_reusable(&self) -> bool {
        self.reusable
    }

    /// Sends `request` and reads the whole response; answers its status.
    pub async fn round_trip(&mut self, request: &[u8]) -> io::Result<u16> {
        let (status, _) = self.exchange(request).await?;
        Ok(status)
    }

    /// Sends `request`; answers the status and the (de-chunked) body.
    pub async fn fetch(&mut self, request: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        self.exchange(request).await
    }

    async fn exchange(&mut self, request: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        self.stream.write_all(request).await?;
        let framed = loop {
            if let Some(framed) = self.parse_head()? {
                break framed;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("response head too large"));
            }
            self.fill().await?;
        };
        let (end, body) = match framed.body {
            BodyLength::Fixed(length) => {
                let end = framed.body_start + length;
                while self.buf.len() < end {
                    self.fill().await?;
                }
                (end, self.buf[framed.body_start..end].to_vec())
            }
            BodyLength::Chunked => loop {
                if let Some((end, body)) = dechunk(&self.buf[framed.body_start..])? {
                    break (framed.body_start + end, body);
                }
                self.fill().await?;
            },
            BodyLength::ToClose => {
                self.reusable = false;
                self.stream.read_to_end(&mut self.buf).await?;
                let end = self.buf.len();
                (end, self.buf[framed.body_start..].to_vec())
            }
        };
        self.buf.drain(..end);
        Ok((framed.status, body))
    }

    async fn fill(&mut self) -> io::Result<()> {
        self.buf.reserve(8 * 1024);
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// The status line and the headers that frame the body, once the head is complete.
    fn parse_head(&mut self) -> io::Result<Option<Framed>> {
        let Some(head_end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Ok(None);
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| invalid("response head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .filter(|line| line.starts_with("HTTP/1."))
            .and_then(|line| line.get(9..12))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| invalid("bad status line"))?;
        let mut body = BodyLength::ToClose;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let length = value.parse().map_err(|_| invalid("bad content-length"))?;
                body = BodyLength::Fixed(length);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                body = BodyLength::Chunked;
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                self.reusable = false;
            }
        }
        if status == 204 || status == 304 || (100..200).contains(&status) {
            body = BodyLength::Fixed(0);
        }
        Ok(Some(Framed {
            status,
            body_start: head_end + 4,
            body,
        }))
    }
}

/// A chunked body at the start of `buf`: its length on the wire and its content, once it
/// is complete (trailers are skipped).
fn dechunk(buf: &[u8]) -> io::Result<Option<(usize, Vec<u8>)>> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_len) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line =
            std::str::from_utf8(&buf[at..at + line_len]).map_err(|_| invalid("bad chunk size"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        at += line_len + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let Some(len) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                at += len + 2;
                if len == 0 {
                    return Ok(Some((at, body)));
                }
            }
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}
