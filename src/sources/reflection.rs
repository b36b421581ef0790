//! A backend's gRPC reflection service as a schema source.
//!
//! One bidirectional stream per fetch: `file_containing_symbol` for each service, then
//! `file_by_filename` for every import not received yet, until nothing is missing. Requests are
//! sent without waiting for answers; a reflection server answers them in order, so the oldest
//! unanswered request is the one an answer (or a failure) belongs to.
//!
//! Servers differ in what an answer holds: tonic's sends just the file asked for, grpc-go's the
//! file and those of its imports not yet sent on the stream. Either way each file is kept once,
//! as the bytes the server sent: decoding into `prost_types` would drop custom options such as
//! `google.api.http`, so the set is assembled from the raw files. Failures differ too: grpc-go
//! answers an `ErrorResponse` and goes on, tonic ends the stream with the status.
//!
//! The work is bounded whatever the server does: each answer must match a request, a file is
//! asked for at most once (import cycles end there), and the number and size of files are
//! capped. A server that stops answering is left to the caller's deadline.

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use prost::Message as _;
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_reflect::prost_types::FileDescriptorProto;
use tokio::sync::mpsc;
use tonic::codegen::{Body, Bytes, StdError};
use tonic::{Code, Status};

/// Most files one fetch takes in (a large API with all its imports is a few hundred).
const MAX_FILES: usize = 10_000;
/// Most bytes of file descriptors one fetch keeps.
const MAX_TOTAL_BYTES: usize = 64 * 1024 * 1024;
/// Largest single answer: one grpc-go answer may carry a file with all its imports, which can
/// pass tonic's default of 4 MiB.
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Asks a server's gRPC reflection service for the files that define `services` (every service
/// it lists, except grpc.reflection.* and grpc.health.*, when `services` is empty) and everything
/// they import, transitively; returns them as an encoded FileDescriptorSet (each file once, in
/// the order received). Tries grpc.reflection.v1 first and falls back to grpc.reflection.v1alpha
/// when the server answers UNIMPLEMENTED.
///
/// Custom options (`google.api.http`) survive: each file is kept as the server encoded it.
///
/// # Errors
/// Which service or file could not be had and why (the gRPC code and the server's status
/// message); a server without reflection; a server that answers something other than what was
/// asked, lists no services, or sends more than 10 000 files or 64 MiB. Never waits forever on
/// its own account, but a server that stops answering is only cut off by the caller's deadline.
pub async fn fetch<T>(channel: T, services: &[String]) -> Result<Vec<u8>, String>
where
    T: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + 'static,
    T::Error: Into<StdError>,
    T::Future: Send,
    T::ResponseBody: Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<StdError> + Send,
{
    match session(channel.clone(), services, Version::V1).await {
        Err(Failure::Unimplemented) => {}
        other => return other.map_err(Failure::into_message),
    }
    match session(channel, services, Version::V1Alpha).await {
        Err(Failure::Unimplemented) => Err("the server does not offer gRPC reflection \
             (grpc.reflection.v1 and v1alpha both answer UNIMPLEMENTED)"
            .to_owned()),
        other => other.map_err(Failure::into_message),
    }
}

#[derive(Clone, Copy)]
enum Version {
    V1,
    V1Alpha,
}

/// Why one session failed: UNIMPLEMENTED before any answer means "try the other version".
enum Failure {
    Unimplemented,
    Other(String),
}

