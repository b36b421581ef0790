//! The served OpenAPI document: what it describes for a config, and that config can turn it off.

mod common;

use common::tokens::JwksFile;
use common::{TestGateway, expect_error, json_ok};
use serde_json::{Value, json};

async fn document(gw: &TestGateway) -> Value {
    json_ok(gw.get("/openapi.json").send().await.unwrap()).await
}

#[tokio::test]
async fn the_document_describes_what_the_config_serves() {
    let jwks = JwksFile::write();
    let gw = TestGateway::with_config(&format!(
        "{}\n[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoBook\"\nauth = \"public\"\n\
         [[aggregates]]\nroute = \"GET /agg/{{id}}\"\n\
         [[aggregates.calls]]\nname = \"first\"\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\n\
         request = {{ string_field = \"{{id}}\" }}\nrequired = true\n",
        jwks.auth_toml()
    ))
    .await;
    let doc = document(&gw).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    // Only the echo service is configured: no demo service appears.
    assert!(
        paths.keys().all(|p| !p.starts_with("/api/")),
        "{:?}",
        paths.keys()
    );

    let echo = &doc["paths"]["/v1/echo/{string_field}"]["get"];
    assert_eq!(echo["operationId"], "EchoService_Echo");
    assert_eq!(echo["security"], serde_json::json!([{ "bearer": [] }]));
    assert_eq!(
        echo["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/gatehouse.echo.v1.Kitchen"
    );
    for status in ["400", "401", "404", "429", "503", "504"] {
        assert_eq!(
            echo["responses"][status]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/gatehouse.Error",
            "{status}"
        );
    }
    let query: Vec<&str> = echo["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        query.contains(&"int64Field") && query.contains(&"nested.id"),
        "{query:?}"
    );
    assert!(
        !query.contains(&"stringField"),
        "bound by the path: {query:?}"
    );

    // The public binding needs no credential.
    let book = &doc["paths"]["/v1/{name}"]["get"];
    assert!(book.get("security").is_none(), "{book}");
    // A server-streaming binding answers NDJSON or SSE.
    let stream = &doc["paths"]["/v1/stream/{string_field}"]["get"]["responses"]["200"]["content"];
    assert!(
        stream.get("application/x-ndjson").is_some() && stream.get("text/event-stream").is_some()
    );
    // The aggregate: one property per call plus `errors`.
    let aggregate = &doc["paths"]["/agg/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert_eq!(
        aggregate["properties"]["first"]["$ref"],
        "#/components/schemas/gatehouse.echo.v1.Kitchen"
    );
    assert_eq!(aggregate["properties"]["errors"]["type"], "array");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Proto comments become summaries.
    assert!(
        echo["summary"]
            .as_str()
            .unwrap()
            .contains("Simple path variable"),
        "{echo}"
    );
}

/// Swagger UI at `/docs` (and `/docs/`), its assets below it, all from the binary; any other
/// path under `/docs/` is the route table's, so the usual JSON 404.
#[tokio::test]
async fn swagger_ui_is_served_at_docs_and_config_can_turn_both_off() {
    let gw = TestGateway::start().await;
    for path in ["/docs", "/docs/", "/docs?from=\"><b>here"] {
        let page = gw.get(path).send().await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        assert!(
            page.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = page.text().await.unwrap();
        assert!(page.contains("url: '/openapi.json'"), "{path}: {page}");
        // Links have one slash, and nothing of the query is written into the page.
        assert!(
            page.contains("\"/docs/swagger-ui-bundle.js\""),
            "{path}: {page}"
        );
        assert!(!page.contains("from="), "{path}: {page}");
    }
    for (path, kind) in [
        ("/docs/swagger-ui-bundle.js", "text/javascript"),
        ("/docs/swagger-ui.css", "text/css"),
    ] {
        let asset = gw.get(path).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{path}");
        assert_eq!(asset.headers()["content-type"], kind, "{path}");
        assert!(asset.bytes().await.unwrap().len() > 100_000, "{path}");
    }
    for path in [
        "/docs/nothing.js",
        "/docs/swagger-ui-bundle.js/more",
        "/docsx",
    ] {
        let response = gw.get(path).send().await.unwrap();
        expect_error(response, 404, 5, "ROUTE_NOT_FOUND").await;
    }

    let gw = TestGateway::with_config("[server]\nopenapi = false").await;
    for path in ["/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"] {
        let response = gw.get(path).send().await.unwrap();
        expect_error(response, 404, 5, "ROUTE_NOT_FOUND").await;
    }
}

/// A `[[backends]]` entry for `service` at an address nothing answers: the document only needs
/// the service to be served.
fn unreachable_backend(name: &str, service: &str) -> String {
    format!(
        "[[backends]]\nname = \"{name}\"\nservices = [\"{service}\"]\n\
         endpoints = [\"http://127.0.0.1:9\"]\n"
    )
}

fn binary() -> Value {
    json!({ "type": "string", "format": "binary" })
}

#[tokio::test]
async fn raw_bodies_uploads_and_patch_masks_are_described_with_their_media_types() {
    let gw = TestGateway::builder()
        .without_echo()
        .config(&unreachable_backend(
            "media",
            "gatehouse.media.v1.MediaService",
        ))
        .config(
            "[[routes]]\nroute = \"PUT /v1/media/{name}\"\naccept = [\"image/png\", \"IMAGE/*\"]\n\
             [[routes]]\nmethod = \"gatehouse.media.v1.MediaService/Upload\"\n\
             accept = [\"text/plain\"]\n",
        )
        .start()
        .await;
    let doc = document(&gw).await;
    let paths = &doc["paths"];

    // Raw in and raw out: any media type, as bytes.
    let echo = &paths["/v1/media:echo"]["post"];
    assert_eq!(
        echo["requestBody"]["content"],
        json!({ "*/*": { "schema": binary() } })
    );
    assert_eq!(
        echo["responses"]["200"]["content"],
        json!({ "*/*": { "schema": binary() } })
    );
    // An error is still the JSON error shape.
    assert_eq!(
        echo["responses"]["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/gatehouse.Error"
    );

    // body: "file" names an HttpBody field: raw in, of the (normalised) types the route
    // accepts; the query sets the other fields.
    let put = &paths["/v1/media/{name}"]["put"];
    assert_eq!(
        put["requestBody"]["content"],
        json!({ "image/png": { "schema": binary() }, "image/*": { "schema": binary() } })
    );
    assert!(query_names(put).contains(&"caption".to_string()), "{put}");
    assert!(
        !query_names(put).iter().any(|n| n.starts_with("file")),
        "{put}"
    );

    // Downloads, unary and streamed, are raw bytes.
    for (path, streamed) in [
        ("/v1/media/{name}", false),
        ("/v1/media/{name}:stream", true),
    ] {
        let ok = &paths[path]["get"]["responses"]["200"];
        assert_eq!(
            ok["content"],
            json!({ "*/*": { "schema": binary() } }),
            "{path}"
        );
        let description = ok["description"].as_str().unwrap();
        assert_eq!(
            description.contains("streamed"),
            streamed,
            "{path}: {description}"
        );
    }

    // Uploads into a message with files: JSON or multipart, files as binary parts, nested
    // fields as dotted part names, repeated fields as arrays.
    let upload = &paths["/v1/media/{name}:upload"]["post"]["requestBody"]["content"];
    assert_eq!(
        upload["application/json"]["schema"]["$ref"],
        "#/components/schemas/gatehouse.media.v1.Blob"
    );
    let form = &upload["multipart/form-data"]["schema"];
    assert_eq!(form["type"], "object");
    let properties = &form["properties"];
    assert_eq!(properties["file"]["format"], "binary", "{form}");
    assert_eq!(properties["data"]["format"], "binary", "{form}");
    assert_eq!(properties["attachments"]["items"], binary(), "{form}");
    assert_eq!(properties["caption"]["type"], "string");
    assert_eq!(properties["count"]["type"], "integer");
    assert_eq!(
        properties["tags"],
        json!({ "type": "array", "items": { "type": "string" } })
    );
    assert_eq!(properties["details.author"]["type"], "string");
    assert_eq!(properties["details.thumbnail"]["format"], "binary");
    // The route's `accept` applies to the HttpBody part.
    assert_eq!(
        upload["multipart/form-data"]["encoding"],
        json!({ "file": { "contentType": "text/plain" } })
    );
    // body: "details": the form fills that message.
    let details = &paths["/v1/media/{name}:details"]["post"]["requestBody"]["content"]["multipart/form-data"]
        ["schema"]["properties"];
    let mut names: Vec<&String> = details.as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["author", "draft", "thumbnail"]);
    assert_eq!(details["thumbnail"]["format"], "binary");

    // PATCH with body "item": the mask stays optional and says what it defaults to.
    let patch = &paths["/v1/items/{item_name}"]["patch"];
    let mask = patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "updateMask")
        .unwrap_or_else(|| panic!("no updateMask parameter: {patch}"));
    assert_eq!(mask["in"], "query");
    assert_eq!(mask["required"], false);
    assert!(
        mask["description"]
            .as_str()
            .unwrap()
            .contains("fields the body sets"),
        "{mask}"
    );
    // A message without files is only JSON.
    assert_eq!(
        patch["requestBody"]["content"].as_object().unwrap().len(),
        1,
        "{patch}"
    );
}

#[tokio::test]
async fn the_demo_downloads_and_image_upload_are_described() {
    let mut builder = TestGateway::builder().without_echo();
    for (name, service) in [
        ("orders", "orders.v1.OrderService"),
        ("products", "products.v1.ProductService"),
    ] {
        builder = builder.config(&unreachable_backend(name, service));
    }
    let doc = document(&builder.start().await).await;
    let paths = &doc["paths"];
    for (path, verb) in [
        ("/api/orders/{order_id}/invoice", "get"),
        ("/api/orders:export", "get"),
        ("/api/products/{product_id}/image", "get"),
    ] {
        let operation = &paths[path][verb];
        assert_eq!(
            operation["responses"]["200"]["content"],
            json!({ "*/*": { "schema": binary() } }),
            "{path}"
        );
        // Lint directives in the proto comments are not part of the description.
        let description = operation["description"].as_str().unwrap();
        assert!(!description.contains("buf:lint"), "{path}: {description}");
    }
    let image = &paths["/api/products/{product_id}/image"];
    assert_eq!(
        image["put"]["requestBody"]["content"],
        json!({ "*/*": { "schema": binary() } })
    );
    let multipart = &image["post"]["requestBody"]["content"]["multipart/form-data"];
    assert_eq!(
        multipart["schema"]["properties"]["image"],
        binary_with_description("The image: its bytes and its media type, such as image/png.")
    );
}

/// An aggregate call with `response_body` is described by that field's schema.
#[tokio::test]
async fn an_aggregate_call_is_described_by_the_field_it_shows() {
    let echo = "gatehouse.echo.v1.EchoService/Echo";
    let aggregate = format!(
        "[[aggregates]]\nroute = \"GET /agg/{{id}}\"\n\
         [[aggregates.calls]]\nname = \"tags\"\nmethod = \"{echo}\"\n\
         response_body = \"repeated_string\"\n\
         [[aggregates.calls]]\nname = \"whole\"\nmethod = \"{echo}\"\n"
    );
    let doc = document(&TestGateway::with_config(&aggregate).await).await;
    let answer = &doc["paths"]["/agg/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"]["properties"];
    assert_eq!(answer["tags"]["type"], "array", "{answer}");
    assert_eq!(answer["tags"]["items"]["type"], "string", "{answer}");
    assert_eq!(
        answer["whole"]["$ref"], "#/components/schemas/gatehouse.echo.v1.Kitchen",
        "{answer}"
    );
}

fn binary_with_description(description: &str) -> Value {
    let mut schema = binary();
    schema["description"] = description.into();
    schema
}

fn query_names(operation: &Value) -> Vec<String> {
    operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// Runs `openapi-spec-validator` (installed into .tools/pyenv by
/// scripts/install-test-tools.sh) on `document`; asserts it accepts it.
fn assert_valid_document(name: &str, document: &Value) {
    let tool = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/pyenv/bin/openapi-spec-validator");
    assert!(
        tool.exists(),
        "openapi-spec-validator is not installed: run scripts/install-test-tools.sh"
    );
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, document.to_string()).unwrap();
    let output = std::process::Command::new(tool)
        .arg(&path)
        .output()
        .expect("run openapi-spec-validator");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success() && text.contains("OK"), "{text}");
}

