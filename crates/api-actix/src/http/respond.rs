//! Typed responders and extractors whose status codes, headers and bodies paperclip can
//! document: `Created` (201 + Location + ETag), `Tagged` (200 + ETag, or 304), `Listed`
//! (a list page with an ETag of its content, or 304), and `OptionalJson` for bodies that
//! may be absent altogether.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder};
use domain::list_cache::RenderedList;
use paperclip::actix::OperationModifier;
use paperclip::v2::models::{
    DataType, DefaultOperationRaw, DefaultSchemaRaw, Either, Header, Response,
};
use paperclip::v2::schema::Apiv2Schema;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The strong entity tag of a resource version.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// The entity tags listed in a conditional header (`*` is `None`: matches anything).
fn listed_tags(headers: &HeaderMap, name: header::HeaderName) -> Option<Vec<String>> {
    let raw = headers.get(name)?.to_str().unwrap_or("\"unparsable\"");
    if raw.trim() == "*" {
        return None;
    }
    Some(raw.split(',').map(|t| t.trim().to_owned()).collect())
}

/// `If-Match` as an expected version: `None` when absent or `*`; a tag that is not one
/// of ours expects version -1, which never matches.
pub fn if_match_version(req: &HttpRequest) -> Option<i64> {
    let tags = listed_tags(req.headers(), header::IF_MATCH)?;
    let version = tags.iter().find_map(|tag| {
        tag.strip_prefix("\"v")
            .and_then(|t| t.strip_suffix('"'))
            .and_then(|n| n.parse::<i64>().ok())
    });
    Some(version.unwrap_or(-1))
}

/// Whether `If-None-Match` lists `etag` (or is `*`).
fn none_match_hits(req: &HttpRequest, etag: &str) -> bool {
    if !req.headers().contains_key(header::IF_NONE_MATCH) {
        return false;
    }
    match listed_tags(req.headers(), header::IF_NONE_MATCH) {
        None => true,
        Some(tags) => tags.iter().any(|t| t.trim_start_matches("W/") == etag),
    }
}

fn string_header(description: &str) -> Header {
    Header {
        description: Some(description.into()),
        data_type: Some(DataType::String),
        ..Default::default()
    }
}

fn document<T: Apiv2Schema>(
    op: &mut DefaultOperationRaw,
    code: &str,
    what: &str,
    headers: &[(&str, &str)],
) {
    let mut schema = T::schema_with_ref();
    schema.retain_ref();
    op.responses.insert(
        code.into(),
        Either::Right(Response {
            description: Some(what.into()),
            schema: Some(schema),
            headers: headers
                .iter()
                .map(|(name, desc)| ((*name).to_owned(), string_header(desc)))
                .collect(),
        }),
    );
}

/// 201 Created with `Location` and `ETag`.
pub struct Created<T> {
    /// The new resource.
    pub body: T,
    /// Its URL.
    pub location: String,
    /// Its entity tag.
    pub etag: String,
}

impl<T: Serialize> Responder for Created<T> {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Created()
            .insert_header((header::LOCATION, self.location))
            .insert_header((header::ETAG, self.etag))
            .json(self.body)
    }
}

impl<T: Apiv2Schema> Apiv2Schema for Created<T> {
    fn name() -> Option<String> {
        T::name()
    }
    fn raw_schema() -> DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: Apiv2Schema> OperationModifier for Created<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        document::<T>(
            op,
            "201",
            "Created",
            &[
                ("Location", "URL of the new resource"),
                ("ETag", "Entity tag"),
            ],
        );
    }
}

/// 304 Not Modified, repeating the tag that matched.
fn not_modified(etag: String) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header((header::ETAG, etag))
        .finish()
}

/// The 304 answer of an operation that honours `If-None-Match`.
fn document_not_modified(op: &mut DefaultOperationRaw) {
    op.responses.insert(
        "304".into(),
        Either::Right(Response {
            description: Some("Not Modified (If-None-Match matched)".into()),
            schema: None,
            headers: Default::default(),
        }),
    );
}

/// 200 with an `ETag`, or 304 Not Modified when `If-None-Match` lists it.
pub struct Tagged<T> {
    body: T,
    etag: String,
}

