//! The checks of a config that need the schema: every service it names exists, every
//! `[[routes]]` entry selects something, every aggregate plan compiles and has a backend for
//! each call, and no two served routes claim the same HTTP method and path. The rest of a
//! config is checked by `Config::validate`, which needs only the config.

use std::collections::BTreeMap;

use crate::aggregate::Plan;
use crate::config::{Config, ConfigError};
use crate::http_rule::PathTemplate;
use crate::schema::{MethodKind, Schema};
use crate::security::identity_fields::IdentityFields;
use crate::transcode::answer::AnswerPlan;

/// Fails with the first key of `config` that `schema` cannot serve; the compiled plan of each
/// `[[aggregates]]` entry otherwise.
pub fn against_schema(config: &Config, schema: &Schema) -> Result<Vec<Plan>, ConfigError> {
    let fail = |key: String, reason: String| ConfigError {
        file: config.file.clone(),
        key,
        reason,
    };
    for (i, backend) in config.backends.iter().enumerate() {
        for (j, service) in backend.services.iter().enumerate() {
            if schema.service(service).is_none() {
                return Err(fail(
                    format!("backends[{i}].services[{j}]"),
                    format!(
                        "{service:?} is not a service of this gateway's schema (known: {})",
                        known_services(schema)
                    ),
                ));
            }
        }
    }
    for (i, route) in config.routes.iter().enumerate() {
        let selects_any = schema.bindings().iter().any(|r| {
            route.selects_binding(&r.http_method, &r.template, Some((&r.service, &r.method)))
        }) || config.aggregates.iter().any(|a| {
            a.route.split_once(' ').is_some_and(|(verb, template)| {
                route.selects_binding(&verb.to_ascii_uppercase(), template.trim(), None)
            })
        });
        if selects_any {
            continue;
        }
        if let Some(method) = &route.method {
            return Err(fail(
                format!("routes[{i}].method"),
                format!(
                    "{method:?} selects no known method (write \"pkg.Service/Method\" or \
                     \"pkg.Service/*\")"
                ),
            ));
        }
        if let Some(binding) = &route.route {
            return Err(fail(
                format!("routes[{i}].route"),
                format!(
                    "{binding:?} is no known HTTP binding (write \"VERB /template\" as \
                     `gatehouse routes` lists it)"
                ),
            ));
        }
    }
    let mut plans = Vec::with_capacity(config.aggregates.len());
    for (i, aggregate) in config.aggregates.iter().enumerate() {
        let plan = Plan::compile(aggregate, schema)
            .map_err(|(key, reason)| fail(format!("aggregates[{i}]{key}"), reason))?;
        for (j, call) in aggregate.calls.iter().enumerate() {
            let service = call.method.split_once('/').map_or("", |(s, _)| s);
            if config.backend_for(service).is_none() {
                return Err(fail(
                    format!("aggregates[{i}].calls[{j}].method"),
                    format!("no [[backends]] entry serves {service:?}"),
                ));
            }
        }
        plans.push(plan);
    }
    served_paths_are_distinct(config, schema)?;
    answers_and_pins_fit(config, schema)?;
    Ok(plans)
}

