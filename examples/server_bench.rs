//! Requests per second through `wkserver`'s routes, next to the framework's floor.
//!
//! ```text
//! cargo run --release --example server_bench -- [--connections 8] [--seconds 2] [--rounds 3]
//! ```
//!
//! In one run, on loopback, with keep-alive HTTP/1.1 clients, in interleaved rounds (so a change
//! in the machine's load hits every workload alike; the median round is reported):
//! - floor: a bare axum router whose handler returns a constant (what HTTP and axum cost);
//! - GET /: `wkserver`'s banner through every layer (access log, guard, token check);
//! - GET:   `GET /api/get?key=..` on a session over a store of 10,000 keys;
//! - PUT:   `POST /api/put` of one pair per request, each durable before it is answered
//!   (default durability: the log is fsynced), by 1, `--connections` and 4 x `--connections`
//!   clients, each with a session of its own on the same store: concurrent commits share
//!   fsyncs (group commit), so the rate grows with the clients.
//!
//! The access log is on (written to a sink), as in production. Client and server share the
//! machine's cores (and, on a shared machine, other people's work), so requests per second are a
//! floor for both; the server's CPU time per request (on Linux: its runtime's threads, from
//! `/proc`) is the steadier figure when the machine is busy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use wind_kvstore::server::{AppState, SESSION_HEADER, ServerConfig, serve};

const PRELOADED_KEYS: u64 = 10_000;
const WARMUP: Duration = Duration::from_millis(500);

#[derive(Clone, Copy)]
enum Workload {
    Floor,
    /// `wkserver`'s own `GET /`.
    Banner,
    Get,
    /// Durable puts by this many clients.
    Put(usize),
}

impl Workload {
    fn name(self) -> String {
        match self {
            Workload::Floor => "floor (bare axum, constant)".into(),
            Workload::Banner => "GET / (wkserver, every layer)".into(),
            Workload::Get => "GET /api/get".into(),
            Workload::Put(n) => format!("POST /api/put, durable, {n} client(s)"),
        }
    }

    fn short(self) -> String {
        match self {
            Workload::Floor => "floor".into(),
            Workload::Banner => "GET/".into(),
            Workload::Get => "GET".into(),
            Workload::Put(n) => format!("PUTx{n}"),
        }
    }

    /// Request number `n` of client `c`.
    fn request(self, addr: SocketAddr, session: &str, c: usize, n: u64) -> Request<Full<Bytes>> {
        let builder = Request::builder().header("host", addr.to_string()).header(SESSION_HEADER, session);
        let request = match self {
            Workload::Floor | Workload::Banner => builder.method("GET").uri("/").body(Full::default()),
            Workload::Get => {
                let key = (n.wrapping_mul(7919) + u64::try_from(c).unwrap_or(0)) % PRELOADED_KEYS;
                builder.method("GET").uri(format!("/api/get?key=key{key:06}")).body(Full::default())
            }
            Workload::Put(_) => {
                let body = format!(r#"[{{"key":"c{c}:{n:09}","value":"value of request {n}"}}]"#);
                builder.method("POST").uri("/api/put").body(Full::new(Bytes::from(body)))
            }
        };
        request.expect("a valid request")
    }
}

struct Args {
    connections: usize,
    seconds: u64,
    rounds: usize,
}

fn args() -> Args {
    let mut args = Args { connections: 8, seconds: 2, rounds: 3 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse::<usize>().ok());
        match (flag.as_str(), value) {
            ("--connections", Some(n)) if n > 0 && n <= 64 => args.connections = n,
            ("--seconds", Some(s)) if s > 0 && s <= 600 => args.seconds = s as u64,
            ("--rounds", Some(r)) if r > 0 && r <= 100 => args.rounds = r,
            _ => {
                eprintln!("usage: server_bench [--connections 1..64] [--seconds 1..600] [--rounds 1..100]");
                std::process::exit(2);
            }
        }
    }
    args
}