impl<T> Tagged<T> {
    /// The body of a resource at `version`.
    pub fn new(body: T, version: i64) -> Self {
        Self {
            body,
            etag: etag(version),
        }
    }
}

impl<T: Serialize> Responder for Tagged<T> {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
        if none_match_hits(req, &self.etag) {
            return not_modified(self.etag);
        }
        HttpResponse::Ok()
            .insert_header((header::ETAG, self.etag))
            .json(self.body)
    }
}

impl<T: Apiv2Schema> Apiv2Schema for Tagged<T> {
    fn name() -> Option<String> {
        T::name()
    }
    fn raw_schema() -> DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: Apiv2Schema> OperationModifier for Tagged<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        document::<T>(
            op,
            "200",
            "OK",
            &[("ETag", "Entity tag; changes on every update")],
        );
        document_not_modified(op);
    }
}

/// A list page: 200 with an `ETag` of its content, or 304 Not Modified when
/// `If-None-Match` lists it. A page has no single version, so the tag is a digest of the
/// body itself: it changes exactly when the page would, and every instance computes the
/// same tag for the same page (also when it comes from the list cache).
pub struct Listed<T> {
    page: RenderedList,
    shape: std::marker::PhantomData<T>,
}

impl<T: Serialize> Listed<T> {
    /// Serialises the page once, for the body and its tag.
    pub fn new(page: &T) -> Result<Self, crate::http::error::ApiError> {
        Self::render(page).map(Self::from)
    }

    /// The page's body and tag, as the list cache keeps them.
    pub fn render(page: &T) -> Result<RenderedList, crate::http::error::ApiError> {
        use sha2::{Digest, Sha256};
        let body = serde_json::to_vec(page).map_err(|e| {
            tracing::error!(error.cause = %e, "a list page does not serialise");
            crate::http::error::ApiError::internal()
        })?;
        let digest = Sha256::digest(&body);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Ok(RenderedList {
            etag: format!("\"l{hex}\""),
            body: body.into(),
        })
    }
}

impl<T> From<RenderedList> for Listed<T> {
    fn from(page: RenderedList) -> Self {
        Self {
            page,
            shape: std::marker::PhantomData,
        }
    }
}

impl<T> Responder for Listed<T> {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
        let RenderedList { etag, body } = self.page;
        if none_match_hits(req, &etag) {
            return not_modified(etag);
        }
        HttpResponse::Ok()
            .insert_header((header::ETAG, etag))
            .content_type(mime_json())
            .body(actix_web::web::Bytes::from_owner(body))
    }
}

/// `application/json`, as `web::Json` answers.
fn mime_json() -> header::ContentType {
    header::ContentType::json()
}

impl<T: Apiv2Schema> Apiv2Schema for Listed<T> {
    fn name() -> Option<String> {
        T::name()
    }
    fn raw_schema() -> DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: Apiv2Schema> OperationModifier for Listed<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        document::<T>(
            op,
            "200",
            "OK",
            &[(
                "ETag",
                "Entity tag of this page; changes when the page does",
            )],
        );
        document_not_modified(op);
    }
}

/// A JSON body that may be left out entirely (no `Content-Length` or zero length); a body
/// that is present must be valid like any other.
pub struct OptionalJson<T>(pub Option<T>);

fn has_body(req: &HttpRequest) -> bool {
    let headers = req.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > 0)
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !has_body(req) {
            return Box::pin(async { Ok(Self(None)) });
        }
        let json = crate::http::json_body::JsonBody::<T>::from_request(req, payload);
        Box::pin(async move { Ok(Self(Some(json.await?.into_inner()))) })
    }
}

impl<T: Apiv2Schema> Apiv2Schema for OptionalJson<T> {
    fn name() -> Option<String> {
        T::name()
    }
    fn raw_schema() -> DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: Apiv2Schema> OperationModifier for OptionalJson<T> {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        <paperclip::actix::web::Json<T> as OperationModifier>::update_parameter(op);
        for param in op.parameters.iter_mut() {
            if let Either::Right(p) = param {
                p.required = false;
            }
        }
    }
}