#[tokio::test]
async fn with_problem_details_the_errors_are_described_as_problems() {
    let gw = TestGateway::with_config(
        "[server]\nerrors = \"problem\"\n\n\
         [[aggregates]]\nroute = \"GET /agg/{id}\"\n\
         [[aggregates.calls]]\nname = \"first\"\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\n\
         request = { string_field = \"{id}\" }\n",
    )
    .await;
    let doc = document(&gw).await;
    let problem = json!({ "$ref": "#/components/schemas/gatehouse.Problem" });
    for (path, verb) in [
        ("/v1/echo/{string_field}", "get"),
        ("/v1/echo", "post"),
        ("/v1/stream/{string_field}", "get"),
        ("/agg/{id}", "get"),
    ] {
        let responses = doc["paths"][path][verb]["responses"].as_object().unwrap();
        for (status, response) in responses {
            let content = response["content"].as_object().unwrap();
            if status.starts_with('2') {
                assert!(
                    !content.contains_key("application/problem+json"),
                    "{path} {status}"
                );
                continue;
            }
            assert_eq!(
                content.keys().collect::<Vec<_>>(),
                ["application/problem+json"],
                "{path} {verb} {status}"
            );
            assert_eq!(content["application/problem+json"]["schema"], problem);
        }
        assert_eq!(
            responses["429"]["headers"]["Retry-After"]["schema"]["type"],
            "integer"
        );
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas.get("gatehouse.Error").is_none());
    let schema = &schemas["gatehouse.Problem"];
    assert_eq!(
        schema["required"],
        json!(["type", "title", "status", "detail", "code", "details"])
    );
    assert_valid_document("openapi-problem.json", &doc);

    // The default document still describes the status shape, and validates too.
    let gw = TestGateway::start().await;
    let doc = document(&gw).await;
    let echo = &doc["paths"]["/v1/echo/{string_field}"]["get"]["responses"]["404"]["content"];
    assert!(echo.get("application/problem+json").is_none(), "{echo}");
    assert!(
        doc["components"]["schemas"]
            .get("gatehouse.Problem")
            .is_none()
    );
    assert_valid_document("openapi-status.json", &doc);
}