/// Threads of the server's runtime carry this name prefix (workers and blocking pool alike).
const SERVER_THREADS: &str = "wk-srv";
/// Linux reports thread CPU time in clock ticks of 1/100 s (USER_HZ) on every common platform.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time used so far by the server's threads, in clock ticks; `None` where `/proc` is absent.
fn server_cpu_ticks() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !name.starts_with(SERVER_THREADS) {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is the 1st, utime the 12th, stime the 13th.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        total += ticks(11) + ticks(12);
    }
    Some(total)
}

struct Measured {
    rps: f64,
    mean: Duration,
    /// Server CPU microseconds per request.
    cpu_us: Option<f64>,
}

/// Runs `workload` with one keep-alive client per session in `sessions` for `seconds`.
async fn measure(workload: Workload, addr: SocketAddr, sessions: &[String], seconds: u64) -> Measured {
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let busy_nanos = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for (c, session) in sessions.iter().enumerate() {
        let (counting, stop, done, busy_nanos) =
            (counting.clone(), stop.clone(), done.clone(), busy_nanos.clone());
        let session = session.clone();
        clients.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(connection);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                sender.ready().await.expect("connection ready");
                let response =
                    sender.send_request(workload.request(addr, &session, c, n)).await.expect("response");
                assert!(response.status().is_success(), "{}", response.status());
                response.into_body().collect().await.expect("body");
                if counting.load(Ordering::Relaxed) {
                    done.fetch_add(1, Ordering::Relaxed);
                    let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    busy_nanos.fetch_add(nanos, Ordering::Relaxed);
                }
                n += 1;
            }
        }));
    }
    tokio::time::sleep(WARMUP).await;
    counting.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let cpu_start = server_cpu_ticks();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    counting.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed();
    let cpu_end = server_cpu_ticks();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client task");
    }
    let requests = done.load(Ordering::Relaxed);
    let mean = Duration::from_nanos(busy_nanos.load(Ordering::Relaxed) / requests.max(1));
    let cpu_us = match (cpu_start, cpu_end) {
        (Some(a), Some(b)) if requests > 0 => {
            Some(b.saturating_sub(a) as f64 / TICKS_PER_SECOND * 1e6 / requests as f64)
        }
        _ => None,
    };
    Measured { rps: requests as f64 / elapsed.as_secs_f64(), mean, cpu_us }
}

