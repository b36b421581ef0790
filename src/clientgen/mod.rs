//! `gatehouse client typescript`: a TypeScript client of what a config serves, written from the
//! same descriptors, bindings and settings the gateway compiles, so that its types are the JSON
//! the gateway reads and writes and its calls send what the bindings map.
//!
//! Two files: `runtime.ts`, the same for every API (call options, `ApiError`, the fetch and
//! WebSocket transport), and `index.ts`, the API's types ([`types`]) and a class per service
//! with a function per binding ([`calls`]), gathered in `Gatehouse`.

mod calls;
mod types;

use std::collections::BTreeSet;

use crate::aggregate::Plan;
use crate::config::Config;
use crate::schema::Schema;
use types::Types;

/// The runtime every generated client shares.
const RUNTIME: &str = include_str!("runtime.ts");

/// One file of a generated client.
pub struct GeneratedFile {
    /// The file name, relative to the output directory.
    pub name: &'static str,
    pub text: String,
}

/// The client of what `config` serves out of `schema`, with `plans`, the compiled plans of its
/// aggregates. `source` says in the header what it was generated from.
pub fn typescript(
    config: &Config,
    schema: &Schema,
    plans: &[Plan],
    source: &str,
) -> Vec<GeneratedFile> {
    let bindings = calls::served(config, schema);
    let class_names = calls::class_names(&bindings);
    let mut reserved: BTreeSet<String> = class_names.values().cloned().collect();
    reserved.insert("Aggregates".into());
    reserved.extend(
        calls::aggregate_names(plans)
            .iter()
            .map(|n| calls::answer_name(n)),
    );

    let mut roots = Vec::new();
    for binding in &bindings {
        roots.push(binding.method.input());
        roots.push(binding.method.output());
    }
    for call in plans.iter().flat_map(|p| &p.calls) {
        if let Some(output) = schema
            .descriptors()
            .get_message_by_name(&call.method.output)
        {
            roots.push(output);
        }
    }
    let mut types = Types::new(&roots, &reserved);
    let (classes, members) =
        calls::classes(config, schema, &bindings, plans, &mut types, &class_names);
    let declarations = types.finish();

    let mut index = format!(
        "// The gatehouse API's client, written by `gatehouse client typescript` from {source}.\n\
         // Generated; do not edit. It needs nothing but fetch (and WebSocket for calls that\n\
         // stream both ways).\n\n"
    );
    let mut body = declarations;
    body.push('\n');
    body.push_str(&classes);
    body.push_str(
        "/**\n * The gateway's API: a member per service (and `aggregates`), each with a function per\n \
         * HTTP binding.\n *\n * ```ts\n * const api = new Gatehouse({ baseUrl: \"https://api.example.com\", \
         token: () => session.token });\n * ```\n */\nexport class Gatehouse {\n",
    );
    for (property, class) in &members {
        body.push_str(&format!("  readonly {property}: {class};\n"));
    }
    body.push_str(
        "\n  constructor(options: ClientOptions = {}) {\n    const transport = new Transport(options);\n",
    );
    for (property, class) in &members {
        body.push_str(&format!("    this.{property} = new {class}(transport);\n"));
    }
    body.push_str("  }\n}\n");
    index.push_str(&imports(&body));
    index.push_str(&body);

    vec![
        GeneratedFile {
            name: "runtime.ts",
            text: RUNTIME.to_string(),
        },
        GeneratedFile {
            name: "index.ts",
            text: index,
        },
    ]
}

/// The runtime's types `body` uses (only those: a strict project may refuse unused imports),
/// and the runtime re-exported.
fn imports(body: &str) -> String {
    let used: Vec<&str> = RUNTIME_TYPES
        .iter()
        .copied()
        .filter(|name| {
            body.match_indices(name).any(|(at, _)| {
                let before = body[..at].chars().next_back();
                let after = body[at + name.len()..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !word(before) && !word(after)
            })
        })
        .collect();
    let mut text = String::from("import { Transport } from \"./runtime.js\";\n");
    if !used.is_empty() {
        text.push_str(&format!(
            "import type {{ {} }} from \"./runtime.js\";\n",
            used.join(", ")
        ));
    }
    text.push_str("\nexport * from \"./runtime.js\";\n\n");
    text
}

/// The runtime's types a generated module may name.
const RUNTIME_TYPES: &[&str] = &[
    "AggregateCallError",
    "AggregateOptions",
    "AnyMessage",
    "BidiCall",
    "CallOptions",
    "ClientOptions",
    "DistributiveOmit",
    "JsonValue",
    "ProtoFloat",
    "WithRawBody",
    "WithRequired",
];