#[tokio::test]
async fn streaming_operations_say_how_to_call_them_over_a_websocket() {
    let gw = TestGateway::start().await;
    let document = document(&gw).await;
    let kitchen = json!({"$ref": "#/components/schemas/gatehouse.echo.v1.Kitchen"});
    for (path, verb) in [
        ("/v1/chat/{string_field}", "post"),
        ("/v1/collect/{string_field}", "post"),
        ("/v1/stream/{string_field}", "get"),
    ] {
        let operation = &document["paths"][path][verb];
        assert_eq!(
            operation["x-gatehouse-websocket"],
            json!({"subprotocol": "gatehouse.v1", "request": kitchen, "response": kitchen}),
            "{path}"
        );
        let description = operation["description"].as_str().unwrap();
        assert!(
            description.contains(
                "Open one with GET on this path and `Sec-WebSocket-Protocol: gatehouse.v1`"
            ),
            "{path}: {description}"
        );
    }
    let chat = document["paths"]["/v1/chat/{string_field}"]["post"]["description"]
        .as_str()
        .unwrap();
    assert!(
        chat.contains("plain HTTP does not carry (it answers 426)"),
        "{chat}"
    );
    let upgrade = &document["paths"]["/v1/chat/{string_field}"]["post"]["responses"]["426"];
    assert_eq!(
        upgrade["headers"]["Upgrade"]["schema"]["const"], "websocket",
        "{upgrade}"
    );
    // Unary operations have nothing of it.
    assert!(
        document["paths"]["/v1/echo"]["post"]
            .get("x-gatehouse-websocket")
            .is_none()
    );
    assert_valid_document("websocket", &document);
}

