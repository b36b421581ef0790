//! redis-server for the row whose rate limit lives in Redis: one instance on the server CPU,
//! no persistence, on a free port of 127.0.0.1; and what its `INFO` says, read with redis-cli.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::placement::Placement;
use crate::processes::Process;

/// A started redis-server and how to read its counters.
pub struct Redis {
    pub process: Process,
    pub cli: RedisCli,
}

/// redis-cli pointed at one server.
#[derive(Clone)]
pub struct RedisCli {
    pub addr: SocketAddr,
    program: PathBuf,
}

/// Commands Redis has run since it started.
#[derive(Clone, Copy, Default)]
pub struct Commands {
    /// `EVALSHA` calls (`INFO commandstats`): the rate limit's script, one per decision.
    pub evalsha: u64,
    /// `total_commands_processed` (`INFO stats`), which also counts the commands a script
    /// runs and the `INFO` calls themselves.
    pub total: u64,
}

impl Commands {
    pub fn since(self, before: Commands) -> Commands {
        Commands {
            evalsha: self.evalsha.saturating_sub(before.evalsha),
            total: self.total.saturating_sub(before.total),
        }
    }
}

/// redis-server and redis-cli, if installed (Debian package redis-server).
pub fn find() -> Option<(PathBuf, PathBuf)> {
    Some((find_program("redis-server")?, find_program("redis-cli")?))
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/bin", "/usr/local/bin", "/usr/sbin"])
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| candidate.is_file())
}

/// Starts redis-server on the server CPU and waits until it answers. The port is found free
/// and then given to Redis.
pub fn start(
    placement: &Placement,
    dir: &Path,
    (server, cli): (PathBuf, PathBuf),
) -> Result<Redis, String> {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port for redis-server: {e}"))?;
    let log = dir.join("redis.log");
    let mut command = placement.server_command(&server);
    // No snapshots, no append-only file: losing the buckets costs nothing here. The log goes
    // to the file the process handle shows when Redis fails.
    command
        .args(["--bind", "127.0.0.1", "--port", &addr.port().to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut process = Process::spawn("redis-server", command, log)?;
    process.wait_for(|| std::net::TcpStream::connect(addr).ok())?;
    let cli = RedisCli { addr, program: cli };
    cli.commands()?;
    Ok(Redis { process, cli })
}

impl RedisCli {
    /// The counters of `INFO all` (which includes the command statistics).
    pub fn commands(&self) -> Result<Commands, String> {
        let output = Command::new(&self.program)
            .args(["-h", "127.0.0.1", "-p", &self.addr.port().to_string()])
            .args(["info", "all"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.program.display()))?;
        let info = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || !info.contains("total_commands_processed:") {
            return Err(format!(
                "redis-cli INFO on {} failed ({}): {info}{}",
                self.addr,
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let mut commands = Commands::default();
        for line in info.lines().map(str::trim) {
            if let Some(total) = line.strip_prefix("total_commands_processed:") {
                commands.total = total.parse().unwrap_or_default();
            } else if let Some(stats) = line.strip_prefix("cmdstat_evalsha:") {
                // calls=12,usec=34,...
                commands.evalsha = stats
                    .split(',')
                    .find_map(|field| field.strip_prefix("calls="))
                    .and_then(|calls| calls.parse().ok())
                    .unwrap_or_default();
            }
        }
        Ok(commands)
    }
}
