//! Command-line options.

use std::path::PathBuf;
use std::time::Duration;

use crate::load::GrpcClient;
use crate::placement::Placement;

/// What this process is.
pub enum Role {
    Help,
    Driver(Options),
    /// The backend process, started by the driver.
    Backend {
        ready_file: PathBuf,
    },
}

#[derive(Clone)]
pub struct Options {
    pub warm_up: Duration,
    pub duration: Duration,
    pub in_flight: usize,
    pub grpc_connections: usize,
    pub grpc_client: GrpcClient,
    pub nginx: bool,
    /// The row of Envoy's gRPC-JSON transcoder, a peer that does the gateway's job.
    pub envoy: bool,
    pub access_log_row: bool,
    /// The row of a gateway with its protos loaded at run time (the dynamic codec).
    pub runtime_protos_row: bool,
    pub rate_limit_rows: bool,
    pub memory: bool,
    pub keep_alive_connections: usize,
    pub burst_connections: usize,
    /// Set by the driver when it re-executes itself (see `placement::reexec`).
    pub placement: Option<Placement>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            warm_up: Duration::from_secs(2),
            duration: Duration::from_secs(10),
            in_flight: 64,
            grpc_connections: 4,
            grpc_client: GrpcClient::H2,
            nginx: true,
            envoy: true,
            access_log_row: true,
            runtime_protos_row: true,
            rate_limit_rows: true,
            memory: true,
            keep_alive_connections: 1_000,
            burst_connections: 10_000,
            placement: None,
        }
    }
}

pub fn parse(args: &[String]) -> Result<Role, String> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            // cargo bench passes it to every bench binary.
            "--bench" => {}
            "-h" | "--help" => return Ok(Role::Help),
            "--serve-backend" => {
                let ready_file = PathBuf::from(value(arg)?);
                return Ok(Role::Backend { ready_file });
            }
            "--placement" => options.placement = Some(Placement::parse(&value(arg)?)?),
            "--quick" => {
                options.warm_up = Duration::from_secs(1);
                options.duration = Duration::from_secs(2);
            }
            "--duration" => options.duration = seconds(arg, &value(arg)?)?,
            "--warm-up" => options.warm_up = seconds(arg, &value(arg)?)?,
            "--in-flight" => options.in_flight = count(arg, &value(arg)?)?,
            "--grpc-connections" => options.grpc_connections = count(arg, &value(arg)?)?,
            "--grpc-client" => {
                options.grpc_client = match value(arg)?.as_str() {
                    "h2" => GrpcClient::H2,
                    "tonic" => GrpcClient::Tonic,
                    other => {
                        return Err(format!("--grpc-client: {other:?} is not h2 or tonic"));
                    }
                }
            }
            "--no-nginx" => options.nginx = false,
            "--no-envoy" => options.envoy = false,
            "--no-access-log-row" => options.access_log_row = false,
            "--no-runtime-protos-row" => options.runtime_protos_row = false,
            "--no-rate-limit-rows" => options.rate_limit_rows = false,
            "--no-memory" => options.memory = false,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Role::Driver(options))
}

fn seconds(name: &str, value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "{name}: {value:?} is not a positive number of seconds"
        )),
    }
}

fn count(name: &str, value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{name}: {value:?} is not a positive integer")),
    }
}
