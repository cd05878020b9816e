//! `JsonBody<T>`: a JSON request body that must be an object. serde's derived
//! `Deserialize` for a struct also accepts an array and maps it onto the fields by
//! position, so `["admin","secret"]` would pass as a login; this extractor refuses
//! anything but an object before deserializing.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::JsonPayloadError;
use actix_web::{FromRequest, HttpRequest};
use paperclip::actix::OperationModifier;
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw};
use paperclip::v2::schema::Apiv2Schema;
use serde::de::DeserializeOwned;

use crate::http::error::{ApiError, FieldDetail};

/// A JSON object body, deserialized into `T` with the app's `JsonConfig` limits.
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Checks that `value` is an object and deserializes it, with the contract's errors.
pub(crate) fn from_object<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::validation([FieldDetail::new(
            "body",
            "must be a JSON object",
        )]));
    }
    T::deserialize(&value).map_err(|e| match unknown_value_at(&value, &e.to_string()) {
        Some(detail) => ApiError::validation([detail]),
        None => ApiError::from_json_error(&JsonPayloadError::Deserialize(e)),
    })
}

/// serde names no field when a string is not one of an enum's values (`unknown variant
/// `X`, expected ...`): the field is found as where `X` sits in the body (`theme`,
/// `users[3].role`), so the answer names it as the contract asks. Should another field
/// before it hold the very same text, that one is named: still a field of the request.
fn unknown_value_at(value: &serde_json::Value, message: &str) -> Option<FieldDetail> {
    let rest = message.strip_prefix("unknown variant `")?;
    let (variant, rest) = rest.split_once('`')?;
    let expected = rest.strip_prefix(", expected ")?;
    let field = path_of_string(value, variant)?;
    Some(FieldDetail::new(
        field,
        format!("has an unknown value, expected {expected}"),
    ))
}

/// The path (`a.b`, `users[3].role`) of the first string in `value` equal to `wanted`.
fn path_of_string(value: &serde_json::Value, wanted: &str) -> Option<String> {
    match value {
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, v)| match v {
            serde_json::Value::String(s) if s == wanted => Some(key.clone()),
            _ => path_of_string(v, wanted).map(|inner| {
                if inner.starts_with('[') {
                    format!("{key}{inner}")
                } else {
                    format!("{key}.{inner}")
                }
            }),
        }),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| match v {
            serde_json::Value::String(s) if s == wanted => Some(format!("[{i}]")),
            _ => path_of_string(v, wanted).map(|inner| {
                if inner.starts_with('[') {
                    format!("[{i}]{inner}")
                } else {
                    format!("[{i}].{inner}")
                }
            }),
        }),
        _ => None,
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = actix_web::web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = value.await?.into_inner();
            Ok(Self(from_object(value)?))
        })
    }
}

impl<T: Apiv2Schema> Apiv2Schema for JsonBody<T> {
    fn name() -> Option<String> {
        T::name()
    }
    fn raw_schema() -> DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: Apiv2Schema> OperationModifier for JsonBody<T> {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        <paperclip::actix::web::Json<T> as OperationModifier>::update_parameter(op);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::ErrorCode;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        username: String,
        password: String,
    }

    #[test]
    fn an_array_in_place_of_an_object_is_refused() {
        let err = from_object::<Login>(serde_json::json!(["admin", "secret"])).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        assert_eq!(err.details.unwrap()[0].field, "body");
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    enum Theme {
        #[serde(rename = "light")]
        Light,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Prefs {
        name: String,
        theme: Theme,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Many {
        users: Vec<Prefs>,
    }

    #[test]
    fn an_unknown_enum_value_is_reported_under_its_field() {
        let err = from_object::<Prefs>(serde_json::json!({"name": "x", "theme": "da\u{0}rk"}))
            .unwrap_err();
        let details = err.details.unwrap();
        assert_eq!(details[0].field, "theme");
        assert!(
            details[0].message.contains("`light`"),
            "{}",
            details[0].message
        );

        let err = from_object::<Many>(serde_json::json!({"users": [
            {"name": "a", "theme": "light"},
            {"name": "b", "theme": "dark"},
        ]}))
        .unwrap_err();
        assert_eq!(err.details.unwrap()[0].field, "users[1].theme");
    }

    #[test]
    fn an_object_is_deserialized_and_unknown_fields_still_refused() {
        assert!(
            from_object::<Login>(serde_json::json!({"username": "a", "password": "b"})).is_ok()
        );
        let err =
            from_object::<Login>(serde_json::json!({"username": "a", "password": "b", "x": 1}))
                .unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
    }
}
