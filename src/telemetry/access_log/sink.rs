//! Where lines go: a bounded queue drained by one writer thread, so a slow or blocked stdout
//! costs dropped lines, never a waiting request.

use std::io::{self, BufWriter, Write};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, OnceLock};

use crate::telemetry::metrics;

/// Lines that may wait for the writer; about 5 MB at ~300 bytes a line.
const QUEUE_LINES: usize = 16 * 1024;

pub(crate) struct LineSink {
    lines: SyncSender<Vec<u8>>,
}

impl LineSink {
    /// The process's stdout sink, started on first use.
    pub(super) fn stdout() -> Arc<LineSink> {
        static STDOUT: OnceLock<Arc<LineSink>> = OnceLock::new();
        STDOUT.get_or_init(|| LineSink::spawn(io::stdout())).clone()
    }

    /// A sink writing to `writer` from a thread of its own, which ends when the sink is dropped.
    /// If the thread cannot be started, lines are dropped (and counted).
    pub(super) fn spawn(writer: impl Write + Send + 'static) -> Arc<LineSink> {
        let (lines, queue) = sync_channel(QUEUE_LINES);
        let started = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(&queue, writer));
        if let Err(error) = started {
            tracing::error!(%error, "no access-log writer thread; lines are dropped");
        }
        Arc::new(LineSink { lines })
    }

    /// Queues one line (ending in `\n`); drops it if the queue is full.
    pub(super) fn send(&self, line: Vec<u8>) {
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                metrics::record_access_log_dropped();
            }
        }
    }
}

/// Writes what is queued in batches, flushing whenever the queue runs empty. Write errors
/// (a closed stdout) lose the lines: there is nowhere better to say so.
fn write_lines(queue: &Receiver<Vec<u8>>, writer: impl Write) {
    let mut out = BufWriter::with_capacity(64 * 1024, writer);
    while let Ok(line) = queue.recv() {
        let _ = out.write_all(&line);
        while let Ok(line) = queue.try_recv() {
            let _ = out.write_all(&line);
        }
        let _ = out.flush();
    }
}
