//! Bodies beyond JSON (`transcode::body`), as `Gateway::call` reads them for the test media
//! service (proto/gatehouse/media/v1/media.proto): multipart/form-data and URL-encoded forms
//! filling `Upload` (`body: "*"`) and `UploadDetails` (`body: "details"`), PATCH bodies whose
//! members become `UpdateItem`'s field mask, and replies read as `google.api.HttpBody`.
//!
//! Input: one control byte (its value modulo 6 picks what is read), then the body, any bytes.
//! Multipart bodies are read with the boundary `XyZ`.
//!
//! Invariants: nothing panics; a form or mask that is accepted gives a message that decodes
//! as the method's request (what is written raw after the built message is valid protobuf);
//! an accepted mask names only fields of `Item` (or is the query's).
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use gatehouse::proto::gatehouse::media::v1::{Blob, UpdateItemRequest};
use gatehouse::schema::{RequestBody, RequestParts, RouteSpec};
use gatehouse::transcode::body::BodyPlan;
use gatehouse::transcode::compiled::schema;
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use prost::Message;

const SERVICE: &str = "gatehouse.media.v1.MediaService";

/// The binding of `method` and its plan, made once.
fn binding(method: &str) -> &'static (std::sync::Arc<RouteSpec>, BodyPlan) {
    static PLANS: OnceLock<Vec<(std::sync::Arc<RouteSpec>, BodyPlan)>> = OnceLock::new();
    let plans = PLANS.get_or_init(|| {
        let schema = schema();
        let service = schema.descriptors().get_service_by_name(SERVICE).unwrap();
        schema
            .bindings()
            .iter()
            .filter(|spec| spec.service == SERVICE)
            .map(|spec| {
                let method = service.methods().find(|m| m.name() == spec.method).unwrap();
                let plan = BodyPlan::new(spec, &method.input(), &method.output(), None);
                (spec.clone(), plan)
            })
            .collect()
    });
    plans
        .iter()
        .find(|(spec, _)| spec.method == method)
        .unwrap_or_else(|| panic!("no binding of {method}"))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fn build(spec: &RouteSpec, query: Option<&str>, body: RequestBody<'_>) -> Option<Bytes> {
    let parts = RequestParts {
        bindings: &[],
        query,
        body,
        ignore_unknown_query: false,
    };
    spec.codec.build_request(spec, parts).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let method = if control & 1 == 0 {
        "Upload"
    } else {
        "UploadDetails"
    };
    match control % 6 {
        0 | 1 => {
            let (spec, plan) = binding(method);
            let chunks = Full::new(Bytes::copy_from_slice(body)).into_data_stream();
            let read = plan.read_multipart("multipart/form-data; boundary=XyZ", chunks, usize::MAX);
            let Ok(form) = runtime().block_on(read) else {
                return;
            };
            if let Some(message) = build(spec, None, RequestBody::Fields(&form.fields)) {
                let message = plan.with_files(message, form).join();
                Blob::decode(message).expect("an accepted multipart form decodes");
            }
        }
        2 | 3 => {
            let (spec, plan) = binding(method);
            let Ok(form) = plan.read_urlencoded(body) else {
                return;
            };
            if let Some(message) = build(spec, None, RequestBody::Fields(&form.fields)) {
                let message = plan.with_files(message, form).join();
                Blob::decode(message).expect("an accepted form decodes");
            }
        }
        4 => {
            let (spec, plan) = binding("UpdateItem");
            let Some(message) = build(spec, None, RequestBody::Json(body)) else {
                return;
            };
            let Ok(message) = plan.with_mask(message, None, body) else {
                return;
            };
            let request = UpdateItemRequest::decode(message).expect("a masked request decodes");
            let item = schema()
                .descriptors()
                .get_message_by_name("gatehouse.media.v1.Item")
                .unwrap();
            for path in request.update_mask.map(|m| m.paths).unwrap_or_default() {
                let first = path.split('.').next().unwrap_or_default();
                assert!(
                    item.get_field_by_name(first).is_some(),
                    "mask path {path:?}"
                );
            }
        }
        _ => {
            let (_, plan) = binding("Download");
            let _ = plan.raw_reply(&Bytes::copy_from_slice(body));
        }
    }
});
