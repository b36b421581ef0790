//! A backend that misbehaves on purpose, written on the `h2` crate's server so that it can do
//! what hyper and tonic would never let a server do: reset a stream halfway through a message,
//! end a reply without trailers, hang up or send GOAWAY with a call on the connection, stall,
//! or answer the HTTP/2 preface with garbage.
//!
//! Every call is answered by playing the current [`Step`]s in order; a test changes them with
//! [`Misbehaving::play`] (a backend that recovers is one told to play a proper reply).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::poll_fn;
use h2::server::SendResponse;
use h2::{Reason, SendStream};
use http::{HeaderMap, HeaderName, HeaderValue, Response};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// One thing the backend does while answering a call.
#[derive(Clone, Debug)]
pub enum Step {
    /// HTTP 200 `application/grpc` response headers, with these headers added.
    Headers(&'static [(&'static str, &'static str)]),
    /// Bytes of the body, sent as the client's flow control allows.
    Data(Bytes),
    /// Trailers (these headers) that end the stream.
    Trailers(&'static [(&'static str, &'static str)]),
    /// An empty DATA frame with END_STREAM: the body ends, with no trailers.
    End,
    /// RST_STREAM with this reason (before the headers, if none were sent).
    Reset(Reason),
    /// Drops the TCP connection, without GOAWAY.
    Close,
    /// GOAWAY with this reason, then the connection closes (h2's abrupt shutdown).
    GoAway(Reason),
    /// GOAWAY that lets the calls on the connection finish (h2's graceful shutdown); the
    /// steps after it still run.
    GracefulGoAway,
    /// Does nothing more, ever: the stream stays open until the client gives up.
    Stall,
}

/// Long enough for h2 to write the frames it has queued (it has no signal for that).
const FLUSH: std::time::Duration = std::time::Duration::from_millis(100);

/// The proper end of a reply: `grpc-status: 0`.
pub const STATUS_OK: &[(&str, &str)] = &[("grpc-status", "0")];

/// A running misbehaving backend; it stops with the test's runtime.
pub struct Misbehaving {
    pub addr: SocketAddr,
    steps: Arc<Mutex<Vec<Step>>>,
    connections: Arc<AtomicUsize>,
    sent: Arc<AtomicUsize>,
}

impl Misbehaving {
    /// A backend answering every call with `steps`.
    pub async fn spawn(steps: Vec<Step>) -> Misbehaving {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend = Misbehaving {
            addr: listener.local_addr().unwrap(),
            steps: Arc::new(Mutex::new(steps)),
            connections: Arc::new(AtomicUsize::new(0)),
            sent: Arc::new(AtomicUsize::new(0)),
        };
        let (steps, connections, sent) = (
            backend.steps.clone(),
            backend.connections.clone(),
            backend.sent.clone(),
        );
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                connections.fetch_add(1, Relaxed);
                tokio::spawn(serve(socket, steps.clone(), sent.clone()));
            }
        });
        backend
    }

    /// A backend that answers the HTTP/2 preface with bytes that are not HTTP/2, and then
    /// keeps the connection open without a word: the client has to give up on its own.
    pub async fn spawn_garbage() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut rng = fastrand::Rng::with_seed(7);
                let garbage: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(256).collect();
                let _ = socket.write_all(&garbage).await;
                open.push(socket);
            }
        });
        addr
    }

    /// Answers the calls from now on with `steps`.
    pub fn play(&self, steps: Vec<Step>) {
        *self.steps.lock().unwrap() = steps;
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Relaxed)
    }

    /// Bytes of DATA the client's flow control let through, over all calls.
    pub fn sent(&self) -> usize {
        self.sent.load(Relaxed)
    }
}

/// The backend's `http://` endpoint for a gateway config.
impl std::fmt::Display for Misbehaving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}", self.addr)
    }
}

/// What a call's task asks of the task that drives the connection.
enum Control {
    Close,
    GoAway(Reason),
    GracefulGoAway,
}

