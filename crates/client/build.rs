//! Generates the client from `openapi.json`, the checked-in copy of the document the
//! server serves (`api::openapi_copy` fails when the two differ). The copy is kept as
//! served; what progenitor cannot take is reshaped here, in [`for_progenitor`], so
//! refreshing the copy is the only step after the document changes.

use std::error::Error;
use std::path::PathBuf;

use serde_json::{json, Value};

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=openapi.json");
    println!("cargo:rerun-if-changed=build.rs");
    let text = std::fs::read_to_string("openapi.json")?;
    let mut doc: Value = serde_json::from_str(&text)?;
    for_progenitor(&mut doc);
    let spec: openapiv3::OpenAPI = serde_json::from_value(doc)?;
    let mut settings = progenitor_impl::GenerationSettings::default();
    settings
        .with_interface(progenitor_impl::InterfaceStyle::Builder)
        .with_tag(progenitor_impl::TagStyle::Merged);
    let tokens = progenitor_impl::Generator::new(&settings).generate_tokens(&spec)?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("ems_client.rs");
    std::fs::write(out, tokens.to_string())?;
    Ok(())
}

/// Progenitor gives each operation one success type. An operation whose 2xx responses
/// carry different JSON schemas (`bulkCreateUsers`: 201 all created, 207 per-row
/// results) gets one `oneOf` of them on every such response, so the generated method
/// returns an enum the caller matches on, and the status stays on the response value.
fn for_progenitor(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for op in operations {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        let mut schemas: Vec<Value> = Vec::new();
        for (status, response) in responses.iter() {
            let schema = response.pointer("/content/application~1json/schema");
            if let (true, Some(schema)) = (status.starts_with('2'), schema) {
                if !schemas.contains(schema) {
                    schemas.push(schema.clone());
                }
            }
        }
        if schemas.len() < 2 {
            continue;
        }
        let one_of = json!({ "oneOf": schemas });
        for (status, response) in responses.iter_mut() {
            let schema = response.pointer_mut("/content/application~1json/schema");
            if let (true, Some(schema)) = (status.starts_with('2'), schema) {
                *schema = one_of.clone();
            }
        }
    }
}
