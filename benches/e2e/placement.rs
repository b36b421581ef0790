//! Which CPUs the processes run on, and the re-execution that puts the driver on its own.

use std::process::{Command, ExitCode};

/// Raises the soft file descriptor limit (to 65536, or the hard limit if that is lower) for
/// the driver and everything it starts, then runs the rest of the command line.
const RAISE_FD_LIMIT: &str =
    r#"ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@""#;

#[derive(Clone, Debug)]
pub enum Placement {
    /// Backend and proxies on `server`, the driver alone on `driver`.
    Pinned { server: usize, driver: usize },
    /// Everything wherever the scheduler puts it, for this reason.
    Unpinned(String),
}

impl Placement {
    /// The `--placement` value: `0,1` or `unpinned:<reason>`.
    pub fn parse(text: &str) -> Result<Placement, String> {
        if let Some(reason) = text.strip_prefix("unpinned:") {
            return Ok(Placement::Unpinned(reason.to_string()));
        }
        let (server, driver) = text
            .split_once(',')
            .and_then(|(s, d)| Some((s.parse().ok()?, d.parse().ok()?)))
            .ok_or_else(|| format!("--placement: {text:?} is not SERVER_CPU,DRIVER_CPU"))?;
        Ok(Placement::Pinned { server, driver })
    }

    fn to_arg(&self) -> String {
        match self {
            Placement::Pinned { server, driver } => format!("{server},{driver}"),
            Placement::Unpinned(reason) => format!("unpinned:{reason}"),
        }
    }

    /// `program` to be run on the server CPU.
    pub fn server_command(&self, program: &std::path::Path) -> Command {
        match self {
            Placement::Pinned { server, .. } => {
                let mut command = Command::new("taskset");
                command.arg("-c").arg(server.to_string()).arg(program);
                command
            }
            Placement::Unpinned(_) => Command::new(program),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Placement::Pinned { server, driver } => format!(
                "backend + proxy on core {server}, load generator alone on core {driver} \
                 (taskset)"
            ),
            Placement::Unpinned(reason) => format!("UNPINNED ({reason})"),
        }
    }

    /// The CPU whose processes the `core0` columns account for.
    pub fn server_cpu_label(&self) -> String {
        match self {
            Placement::Pinned { server, .. } => format!("core {server}"),
            Placement::Unpinned(_) => "any core".to_string(),
        }
    }
}

/// Runs this binary again, pinned to the second allowed CPU (or unpinned, saying why), under
/// a raised file descriptor limit, and exits with its status.
pub fn reexec(args: &[String]) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: cannot find this executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let placement = choose();
    let mut command = Command::new("sh");
    command.arg("-c").arg(RAISE_FD_LIMIT).arg("sh");
    if let Placement::Pinned { driver, .. } = placement {
        command.arg("taskset").arg("-c").arg(driver.to_string());
    }
    command
        .arg(exe)
        .args(args)
        .arg("--placement")
        .arg(placement.to_arg());
    match command.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8),
        Err(e) => {
            eprintln!("error: cannot run {command:?}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn choose() -> Placement {
    let taskset = Command::new("taskset")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !taskset {
        return Placement::Unpinned("taskset not found; install util-linux".into());
    }
    match allowed_cpus().as_deref() {
        Some([server, driver, ..]) => Placement::Pinned {
            server: *server,
            driver: *driver,
        },
        Some(_) => Placement::Unpinned("fewer than 2 CPUs allowed".into()),
        None => Placement::Unpinned("cannot read Cpus_allowed_list".into()),
    }
}

/// The CPUs this process may run on, from `Cpus_allowed_list` (`0-3,6`).
fn allowed_cpus() -> Option<Vec<usize>> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?;
    let mut cpus = Vec::new();
    for part in list.trim().split(',') {
        match part.split_once('-') {
            Some((from, to)) => cpus.extend(from.parse::<usize>().ok()?..=to.parse().ok()?),
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}
