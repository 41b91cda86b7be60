//! `wkserver`: serves Wind-KVStore files over HTTP with sessions (see docs/SERVER.md).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use wind_kvstore::server::{self, AppState, ServerConfig};

#[derive(Debug, Parser)]
#[command(name = "wkserver", version, about = "HTTP server for Wind-KVStore files, with sessions")]
struct Cli {
    /// Host name or address to listen on [config: host; default 127.0.0.1].
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on; 0 picks a free one [config: port; default 14514].
    #[arg(long)]
    port: Option<u16>,
    /// Folder holding every store clients may open [config: data_dir].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Configuration file [default: server.toml in the user's configuration folder].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).init();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wkserver: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn load_config(cli: Cli) -> anyhow::Result<ServerConfig> {
    let mut config = ServerConfig::default();
    match &cli.config {
        Some(path) => config.apply_file(path, true)?,
        None => {
            if let Some(path) = server::default_config_path() {
                config.apply_file(&path, false)?;
            }
        }
    }
    config.apply_env();
    if let Some(host) = cli.host {
        config.host = host;
    }
    if let Some(port) = cli.port {
        config.port = port;
    }
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    config.validate()?;
    Ok(config)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(cli)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let result = runtime.block_on(async move {
        let state = AppState::new(config.clone())
            .with_context(|| format!("preparing the data directory {}", config.data_dir.display()))?;
        let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
            .await
            .with_context(|| format!("listening on {}:{}", config.host, config.port))?;
        let address = listener.local_addr().context("reading the bound address")?;
        // Tests and scripts read this line to find the port.
        println!("wkserver listening on http://{address}");
        tracing::info!(
            "data directory {}; auth {}",
            config.data_dir.display(),
            if config.auth_token.is_some() { "bearer token" } else { "off" }
        );
        server::serve(listener, state, shutdown_signal()).await.context("serving")
    });
    // Blocking engine work still queued is given a moment, not forever.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    result
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