impl Failure {
    fn into_message(self) -> String {
        match self {
            Failure::Unimplemented => "the reflection service answered UNIMPLEMENTED".to_owned(),
            Failure::Other(message) => message,
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Other(message)
    }
}

/// A request, in terms common to both versions.
#[derive(Debug, Clone)]
enum Ask {
    Services,
    Symbol(String),
    File(String),
}

/// An answer, in terms common to both versions.
enum Answer {
    Files(Vec<Vec<u8>>),
    Services(Vec<String>),
    Error {
        code: i32,
        message: String,
    },
    /// An answer this client never asks for (extension numbers).
    Other,
}

type Answers = Pin<Box<dyn Stream<Item = Result<Answer, Status>> + Send>>;

async fn session<T>(channel: T, services: &[String], version: Version) -> Result<Vec<u8>, Failure>
where
    T: tonic::client::GrpcService<tonic::body::Body> + Send + 'static,
    T::Error: Into<StdError>,
    T::Future: Send,
    T::ResponseBody: Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<StdError> + Send,
{
    let (sender, receiver) = mpsc::unbounded_channel();
    let mut fetch = Fetch::new(sender, services);
    // The first requests are queued before the call: some servers send no response headers
    // until a request has arrived, and the call does not return before the headers.
    if services.is_empty() {
        fetch.ask(Ask::Services);
    } else {
        for service in services {
            fetch.ask(Ask::Symbol(service.clone()));
        }
    }
    let opened = match version {
        Version::V1 => v1::open(channel, receiver).await,
        Version::V1Alpha => v1alpha::open(channel, receiver).await,
    };
    let mut answers = match opened {
        Ok(answers) => answers,
        Err(status) if status.code() == Code::Unimplemented => return Err(Failure::Unimplemented),
        Err(status) => return Err(format!("reflection call failed: {}", describe(&status)).into()),
    };

    let mut answered = false;
    while let Some(asked) = fetch.pending.front().cloned() {
        let answer = match answers.next().await {
            Some(Ok(answer)) => answer,
            Some(Err(status)) if status.code() == Code::Unimplemented && !answered => {
                return Err(Failure::Unimplemented);
            }
            Some(Err(status)) => {
                return Err(format!("{}: {}", fetch.what(&asked), describe(&status)).into());
            }
            None => {
                return Err(format!(
                    "the server ended the reflection stream before answering for {}",
                    fetch.what(&asked)
                )
                .into());
            }
        };
        answered = true;
        fetch.pending.pop_front();
        fetch.take(&asked, answer)?;
    }
    fetch.finish()
}

/// The state of one session: what was asked, what has come, what is still missing.
struct Fetch {
    sender: mpsc::UnboundedSender<Ask>,
    /// Asked and not answered yet, oldest first.
    pending: VecDeque<Ask>,
    /// The services to find, as asked or as listed by the server.
    wanted: Vec<String>,
    /// Files in the order received, as the server encoded them.
    files: Vec<Vec<u8>>,
    received: HashSet<String>,
    total_bytes: usize,
    /// Every file asked for, with the file that imports it (for error messages).
    importers: HashMap<String, String>,
    /// Services defined by the files received, by full name.
    defined: HashSet<String>,
}

impl Fetch {
    fn new(sender: mpsc::UnboundedSender<Ask>, services: &[String]) -> Self {
        Fetch {
            sender,
            pending: VecDeque::new(),
            wanted: services.to_vec(),
            files: Vec::new(),
            received: HashSet::new(),
            total_bytes: 0,
            importers: HashMap::new(),
            defined: HashSet::new(),
        }
    }

    fn ask(&mut self, ask: Ask) {
        // Send fails only once the call has ended; the answer loop reports that.
        let _ = self.sender.send(ask.clone());
        self.pending.push_back(ask);
    }

    /// "service x.Y" or "file a.proto (imported by b.proto)", for messages.
    fn what(&self, ask: &Ask) -> String {
        match ask {
            Ask::Services => "the list of services".to_owned(),
            Ask::Symbol(service) => format!("service {service}"),
            Ask::File(name) => match self.importers.get(name) {
                Some(importer) => format!("file {name} (imported by {importer})"),
                None => format!("file {name}"),
            },
        }
    }

    fn take(&mut self, asked: &Ask, answer: Answer) -> Result<(), String> {
        match (asked, answer) {
            (_, Answer::Error { code, message }) => Err(format!(
                "{}: {:?}: {message}",
                self.what(asked),
                Code::from_i32(code)
            )),
            (Ask::Services, Answer::Services(names)) => {
                self.wanted = names
                    .into_iter()
                    .filter(|name| {
                        !name.starts_with("grpc.reflection.") && !name.starts_with("grpc.health.")
                    })
                    .collect();
                if self.wanted.is_empty() {
                    return Err("the server's reflection lists no services \
                                (besides reflection and health)"
                        .to_owned());
                }
                for service in self.wanted.clone() {
                    self.ask(Ask::Symbol(service));
                }
                Ok(())
            }
            (Ask::Symbol(_) | Ask::File(_), Answer::Files(files)) => {
                for raw in files {
                    self.keep(asked, raw)?;
                }
                match asked {
                    Ask::File(name) if !self.received.contains(name) => Err(format!(
                        "{}: the server answered with other files",
                        self.what(asked)
                    )),
                    _ => Ok(()),
                }
            }
            (_, Answer::Files(_) | Answer::Services(_) | Answer::Other) => Err(format!(
                "{}: the server answered something else",
                self.what(asked)
            )),
        }
    }

