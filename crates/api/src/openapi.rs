//! The OpenAPI 3.1 document, written from the route table: every route with its method, the
//! role it needs (`x-lifeboat-role`), its query parameters, body and answer, whose schemas are
//! generated from the Rust types the handlers return (JSON Schema 2020-12, as OpenAPI 3.1 reads
//! it).

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::routes::{Permission, ROUTES};

pub fn document(public_url: &str) -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut generator = settings.into_generator();
    let error = generator.subschema_for::<crate::error::Failure>();
    let mut paths = Map::new();
    for route in ROUTES {
        let mut responses = Map::new();
        responses.insert(
            route.status.to_string(),
            json!({ "description": "done", "content": { route.content: { "schema": (route.response)(&mut generator) } } }),
        );
        let failure = |what: &str| json!({ "description": what, "content": { "application/json": { "schema": error.clone() } } });
        let (role, security) = match route.permission {
            Permission::Anyone => ("anyone", json!([])),
            Permission::Role(role) => {
                responses.insert("401".into(), failure("no credentials, or ones that do not prove who they claim"));
                responses.insert("403".into(), failure("a role below the route's, or a database outside the caller's"));
                (role.as_str(), json!([{ "bearer": [] }]))
            }
            Permission::Scraper => {
                responses.insert("401".into(), failure("neither the metrics token nor a valid API token"));
                ("viewer", json!([{ "bearer": [] }]))
            }
        };
        let mut parameters: Vec<Value> = route
            .query
            .iter()
            .map(|(name, about)| json!({ "name": name, "in": "query", "required": false, "description": about, "schema": { "type": "string" } }))
            .collect();
        for segment in route.path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
            parameters.push(json!({ "name": segment, "in": "path", "required": true, "schema": { "type": "string" } }));
        }
        let mut operation = json!({
            "summary": route.summary,
            "x-lifeboat-role": role,
            "security": security,
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(body) = route.body {
            operation["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": body(&mut generator) } } });
        }
        let entry = paths.entry(route.path).or_insert_with(|| json!({}));
        entry[route.method.to_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "lifeboat", "version": env!("CARGO_PKG_VERSION") },
        "servers": [{ "url": public_url }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "a token made by `lifeboat token add`" } },
            "schemas": generator.take_definitions(true),
        },
    })
}
