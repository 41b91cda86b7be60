//! Errors the HTTP layer answers by itself, before any request exists (a malformed request
//! line or header: 400; a request head over the buffer or with too many headers: 431; a
//! request target over hyper's own limit: 414), get the JSON error shape of every other error.
//!
//! hyper writes those answers as a bare head with `content-length: 0` and then closes the
//! connection. This wrapper around the connection's stream recognises such a head, written
//! whole as the first bytes of one write (which is how hyper writes it once the previous answer
//! is out), and sends the same head with a JSON body instead. The server's own answers never
//! look like that: every error it makes has a JSON body.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::error_body;

/// A stream whose bare framing-error answers are given JSON bodies.
pub(crate) struct JsonFramingErrors<S> {
    inner: S,
    /// A rewritten answer being written: its bytes, how many are written, and how many bytes of
    /// hyper's buffer it stands for.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<S> JsonFramingErrors<S> {
    pub(crate) fn new(inner: S) -> Self {
        JsonFramingErrors { inner, pending: None }
    }
}

/// The JSON answer standing for hyper's bare `head`, if it is one of its framing errors.
fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let (code, message) = if head.starts_with(b"HTTP/1.1 400 ") {
        ("bad_request", "the request is not well-formed HTTP/1.1 (its request line or a header)")
    } else if head.starts_with(b"HTTP/1.1 414 ") {
        ("uri_too_long", "the request target is too long")
    } else if head.starts_with(b"HTTP/1.1 431 ") {
        ("headers_too_large", "the request head is too large, or has too many header fields")
    } else {
        return None;
    };
    // The whole write must be one head without a body.
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != head.len() {
        return None;
    }
    let text = std::str::from_utf8(&head[..end]).ok()?;
    let mut lines: Vec<&str> = text.split("\r\n").collect();
    let length_at = lines.iter().position(|l| l.eq_ignore_ascii_case("content-length: 0"))?;
    lines.remove(length_at);
    let body = error_body(code, message).to_string();
    let mut out = lines.join("\r\n");
    out.push_str(&format!(
        "\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    Some(out.into_bytes())
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonFramingErrors<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonFramingErrors<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            match rewrite(buf) {
                Some(bytes) => this.pending = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        // hyper retries the same buffer after `Pending`: the rewritten bytes carry on.
        while let Some((bytes, written, claimed)) = this.pending.as_mut() {
            if *written == bytes.len() {
                let claimed = *claimed;
                this.pending = None;
                return Poll::Ready(Ok(claimed));
            }
            match ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*written..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(0))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn bare_framing_errors_get_a_json_body() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(head).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "));
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "headers_too_large");
        // Answers with bodies, and other statuses, pass untouched.
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}").is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1").is_none());
    }
}
