//! The OpenAPI 3.1 document, written from the route table: every route with its method, the
//! role it needs (`x-lifeboat-role`), its query parameters, body and answer, whose schemas are
//! generated from the Rust types the handlers return (JSON Schema 2020-12, as OpenAPI 3.1 reads
//! it). The document's own shape is typed here, as every output of lifeboat is.

use std::collections::BTreeMap;

use schemars::{Schema, generate::SchemaSettings};
use serde::Serialize;

use crate::routes::{Permission, ROUTES};

#[derive(Serialize)]
pub struct Document {
    openapi: &'static str,
    info: Info,
    servers: [Server; 1],
    /// Path, then lower-case method.
    paths: BTreeMap<&'static str, BTreeMap<String, Operation>>,
    components: Components,
}

#[derive(Serialize)]
struct Info {
    title: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Server {
    url: String,
}

#[derive(Serialize)]
struct Operation {
    summary: &'static str,
    #[serde(rename = "x-lifeboat-role")]
    role: &'static str,
    /// Empty for a route open to anyone, else the bearer scheme.
    security: Vec<BTreeMap<&'static str, [(); 0]>>,
    parameters: Vec<Parameter>,
    #[serde(rename = "requestBody", skip_serializing_if = "Option::is_none")]
    request_body: Option<Body>,
    /// Status code, then what it carries.
    responses: BTreeMap<String, Answer>,
}

#[derive(Serialize)]
struct Parameter {
    name: &'static str,
    #[serde(rename = "in")]
    place: &'static str,
    required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'static str>,
    schema: Schema,
}

#[derive(Serialize)]
struct Body {
    required: bool,
    content: BTreeMap<&'static str, Content>,
}

#[derive(Serialize)]
struct Answer {
    description: &'static str,
    content: BTreeMap<&'static str, Content>,
}

#[derive(Serialize, Clone)]
struct Content {
    schema: Schema,
}

#[derive(Serialize)]
struct Components {
    #[serde(rename = "securitySchemes")]
    security_schemes: BTreeMap<&'static str, SecurityScheme>,
    schemas: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct SecurityScheme {
    #[serde(rename = "type")]
    kind: &'static str,
    scheme: &'static str,
    description: &'static str,
}

const JSON: &str = "application/json";

fn carrying(content: &'static str, schema: Schema) -> BTreeMap<&'static str, Content> {
    BTreeMap::from([(content, Content { schema })])
}

pub fn document(public_url: &str) -> Document {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut generator = settings.into_generator();
    let error = generator.subschema_for::<crate::error::Failure>();
    let text = || schemars::json_schema!({ "type": "string" });
    let mut paths: BTreeMap<&'static str, BTreeMap<String, Operation>> = BTreeMap::new();
    for route in ROUTES {
        let mut responses = BTreeMap::new();
        responses.insert(
            route.status.to_string(),
            Answer { description: "done", content: carrying(route.content, (route.response)(&mut generator)) },
        );
        let mut refusal = |status: &str, description: &'static str| {
            responses.insert(status.into(), Answer { description, content: carrying(JSON, error.clone()) });
        };
        let role = match route.permission {
            Permission::Anyone => "anyone",
            Permission::Role(role) => {
                refusal("401", "no credentials, or ones that do not prove who they claim");
                refusal("403", "a role below the route's, or a database outside the caller's");
                role.as_str()
            }
            Permission::Scraper => {
                refusal("401", "neither the metrics token nor a valid API token");
                "viewer"
            }
        };
        let security = if route.permission == Permission::Anyone { Vec::new() } else { vec![BTreeMap::from([("bearer", [])])] };
        let query = route.query.iter().map(|(name, about)| Parameter {
            name,
            place: "query",
            required: false,
            description: Some(about),
            schema: text(),
        });
        let in_path = route.path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')));
        let path = in_path.map(|name| Parameter { name, place: "path", required: true, description: None, schema: text() });
        let operation = Operation {
            summary: route.summary,
            role,
            security,
            parameters: query.chain(path).collect(),
            request_body: route.body.map(|body| Body { required: true, content: carrying(JSON, body(&mut generator)) }),
            responses,
        };
        paths.entry(route.path).or_default().insert(route.method.to_lowercase(), operation);
    }
    let bearer = SecurityScheme { kind: "http", scheme: "bearer", description: "a token made by `lifeboat token add`" };
    Document {
        openapi: "3.1.0",
        info: Info { title: "lifeboat", version: env!("CARGO_PKG_VERSION") },
        servers: [Server { url: public_url.to_string() }],
        paths,
        components: Components { security_schemes: BTreeMap::from([("bearer", bearer)]), schemas: generator.take_definitions(true) },
    }
}
