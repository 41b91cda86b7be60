//! Layers every request passes through, outermost first: the access log (and the metrics),
//! the guard (request-target length, `Host` and `Origin` allow-list), the bearer-token check.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::metrics::route_name;

/// Longest request target (path and query) accepted: keys travel in queries, and no key the
/// engine accepts needs more once encoded. Longer ones get 414 with the JSON error shape.
pub const MAX_URI_BYTES: usize = 16 << 10;

/// Most bytes of header fields (names and values) one request may carry; more get 431 with the
/// JSON error shape.
pub const MAX_HEADER_BYTES: usize = 32 << 10;

/// The client's address, when the server knows it (it does for every connection it accepted).
pub(crate) struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(ClientAddr(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip())))
    }
}

/// One line per request with fields: client address, method, route, status, latency (the
/// subscriber adds the time). The route is the pattern (`/api/get`), never the URI: queries
/// carry keys. Every request is also counted in the metrics.
pub(crate) async fn access_log(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let client = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| *addr);
    let method = request.method().clone();
    let route = route_name(request.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    let response = next.run(request).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    state.metrics.record(route, status, elapsed);
    tracing::info!(
        target: "wkserver::access",
        client = %client.map_or_else(|| "-".to_owned(), |a| a.to_string()),
        method = %method,
        route,
        status,
        latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
    );
    response
}

/// Refuses request targets over [`MAX_URI_BYTES`], header fields over [`MAX_HEADER_BYTES`], and, with a host allow-list in force, a
/// `Host` (or an `Origin`) naming another site: with no token, a web page could otherwise reach
/// the API through DNS rebinding.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let target_len = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target_len > MAX_URI_BYTES {
        return ApiError::UriTooLong { limit_bytes: MAX_URI_BYTES }.into_response();
    }
    let header_bytes: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge { limit_bytes: MAX_HEADER_BYTES }.into_response();
    }
    if let Some(allowed) = state.allowed_hosts.as_deref() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
        if !host.as_deref().is_some_and(|h| host_allowed(h, allowed)) {
            return ApiError::Forbidden {
                code: "host_not_allowed",
                message: "the Host header names a host this server does not serve (see allowed_hosts)".into(),
            }
            .into_response();
        }
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            let origin_host = origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, rest)| rest);
            if !origin_host.is_some_and(|h| host_allowed(h.split('/').next().unwrap_or(""), allowed)) {
                return ApiError::Forbidden {
                    code: "origin_not_allowed",
                    message: "requests from web pages of other sites are refused (see allowed_hosts)".into(),
                }
                .into_response();
            }
        }
    }
    next.run(request).await
}

/// Whether `authority` (`host[:port]`, `[v6]:port`) names one of `allowed` (lower-case).
fn host_allowed(authority: &str, allowed: &[String]) -> bool {
    let authority = authority.trim();
    let host = if authority.starts_with('[') {
        authority.split_once(']').map_or(authority, |(h, _)| &authority[..=h.len()])
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty() && allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
}

/// With a token configured, refuses requests without `Authorization: Bearer <token>` (the scheme
/// in any letter case, as HTTP has it).
pub(crate) async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = state.registry.config.auth_token.as_deref() else {
        return next.run(request).await;
    };
    let offered = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .and_then(|(scheme, credentials)| {
            scheme.eq_ignore_ascii_case("bearer").then_some(credentials.trim())
        });
    if offered.is_some_and(|offered| same_secret(offered.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    let mut response = ApiError::Unauthorized.into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::{host_allowed, same_secret};

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }

    #[test]
    fn hosts_are_matched_without_their_port() {
        let allowed: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(String::from).to_vec();
        for ok in ["localhost", "LOCALHOST:14514", "127.0.0.1:80", "[::1]:8080", "[::1]", "localhost."] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for bad in ["attacker.example", "attacker.example:14514", "127.0.0.2", "", ":80", "localhost.evil:1"]
        {
            assert!(!host_allowed(bad, &allowed), "{bad}");
        }
    }
}