fn main() {
    let args = args();
    // The access log formats every line, as in production, into a sink.
    tracing_subscriber::fmt().with_writer(std::io::sink).init();
    // Server and clients on runtimes of their own, so the server's threads can be measured.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name(SERVER_THREADS)
        .enable_all()
        .build()
        .expect("server runtime");
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("wk-cli")
        .enable_all()
        .build()
        .expect("runtime");

    let dir = tempfile::tempdir().expect("temporary folder");
    let state = AppState::new(ServerConfig { data_dir: dir.path().to_path_buf(), ..ServerConfig::default() })
        .expect("server state");
    let (server_addr, floor_addr, stop_server, server) = server_runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server_addr = listener.local_addr().expect("address");
        let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state, async move {
            let _ = stopped.await;
        }));
        let floor_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let floor_addr = floor_listener.local_addr().expect("address");
        let floor = Router::new().route("/", get(|| async { "Wind-KVStore Server is Running!" }));
        tokio::spawn(async move { axum::serve(floor_listener, floor).await });
        (server_addr, floor_addr, stop_server, server)
    });

    client_runtime.block_on(async {
        let session = open_and_load(server_addr).await;
        let most = args.connections * 4;
        let mut put_sessions = Vec::new();
        for _ in 0..most {
            put_sessions.push(open_session(server_addr).await);
        }
        println!(
            "{} keep-alive connections ({} for puts: 1, {}, {}), {} rounds of {} s per workload (after {} ms \
             warm-up), {} cores, load average {}",
            args.connections,
            most,
            args.connections,
            most,
            args.rounds,
            args.seconds,
            WARMUP.as_millis(),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_average()
        );
        let workloads = [
            Workload::Floor,
            Workload::Banner,
            Workload::Get,
            Workload::Put(1),
            Workload::Put(args.connections),
            Workload::Put(most),
        ];
        let shared = vec![session; args.connections];
        let mut rps = vec![Vec::new(); workloads.len()];
        let mut means = vec![Vec::new(); workloads.len()];
        let mut cpus = vec![Vec::new(); workloads.len()];
        for round in 1..=args.rounds {
            let mut line = format!("round {round}:");
            for (w, workload) in workloads.iter().enumerate() {
                let (addr, sessions) = match workload {
                    Workload::Floor => (floor_addr, &shared[..]),
                    Workload::Banner | Workload::Get => (server_addr, &shared[..]),
                    Workload::Put(n) => (server_addr, &put_sessions[..*n]),
                };
                let m = measure(*workload, addr, sessions, args.seconds).await;
                line.push_str(&format!("  {} {:.0}/s", workload.short(), m.rps));
                rps[w].push(m.rps);
                means[w].push(micros(m.mean));
                if let Some(cpu) = m.cpu_us {
                    cpus[w].push(cpu);
                }
            }
            println!("{line}");
        }
        let banner_rps = median(&mut rps[1].clone());
        let banner_cpu = median(&mut cpus[1].clone());
        println!("median of {} rounds (ratios to wkserver's own GET /):", args.rounds);
        for (w, workload) in workloads.iter().enumerate() {
            let r = median(&mut rps[w]);
            let mean = median(&mut means[w]);
            let mut line = format!(
                "  {:<40} {r:>9.0} req/s ({:>5.2}x GET /)  mean latency {mean:>8.1} us",
                workload.name(),
                r / banner_rps
            );
            if !cpus[w].is_empty() && !matches!(workload, Workload::Floor) {
                let cpu = median(&mut cpus[w]);
                line.push_str(&format!("  server CPU {cpu:>6.1} us/req ({:.2}x GET /)", cpu / banner_cpu));
            }
            println!("{line}");
        }
        println!("load average after the run: {}", load_average());
    });
    let _ = stop_server.send(());
    server_runtime.block_on(server).expect("server task").expect("server");
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `/proc/loadavg`'s first three fields, or `?` where there is none.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Opens a session on `bench.db`.
async fn open_session(addr: SocketAddr) -> String {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    let open = Request::post("/api/open")
        .header("host", addr.to_string())
        .body(Full::new(Bytes::from_static(br#"{"path":"bench.db"}"#)))
        .expect("request");
    let response = sender.send_request(open).await.expect("open");
    assert!(response.status().is_success(), "open: {}", response.status());
    let session = response.headers()[SESSION_HEADER].to_str().expect("session id").to_owned();
    response.into_body().collect().await.expect("body");
    session
}

/// Opens a session on `bench.db` and writes the keys the GET workload reads.
async fn open_and_load(addr: SocketAddr) -> String {
    let session = open_session(addr).await;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    for chunk in 0..PRELOADED_KEYS / 1000 {
        let pairs: Vec<String> = (chunk * 1000..(chunk + 1) * 1000)
            .map(|i| format!(r#"{{"key":"key{i:06}","value":"a value of moderate length for key {i}"}}"#))
            .collect();
        let put = Request::post("/api/put")
            .header("host", addr.to_string())
            .header(SESSION_HEADER, &session)
            .body(Full::new(Bytes::from(format!("[{}]", pairs.join(",")))))
            .expect("request");
        sender.ready().await.expect("ready");
        let response = sender.send_request(put).await.expect("put");
        assert!(response.status().is_success());
        response.into_body().collect().await.expect("body");
    }
    session
}
