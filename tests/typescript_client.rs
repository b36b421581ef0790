//! The TypeScript client `gatehouse client typescript` writes: it type-checks under every strict
//! option, its types refuse what the gateway would (and accept what it answers), and run by
//! Node.js over real sockets its calls make the requests the bindings map: the echo backend
//! answers with the message the gateway built, which must be the one the client was given.
//!
//! Needs Node.js and TypeScript (`scripts/install-test-tools.sh`).

mod common;

use std::path::Path;
use std::process::Command;

use common::typescript::{run_with_node, tsc, write_client, write_files};
use common::{ECHO_SERVICE, MEDIA_SERVICE, TestGateway, schema_under_test};
use gatehouse::config::Config;
use serde_json::{Value, json};

/// What the Node.js test adds to the echo and media backends: a 204 route, a route written
/// with emit_defaults, and an aggregate with a required and an optional call.
const ROUTES: &str = r#"
[[routes]]
route = "DELETE /v1/echo/{string_field}"
status = 204

[[routes]]
route = "GET /v1/nested/{string_field}"
json = { emit_defaults = true }

[[aggregates]]
route = "GET /v1/both/{id}"

[[aggregates.calls]]
name = "first"
method = "gatehouse.echo.v1.EchoService/Echo"
request = { string_field = "{id}" }
required = true

[[aggregates.calls]]
name = "second"
method = "gatehouse.echo.v1.EchoService/EchoBook"
request = { string_field = "{id}", nested = { id = "{query.tag}" } }
"#;

/// The config the client is generated from: the same services and routes as the gateway's
/// (which points at the backends it starts; endpoints do not change the client).
fn client_config(routes: &str) -> Config {
    let text = format!(
        "[[backends]]\nname = \"echo\"\nservices = [\"{ECHO_SERVICE}\"]\nendpoints = [\"http://127.0.0.1:1\"]\n\n\
         [[backends]]\nname = \"media\"\nservices = [\"{MEDIA_SERVICE}\"]\nendpoints = [\"http://127.0.0.1:1\"]\n\n{routes}"
    );
    Config::parse("client.toml", &text).unwrap_or_else(|e| panic!("the client config: {e}"))
}

fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("a temporary directory")
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/typescript")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn calls_send_what_the_bindings_map_and_read_what_the_gateway_answers() {
    let gw = TestGateway::builder().media().config(ROUTES).start().await;
    let dir = temp_dir("gatehouse-ts-echo");
    write_client(dir.path(), &client_config(ROUTES), schema_under_test());
    std::fs::write(dir.path().join("echo_calls.ts"), fixture("echo_calls.ts")).unwrap();

    let results = run_with_node(dir.path(), "echo_calls.ts", &[&gw.url("")]).await;

    // The message the backend got is the one the client was given, through the query string,
    // the body, every kind of template and a custom method.
    for case in [
        "query",
        "body",
        "book",
        "file",
        "archive",
        "typed",
        "nestedBody",
        "wild",
        "customMethod",
        "implicit",
    ] {
        let result = &results[case];
        assert_eq!(result["got"], result["sent"], "{case}: {result}");
    }
    // The route writes emit_defaults: the unset child is there, as null.
    let mut expected = results["responseBody"]["sent"].clone();
    expected["child"] = Value::Null;
    assert_eq!(results["responseBody"]["got"], expected);
    assert_eq!(
        results["emitDefaults"],
        json!({ "got": { "id": "", "count": 0, "child": null }, "id": "", "count": 0 })
    );
    assert_eq!(results["noContent"], "undefined");

    // Streams.
    let stream = results["stream"].as_array().unwrap();
    assert_eq!(stream.len(), 3, "{stream:?}");
    assert!(stream.iter().all(|m| m["stringField"] == "s"));
    assert_eq!(results["leftEarly"]["stringField"], "long");
    assert_eq!(results["streamBeforeFailure"], 2);
    let failed = &results["streamFailure"];
    assert_eq!(failed["class"], "ApiError", "{failed}");
    assert_eq!(failed["code"], 9, "{failed}");
    assert_eq!(failed["codeName"], "FAILED_PRECONDITION", "{failed}");
    assert_eq!(failed["status"], 400, "{failed}");
    assert_eq!(failed["message"], "late", "{failed}");
    // The last message of the client stream, with the count of messages in int32Field.
    assert_eq!(
        results["clientStream"],
        json!({ "stringField": "c", "int32Field": 3, "int64Field": "3" })
    );

    // Failures.
    let backend = &results["backendError"];
    assert_eq!(backend["class"], "ApiError", "{backend}");
    assert_eq!(backend["status"], 404, "{backend}");
    assert_eq!(backend["code"], 5, "{backend}");
    assert_eq!(backend["message"], "no such thing", "{backend}");
    let details = backend["details"].as_array().unwrap();
    assert!(
        details
            .iter()
            .any(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest"),
        "{backend}"
    );
    let deadline = &results["deadline"];
    assert_eq!(deadline["status"], 504, "{deadline}");
    assert_eq!(deadline["codeName"], "DEADLINE_EXCEEDED", "{deadline}");
    assert_eq!(deadline["reason"], "DEADLINE_EXCEEDED", "{deadline}");
    assert_eq!(
        results["aborted"]["name"], "AbortError",
        "{}",
        results["aborted"]
    );
    let unreachable = &results["unreachable"];
    assert_eq!(unreachable["class"], "ApiError", "{unreachable}");
    assert_eq!(unreachable["status"], 0, "{unreachable}");
    assert_eq!(unreachable["codeName"], "UNAVAILABLE", "{unreachable}");
    let empty = &results["emptyPath"];
    assert_eq!(empty["class"], "TypeError", "{empty}");
    assert!(
        empty["message"]
            .as_str()
            .unwrap()
            .contains("stringField is needed for the path"),
        "{empty}"
    );

    // Raw bytes both ways.
    assert_eq!(
        results["raw"],
        json!({ "type": "text/plain", "text": "raw bytes" })
    );

    // The aggregate, whole and narrowed by `fields`.
    let both = &results["aggregate"];
    assert_eq!(both["first"]["stringField"], "agg", "{both}");
    assert_eq!(both["second"]["nested"]["id"], "t", "{both}");
    assert_eq!(both["errors"], json!([]), "{both}");
    assert_eq!(
        results["aggregateFields"]["keys"],
        json!(["errors", "first"])
    );
    assert_eq!(results["aggregateFields"]["first"]["stringField"], "agg");
}

/// Each file must fail to type-check, at its marked line, for the reason given: the types say
/// what the gateway accepts.
const MISTAKES: &[(&str, &str, &str)] = &[
    (
        "a number where an int64 string belongs",
        "import type { LineItemInput } from \"./api/index.js\";\n\
         export const item: LineItemInput = { productId: \"p-100\", quantity: 1, unitPriceCents: 1999 };\n",
        "TS2322",
    ),
    (
        "two members of one oneof",
        "import type { Kitchen } from \"./api/index.js\";\n\
         export const k: Kitchen = { choiceText: \"a\", choiceNumber: 1 };\n",
        "TS2322",
    ),
    (
        "a required field left out",
        "import type { CreateOrderRequestInput } from \"./api/index.js\";\n\
         export const order: CreateOrderRequestInput = { userId: \"123\" };\n",
        "TS2741",
    ),
    (
        "a required field left out of a nested message",
        "import type { CreateOrderRequestInput } from \"./api/index.js\";\n\
         export const order: CreateOrderRequestInput = { lineItems: [{ productId: \"p-100\" }] };\n",
        "TS2741",
    ),
    (
        "an enum name that does not exist",
        "import type { Kitchen } from \"./api/index.js\";\n\
         export const k: Kitchen = { enumField: \"COLOR_BLUE\" };\n",
        "TS2322",
    ),
    (
        "a path field left out",
        "import { Gatehouse } from \"./api/index.js\";\n\
         export const user = new Gatehouse().userService.getUser({});\n",
        "TS2345",
    ),
    (
        "a map in the query string of a GET",
        "import { Gatehouse } from \"./api/index.js\";\n\
         export const k = new Gatehouse().echoService.echo({ stringField: \"a\", labels: { a: \"b\" } });\n",
        "TS2353",
    ),
    (
        "an optional answer field read as if always there",
        "import type { Order } from \"./api/index.js\";\n\
         export const total = (order: Order): string => order.totalCents;\n",
        "TS2322",
    ),
    (
        "an aggregate call read that `fields` left out",
        "import { Gatehouse } from \"./api/index.js\";\n\
         export const orders = async () => (await new Gatehouse().aggregates.apiUserDashboard({ user_id: \"1\" }, { fields: [\"user\"] })).orders;\n",
        "TS2339",
    ),
];