    /// Keeps one file the server sent (unless it came before) and asks for its imports.
    fn keep(&mut self, asked: &Ask, raw: Vec<u8>) -> Result<(), String> {
        let file = FileDescriptorProto::decode(raw.as_slice()).map_err(|e| {
            format!(
                "{}: a file descriptor does not decode: {e}",
                self.what(asked)
            )
        })?;
        let name = file.name().to_owned();
        if name.is_empty() {
            return Err(format!(
                "{}: a file descriptor has no name",
                self.what(asked)
            ));
        }
        if !self.received.insert(name.clone()) {
            return Ok(());
        }
        self.total_bytes += raw.len();
        if self.received.len() > MAX_FILES || self.total_bytes > MAX_TOTAL_BYTES {
            return Err(format!(
                "the server's reflection sent more than {MAX_FILES} files or {} MiB",
                MAX_TOTAL_BYTES / (1024 * 1024)
            ));
        }
        let package = file.package();
        for service in &file.service {
            self.defined.insert(match package {
                "" => service.name().to_owned(),
                _ => format!("{package}.{}", service.name()),
            });
        }
        for import in &file.dependency {
            if !self.received.contains(import) && !self.importers.contains_key(import) {
                self.importers.insert(import.clone(), name.clone());
                self.ask(Ask::File(import.clone()));
            }
        }
        self.files.push(raw);
        Ok(())
    }

    /// The set, once every service asked for is defined by a file received.
    fn finish(self) -> Result<Vec<u8>, Failure> {
        if let Some(missing) = self.wanted.iter().find(|s| !self.defined.contains(*s)) {
            return Err(format!(
                "service {missing}: the server's reflection sent files that do not define it"
            )
            .into());
        }
        let mut set = Vec::with_capacity(self.total_bytes + 8 * self.files.len());
        for file in &self.files {
            // `repeated FileDescriptorProto file = 1;`, each file as the server encoded it.
            encode_key(1, WireType::LengthDelimited, &mut set);
            encode_varint(file.len() as u64, &mut set);
            set.extend_from_slice(file);
        }
        Ok(set)
    }
}

/// `NotFound: symbol 'x' not found`: the code and the server's own message, nothing else.
fn describe(status: &Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// The same client code for both versions: the generated types differ only by module.
macro_rules! dialect {
    ($version:ident) => {
        mod $version {
            use pb::server_reflection_client::ServerReflectionClient;
            use pb::server_reflection_request::MessageRequest;
            use pb::server_reflection_response::MessageResponse;
            use tonic_reflection::pb::$version as pb;

            use super::*;

            /// Opens the stream; it sends whatever is put into `asks` and yields the answers.
            pub(super) async fn open<T>(
                channel: T,
                asks: mpsc::UnboundedReceiver<Ask>,
            ) -> Result<Answers, Status>
            where
                T: tonic::client::GrpcService<tonic::body::Body> + Send + 'static,
                T::Error: Into<StdError>,
                T::Future: Send,
                T::ResponseBody: Body<Data = Bytes> + Send + 'static,
                <T::ResponseBody as Body>::Error: Into<StdError> + Send,
            {
                let requests = futures_util::stream::unfold(asks, |mut asks| async move {
                    let ask = asks.recv().await?;
                    Some((request(ask), asks))
                });
                let mut client = ServerReflectionClient::new(channel)
                    .max_decoding_message_size(MAX_ANSWER_BYTES);
                let answers = client.server_reflection_info(requests).await?.into_inner();
                Ok(Box::pin(answers.map(|answer| answer.map(self::answer))))
            }

            fn request(ask: Ask) -> pb::ServerReflectionRequest {
                let message = match ask {
                    Ask::Services => MessageRequest::ListServices(String::new()),
                    Ask::Symbol(symbol) => MessageRequest::FileContainingSymbol(symbol),
                    Ask::File(name) => MessageRequest::FileByFilename(name),
                };
                pb::ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(message),
                }
            }

            fn answer(response: pb::ServerReflectionResponse) -> Answer {
                match response.message_response {
                    Some(MessageResponse::FileDescriptorResponse(files)) => {
                        Answer::Files(files.file_descriptor_proto)
                    }
                    Some(MessageResponse::ListServicesResponse(list)) => {
                        Answer::Services(list.service.into_iter().map(|s| s.name).collect())
                    }
                    Some(MessageResponse::ErrorResponse(error)) => Answer::Error {
                        code: error.error_code,
                        message: error.error_message,
                    },
                    Some(MessageResponse::AllExtensionNumbersResponse(_)) | None => Answer::Other,
                }
            }
        }
    };
}

dialect!(v1);
dialect!(v1alpha);