#[tokio::test]
async fn client_streams_describe_their_framing() {
    let gw = TestGateway::builder()
        .config(&unreachable_backend(
            "media",
            "gatehouse.media.v1.MediaService",
        ))
        .start()
        .await;
    let doc = document(&gw).await;
    let collect = &doc["paths"]["/v1/collect/{string_field}"]["post"];
    let body = &collect["requestBody"];
    let content = &body["content"];
    assert!(
        content["application/x-ndjson"]["schema"].is_object(),
        "{body}"
    );
    assert_eq!(
        content["application/json"]["schema"]["type"], "array",
        "{body}"
    );
    assert_eq!(
        content["application/json"]["schema"]["items"], content["application/x-ndjson"]["schema"],
        "{body}"
    );
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("one JSON message per line"),
        "{body}"
    );
    // The answer is the one response message.
    assert!(
        collect["responses"]["200"]["content"]["application/json"].is_object(),
        "{collect}"
    );
    let chunks = &doc["paths"]["/v1/media/chunks"]["post"]["requestBody"];
    assert_eq!(
        chunks["content"]["*/*"]["schema"]["format"], "binary",
        "{chunks}"
    );
    assert!(
        chunks["description"].as_str().unwrap().contains("64 KiB"),
        "{chunks}"
    );
}
