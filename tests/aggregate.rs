//! Aggregates over real sockets: the demo dashboard, concurrency proven by a barrier, dependent
//! calls, required and optional failures, cancellation, `?fields=`, per-call policies, and every
//! start-up check.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{GatedEcho, Instance, TestGateway, expect_error, json_ok};
use gatehouse::config::Config;
use gatehouse::demo::{self, DemoStore, RunningBackend};
use serde_json::{Value, json};

const ECHO: &str = "gatehouse.echo.v1.EchoService";

/// A gateway whose echo backend is `endpoint`, with `aggregate` (TOML of one
/// `[[aggregates]]` entry, its calls as `[[aggregates.calls]]`) and `extra` config.
async fn gateway(endpoint: &str, aggregate: &str, extra: &str) -> TestGateway {
    TestGateway::builder()
        .echo_at(endpoint)
        .config(extra)
        .config(aggregate)
        .start()
        .await
}

fn config_error(aggregate: &str) -> String {
    let text = format!(
        "[[backends]]\nname = \"echo\"\nservices = [\"{ECHO}\"]\nendpoints = [\"http://127.0.0.1:1\"]\n\n\
         [[backends]]\nname = \"users\"\nservices = [\"users.v1.UserService\"]\nendpoints = [\"http://127.0.0.1:2\"]\n\n\
         {aggregate}"
    );
    // Plans are checked against the schema by the compile step, as `serve` and `check` do.
    let config = match Config::parse("gatehouse.toml", &text) {
        Ok(config) => config,
        Err(e) => return e.to_string(),
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    match runtime.block_on(async { gatehouse::gateway::Gateway::new(&config).map(drop) }) {
        Ok(()) => panic!("accepted:\n{aggregate}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn the_dashboard_combines_user_orders_and_their_products() {
    let backends = demo::spawn_all(DemoStore::seeded()).await.unwrap();
    let gw = demo_gateway(&backends).await;
    let body = json_ok(gw.get("/api/user-dashboard/123").send().await.unwrap()).await;
    // Each call shows the field it names (`response_body`), not its whole response.
    assert_eq!(body["user"]["displayName"], "Ada Lovelace");
    let orders = body["orders"].as_array().unwrap();
    assert!(!orders.is_empty());
    // Every product of every order, once each, in first-seen order.
    let mut wanted: Vec<&str> = Vec::new();
    for order in orders {
        for item in order["lineItems"].as_array().unwrap() {
            let id = item["productId"].as_str().unwrap();
            if !wanted.contains(&id) {
                wanted.push(id);
            }
        }
    }
    let got: Vec<&str> = body["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["productId"].as_str().unwrap())
        .collect();
    assert_eq!(got, wanted);
    assert_eq!(body["errors"], json!([]));
    // A field shown alone is as the codec rendered it: the user's members in proto order.
    let text = gw
        .get("/api/user-dashboard/123")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let user = ["\"userId\"", "\"email\"", "\"displayName\"", "\"tier\""]
        .map(|k| text.find(k).unwrap_or_else(|| panic!("no {k} in {text}")));
    assert!(user.windows(2).all(|w| w[0] < w[1]), "{text}");

    // The required user call failing fails the whole request with its own status.
    let response = gw.get("/api/user-dashboard/999").send().await.unwrap();
    let body = common::expect_status(response, 404, 5).await;
    assert!(body["message"].as_str().unwrap().contains("999"), "{body}");
}

/// The demo's four backends behind a gateway with the demo's dashboard and no auth.
async fn demo_gateway(backends: &[RunningBackend]) -> TestGateway {
    let mut builder = TestGateway::builder().without_echo();
    for backend in backends {
        let service = backend.service;
        builder = builder.backend(service.name(), service.grpc_service(), backend.addr);
    }
    let dashboard = demo::DASHBOARD.replace("[[calls]]", "[[aggregates.calls]]");
    builder
        .config(&format!("[[aggregates]]{dashboard}"))
        .start()
        .await
}

#[tokio::test]
async fn independent_calls_run_concurrently() {
    // Each call waits at a barrier for three: made one after another, the first would wait
    // forever (and the aggregate would time out with 504).
    let gated = GatedEcho::spawn(Arc::new(tokio::sync::Barrier::new(3))).await;
    let aggregate = "[[aggregates]]\nroute = \"GET /agg/three\"\ntimeout = \"5s\"\n\
        [[aggregates.calls]]\nname = \"a\"\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\nrequest = { string_field = \"a\" }\n\
        [[aggregates.calls]]\nname = \"b\"\nmethod = \"gatehouse.echo.v1.EchoService/EchoBook\"\nrequest = { string_field = \"b\" }\n\
        [[aggregates.calls]]\nname = \"c\"\nmethod = \"gatehouse.echo.v1.EchoService/EchoFile\"\nrequest = { string_field = \"c\" }\n";
    let gw = gateway(&format!("http://{}", gated.addr), aggregate, "").await;
    let body = json_ok(gw.get("/agg/three").send().await.unwrap()).await;
    assert_eq!(body["a"]["stringField"], "a");
    assert_eq!(body["b"]["stringField"], "b");
    assert_eq!(body["c"]["stringField"], "c");
}

const CHAIN: &str = "[[aggregates]]\nroute = \"GET /agg/chain/{id}\"\n\
    [[aggregates.calls]]\nname = \"first\"\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\n\
    request = { string_field = \"{id}\", repeated_string = [\"x\", \"y\", \"x\"], nested = { id = \"{query.tag}\", count = 7 } }\n\
    [[aggregates.calls]]\nname = \"second\"\nmethod = \"gatehouse.echo.v1.EchoService/EchoBook\"\n\
    request = { repeated_string = \"{first.repeated_string[*]}\", string_field = \"{first.nested.id}\", int64_field = \"{first.nested.count}\" }\n";

#[tokio::test]
async fn a_dependent_call_sees_its_input() {
    let instance = Instance::start(0).await;
    let gw = gateway(&instance.endpoint(), CHAIN, "").await;
    let body = json_ok(gw.get("/agg/chain/42?tag=t-1").send().await.unwrap()).await;
    assert_eq!(body["first"]["stringField"], "42");
    assert_eq!(body["first"]["repeatedString"], json!(["x", "y", "x"]));
    // `[*]` fans out and de-duplicates; scalars convert (int32 count → int64 field).
    assert_eq!(body["second"]["repeatedString"], json!(["x", "y"]));
    assert_eq!(body["second"]["stringField"], "t-1");
    assert_eq!(body["second"]["int64Field"], "7");
    assert_eq!(instance.served(), 2);
}

/// `response_body` shows one field of a call's response, or its default when the response
/// leaves it out; references to the call still read the whole response.
#[tokio::test]
async fn a_call_may_show_one_field_of_its_response() {
    let instance = Instance::start(0).await;
    let echo = "gatehouse.echo.v1.EchoService/Echo";
    let aggregate = format!(
        "[[aggregates]]\nroute = \"GET /agg/natural/{{id}}\"\n\
         [[aggregates.calls]]\nname = \"a\"\nmethod = \"{echo}\"\n\
         request = {{ string_field = \"{{id}}\", repeated_string = [\"x\", \"y\"] }}\n\
         response_body = \"string_field\"\n\
         [[aggregates.calls]]\nname = \"b\"\nmethod = \"{echo}\"\n\
         request = {{ repeated_string = \"{{a.repeated_string[*]}}\" }}\n\
         response_body = \"repeated_string\"\n\
         [[aggregates.calls]]\nname = \"empty_list\"\nmethod = \"{echo}\"\n\
         response_body = \"repeated_nested\"\n\
         [[aggregates.calls]]\nname = \"empty_message\"\nmethod = \"{echo}\"\n\
         response_body = \"nested\"\n\
         [[aggregates.calls]]\nname = \"zero\"\nmethod = \"{echo}\"\n\
         response_body = \"int64_field\"\n"
    );
    let gw = gateway(&instance.endpoint(), &aggregate, "").await;
    let body = json_ok(gw.get("/agg/natural/hi").send().await.unwrap()).await;
    assert_eq!(
        body,
        json!({
            "a": "hi",
            // Read from a's whole response, though a shows only its string field.
            "b": ["x", "y"],
            "empty_list": [],
            "empty_message": {},
            "zero": "0",
            "errors": []
        })
    );
}

#[tokio::test]
async fn fields_runs_only_the_named_calls_and_what_they_read() {
    let instance = Instance::start(0).await;
    let aggregate = format!(
        "{CHAIN}[[aggregates.calls]]\nname = \"third\"\nmethod = \"gatehouse.echo.v1.EchoService/EchoFile\"\n"
    );
    let gw = gateway(&instance.endpoint(), &aggregate, "").await;
    let body = json_ok(gw.get("/agg/chain/1?fields=second").send().await.unwrap()).await;
    // `second` reads `first`, so both ran; `third` did not; only `second` is shown.
    assert_eq!(instance.served(), 2);
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["errors", "second"]);

    let body = json_ok(
        gw.get("/agg/chain/1?fields=third,first")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(instance.served(), 4);
    assert!(body.get("first").is_some() && body.get("third").is_some());
    assert!(body.get("second").is_none());

    let response = gw.get("/agg/chain/1?fields=nope").send().await.unwrap();
    let body = expect_error(response, 400, 3, "INVALID_FIELD").await;
    assert!(body["message"].as_str().unwrap().contains("nope"), "{body}");
}

#[tokio::test]
async fn an_optional_call_failing_is_reported_and_what_reads_it_is_skipped() {
    let instance = Instance::start(0).await;
    let aggregate = "[[aggregates]]\nroute = \"GET /agg/partial\"\n\
        [[aggregates.calls]]\nname = \"ok\"\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\nrequest = { string_field = \"fine\" }\nrequired = true\n\
        [[aggregates.calls]]\nname = \"broken\"\nmethod = \"gatehouse.echo.v1.EchoService/EchoBook\"\n\
        request = { fail = { code = 13, message = \"db password is hunter2\" } }\n\
        [[aggregates.calls]]\nname = \"after\"\nmethod = \"gatehouse.echo.v1.EchoService/EchoFile\"\nrequest = { string_field = \"{broken.string_field}\" }\n\
        [[aggregates.calls]]\nname = \"missing\"\nmethod = \"gatehouse.echo.v1.EchoService/EchoWild\"\nrequest = { fail = { code = 5, message = \"no such thing\" } }\n";
    let gw = gateway(&instance.endpoint(), aggregate, "").await;
    let body = json_ok(gw.get("/agg/partial").send().await.unwrap()).await;
    assert_eq!(body["ok"]["stringField"], "fine");
    assert!(body.get("broken").is_none() && body.get("after").is_none());
    let errors = body["errors"].as_array().unwrap();
    let by_call = |name: &str| errors.iter().find(|e| e["call"] == name).cloned().unwrap();
    // INTERNAL: the backend's message is redacted, as everywhere.
    assert_eq!(by_call("broken")["code"], 13);
    assert_eq!(by_call("broken")["message"], "internal error");
    assert!(!body.to_string().contains("hunter2"));
    assert_eq!(by_call("after")["code"], 13);
    assert!(
        by_call("after")["message"]
            .as_str()
            .unwrap()
            .contains("broken")
    );
    assert_eq!(by_call("missing")["code"], 5);
    assert_eq!(by_call("missing")["message"], "no such thing");
    assert_eq!(errors.len(), 3);
}

#[tokio::test]
async fn a_required_call_failing_fails_the_request_and_cancels_the_others() {
    let instance = Instance::start(0).await;
    let aggregate = "[[aggregates]]\nroute = \"GET /agg/required\"\ntimeout = \"20s\"\n\
        [[aggregates.calls]]\nname = \"slow\"\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\nrequest = { delay_ms = 15000 }\n\
        [[aggregates.calls]]\nname = \"gate\"\nmethod = \"gatehouse.echo.v1.EchoService/EchoBook\"\n\
        request = { delay_ms = 200, fail = { code = 7, message = \"not yours\" } }\nrequired = true\n";
    let gw = gateway(&instance.endpoint(), aggregate, "").await;
    let response = gw.get("/agg/required").send().await.unwrap();
    let body = common::expect_status(response, 403, 7).await;
    assert_eq!(body["message"], "not yours");
    // The slow call was in flight; the backend sees it cancelled (bounded wait, no timing
    // assertion).
    for _ in 0..500 {
        if instance.cancelled() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(instance.cancelled(), 1);
    assert_eq!(instance.served(), 2);
}

#[tokio::test]
async fn each_call_passes_its_own_methods_policy() {
    let instance = Instance::start(0).await;
    let jwks = common::tokens::JwksFile::write();
    // The aggregate route is open to any authenticated caller, but EchoBook needs "admin":
    // a caller without it gets the rest, and EchoBook's 403 in `errors`.
    let aggregate = "[[aggregates]]\nroute = \"GET /agg/policy\"\n\
        [[aggregates.calls]]\nname = \"open\"\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\nrequest = { string_field = \"o\" }\n\
        [[aggregates.calls]]\nname = \"admin_only\"\nmethod = \"gatehouse.echo.v1.EchoService/EchoBook\"\n";
    let extra = format!(
        "{}\n[[routes]]\nmethod = \"gatehouse.echo.v1.EchoService/EchoBook\"\nroles = [\"admin\"]\n",
        jwks.auth_toml()
    );
    let gw = gateway(&instance.endpoint(), aggregate, &extra).await;
    let response = gw.get("/agg/policy").send().await.unwrap();
    expect_error(response, 401, 16, "UNAUTHENTICATED").await;

    let bearer = format!("Bearer {}", common::tokens::token("alice", &["customer"]));
    let response = gw
        .get("/agg/policy")
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    let body: Value = json_ok(response).await;
    assert_eq!(body["open"]["stringField"], "o");
    assert_eq!(body["errors"][0]["call"], "admin_only");
    assert_eq!(body["errors"][0]["code"], 7);
    assert_eq!(
        instance.served(),
        1,
        "the forbidden call never reached the backend"
    );
}

#[test]
fn start_up_checks_name_the_aggregate_call_and_key() {
    let call = |name: &str, method: &str, request: &str| {
        format!(
            "[[aggregates.calls]]\nname = \"{name}\"\nmethod = \"{method}\"\nrequest = {{ {request} }}\n"
        )
    };
    let echo = "gatehouse.echo.v1.EchoService/Echo";
    let route = "[[aggregates]]\nroute = \"GET /agg/{id}\"\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!(
                "{route}{}",
                call("a", "gatehouse.echo.v1.EchoService/Nope", "")
            ),
            "aggregates[0].calls[0].method",
            "not a compiled method",
        ),
        (
            format!("{route}{}", call("a", echo, "no_such_field = 1")),
            "aggregates[0].calls[0].request.no_such_field",
            "has no field",
        ),
        (
            format!("{route}{}", call("a", echo, "string_field = \"{ghost}\"")),
            "aggregates[0].calls[0].request.string_field",
            "not a path variable",
        ),
        (
            format!(
                "{route}{}{}",
                call("a", echo, ""),
                call("b", echo, "string_field = \"{a.no_such_field}\"")
            ),
            "aggregates[0].calls[1].request.string_field",
            "has no field",
        ),
        (
            format!(
                "{route}{}{}",
                call("a", echo, ""),
                call("b", echo, "bool_field = \"{a.string_field}\"")
            ),
            "aggregates[0].calls[1].request.bool_field",
            "cannot convert",
        ),
        (
            format!(
                "{route}{}{}",
                call("a", echo, ""),
                call("b", echo, "string_field = \"{a.repeated_string[*]}\"")
            ),
            "aggregates[0].calls[1].request.string_field",
            "must be a repeated field",
        ),
        (
            format!(
                "{route}{}{}",
                call("a", echo, ""),
                call("b", echo, "repeated_string = \"{a.repeated_string}\"")
            ),
            "aggregates[0].calls[1].request.repeated_string",
            "write repeated_string[*]",
        ),
        (
            format!("{route}{}", call("a", echo, "int32_field = \"twelve\"")),
            "aggregates[0].calls[0].request",
            "int32",
        ),
        (
            format!(
                "{route}{}{}",
                call("a", echo, "string_field = \"{b.string_field}\""),
                call("b", echo, "string_field = \"{a.string_field}\"")
            ),
            "aggregates[0].calls",
            "cycle",
        ),
        (
            format!("{route}{}", call("errors", echo, "")),
            "aggregates[0].calls[0].name",
            "reserved",
        ),
        (
            format!("{route}{}response_body = \"nope\"\n", call("a", echo, "")),
            "aggregates[0].calls[0].response_body",
            "\"nope\" is not a field of gatehouse.echo.v1.Kitchen",
        ),
        (
            format!(
                "[[aggregates]]\nroute = \"GET /v1/echo/{{x}}\"\n{}",
                call("a", echo, "")
            ),
            "aggregates[0].route",
            "already the binding",
        ),
        (
            format!(
                "{route}{}",
                call("a", "payments.v1.PaymentService/GetPayment", "")
            ),
            "aggregates[0].calls[0].method",
            "no [[backends]] entry serves",
        ),
    ];
    for (toml, key, reason) in cases {
        let message = config_error(&toml);
        assert!(
            message.starts_with(&format!("gatehouse.toml: {key}: ")) && message.contains(reason),
            "expected {key}: …{reason}…, got: {message}\n{toml}"
        );
    }
}

#[tokio::test]
async fn the_aggregate_timeout_bounds_every_call() {
    let instance = Instance::start(0).await;
    let aggregate = "[[aggregates]]\nroute = \"GET /agg/deadline\"\ntimeout = \"300ms\"\n\
        [[aggregates.calls]]\nname = \"quick\"\nmethod = \"gatehouse.echo.v1.EchoService/Echo\"\nrequest = { string_field = \"q\" }\n\
        [[aggregates.calls]]\nname = \"late\"\nmethod = \"gatehouse.echo.v1.EchoService/EchoBook\"\nrequest = { delay_ms = 5000 }\n\
        [[aggregates.calls]]\nname = \"medium\"\nmethod = \"gatehouse.echo.v1.EchoService/EchoFile\"\nrequest = { delay_ms = 150 }\n";
    let gw = gateway(&instance.endpoint(), aggregate, "").await;
    let body = json_ok(
        gw.get("/agg/deadline?fields=quick,late")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["quick"]["stringField"], "q");
    assert_eq!(body["errors"][0]["call"], "late");
    assert_eq!(body["errors"][0]["code"], 4);

    // 150 ms fits in the aggregate's 300 ms, but not in the 50 ms the client asks for.
    let body = json_ok(gw.get("/agg/deadline?fields=medium").send().await.unwrap()).await;
    assert_eq!(body["errors"], json!([]));
    let response = gw
        .get("/agg/deadline?fields=medium")
        .header("grpc-timeout", "50m")
        .send()
        .await
        .unwrap();
    let body = json_ok(response).await;
    assert_eq!(body["errors"][0]["call"], "medium");
    assert_eq!(body["errors"][0]["code"], 4);
}
