//! The served OpenAPI document: what it describes for a config, and that config can turn it off.

mod common;

use common::tokens::JwksFile;
use common::{TestGateway, expect_error, json_ok};
use serde_json::Value;

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

#[tokio::test]
async fn the_docs_page_is_served_and_config_can_turn_both_off() {
    let gw = TestGateway::start().await;
    let page = gw.get("/docs").send().await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.text().await.unwrap().contains("openapi.json"));

    let gw = TestGateway::with_config("[server]\nopenapi = false").await;
    for path in ["/openapi.json", "/docs"] {
        let response = gw.get(path).send().await.unwrap();
        expect_error(response, 404, 5, "ROUTE_NOT_FOUND").await;
    }
}
