//! The build refuses protos whose google.api.http rules cannot be served, naming the proto
//! file, the method and the rule. This runs the same codegen build.rs runs, on small protos.

#[allow(dead_code, unused_imports)]
#[path = "../src/http_rule/mod.rs"]
mod http_rule;

#[allow(dead_code)]
#[path = "../src/schema/rules.rs"]
mod rules;

#[allow(dead_code)]
#[path = "../src/codegen/mod.rs"]
mod codegen;

use std::fs;
use std::path::Path;

/// Compiles `service` (the body of a proto file in package `shop.v1`) with the project's
/// google/api protos and runs the route generation.
fn generate(service: &str) -> Result<String, String> {
    // Removed on drop, whichever way this returns.
    let temp = tempfile::Builder::new()
        .prefix("gatehouse-build-errors")
        .tempdir()
        .unwrap();
    let dir = temp.path();
    let api = dir.join("google/api");
    fs::create_dir_all(&api).unwrap();
    fs::create_dir_all(dir.join("shop/v1")).unwrap();
    for file in ["http.proto", "annotations.proto"] {
        fs::copy(Path::new("proto/google/api").join(file), api.join(file)).unwrap();
    }
    let text = format!(
        "syntax = \"proto3\";\npackage shop.v1;\nimport \"google/api/annotations.proto\";\n\
         message Item {{ string id = 1; repeated string tags = 2; Item parent = 3; map<string, string> labels = 4; }}\n\
         message GetItemRequest {{ string item_id = 1; Item item = 2; repeated string ids = 3; }}\n\
         {service}\n"
    );
    fs::write(dir.join("shop/v1/shop.proto"), text).unwrap();
    let mut compiler = protox::Compiler::new([dir]).unwrap();
    compiler.include_imports(true);
    compiler
        .open_file("shop/v1/shop.proto")
        .map_err(|e| e.to_string())?;
    let pool =
        prost_reflect::DescriptorPool::decode(compiler.encode_file_descriptor_set().as_slice())
            .unwrap();
    let packages = codegen::generated_packages(&pool);
    codegen::generate(&pool, &packages, dir).map(|g| g.routes)
}

fn service(rules: &str) -> String {
    format!("service ShopService {{\n{rules}\n}}")
}

fn rpc(name: &str, option: &str) -> String {
    format!(
        "  rpc {name}(GetItemRequest) returns (Item) {{ option (google.api.http) = {{ {option} }}; }}"
    )
}

fn build_error(rules: &str) -> String {
    match generate(&service(rules)) {
        Ok(_) => panic!("expected the build to fail for:\n{rules}"),
        Err(e) => e,
    }
}

#[test]
fn a_valid_service_generates_its_routes() {
    let routes = generate(&service(&format!(
        "{}\n{}",
        rpc("GetItem", "get: \"/v1/items/{item_id}\" additional_bindings { post: \"/v1/items:get\" body: \"*\" }"),
        "  rpc Plain(GetItemRequest) returns (Item);"
    )))
    .unwrap();
    assert!(
        routes.contains("template: \"/v1/items/{item_id}\""),
        "{routes}"
    );
    assert!(routes.contains("template: \"/v1/items:get\""), "{routes}");
    assert!(
        routes.contains("template: \"/shop.v1.ShopService/Plain\""),
        "{routes}"
    );
    assert!(routes.contains("impl crate::transcode::FieldSet for crate::proto::shop::v1::Item"));
}

#[test]
fn a_template_that_does_not_parse_names_file_method_and_rule() {
    let error = build_error(&rpc("GetItem", "get: \"/v1/items/{item_id\""));
    assert!(
        error.starts_with(
            "shop/v1/shop.proto: shop.v1.ShopService.GetItem: rule `GET /v1/items/{item_id`"
        ),
        "{error}"
    );
}

#[test]
fn a_variable_bound_to_a_missing_field_fails() {
    let error = build_error(&rpc("GetItem", "get: \"/v1/items/{nope}\""));
    assert!(error.contains("shop.v1.ShopService.GetItem"), "{error}");
    assert!(error.contains("variable {nope}"), "{error}");
    assert!(
        error.contains("\"nope\" is not a field of shop.v1.GetItemRequest"),
        "{error}"
    );
}

#[test]
fn a_variable_bound_to_a_non_scalar_field_fails() {
    for (template, field) in [
        ("/v1/items/{item}", "item"),
        ("/v1/items/{ids}", "ids"),
        ("/v1/items/{item.tags}", "item.tags"),
        ("/v1/items/{item.labels}", "item.labels"),
    ] {
        let error = build_error(&rpc("GetItem", &format!("get: \"{template}\"")));
        assert!(
            error.contains(&format!(
                "variable {{{field}}} must name a singular scalar or enum field"
            )),
            "{template}: {error}"
        );
    }
    let error = build_error(&rpc("GetItem", "get: \"/v1/items/{ids.x}\""));
    assert!(
        error.contains("\"ids\" is not a singular message field"),
        "{error}"
    );
}

#[test]
fn body_and_response_body_must_name_fields() {
    let error = build_error(&rpc("GetItem", "post: \"/v1/items\" body: \"nope\""));
    assert!(
        error.contains("body field \"nope\" is not a field of shop.v1.GetItemRequest"),
        "{error}"
    );
    let error = build_error(&rpc(
        "GetItem",
        "get: \"/v1/items\" response_body: \"nope\"",
    ));
    assert!(
        error.contains("response_body \"nope\" is not a field of shop.v1.Item"),
        "{error}"
    );
}

#[test]
fn two_rules_with_the_same_method_and_equivalent_templates_fail() {
    let error = build_error(&format!(
        "{}\n{}",
        rpc("GetItem", "get: \"/v1/{item_id=items/*}\""),
        rpc("OtherItem", "get: \"/v1/items/{item_id}\"")
    ));
    assert!(
        error.contains("shop.v1.ShopService.OtherItem: rule `GET /v1/items/{item_id}`"),
        "{error}"
    );
    assert!(
        error.contains("the same HTTP method and path as"),
        "{error}"
    );
    assert!(error.contains("shop.v1.ShopService.GetItem"), "{error}");
    // The same template under another HTTP method is fine.
    generate(&service(&format!(
        "{}\n{}",
        rpc("GetItem", "get: \"/v1/items/{item_id}\""),
        rpc("OtherItem", "delete: \"/v1/items/{item_id}\"")
    )))
    .unwrap();
    // Two services may share a path: which of them one config serves is checked when the
    // gateway is built (tests/route_conflicts.rs).
    let routes = generate(&format!(
        "{}\nservice AuditService {{\n{}\n}}",
        service(&rpc("GetItem", "get: \"/v1/items/{item_id}\"")),
        rpc("GetItem", "get: \"/v1/{item_id=items/*}\"")
    ))
    .expect("services of their own may share a path");
    assert!(
        routes.contains("shop.v1.ShopService") && routes.contains("shop.v1.AuditService"),
        "{routes}"
    );
}
