//! Printing: the header, the table, the memory section.

use std::time::Duration;

use gatehouse::config::DEFAULT_MAX_PENDING;

use crate::connections::Outcome;
use crate::driver;
use crate::load::{GrpcClient, Measured};
use crate::options::Options;
use crate::placement::Placement;
use crate::processes::{RAISED_MAX_PENDING, RATE_LIMIT, RATE_LIMITED_METHOD, REDIS_TIMEOUT};
use crate::procfs;
use crate::rate_limit::Counts;

pub fn header(options: &Options, placement: &Placement) {
    println!("gatehouse end-to-end load benchmark");
    println!("  date       {}", driver::now_utc());
    println!("  machine    {}", procfs::machine());
    println!("  placement  {}", placement.describe());
    println!(
        "  gateway    {}",
        crate::processes::gateway_binary().display()
    );
    println!(
        "  load       {} requests in flight, {} s warm-up + {} s measured per row",
        options.in_flight,
        options.warm_up.as_secs_f64(),
        options.duration.as_secs_f64(),
    );
    let grpc_client = match options.grpc_client {
        GrpcClient::H2 => "raw h2, request encoded once",
        GrpcClient::Tonic => "the generated tonic client",
    };
    println!(
        "             gRPC: {grpc_client}, over {} HTTP/2 connections; HTTP/1.1: one \
         keep-alive connection per request in flight",
        options.grpc_connections
    );
    println!(
        "  gateway    gatehouse serve (release): no [auth] (routes public, no token), no \
         rate limits (but in their rows),"
    );
    println!("             no health checks, access_log off, other settings default");
    println!();
}

pub fn table(results: &[driver::RowResult], placement: &Placement, notes: &[String]) {
    let ticks_per_second = procfs::ticks_per_second() as f64;
    let baseline = results.first().map(|r| rate(&r.measured)).unwrap_or(0.0);
    let width = results
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(10);
    let core = placement.server_cpu_label();
    println!(
        "{:<width$}  {:>9}  {:>9}  {:>9}  {:>6}  {:>7}  {:>12}  {:>12}  {:>7}  {:>5}",
        "target",
        "req/s",
        "p50",
        "p99",
        "errors",
        "vs gRPC",
        "core0 µs/req",
        "proxy µs/req",
        "core0 %",
        "gen %"
    );
    for result in results {
        let m = &result.measured;
        let completed = m.tally.completed.max(1) as f64;
        let window = m.window.as_secs_f64();
        let secs = |ticks: u64| ticks as f64 / ticks_per_second;
        let server_secs = secs(m.backend_ticks + m.proxy_ticks.unwrap_or(0));
        let driver_secs = secs(m.driver_ticks);
        let proxy = match m.proxy_ticks {
            Some(ticks) => format!("{:.1}", secs(ticks) * 1e6 / completed),
            None => "-".to_string(),
        };
        println!(
            "{:<width$}  {:>9.0}  {:>9}  {:>9}  {:>6}  {:>6.2}x  {:>12.1}  {:>12}  {:>6.0}%  {:>4.0}%",
            result.name,
            rate(m),
            micros(m.tally.latency.value_at_quantile(0.50)),
            micros(m.tally.latency.value_at_quantile(0.99)),
            m.tally.errors,
            if baseline > 0.0 {
                rate(m) / baseline
            } else {
                0.0
            },
            server_secs * 1e6 / completed,
            proxy,
            server_secs * 100.0 / window,
            driver_secs * 100.0 / window,
        );
    }
    println!();
    println!(
        "  core0 = {core}: CPU of the backend process plus the proxy on the path (gateway, \
         or nginx master + worker; and redis-server in the Redis row), /proc/<pid>/stat \
         utime+stime over the measured window."
    );
    println!(
        "  proxy µs/req = the part of core0 µs/req that is not the backend process: the \
         gateway's or nginx's own cost (with redis-server's in the Redis row)."
    );
    println!(
        "  gen % = the load generator's own CPU (one thread); near 100 % it, not the \
         server, was the limit."
    );
    println!(
        "  The sequential row counts one request per three calls (user, orders, products), \
         so its req/s and latency compare directly with the aggregate row."
    );
    println!(
        "  The plain HTTP row is the nginx HTTP/1.1 row's baseline: the same user JSON from \
         the backend process (hyper), with no proxy."
    );
    println!(
        "  The nginx grpc_pass row is the gRPC-via-gatehouse row's reference: the same GetUser \
         calls through one proxy hop that forwards them without transcoding."
    );
    println!(
        "  The nginx rows keep 64 upstream connections alive; their \"upstream defaults\" twins \
         run nginx's default upstream settings, a new connection per request (HTTP/1.0 for \
         proxy_pass), with the same keep-alive connections from the load generator."
    );
    let limits: Vec<&Counts> = results.iter().filter_map(|r| r.limits.as_ref()).collect();
    if !limits.is_empty() {
        rate_limit_footnote(&limits, &core);
    }
    for note in notes {
        println!("  note: {note}");
    }
    println!();
}

