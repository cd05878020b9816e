//! Wire types: camelCase JSON bodies and query strings, documented for OpenAPI, and
//! their hand-written conversions from and to the application's types.

pub mod audit;
pub mod auth;
pub mod csv;
pub mod health;
pub mod import;
pub mod import_csv;
pub mod list;
pub mod profile;
pub mod sessions;
pub mod user;
pub mod users;

/// Deserializes a field that distinguishes "absent" (`None`) from "null" (`Some(None)`).
pub(crate) fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(de).map(Some)
}
