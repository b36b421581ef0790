//! `Fleet`: several echo backends behind one gateway backend, for the balanced pool's tests.
//!
//! Each [`Instance`] answers like `Echo` and tags every answer, errors included, with
//! `x-instance: <index>`. A test can slow it down, make it fail, flip its grpc.health.v1 status,
//! and kill and restart it. An instance runs its own accept loop instead of tonic's `Server`,
//! because a crash must close every open connection at once and tonic's connection tasks are out
//! of reach. [`RefusingServer`] is a bare HTTP/2 server that refuses every stream.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::Duration;

use gatehouse::proto::gatehouse::echo::v1::Kitchen;
use gatehouse::proto::gatehouse::echo::v1::echo_service_server::{EchoService, EchoServiceServer};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tonic::codegen::tokio_stream::{self, Stream};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Routes;
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::ServiceExt as _;

use super::ECHO_SERVICE;
use super::echo::{chat, collect, echo};

const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
/// How long `restart` waits for the old port to become free again.
const REBIND_ATTEMPTS: usize = 100;
const REBIND_PAUSE: Duration = Duration::from_millis(20);

/// One instance of the echo backend that a test can slow down, fail, kill and restart.
pub struct Instance {
    pub addr: SocketAddr,
    state: Arc<InstanceState>,
    health: HealthReporter,
    routes: Routes,
    tasks: Arc<Tasks>,
}

/// What the handlers of an instance share with the test.
struct InstanceState {
    index: usize,
    served: AtomicUsize,
    cancelled: AtomicUsize,
    health_checks: AtomicUsize,
    delay: Mutex<Duration>,
    failure: Mutex<Option<Code>>,
}

impl Instance {
    /// Serves on a free 127.0.0.1 port. Every response carries metadata `x-instance: <index>`
    /// (the gateway shows it as header `grpc-metadata-x-instance`), error statuses too.
    pub async fn start(index: usize) -> Instance {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an instance");
        let addr = listener.local_addr().expect("instance address");
        let state = Arc::new(InstanceState {
            index,
            served: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
            health_checks: AtomicUsize::new(0),
            delay: Mutex::new(Duration::ZERO),
            failure: Mutex::new(None),
        });
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status(ECHO_SERVICE, ServingStatus::Serving)
            .await;
        let routes = Routes::new(EchoServiceServer::new(InstanceEcho(state.clone())))
            .add_service(health_service);
        let instance = Instance {
            addr,
            state,
            health,
            routes,
            tasks: Arc::default(),
        };
        instance.serve(listener);
        instance
    }

    /// `http://<addr>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Calls that reached this instance, counted when the handler starts.
    pub fn served(&self) -> usize {
        self.state.served.load(Ordering::SeqCst)
    }

    /// Calls whose handler was dropped before it answered (the client or gateway cancelled).
    pub fn cancelled(&self) -> usize {
        self.state.cancelled.load(Ordering::SeqCst)
    }

    /// Every call waits this long first, before the request's own `delay_ms`. Default zero.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.state.delay) = delay;
    }

    /// Every call answers `code` with message "instance <index> failing" instead of echoing;
    /// `None` (the default) echoes again.
    pub fn set_failure(&self, code: Option<Code>) {
        *lock(&self.state.failure) = code;
    }

    /// The grpc.health.v1 status of "" and of the echo service: SERVING when true (the
    /// default), NOT_SERVING when false.
    pub async fn set_serving(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.health.set_service_status("", status).await;
        self.health.set_service_status(ECHO_SERVICE, status).await;
    }

    /// Health checks (grpc.health.v1.Health/Check) received.
    pub fn health_checks(&self) -> usize {
        self.state.health_checks.load(Ordering::SeqCst)
    }

    /// Crashes the instance: the port refuses connections from now on, and every open
    /// connection and call is dropped without an answer. Does not wait for anything.
    pub fn kill(&self) {
        self.tasks.crash();
    }

    /// Serves again on the same address, killing the instance first if it still runs.
    /// Counters keep counting. Panics if the port stays in use for about two seconds.
    pub async fn restart(&self) {
        self.kill();
        let listener = rebind(self.addr).await;
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let routes = self.routes.clone();
        let state = self.state.clone();
        self.tasks.serve(listener, move |stream, spawner| {
            let state = state.clone();
            // Counted here because tonic-health's service keeps no count of its own.
            let service = routes
                .clone()
                .map_request(move |request: http::Request<Incoming>| {
                    if request.uri().path() == HEALTH_CHECK_PATH {
                        state.health_checks.fetch_add(1, Ordering::SeqCst);
                    }
                    request
                });
            // The spawner runs each stream's handler as a task of this instance, so `kill`
            // ends calls in flight too.
            let connection = http2::Builder::new(spawner)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            async move {
                let _ = connection.await;
            }
        });
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Binds `addr` again, waiting while the old socket still holds it.
async fn rebind(addr: SocketAddr) -> TcpListener {
    for _ in 0..REBIND_ATTEMPTS {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                tokio::time::sleep(REBIND_PAUSE).await
            }
            Err(e) => panic!("rebind {addr}: {e}"),
        }
    }
    panic!("{addr} stayed in use, the instance cannot restart");
}

