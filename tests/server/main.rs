//! `wkserver` through a real HTTP client against the server on a free loopback port.

mod concurrency;
mod defects;
mod hostile;
mod lifecycle;
mod original;
mod recovery;
mod support;
#[cfg(feature = "tls")]
mod tls;
