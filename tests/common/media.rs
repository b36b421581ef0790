//! `Media`: the test backend for `gatehouse.media.v1.MediaService`.
//!
//! Every method answers what it received, so a test sees exactly what the gateway built:
//! `EchoRaw` returns its `HttpBody`, `PutBlob`, `Upload`, `UploadDetails` and `UpdateItem`
//! return their request. `Download` answers `chunk_size` bytes of [`pattern`] with
//! `content_type` (or fails at once with the gRPC code `fail_after_first`, since it has no
//! first message). `DownloadStream` sends `chunks` messages of `chunk_size` bytes, together the
//! first `chunks × chunk_size` bytes of [`pattern`]; the first carries `content_type`, the later
//! ones [`LATER_CONTENT_TYPE`], so a test can tell which one the gateway used. With
//! `fail_after_first` set it fails with that code after the first message (at once when
//! `chunks` is 0). Every answer carries the metadata `x-backend: media`.
//!
//! `UploadChunks` (a client stream of `HttpBody`) answers a `ChunkReport`: the first message's
//! content type, the size of each message's data, how many messages carried a content type,
//! and the [`fnv1a`] checksum of all the data in order.
//!
//! A server started with [`Media::spawn_held`] stops each stream after its first message until
//! the test calls [`MediaServer::release`] (then sends the rest, or fails): the test can see the
//! first bytes arrive while the backend has not yet produced the rest.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gatehouse::proto::gatehouse::media::v1::media_service_server::{
    MediaService, MediaServiceServer,
};
use gatehouse::proto::gatehouse::media::v1::{
    Blob, ChunkReport, DownloadRequest, UpdateItemRequest,
};
use gatehouse::proto::google::api::HttpBody;
use tokio::sync::{Semaphore, oneshot};
use tonic::codegen::tokio_stream::Stream;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status, Streaming};

/// The proto service the media backend serves.
pub const MEDIA_SERVICE: &str = "gatehouse.media.v1.MediaService";

/// The content type of every streamed message after the first.
pub const LATER_CONTENT_TYPE: &str = "text/x-later-message";

/// `len` bytes of the download named `name`: position-dependent (no period divides a power of
/// two), so a lost, repeated or reordered chunk changes the bytes.
pub fn pattern(name: &str, len: usize) -> Vec<u8> {
    let seed = name
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    (0..len)
        .map(|i| {
            let i = u32::try_from(i).expect("a test-sized download");
            u8::try_from(i.wrapping_mul(17).wrapping_add(seed) % 251).expect("below 251")
        })
        .collect()
}

/// FNV-1a (64 bits) of `data` continuing from `hash` (start with [`FNV_START`]).
pub fn fnv1a(hash: u64, data: &[u8]) -> u64 {
    data.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The FNV-1a offset basis.
pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// The media service.
#[derive(Clone, Default)]
pub struct Media {
    /// When set, each stream waits for a permit after its first message.
    hold: Option<Arc<Semaphore>>,
    sent: Arc<AtomicUsize>,
}

/// A running media server; dropping it stops the server.
pub struct MediaServer {
    pub addr: SocketAddr,
    hold: Option<Arc<Semaphore>>,
    sent: Arc<AtomicUsize>,
    _stop: oneshot::Sender<()>,
}

impl MediaServer {
    /// Lets one held stream go on past its first message.
    pub fn release(&self) {
        self.hold
            .as_ref()
            .expect("release a server started with Media::spawn_held")
            .add_permits(1);
    }

    /// Stream messages handed to tonic to send so far, over all streams.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }
}

impl Media {
    /// Serves `Media` on a free loopback port.
    pub async fn spawn() -> MediaServer {
        Media::default().serve().await
    }

    /// Serves a `Media` whose streams wait after their first message until
    /// [`MediaServer::release`].
    pub async fn spawn_held() -> MediaServer {
        Media {
            hold: Some(Arc::new(Semaphore::new(0))),
            sent: Arc::default(),
        }
        .serve()
        .await
    }

    async fn serve(self) -> MediaServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the media backend");
        let addr = listener.local_addr().expect("media backend address");
        let (stop, stopped) = oneshot::channel::<()>();
        let hold = self.hold.clone();
        let sent = self.sent.clone();
        tokio::spawn(async move {
            Server::builder()
                .add_service(MediaServiceServer::new(self))
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                })
                .await
                .expect("media backend serves");
        });
        MediaServer {
            addr,
            hold,
            sent,
            _stop: stop,
        }
    }
}

/// `message` as the answer, with `x-backend: media`.
fn answer<T>(message: T) -> Response<T> {
    let mut response = Response::new(message);
    *response.metadata_mut() = backend_metadata();
    response
}

