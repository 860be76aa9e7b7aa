//! The hidden `hub` subcommand: a sandbox hub in its own process, so that `transfer` can read
//! the hub's peak RSS from `/proc` without the client's memory mixed in.

use anyhow::Context;
use medshare_sandbox::sandbox_config;
use std::path::Path;
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{SignalKind, signal};

/// Serve on 127.0.0.1:0 until stdin reaches end of file or SIGTERM arrives. The port is written
/// to `port_file` (atomically) once the hub is ready.
pub async fn run(data_dir: &Path, port_file: &Path) -> anyhow::Result<()> {
    let config = sandbox_config(data_dir);
    let listener =
        std::net::TcpListener::bind(config.listen).context("cannot bind the hub's port")?;
    let port = listener.local_addr()?.port();
    let state = medshare_server::build_state(config).await?;
    let tmp = port_file.with_extension("tmp");
    std::fs::write(&tmp, port.to_string())?;
    std::fs::rename(&tmp, port_file)?;
    let mut term = signal(SignalKind::terminate())?;
    let stop = async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        let eof = async {
            while let Ok(n) = stdin.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        tokio::select! {
            _ = eof => {}
            _ = term.recv() => {}
        }
    };
    medshare_server::serve(state, listener, stop).await
}