/// What the rate-limit rows are, and what their gateway and Redis counted during them.
fn rate_limit_footnote(rows: &[&Counts], core: &str) {
    println!(
        "  The rate-limit rows are the REST row through a gateway that limits \
         {RATE_LIMITED_METHOD} to {} calls/s per client address (burst as many): every call is \
         checked, none refused.",
        thousands(RATE_LIMIT as usize)
    );
    println!(
        "  \"in memory\" counts in the gateway; \"on Redis\" asks a redis-server on {core} \
         (one EVALSHA per call, timeout {REDIS_TIMEOUT}, on_store_error allow), whose CPU is in \
         core0. Counted over each row, warm-up included:"
    );
    for counts in rows {
        let mut line = format!(
            "{} requests; refused by the limit: {}",
            thousands(counts.requests as usize),
            counts.limited
        );
        let store = match counts.redis {
            None => "in memory",
            Some(redis) => {
                line.push_str(&format!(
                    "; store errors: {}; Redis ran {} EVALSHA, {:.2} per request \
                     (total_commands_processed +{}: it also counts the script's TIME, GET and SET)",
                    counts.store_errors,
                    thousands(redis.evalsha as usize),
                    redis.evalsha as f64 / counts.requests.max(1) as f64,
                    thousands(redis.total as usize)
                ));
                "on Redis"
            }
        };
        println!("    rate limit {store}: {line}.");
        let problems = counts.problems();
        if !problems.is_empty() {
            println!(
                "    CHECK FAILED, rate limit {store}: {}.",
                problems.join("; ")
            );
        }
    }
}

/// The memory section's figures.
pub struct Memory {
    pub rss_fresh_kib: u64,
    pub rss_idle_kib: u64,
    pub keep_alive: Outcome,
    /// The burst on the gateway with default pools, and on a fresh one with `max_pending`
    /// raised (or why they were skipped).
    pub burst: Result<Outcome, String>,
    pub burst_raised: Result<Outcome, String>,
}

pub fn memory(memory: &Memory) {
    println!("gateway memory (VmRSS of the gatehouse process, /proc/<pid>/status)");
    println!(
        "  idle, just started            {}",
        mib(memory.rss_fresh_kib)
    );
    println!(
        "  idle, after the load rows     {}",
        mib(memory.rss_idle_kib)
    );
    let keep_alive = &memory.keep_alive;
    connections(
        &format!(
            "{} keep-alive HTTP/1.1 connections, one request each, all held open",
            thousands(keep_alive.connections)
        ),
        keep_alive,
    );
    let bursts = [
        (
            format!("default max_pending = {DEFAULT_MAX_PENDING} per backend pool"),
            &memory.burst,
        ),
        (
            format!("a second gateway, warmed, with max_pending = {RAISED_MAX_PENDING}"),
            &memory.burst_raised,
        ),
    ];
    for (config, burst) in bursts {
        match burst {
            Ok(burst) => connections(
                &format!(
                    "{} concurrent connections, one request each, sent together ({config})",
                    thousands(burst.connections)
                ),
                burst,
            ),
            Err(reason) => println!("  concurrent connections ({config}): {reason}"),
        }
    }
}

fn connections(what: &str, outcome: &Outcome) {
    let growth = outcome.rss_open_kib.saturating_sub(outcome.rss_before_kib);
    println!("  {what}:");
    let held = outcome.rss_held_kib.saturating_sub(outcome.rss_before_kib);
    println!(
        "      RSS {} before, {} with them open ({:.1} KiB per connection), peak {}",
        mib(outcome.rss_before_kib),
        mib(outcome.rss_open_kib),
        growth as f64 / outcome.connections as f64,
        mib(outcome.hwm_kib),
    );
    println!(
        "      RSS {} after holding them open {} s ({:.1} KiB per connection), {} after they \
         closed",
        mib(outcome.rss_held_kib),
        crate::connections::HELD.as_secs(),
        held as f64 / outcome.connections as f64,
        mib(outcome.rss_closed_kib),
    );
    println!(
        "      answered 2xx: {}, errors: {}; all answers in {}",
        thousands(outcome.ok),
        thousands(outcome.error_count()),
        seconds(outcome.elapsed)
    );
    for (kind, (count, message)) in &outcome.errors {
        let example = match message.is_empty() {
            true => String::new(),
            false => format!(", e.g. {message:?}"),
        };
        println!("        {} × {kind}{example}", thousands(*count));
    }
}

fn rate(measured: &Measured) -> f64 {
    measured.tally.completed as f64 / measured.window.as_secs_f64()
}

fn micros(value: u64) -> String {
    if value < 1000 {
        format!("{value} µs")
    } else {
        format!("{:.2} ms", value as f64 / 1000.0)
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