fn backend_metadata() -> MetadataMap {
    let mut metadata = MetadataMap::new();
    metadata.insert("x-backend", AsciiMetadataValue::from_static("media"));
    metadata
}

fn failure(code: i32) -> Status {
    let mut status = Status::new(Code::from_i32(code), "the download failed as asked");
    *status.metadata_mut() = backend_metadata();
    status
}

fn chunk_size(request: &DownloadRequest) -> usize {
    usize::try_from(request.chunk_size).unwrap_or(0)
}

type BodyStream = Pin<Box<dyn Stream<Item = Result<HttpBody, Status>> + Send>>;

#[tonic::async_trait]
impl MediaService for Media {
    async fn echo_raw(&self, request: Request<HttpBody>) -> Result<Response<HttpBody>, Status> {
        Ok(answer(request.into_inner()))
    }

    async fn put_blob(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        Ok(answer(request.into_inner()))
    }

    async fn download(
        &self,
        request: Request<DownloadRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        let request = request.into_inner();
        if request.fail_after_first != 0 {
            return Err(failure(request.fail_after_first));
        }
        Ok(answer(HttpBody {
            content_type: request.content_type.clone(),
            data: pattern(&request.name, chunk_size(&request)),
            extensions: Vec::new(),
        }))
    }

    type DownloadStreamStream = BodyStream;

    async fn download_stream(
        &self,
        request: Request<DownloadRequest>,
    ) -> Result<Response<BodyStream>, Status> {
        let request = request.into_inner();
        let chunks = usize::try_from(request.chunks).unwrap_or(0);
        if chunks == 0 && request.fail_after_first != 0 {
            return Err(failure(request.fail_after_first));
        }
        let size = chunk_size(&request);
        let producer = Producer {
            whole: pattern(&request.name, chunks * size),
            size,
            chunks,
            next: 0,
            content_type: request.content_type,
            fail: request.fail_after_first,
            hold: self.hold.clone(),
            sent: self.sent.clone(),
            ended: false,
        };
        let stream: BodyStream = Box::pin(futures_util::stream::unfold(producer, Producer::next));
        Ok(answer(stream))
    }

    async fn upload(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        Ok(answer(request.into_inner()))
    }

    async fn upload_details(&self, request: Request<Blob>) -> Result<Response<Blob>, Status> {
        Ok(answer(request.into_inner()))
    }

    async fn update_item(
        &self,
        request: Request<UpdateItemRequest>,
    ) -> Result<Response<UpdateItemRequest>, Status> {
        Ok(answer(request.into_inner()))
    }

    async fn upload_chunks(
        &self,
        request: Request<Streaming<HttpBody>>,
    ) -> Result<Response<ChunkReport>, Status> {
        let mut chunks = request.into_inner();
        let mut report = ChunkReport {
            checksum: FNV_START,
            ..ChunkReport::default()
        };
        while let Some(chunk) = chunks.message().await? {
            if report.sizes.is_empty() {
                report.content_type.clone_from(&chunk.content_type);
            }
            if !chunk.content_type.is_empty() {
                report.typed_chunks += 1;
            }
            report
                .sizes
                .push(u32::try_from(chunk.data.len()).unwrap_or(u32::MAX));
            report.checksum = fnv1a(report.checksum, &chunk.data);
        }
        Ok(answer(report))
    }
}

/// One `DownloadStream` call's messages.
struct Producer {
    whole: Vec<u8>,
    size: usize,
    chunks: usize,
    next: usize,
    content_type: String,
    fail: i32,
    hold: Option<Arc<Semaphore>>,
    sent: Arc<AtomicUsize>,
    ended: bool,
}

impl Producer {
    async fn next(mut self) -> Option<(Result<HttpBody, Status>, Producer)> {
        if self.ended {
            return None;
        }
        let more = self.fail != 0 || self.next < self.chunks;
        if self.next == 1
            && more
            && let Some(hold) = &self.hold
        {
            hold.acquire().await.expect("the hold stays open").forget();
        }
        if self.next == 1 && self.fail != 0 {
            self.ended = true;
            return Some((Err(failure(self.fail)), self));
        }
        if self.next == self.chunks {
            return None;
        }
        let content_type = if self.next == 0 {
            self.content_type.clone()
        } else {
            LATER_CONTENT_TYPE.to_string()
        };
        let data = self.whole[self.next * self.size..(self.next + 1) * self.size].to_vec();
        self.next += 1;
        self.sent.fetch_add(1, Ordering::SeqCst);
        Some((
            Ok(HttpBody {
                content_type,
                data,
                extensions: Vec::new(),
            }),
            self,
        ))
    }
}