/// Serves one connection: accepts calls and plays the steps on each, while it carries out
/// what they ask of the connection.
async fn serve(socket: TcpStream, steps: Arc<Mutex<Vec<Step>>>, sent: Arc<AtomicUsize>) {
    let Ok(mut connection) = h2::server::handshake(socket).await else {
        return;
    };
    let (control, mut controls) = mpsc::unbounded_channel();
    loop {
        tokio::select! {
            accepted = connection.accept() => match accepted {
                Some(Ok((request, respond))) => {
                    let steps = steps.lock().unwrap().clone();
                    let (control, sent) = (control.clone(), sent.clone());
                    tokio::spawn(async move {
                        // As a gRPC server would, read the request before answering; it stays
                        // alive, so that nothing is reset on its behalf.
                        let mut request = request.into_body();
                        while let Some(Ok(data)) = request.data().await {
                            let _ = request.flow_control().release_capacity(data.len());
                        }
                        play(steps, respond, control, sent).await;
                    });
                }
                Some(Err(_)) | None => return,
            },
            Some(asked) = controls.recv() => match asked {
                Control::Close => return,
                Control::GoAway(reason) => connection.abrupt_shutdown(reason),
                Control::GracefulGoAway => connection.graceful_shutdown(),
            },
        }
    }
}

/// Plays `steps` on one call.
async fn play(
    steps: Vec<Step>,
    mut respond: SendResponse<Bytes>,
    control: mpsc::UnboundedSender<Control>,
    sent: Arc<AtomicUsize>,
) {
    let mut stream: Option<SendStream<Bytes>> = None;
    for step in steps {
        let breaks = matches!(step, Step::Reset(_) | Step::Close | Step::GoAway(_));
        if breaks && stream.is_some() {
            // h2 drops the frames of a stream still queued when it is reset or its connection
            // goes: let what was played so far reach the client first.
            tokio::time::sleep(FLUSH).await;
        }
        let played = match step {
            Step::Headers(extra) => {
                let mut response = Response::builder()
                    .status(200)
                    .header("content-type", "application/grpc");
                for (name, value) in extra {
                    response = response.header(*name, *value);
                }
                respond
                    .send_response(response.body(()).unwrap(), false)
                    .map(|s| stream = Some(s))
            }
            Step::Data(data) => match stream.as_mut() {
                Some(stream) => send_data(stream, data, &sent).await,
                None => panic!("Data before Headers"),
            },
            Step::Trailers(fields) => {
                let mut trailers = HeaderMap::new();
                for (name, value) in fields {
                    trailers.insert(
                        HeaderName::from_static(name),
                        HeaderValue::from_static(value),
                    );
                }
                stream
                    .as_mut()
                    .expect("Trailers after Headers")
                    .send_trailers(trailers)
            }
            Step::End => stream
                .as_mut()
                .expect("End after Headers")
                .send_data(Bytes::new(), true),
            Step::Reset(reason) => {
                match stream.as_mut() {
                    Some(stream) => stream.send_reset(reason),
                    None => respond.send_reset(reason),
                }
                Ok(())
            }
            Step::Close => {
                let _ = control.send(Control::Close);
                Ok(())
            }
            Step::GoAway(reason) => {
                let _ = control.send(Control::GoAway(reason));
                Ok(())
            }
            Step::GracefulGoAway => {
                let _ = control.send(Control::GracefulGoAway);
                // Let the GOAWAY go out before the rest of the reply.
                tokio::time::sleep(FLUSH).await;
                Ok(())
            }
            Step::Stall => {
                std::future::pending::<()>().await;
                Ok(())
            }
        };
        // The client went away or the connection is gone: nothing more can be played.
        if played.is_err() {
            return;
        }
    }
    // Keep the call until the client is done with it: h2 resets an unfinished one dropped.
    let _ = match stream.as_mut() {
        Some(stream) => poll_fn(|cx| stream.poll_reset(cx)).await,
        None => poll_fn(|cx| respond.poll_reset(cx)).await,
    };
}

/// Sends `data` as the client's flow control grants room, counting what went out.
async fn send_data(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
    sent: &AtomicUsize,
) -> Result<(), h2::Error> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let granted = match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(granted) => granted?,
            None => return Err(h2::Error::from(Reason::CANCEL)),
        };
        let chunk = data.split_to(granted.min(data.len()));
        let len = chunk.len();
        stream.send_data(chunk, false)?;
        sent.fetch_add(len, Relaxed);
    }
    Ok(())
}

/// One gRPC length-prefixed, uncompressed message.
pub fn grpc_frame(message: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(message.len() + 5);
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(message);
    frame.into()
}