/// The same files written right: they must type-check, so that each mistake above is what
/// fails.
const RIGHT: &str = r#"import { ApiError, Gatehouse } from "./api/index.js";
import type { CreateOrderRequestInput, Kitchen, LineItemInput, Order } from "./api/index.js";
export const item: LineItemInput = { productId: "p-100", quantity: 1, unitPriceCents: "1999" };
export const k: Kitchen = { choiceText: "a", enumField: "COLOR_RED", labels: { a: "b" } };
export const order: CreateOrderRequestInput = { lineItems: [{ productId: "p-100", quantity: 2 }] };
export const user = new Gatehouse().userService.getUser({ userId: "123" });
export const echoed = new Gatehouse().echoService.echo({ stringField: "a", repeatedString: ["x"] });
export const total = (order: Order): string => order.totalCents ?? "0";
export const orders = async () => (await new Gatehouse().aggregates.apiUserDashboard({ user_id: "1" }, { fields: ["user", "orders"] })).orders;
export const failed = (e: unknown): number | undefined => (e instanceof ApiError ? e.code : undefined);
"#;

#[test]
fn the_types_refuse_what_the_gateway_would() {
    let dir = temp_dir("gatehouse-ts-types");
    // Every compiled-in service (the demo's and the test protos) with the demo's config.
    let schema = gatehouse::transcode::compiled::schema();
    let mut config = gatehouse::demo::described_config();
    config.backends.extend(client_config("").backends);
    write_client(dir.path(), &config, schema);

    std::fs::write(dir.path().join("right.ts"), RIGHT).unwrap();
    if let Err(report) = tsc(dir.path(), &["right.ts"], None) {
        panic!("the right uses do not type-check:\n{report}");
    }
    for (i, (mistake, text, code)) in MISTAKES.iter().enumerate() {
        let name = format!("mistake_{i}.ts");
        std::fs::write(dir.path().join(&name), text).unwrap();
        let report = match tsc(dir.path(), &[&name], None) {
            Ok(()) => panic!("{mistake}: type-checks, but should not"),
            Err(report) => report,
        };
        assert!(
            report.contains(&format!("{name}(2,")) && report.contains(code),
            "{mistake}: expected {code} on line 2, got:\n{report}"
        );
    }
}

#[test]
fn clients_of_every_service_and_the_demo_type_check() {
    let dir = temp_dir("gatehouse-ts-all");
    let schema = gatehouse::transcode::compiled::schema();
    let all = gatehouse::openapi::all_services_config(schema);
    write_files(
        dir.path(),
        &gatehouse::clientgen::typescript(&all, schema, &[], "every service"),
    );
    if let Err(report) = tsc(dir.path(), &["api/index.ts"], None) {
        panic!("the client of every compiled-in service:\n{report}");
    }
    let demo = temp_dir("gatehouse-ts-demo");
    write_client(demo.path(), &gatehouse::demo::described_config(), schema);
    if let Err(report) = tsc(demo.path(), &["api/index.ts"], None) {
        panic!("the demo's client:\n{report}");
    }
}

