//! A server on a free loopback port and a small HTTP/1.1 client.
//!
//! The client is hyper's own connection API (`hyper::client::conn::http1`): a real HTTP client
//! with keep-alive, already in the dependency tree through axum, so the tests add no crate; it
//! sends exactly the bytes a test asks for, hostile ones included.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use wind_kvstore::server::{AppState, SESSION_HEADER, ServerConfig, serve};

/// Longest any single request may take in a test: nothing here should come near it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    pub data_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Starts a server on 127.0.0.1 and a free port, its data directory in a fresh temporary
    /// folder; `configure` may change the configuration first.
    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let mut config = ServerConfig { data_dir: data_dir.clone(), port: 0, ..ServerConfig::default() };
        configure(&mut config);
        let state = AppState::new(config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        TestServer { addr, state, data_dir, stop: Some(stop), task: Some(task), _dir: dir }
    }

    /// The folder that holds the data directory (for files that must be outside it).
    pub fn outside(&self) -> &Path {
        self._dir.path()
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// One request on a connection of its own.
    pub async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        self.client().await.send(method, path, headers, body.as_bytes().to_vec()).await
    }

    /// Opens `path` and returns the session id (panics unless it answers 200).
    pub async fn open(&self, path: &str) -> String {
        let reply =
            self.request("POST", "/api/open", &[], &format!(r#"{{"path":{}}}"#, Value::from(path))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.header(SESSION_HEADER).expect("a session id")
    }

    /// Stops the server the way a signal does and waits for it. The temporary folder is handed
    /// back so a test can look at the files after the stop; it is removed when dropped.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap().unwrap();
        }
        self._dir
    }
}

pub struct Client {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        Client { addr, sender }
    }

    /// Whether a new connection to `addr` is refused.
    pub async fn connect_or_refused(addr: SocketAddr) -> bool {
        TcpStream::connect(addr).await.is_err()
    }

    pub async fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        self.try_send(method, path, headers, body).await.expect("the server answers")
    }

    /// Like [`Client::send`], `None` when the connection fails (the server went away).
    pub async fn try_send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Option<Reply> {
        let mut request = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path);
        // The test's own `Host`, when it gives one.
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
            request = request.header("host", self.addr.to_string());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body))).unwrap();
        let exchange = async {
            self.sender.ready().await.ok()?;
            let response = self.sender.send_request(request).await.ok()?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.into_body().collect().await.ok()?.to_bytes();
            Some(Reply { status, headers, body })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange).await.expect("the server answers in time")
    }

    /// A request in a session.
    pub async fn call(&mut self, session: &str, method: &str, path: &str, body: &str) -> Reply {
        self.send(method, path, &[(SESSION_HEADER, session)], body.as_bytes().to_vec()).await
    }
}

/// Sends `bytes` as they are on a new connection and reads until the server closes it or
/// `wait` passes; returns what came back.
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Vec<u8> {
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(wait)).unwrap();
        // The server may close the connection before it has read everything (an oversize head).
        let _ = stream.write_all(&bytes);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        answer
    })
    .await
    .unwrap()
}

/// An answer read by [`raw_exchange`]: its status code and its body.
pub fn parse_raw(answer: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(answer);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_owned();
    (status, body)
}

/// Writes an export file of `pairs` pairs with `value_bytes`-byte values at `path`, for
/// `IMPORT`s that take a while.
pub fn write_export_file(path: &Path, pairs: usize, value_bytes: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, r#"{{"format":"wind-kvstore-export","version":1,"identifier":"big"}}"#).unwrap();
    let value = "v".repeat(value_bytes);
    for i in 0..pairs {
        writeln!(out, r#"{{"key":"key{i:08}","value":"{value}"}}"#).unwrap();
    }
    out.flush().unwrap();
}

/// The real `wkserver` binary on a free loopback port over `data`, with an empty config file
/// written to `config` and no token from the environment; stdout and stderr piped (the first
/// stdout line, already read, gave the address).
pub fn spawn_binary(data: &Path, config: &Path) -> (std::process::Child, SocketAddr) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    std::fs::write(config, "").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wkserver"))
        .args(["--port", "0", "--host", "127.0.0.1", "--data-dir"])
        .arg(data)
        .arg("--config")
        .arg(config)
        .env_remove("WKSERVER_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: SocketAddr = line.trim().rsplit('/').next().unwrap().parse().unwrap();
    (child, addr)
}
