//! Running an HTTP/2 connection so that it writes the frames of many streams at once.
//!
//! A stream that queues a frame (a call's request, a response, trailers) wakes its
//! connection's task, and Tokio runs a task woken that way right after the current one (its
//! LIFO slot). Polled at once, the connection writes each stream's frames in a system call of
//! its own. Woken, [`batched_writes`] first lets the other tasks ready now run
//! (`yield_now`), so that the frames they queue join the same write.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

/// Runs `connection` (an h2 or hyper HTTP/2 connection future) to its end, yielding once
/// each time it is woken before polling it.
pub async fn batched_writes<F: Future>(connection: F) -> F::Output {
    let mut connection = pin!(connection);
    loop {
        if let Poll::Ready(output) =
            std::future::poll_fn(|cx| Poll::Ready(connection.as_mut().poll(cx))).await
        {
            return output;
        }
        // Until the connection, which now holds this task's waker, has something to do.
        Woken::default().await;
        tokio::task::yield_now().await;
    }
}

/// Pending once, then ready: it resumes its task when something else wakes it.
#[derive(Default)]
struct Woken {
    polled: bool,
}

impl Future for Woken {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.polled, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The future is polled again after every wake, however many it needs, and its output is
    /// returned.
    #[tokio::test]
    async fn runs_the_future_to_its_end_across_wakes() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
        let sum = tokio::spawn(batched_writes(async move {
            let mut sum = 0;
            while let Some(n) = rx.recv().await {
                sum += n;
            }
            sum
        }));
        for n in 1..=10 {
            tx.send(n).await.unwrap();
            tokio::task::yield_now().await;
        }
        drop(tx);
        assert_eq!(sum.await.unwrap(), 55);
    }
}
