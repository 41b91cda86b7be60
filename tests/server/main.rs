//! `wkserver` through a real HTTP client against the server on a free loopback port.

mod concurrency;
mod hostile;
mod lifecycle;
mod original;
mod support;