/// Refuses `status`, `location` and `from_identity` that cannot apply to what an entry
/// selects: a `Location` field the response lacks, a pinned field the request lacks or a
/// credential cannot fill, a status or `Location` on a streaming binding, a pin on a method
/// whose request is a stream, a `Location` on an aggregate.
fn answers_and_pins_fit(config: &Config, schema: &Schema) -> Result<(), ConfigError> {
    let fail = |i: usize, key: &str, reason: String| ConfigError {
        file: config.file.clone(),
        key: format!("routes[{i}].{key}"),
        reason,
    };
    let descriptor = |spec_service: &str, spec_method: &str| {
        schema
            .descriptors()
            .get_service_by_name(spec_service)
            .and_then(|s| s.methods().find(|m| m.name() == spec_method))
    };
    for spec in schema.bindings() {
        if config.backend_for(&spec.service).is_none()
            || (spec.implicit && !config.server.implicit_routes)
        {
            continue;
        }
        let Some(method) = descriptor(&spec.service, &spec.method) else {
            continue;
        };
        let shown = format!("{} {}", spec.http_method, spec.template);
        let answer = config.answer_settings(
            &spec.http_method,
            &spec.template,
            Some((&spec.service, &spec.method)),
        );
        if spec.kind != MethodKind::Unary
            && let Some((i, key)) = answer
                .status
                .map(|(i, _)| (i, "status"))
                .or(answer.location.as_ref().map(|(i, _)| (*i, "location")))
        {
            return Err(fail(
                i,
                key,
                format!(
                    "applies to unary methods; {shown} ({}) streams its answer",
                    spec.qualified_method()
                ),
            ));
        }
        if let Some((i, location)) = &answer.location {
            AnswerPlan::new(None, Some(location), &method.output())
                .map_err(|reason| fail(*i, "location", format!("{reason} (for {shown})")))?;
        }
        let pins = config.from_identity(|r| {
            r.selects_binding(
                &spec.http_method,
                &spec.template,
                Some((&spec.service, &spec.method)),
            )
        });
        pins_fit(&pins, &method, &fail)?;
    }
    for spec in schema.methods() {
        if config.backend_for(&spec.service).is_none() {
            continue;
        }
        if let Some(method) = descriptor(&spec.service, &spec.method) {
            let pins = config.from_identity(|r| r.selects_method(&spec.service, &spec.method));
            pins_fit(&pins, &method, &fail)?;
        }
    }
    for aggregate in &config.aggregates {
        let Some((verb, template)) = aggregate.route.split_once(' ') else {
            continue;
        };
        let verb = verb.to_ascii_uppercase();
        if let Some((i, _)) = config
            .answer_settings(&verb, template.trim(), None)
            .location
        {
            return Err(fail(
                i,
                "location",
                format!(
                    "{:?} is an aggregate, whose answer has no fields of one response to \
                     build a Location from",
                    aggregate.route
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses pins a method's request cannot take.
fn pins_fit(
    from_identity: &Option<(usize, BTreeMap<String, String>)>,
    method: &prost_reflect::MethodDescriptor,
    fail: &impl Fn(usize, &str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let Some((i, fields)) = from_identity else {
        return Ok(());
    };
    // A client stream's messages are pinned one by one over REST; a bidirectional one's
    // are not read by the gateway.
    if method.is_client_streaming() && method.is_server_streaming() {
        return Err(fail(
            *i,
            "from_identity",
            format!(
                "{} is bidirectional; fields can be set from the credential only on methods \
                 that take one request or a client stream",
                method.full_name()
            ),
        ));
    }
    IdentityFields::new(&method.input(), fields)
        .map(drop)
        .map_err(|reason| {
            fail(
                *i,
                "from_identity",
                format!("{reason} (for {})", method.full_name()),
            )
        })
}

/// One HTTP route a config serves: a binding of a served service, or an aggregate.
struct Served {
    http_method: String,
    template: PathTemplate,
    /// The config key that serves it.
    key: String,
    /// `pkg.Service/Method (file.proto)`, or `None` for an aggregate.
    binding: Option<String>,
}

/// Refuses two served routes with the same HTTP method and an equivalent template (variable
/// names aside), naming the key that serves the second and both owners. Bindings of services
/// the config does not serve never conflict.
fn served_paths_are_distinct(config: &Config, schema: &Schema) -> Result<(), ConfigError> {
    let mut served: Vec<Served> = Vec::new();
    for (i, backend) in config.backends.iter().enumerate() {
        for (j, service) in backend.services.iter().enumerate() {
            let bindings = schema.bindings().iter().filter(|b| {
                b.service == service.as_str() && (config.server.implicit_routes || !b.implicit)
            });
            for binding in bindings {
                let Ok(template) = PathTemplate::parse(&binding.template) else {
                    continue;
                };
                served.push(Served {
                    http_method: binding.http_method.clone(),
                    template,
                    key: format!("backends[{i}].services[{j}]"),
                    binding: Some(format!(
                        "{} ({})",
                        binding.qualified_method(),
                        binding.proto_file
                    )),
                });
            }
        }
    }
    for (i, aggregate) in config.aggregates.iter().enumerate() {
        let Some((verb, text)) = aggregate.route.split_once(' ') else {
            continue;
        };
        let Ok(template) = PathTemplate::parse(text.trim()) else {
            continue;
        };
        served.push(Served {
            http_method: verb.to_ascii_uppercase(),
            template,
            key: format!("aggregates[{i}].route"),
            binding: None,
        });
    }
    for (n, second) in served.iter().enumerate() {
        let Some(first) = served[..n].iter().find(|first| {
            first.http_method == second.http_method && first.template.equivalent(&second.template)
        }) else {
            continue;
        };
        let route = format!("{} {}", second.http_method, second.template);
        let owner = |s: &Served| match &s.binding {
            Some(binding) => binding.clone(),
            None => format!("the aggregate of {}", s.key),
        };
        let reason = match &second.binding {
            None => format!("{route:?} is already the binding of {}", owner(first)),
            Some(binding) => format!(
                "{route:?} of {binding} is also the route of {} ({}): a config may serve \
                 only one of them",
                owner(first),
                first.key
            ),
        };
        return Err(ConfigError {
            file: config.file.clone(),
            key: second.key.clone(),
            reason,
        });
    }
    Ok(())
}

fn known_services(schema: &Schema) -> String {
    schema
        .services()
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_service_is_named_with_its_file_and_key() {
        let config = Config::parse(
            "gatehouse.toml",
            "[[backends]]\nname = \"a\"\nservices = [\"nope.v1.Nope\"]\n\
             endpoints = [\"http://127.0.0.1:1\"]\n",
        )
        .expect("the config itself is valid");
        let error = against_schema(&config, crate::transcode::compiled::schema())
            .err()
            .expect("an unknown service")
            .to_string();
        assert!(
            error.starts_with(
                "gatehouse.toml: backends[0].services[0]: \"nope.v1.Nope\" is not a service of this gateway's schema"
            ),
            "{error}"
        );
    }

    #[test]
    fn routes_entries_that_select_nothing_are_named() {
        let error = |text: &str| {
            let config = Config::parse("gatehouse.toml", text).expect("valid on its own");
            against_schema(&config, crate::transcode::compiled::schema())
                .err()
                .expect("selects nothing")
                .to_string()
        };
        let route = error("[[routes]]\nmethod = \"users.v1.UserService/Nope\"\n");
        assert!(route.contains("routes[0].method"), "{route}");
        let binding = error("[[routes]]\nroute = \"GET /api/nowhere\"\n");
        assert!(binding.contains("routes[0].route"), "{binding}");
    }
}
