//! Where lines go: a bounded queue drained by one writer thread, so a slow or blocked stdout
//! costs dropped lines, never a waiting request.
//!
//! The writer wakes for the first line after a quiet spell, then sleeps [`BATCH_WINDOW`]
//! while lines gather and writes them together: under load that is one wake-up and one write
//! per window instead of one per request (woken per line, it cost as much CPU as the rest of
//! the request).

use std::io::{self, BufWriter, Write};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::telemetry::metrics;

/// Lines that may wait for the writer; about 5 MB at ~300 bytes a line.
const QUEUE_LINES: usize = 16 * 1024;

/// How long lines gather before they are written: the most a line waits for stdout.
const BATCH_WINDOW: Duration = Duration::from_millis(10);

/// How long [`LineSink::flush`] waits for the writer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// What the writer thread is sent.
enum Message {
    Line(Vec<u8>),
    /// Write everything queued before this, then answer.
    Flush(SyncSender<()>),
}

static STDOUT: OnceLock<Arc<LineSink>> = OnceLock::new();

/// Writes the lines queued for stdout so far, if any were (for a process about to exit).
pub fn flush_stdout() {
    if let Some(sink) = STDOUT.get() {
        sink.flush();
    }
}

pub(crate) struct LineSink {
    lines: SyncSender<Message>,
}

impl LineSink {
    /// The process's stdout sink, started on first use.
    pub(super) fn stdout() -> Arc<LineSink> {
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
        match self.lines.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                metrics::record_access_log_dropped();
            }
        }
    }

    /// Waits (a second at most) until the lines queued so far are written. Never blocks on a
    /// full queue or a stuck stdout beyond that.
    pub(super) fn flush(&self) {
        let (done, written) = sync_channel(1);
        if self.lines.try_send(Message::Flush(done)).is_ok() {
            let _ = written.recv_timeout(FLUSH_TIMEOUT);
        }
    }
}

/// Writes what is queued in batches (see the module docs). Write errors (a closed stdout) lose
/// the lines: there is nowhere better to say so.
fn write_lines(queue: &Receiver<Message>, writer: impl Write) {
    let mut out = BufWriter::with_capacity(64 * 1024, writer);
    let write = |message: Message, out: &mut BufWriter<_>| match message {
        Message::Line(line) => {
            let _ = out.write_all(&line);
        }
        Message::Flush(done) => {
            let _ = out.flush();
            let _ = done.send(());
        }
    };
    // Blocks only while nothing is queued: the first line of a busy spell wakes the thread.
    while let Ok(first) = queue.recv() {
        let flushing = matches!(first, Message::Flush(_));
        write(first, &mut out);
        if !flushing {
            // Not waiting on the queue, so senders do not wake the thread line by line.
            std::thread::sleep(BATCH_WINDOW);
        }
        while let Ok(message) = queue.try_recv() {
            write(message, &mut out);
        }
        let _ = out.flush();
    }
}