/// JSON output options change the answer types: names, enums as numbers, members always there.
#[test]
fn answer_types_follow_the_json_options() {
    let dir = temp_dir("gatehouse-ts-json");
    let config = client_config(
        "[server.json]\nemit_defaults = true\nenums_as_numbers = true\nproto_names = true\n",
    );
    write_client(
        dir.path(),
        &config,
        gatehouse::transcode::compiled::schema(),
    );
    let right = "import { Gatehouse } from \"./api/index.js\";\n\
        export const read = async (): Promise<[string, number, string | null]> => {\n\
          const k = await new Gatehouse().echoService.echo({ stringField: \"a\" });\n\
          return [k.string_field, k.enum_field, k.timestamp];\n\
        };\n";
    std::fs::write(dir.path().join("right.ts"), right).unwrap();
    if let Err(report) = tsc(dir.path(), &["right.ts"], None) {
        panic!("answers with every option:\n{report}");
    }
    // Requests still take JSON names and enum names.
    let request = "import { Gatehouse } from \"./api/index.js\";\n\
        export const k = new Gatehouse().echoService.echo_2({ stringField: \"a\", enumField: \"COLOR_RED\" });\n";
    std::fs::write(dir.path().join("request.ts"), request).unwrap();
    if let Err(report) = tsc(dir.path(), &["request.ts"], None) {
        panic!("requests with every option:\n{report}");
    }
    let wrong = "import { Gatehouse } from \"./api/index.js\";\n\
        export const read = async (): Promise<string> => (await new Gatehouse().echoService.echo({ stringField: \"a\" })).enum_field;\n";
    std::fs::write(dir.path().join("wrong.ts"), wrong).unwrap();
    let report = tsc(dir.path(), &["wrong.ts"], None).expect_err("an enum number read as a name");
    assert!(report.contains("TS2322"), "{report}");
}

/// Compiled-in and run-time protos give the same client.
#[test]
fn run_time_protos_give_the_same_client() {
    let compiled = gatehouse::transcode::compiled::schema();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let encoded = gatehouse::sources::protos::compile(&[root]).expect("proto/ compiles");
    let runtime = gatehouse::sources::from_descriptors(encoded.into(), "[schema] protos", None)
        .expect("a schema");
    let config = client_config(ROUTES);
    let text = |schema: &gatehouse::schema::Schema| {
        let plans = gatehouse::gateway::check::against_schema(&config, schema).unwrap();
        gatehouse::clientgen::typescript(&config, schema, &plans, "a test")
            .into_iter()
            .map(|f| f.text)
            .collect::<Vec<_>>()
    };
    assert_eq!(text(compiled), text(&runtime));
}

/// The command writes both files, and the demo's client in examples/web is the one it writes.
#[test]
fn the_command_writes_the_client_and_the_example_is_current() {
    let dir = temp_dir("gatehouse-ts-cli");
    let out = dir.path().join("web/api");
    let status = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["client", "typescript", "--demo", "--out"])
        .arg(&out)
        .status()
        .expect("run gatehouse");
    assert!(status.success());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/web/api");
    for name in ["index.ts", "runtime.ts"] {
        let written = std::fs::read_to_string(out.join(name)).unwrap();
        let committed = std::fs::read_to_string(example.join(name)).unwrap();
        assert!(
            written == committed,
            "examples/web/api/{name} is not what `gatehouse client typescript --demo` writes: \
             run `cargo run -- client typescript --demo --out examples/web/api`"
        );
    }
    // The example page compiles against it, with its own tsconfig.json.
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/web");
    let output = Command::new(common::typescript::tsc_path())
        .arg("-p")
        .arg(&web)
        .arg("--noEmit")
        .output()
        .expect("run tsc");
    assert!(
        output.status.success(),
        "examples/web does not compile:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