/// N instances with indexes 0..n.
pub struct Fleet {
    pub instances: Vec<Instance>,
}

impl Fleet {
    pub async fn start(n: usize) -> Fleet {
        let mut instances = Vec::with_capacity(n);
        for index in 0..n {
            instances.push(Instance::start(index).await);
        }
        Fleet { instances }
    }

    /// A TOML array of the endpoints: `["http://127.0.0.1:1", "http://127.0.0.1:2"]`.
    pub fn endpoints_toml(&self) -> String {
        let quoted: Vec<String> = self
            .instances
            .iter()
            .map(|instance| format!("\"{}\"", instance.endpoint()))
            .collect();
        format!("[{}]", quoted.join(", "))
    }

    /// `served()` of every instance, in order.
    pub fn served(&self) -> Vec<usize> {
        self.instances.iter().map(Instance::served).collect()
    }
}

/// The echo service of one instance.
struct InstanceEcho(Arc<InstanceState>);

/// Counts a cancelled call when dropped before `answered`.
struct Unanswered<'a> {
    state: &'a InstanceState,
    answered: bool,
}

impl Unanswered<'_> {
    fn answered(mut self) {
        self.answered = true;
    }
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.state.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl InstanceEcho {
    /// Counts the call, applies the instance's delay and failure, else answers with `answer`;
    /// tags the outcome with `x-instance`.
    async fn answer<T>(
        &self,
        answer: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Result<Response<T>, Status> {
        let state = &*self.0;
        state.served.fetch_add(1, Ordering::SeqCst);
        let pending = Unanswered {
            state,
            answered: false,
        };
        let delay = *lock(&state.delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let failure = *lock(&state.failure);
        let result = match failure {
            Some(code) => Err(Status::new(
                code,
                format!("instance {} failing", state.index),
            )),
            None => answer.await,
        };
        pending.answered();
        let tag = AsciiMetadataValue::from(state.index);
        match result {
            Ok(mut response) => {
                response.metadata_mut().insert("x-instance", tag);
                Ok(response)
            }
            Err(mut status) => {
                status.metadata_mut().insert("x-instance", tag);
                Err(status)
            }
        }
    }
}

type KitchenStream = Pin<Box<dyn Stream<Item = Result<Kitchen, Status>> + Send>>;

#[tonic::async_trait]
impl EchoService for InstanceEcho {
    type EchoChatStream = KitchenStream;

    async fn echo_collect(
        &self,
        request: Request<Streaming<Kitchen>>,
    ) -> Result<Response<Kitchen>, Status> {
        self.answer(collect(request)).await
    }
    async fn echo_chat(
        &self,
        request: Request<Streaming<Kitchen>>,
    ) -> Result<Response<KitchenStream>, Status> {
        self.answer(async { chat(request) }).await
    }
    async fn echo(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.answer(echo(request)).await
    }
    async fn echo_book(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.answer(echo(request)).await
    }
    async fn echo_file(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.answer(echo(request)).await
    }
    async fn echo_archive(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.answer(echo(request)).await
    }
    async fn echo_typed(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.answer(echo(request)).await
    }
    async fn echo_nested_body(
        &self,
        request: Request<Kitchen>,
    ) -> Result<Response<Kitchen>, Status> {
        self.answer(echo(request)).await
    }
    async fn echo_response_body(
        &self,
        request: Request<Kitchen>,
    ) -> Result<Response<Kitchen>, Status> {
        self.answer(echo(request)).await
    }
    async fn echo_wild(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.answer(echo(request)).await
    }
    async fn echo_delete(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.answer(echo(request)).await
    }
    async fn echo_unmapped(&self, request: Request<Kitchen>) -> Result<Response<Kitchen>, Status> {
        self.answer(echo(request)).await
    }

    type EchoStreamStream = KitchenStream;

    /// `int32_field` copies of the request.
    async fn echo_stream(
        &self,
        request: Request<Kitchen>,
    ) -> Result<Response<KitchenStream>, Status> {
        self.answer(async {
            let kitchen = request.into_inner();
            let times = usize::try_from(kitchen.int32_field).unwrap_or(0);
            let items = std::iter::repeat_n(kitchen, times).map(Ok);
            let stream: KitchenStream = Box::pin(tokio_stream::iter(items));
            Ok(Response::new(stream))
        })
        .await
    }
}

/// An HTTP/2 server that answers every stream with RST_STREAM: by default REFUSED_STREAM (the
/// request was not processed, so a client may retry it anywhere), or another reason, as a
/// backend that breaks off a call it took.
pub struct RefusingServer {
    pub addr: SocketAddr,
    refused: Arc<AtomicUsize>,
    tasks: Arc<Tasks>,
}

impl RefusingServer {
    pub async fn start() -> RefusingServer {
        RefusingServer::resetting_with(h2::Reason::REFUSED_STREAM).await
    }

    /// A server that resets every stream with `reason`.
    pub async fn resetting_with(reason: h2::Reason) -> RefusingServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the refusing server");
        let addr = listener.local_addr().expect("refusing server address");
        let refused = Arc::new(AtomicUsize::new(0));
        let tasks = Arc::<Tasks>::default();
        let counter = refused.clone();
        tasks.serve(listener, move |stream, _| {
            let refused = counter.clone();
            async move {
                // The connection ends with an error when the client goes away: nothing to do.
                let _ = reset_streams(stream, &refused, reason).await;
            }
        });
        RefusingServer {
            addr,
            refused,
            tasks,
        }
    }

    /// `http://<addr>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Streams reset so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for RefusingServer {
    fn drop(&mut self) {
        self.tasks.crash();
    }
}

async fn reset_streams(
    stream: TcpStream,
    refused: &AtomicUsize,
    reason: h2::Reason,
) -> Result<(), h2::Error> {
    let mut connection = h2::server::handshake(stream).await?;
    // `accept` also drives the connection, which sends the resets.
    while let Some(accepted) = connection.accept().await {
        let (_request, mut respond) = accepted?;
        // Counted first, so the count is up by the time the client sees the reset.
        refused.fetch_add(1, Ordering::SeqCst);
        respond.send_reset(reason);
    }
    Ok(())
}

/// A listener and every task serving it, so that `crash` can end them all at once.
#[derive(Default)]
struct Tasks(Mutex<Running>);

#[derive(Default)]
struct Running {
    /// Bumped by every crash; the tasks of an older generation may no longer accept or spawn.
    generation: u64,
    listener: Option<TcpListener>,
    tasks: JoinSet<()>,
}

impl Tasks {
    /// Takes `listener` and serves each connection it accepts with `serve_connection`, until
    /// `crash`.
    fn serve<S, F>(self: &Arc<Self>, listener: TcpListener, serve_connection: S)
    where
        S: Fn(TcpStream, Spawner) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let spawner = {
            let mut running = lock(&self.0);
            running.listener = Some(listener);
            Spawner {
                tasks: self.clone(),
                generation: running.generation,
            }
        };
        let accepting = spawner.clone();
        spawner.spawn(async move {
            while let Some(accepted) = accepting.accept().await {
                match accepted {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        accepting.spawn(serve_connection(stream, accepting.clone()));
                    }
                    // Out of file descriptors and the like: try again shortly, as servers do.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });
    }

    /// Closes the listener at once, so the port refuses connections when this returns, and
    /// aborts every task, which drops their connections and calls.
    fn crash(&self) {
        let aborted = {
            let mut running = lock(&self.0);
            running.generation += 1;
            running.listener = None;
            std::mem::take(&mut running.tasks)
        };
        // Dropping a JoinSet aborts its tasks. Outside the lock, in case a dropped task locks it.
        drop(aborted);
    }
}

/// Spawns the tasks of one generation of a [`Tasks`]; also hyper's executor for the streams
/// of a connection.
#[derive(Clone)]
struct Spawner {
    tasks: Arc<Tasks>,
    generation: u64,
}

impl Spawner {
    /// Spawns `task` unless its generation has crashed meanwhile.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut running = lock(&self.tasks.0);
        if running.generation != self.generation {
            return;
        }
        // Reap finished tasks, so a long test does not pile them up.
        while running.tasks.try_join_next().is_some() {}
        running.tasks.spawn(task);
    }

    /// The next connection, or `None` once this generation has crashed. The listener is only
    /// borrowed while polled, so that `crash` can close it without waiting for this task.
    async fn accept(&self) -> Option<io::Result<TcpStream>> {
        poll_fn(|cx| {
            let running = lock(&self.tasks.0);
            match &running.listener {
                Some(listener) if running.generation == self.generation => listener
                    .poll_accept(cx)
                    .map(|accepted| Some(accepted.map(|(stream, _)| stream))),
                _ => Poll::Ready(None),
            }
        })
        .await
    }
}

impl<F> hyper::rt::Executor<F> for Spawner
where
    F: Future + Send + 'static,
{
    fn execute(&self, future: F) {
        self.spawn(async move {
            future.await;
        });
    }
}

/// Locks `mutex` even if a panicking test poisoned it, so that `Drop` does not panic again.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
