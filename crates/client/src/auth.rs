//! Clients that send a bearer token (and any other fixed request header): progenitor
//! leaves security schemes to the caller, so the token rides on the `reqwest::Client`.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};

use crate::Client;

/// Why a client could not be built: the token or a header value is not a valid header
/// value, or reqwest refused its settings. Never carries the token itself.
#[derive(Debug)]
pub enum ClientError {
    /// A header value holds bytes HTTP does not allow (named by header, not by value).
    InvalidHeader(&'static str),
    /// reqwest could not build its client.
    Build(reqwest::Error),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidHeader(name) => write!(f, "the {name} header value is not valid"),
            Self::Build(err) => write!(f, "cannot build the HTTP client: {err}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A client for `base_url` that sends `Authorization: Bearer <access_token>` and the
/// `extra` headers (e.g. `If-Match`, which the document does not declare) on every
/// request. Build one per token: a refreshed token is a new client.
pub fn authenticated(
    base_url: &str,
    access_token: &str,
    extra: &[(&'static str, &str)],
) -> Result<Client, ClientError> {
    let mut headers = HeaderMap::new();
    let mut bearer = HeaderValue::from_str(&format!("Bearer {access_token}"))
        .map_err(|_| ClientError::InvalidHeader("Authorization"))?;
    bearer.set_sensitive(true);
    headers.insert(AUTHORIZATION, bearer);
    for (name, value) in extra {
        let value = HeaderValue::from_str(value).map_err(|_| ClientError::InvalidHeader(name))?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ClientError::InvalidHeader(name))?;
        headers.insert(name, value);
    }
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .map_err(ClientError::Build)?;
    Ok(Client::new_with_client(base_url, http))
}
