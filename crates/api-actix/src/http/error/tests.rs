//! Every kind of error response, driven through a tiny app with the real wiring.

use actix_web::body::BoxBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{from_fn, Next};
use actix_web::test as atest;
use actix_web::{web, App, HttpResponse};
use serde::Deserialize;

use super::translate::serde_detail;
use super::*;
use crate::http::request_id::{request_id_middleware, REQUEST_ID_HEADER};
use actix_web::http::StatusCode;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct CreateBody {
    username: String,
    display_name: String,
    #[serde(default)]
    age: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ListQuery {
    limit: Option<u32>,
}

async fn create(_body: web::Json<CreateBody>) -> HttpResponse {
    HttpResponse::Created().finish()
}

async fn list(_q: web::Query<ListQuery>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"items": []}))
}

async fn get_user(_id: web::Path<uuid::Uuid>) -> HttpResponse {
    HttpResponse::Ok().finish()
}

async fn limited() -> Result<HttpResponse, ApiError> {
    Err(ApiError::from_code(ErrorCode::RateLimited).with_retry_after(42))
}

async fn exploding() -> Result<HttpResponse, actix_web::Error> {
    Err(actix_web::error::ErrorInternalServerError(
        "connection to postgres://admin:hunter2@db failed",
    ))
}

async fn internal_api_error() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::Internal,
        "db password hunter2 leaked",
    ))
}

async fn plain_forbidden() -> HttpResponse {
    HttpResponse::Forbidden()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
        .body("nope")
}

async fn weak() -> Result<HttpResponse, ApiError> {
    Err(
        ApiError::new(ErrorCode::WeakPassword, "The password is too weak.")
            .with_details([FieldDetail::new("password", "Add another word or two.")]),
    )
}

async fn not_modified() -> HttpResponse {
    HttpResponse::NotModified().finish()
}

async fn failing_middleware(
    req: actix_web::dev::ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.path() == "/mw-fails" {
        return Err(actix_web::error::ErrorServiceUnavailable(
            "redis down at 10.0.0.3",
        ));
    }
    next.call(req).await
}

/// The app as the lead wires it, with a 64-byte JSON limit to test 413 cheaply.
fn app(
    with_configs: bool,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let mut app = App::new();
    if with_configs {
        app = app
            .app_data(json_config(64))
            .app_data(query_config())
            .app_data(path_config());
    } else {
        app = app.app_data(web::JsonConfig::default().limit(64));
    }
    app.service(
        web::resource("/api/v1/users")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        web::resource("/api/v1/users/{id}")
            .route(web::get().to(get_user))
            .default_service(web::to(method_not_allowed)),
    )
    .route("/limited", web::get().to(limited))
    .route("/exploding", web::get().to(exploding))
    .route("/internal", web::get().to(internal_api_error))
    .route("/forbidden", web::get().to(plain_forbidden))
    .route("/weak", web::get().to(weak))
    .route("/not-modified", web::get().to(not_modified))
    .route("/mw-fails", web::get().to(HttpResponse::Ok))
    .default_service(web::to(not_found))
    .wrap(from_fn(failing_middleware))
    .wrap(from_fn(error_body_middleware))
    .wrap(from_fn(request_id_middleware))
}

/// Sends `req` (with a known request id) and returns status, headers and parsed body.
async fn send(
    with_configs: bool,
    req: atest::TestRequest,
) -> (StatusCode, header::HeaderMap, ErrorBody) {
    let app = atest::init_service(app(with_configs)).await;
    let res = match app
        .call(req.insert_header((REQUEST_ID_HEADER, "rid-1")).to_request())
        .await
    {
        Ok(res) => res.into_parts().1,
        // An `Err` travels to the top, where actix renders it like this.
        Err(err) => err.error_response(),
    };
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
    let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "not an error body ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, headers, body)
}

/// Asserts the invariants of every error response.
fn assert_contract(
    (status, headers, body): &(StatusCode, header::HeaderMap, ErrorBody),
    expected: StatusCode,
    code: ErrorCode,
    path: &str,
) {
    assert_eq!(*status, expected, "{body:?}");
    assert_eq!(
        headers.get(header::CONTENT_TYPE).unwrap(),
        "application/json"
    );
    assert_eq!(headers.get(REQUEST_ID_HEADER).unwrap(), "rid-1");
    assert_eq!(body.status_code, expected.as_u16());
    assert_eq!(body.error, expected.canonical_reason().unwrap());
    assert_eq!(body.code, code);
    assert_eq!(body.path, path);
    assert_eq!(body.request_id, "rid-1");
    assert!(!body.message.is_empty());
    assert!(
        chrono::DateTime::parse_from_rfc3339(&body.timestamp).is_ok()
            && body.timestamp.ends_with('Z')
            && body.timestamp.len() == 20,
        "{}",
        body.timestamp
    );
    if code == ErrorCode::ValidationFailed {
        assert!(body.details.as_ref().is_some_and(|d| !d.is_empty()));
    }
}

fn json_post(path: &str, body: &str) -> atest::TestRequest {
    atest::TestRequest::post()
        .uri(path)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(body.to_owned())
}

fn details(body: &ErrorBody) -> Vec<(String, String)> {
    body.details
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|d| (d.field, d.message))
        .collect()
}

#[actix_web::test]
async fn an_unknown_route_is_a_404_not_found() {
    for configs in [true, false] {
        let res = send(
            configs,
            atest::TestRequest::get().uri("/api/v1/nowhere?x=1"),
        )
        .await;
        assert_contract(
            &res,
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "/api/v1/nowhere",
        );
        assert!(res.2.details.is_none());
        let json = serde_json::to_value(&res.2).unwrap();
        assert!(
            json.get("details").is_none(),
            "details must be omitted: {json}"
        );
    }
}

#[actix_web::test]
async fn a_wrong_method_is_a_405_with_or_without_the_helper() {
    // `/api/v1/users` relies on actix's own 405; `/api/v1/users/{id}` on the helper.
    let res = send(true, atest::TestRequest::delete().uri("/api/v1/users")).await;
    assert_contract(
        &res,
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "/api/v1/users",
    );
    let path = "/api/v1/users/0191e3b4-0000-7000-8000-000000000000";
    let res = send(true, atest::TestRequest::put().uri(path)).await;
    assert_contract(
        &res,
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        path,
    );
}

#[actix_web::test]
async fn malformed_json_is_a_400_invalid_json() {
    for configs in [true, false] {
        for payload in ["{\"username\": ", "not json", ""] {
            let res = send(configs, json_post("/api/v1/users", payload)).await;
            assert_contract(
                &res,
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                "/api/v1/users",
            );
        }
    }
}

#[actix_web::test]
async fn an_unknown_json_field_is_a_400_naming_the_field() {
    for configs in [true, false] {
        let res = send(
            configs,
            json_post(
                "/api/v1/users",
                r#"{"username":"a","displayName":"b","role2":1}"#,
            ),
        )
        .await;
        assert_contract(
            &res,
            StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed,
            "/api/v1/users",
        );
        assert_eq!(
            details(&res.2),
            [("role2".into(), "is not an accepted field".into())]
        );
    }
}

#[actix_web::test]
async fn a_missing_json_field_is_a_400_naming_the_field() {
    let res = send(true, json_post("/api/v1/users", r#"{"username":"a"}"#)).await;
    assert_contract(
        &res,
        StatusCode::BAD_REQUEST,
        ErrorCode::ValidationFailed,
        "/api/v1/users",
    );
    assert_eq!(
        details(&res.2),
        [("displayName".into(), "is required".into())]
    );
}

#[actix_web::test]
async fn a_wrong_json_type_is_a_400_that_does_not_echo_the_value() {
    let res = send(
        true,
        json_post(
            "/api/v1/users",
            r#"{"username":"a","displayName":"b","age":"s3cr3t"}"#,
        ),
    )
    .await;
    assert_contract(
        &res,
        StatusCode::BAD_REQUEST,
        ErrorCode::ValidationFailed,
        "/api/v1/users",
    );
    let d = details(&res.2);
    assert_eq!(d.len(), 1);
    assert!(d[0].1.contains("expected u32"), "{d:?}");
    assert!(!serde_json::to_string(&res.2).unwrap().contains("s3cr3t"));
}

#[actix_web::test]
async fn an_oversized_body_is_a_413() {
    let big = format!(r#"{{"username":"{}","displayName":"b"}}"#, "a".repeat(100));
    for configs in [true, false] {
        let res = send(configs, json_post("/api/v1/users", &big)).await;
        assert_contract(
            &res,
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "/api/v1/users",
        );
    }
}

#[actix_web::test]
async fn a_wrong_or_missing_content_type_is_a_415() {
    for configs in [true, false] {
        let wrong = atest::TestRequest::post()
            .uri("/api/v1/users")
            .insert_header((header::CONTENT_TYPE, "text/plain"))
            .set_payload(r#"{"username":"a","displayName":"b"}"#);
        let res = send(configs, wrong).await;
        assert_contract(
            &res,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "/api/v1/users",
        );
        let missing = atest::TestRequest::post()
            .uri("/api/v1/users")
            .set_payload(r#"{"username":"a","displayName":"b"}"#);
        let res = send(configs, missing).await;
        assert_eq!(res.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}

#[actix_web::test]
async fn a_bad_query_is_a_400_validation_failed() {
    for configs in [true, false] {
        let res = send(
            configs,
            atest::TestRequest::get().uri("/api/v1/users?limit=many"),
        )
        .await;
        assert_contract(
            &res,
            StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed,
            "/api/v1/users",
        );
        let res = send(
            configs,
            atest::TestRequest::get().uri("/api/v1/users?bogus=1"),
        )
        .await;
        assert_contract(
            &res,
            StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed,
            "/api/v1/users",
        );
        assert_eq!(details(&res.2)[0].0, "bogus");
    }
}

#[actix_web::test]
async fn a_bad_path_parameter_is_a_400_validation_failed() {
    for configs in [true, false] {
        let res = send(
            configs,
            atest::TestRequest::get().uri("/api/v1/users/not-a-uuid"),
        )
        .await;
        assert_contract(
            &res,
            StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed,
            "/api/v1/users/not-a-uuid",
        );
    }
}

#[actix_web::test]
async fn a_rate_limit_carries_retry_after() {
    let res = send(true, atest::TestRequest::get().uri("/limited")).await;
    assert_contract(
        &res,
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        "/limited",
    );
    assert_eq!(res.1.get(header::RETRY_AFTER).unwrap(), "42");
}

#[actix_web::test]
async fn internal_errors_never_show_internals() {
    for path in ["/exploding", "/internal"] {
        let res = send(true, atest::TestRequest::get().uri(path)).await;
        assert_contract(
            &res,
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            path,
        );
        assert_eq!(res.2.message, ErrorCode::Internal.default_message());
        assert!(!serde_json::to_string(&res.2).unwrap().contains("hunter2"));
    }
}

#[actix_web::test]
async fn a_bare_error_response_gets_the_body_and_keeps_its_headers() {
    let res = send(true, atest::TestRequest::get().uri("/forbidden")).await;
    assert_contract(
        &res,
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        "/forbidden",
    );
    assert_eq!(res.1.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
}

#[actix_web::test]
async fn an_error_from_a_middleware_gets_the_body() {
    let res = send(true, atest::TestRequest::get().uri("/mw-fails")).await;
    assert_contract(
        &res,
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ServiceUnavailable,
        "/mw-fails",
    );
    assert!(!res.2.message.contains("10.0.0.3"));
}

#[actix_web::test]
async fn handler_errors_keep_their_code_message_and_details() {
    let res = send(true, atest::TestRequest::get().uri("/weak")).await;
    assert_contract(
        &res,
        StatusCode::BAD_REQUEST,
        ErrorCode::WeakPassword,
        "/weak",
    );
    assert_eq!(res.2.message, "The password is too weak.");
    assert_eq!(
        details(&res.2),
        [("password".into(), "Add another word or two.".into())]
    );
}

#[actix_web::test]
async fn success_and_304_responses_pass_untouched() {
    let app = atest::init_service(app(true)).await;
    let res = atest::call_service(
        &app,
        atest::TestRequest::get().uri("/api/v1/users").to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key(REQUEST_ID_HEADER));
    let body: serde_json::Value = atest::read_body_json(res).await;
    assert_eq!(body, serde_json::json!({"items": []}));

    let res = atest::call_service(
        &app,
        atest::TestRequest::get().uri("/not-modified").to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert!(atest::read_body(res).await.is_empty());
}

#[actix_web::test]
async fn without_a_client_id_the_body_and_header_agree() {
    let app = atest::init_service(app(true)).await;
    let res =
        atest::call_service(&app, atest::TestRequest::get().uri("/nowhere").to_request()).await;
    let header = res
        .headers()
        .get(REQUEST_ID_HEADER)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body: ErrorBody = atest::read_body_json(res).await;
    assert_eq!(body.request_id, header);
}

#[test]
fn every_code_has_the_contract_status_and_spelling() {
    let expected: [(&str, u16); 23] = [
        ("VALIDATION_FAILED", 400),
        ("INVALID_JSON", 400),
        ("WEAK_PASSWORD", 400),
        ("UNAUTHORIZED", 401),
        ("INVALID_CREDENTIALS", 401),
        ("TOKEN_EXPIRED", 401),
        ("TOKEN_INVALID", 401),
        ("SESSION_REVOKED", 401),
        ("TOKEN_REUSED", 401),
        ("FORBIDDEN", 403),
        ("PASSWORD_CHANGE_REQUIRED", 403),
        ("NOT_FOUND", 404),
        ("METHOD_NOT_ALLOWED", 405),
        ("USERNAME_TAKEN", 409),
        ("EMAIL_TAKEN", 409),
        ("CONFLICT", 409),
        ("LAST_ADMIN", 409),
        ("PRECONDITION_FAILED", 412),
        ("PAYLOAD_TOO_LARGE", 413),
        ("UNSUPPORTED_MEDIA_TYPE", 415),
        ("RATE_LIMITED", 429),
        ("SERVICE_UNAVAILABLE", 503),
        ("INTERNAL", 500),
    ];
    for (code, (name, status)) in ErrorCode::ALL.into_iter().zip(expected) {
        assert_eq!(code.as_str(), name);
        assert_eq!(code.status().as_u16(), status, "{name}");
        assert_eq!(serde_json::to_value(code).unwrap(), name);
    }
}

#[test]
fn the_body_serializes_in_camel_case() {
    let body = ApiError::validation([FieldDetail::new("username", "is required")])
        .body("/api/v1/users", "rid");
    let json = serde_json::to_value(&body).unwrap();
    for key in [
        "statusCode",
        "error",
        "code",
        "message",
        "details",
        "timestamp",
        "path",
        "requestId",
    ] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
    assert_eq!(json["error"], "Bad Request");
    assert_eq!(json["details"][0]["field"], "username");
}

#[test]
fn serde_messages_are_turned_into_field_details() {
    assert_eq!(
        serde_detail("unknown field `x`, expected `a` at line 1 column 5", "body"),
        FieldDetail::new("x", "is not an accepted field")
    );
    assert_eq!(
        serde_detail(
            "invalid type: string \"pw\", expected u32 at line 1 column 9",
            "body"
        ),
        FieldDetail::new("body", "has the wrong type, expected u32")
    );
    assert_eq!(
        serde_detail("unknown variant `ROOT`, expected `USER` or `ADMIN`", "body"),
        FieldDetail::new("body", "has an unknown value, expected `USER` or `ADMIN`")
    );
    assert_eq!(
        serde_detail("must be 3 to 32 characters long", "body"),
        FieldDetail::new("body", "must be 3 to 32 characters long")
    );
}

#[test]
fn the_openapi_error_responses_point_at_the_error_body_schema() {
    use paperclip::v2::schema::Apiv2Errors;
    let mut op = paperclip::v2::models::DefaultOperationRaw::default();
    ApiError::update_error_definitions(&mut op);
    for code in ["400", "401", "403", "404", "429", "500", "503"] {
        let response = op
            .responses
            .get(code)
            .unwrap_or_else(|| panic!("{code} missing"));
        let paperclip::v2::models::Either::Right(response) = response else {
            panic!("{code} is a reference");
        };
        let schema = response.schema.as_ref().unwrap();
        assert_eq!(schema.reference.as_deref(), Some("#/definitions/ErrorBody"));
    }
    let mut definitions = std::collections::BTreeMap::new();
    ApiError::update_definitions(&mut definitions);
    let body = definitions.get("ErrorBody").expect("ErrorBody definition");
    let json = serde_json::to_value(body).unwrap();
    for key in [
        "statusCode",
        "error",
        "code",
        "message",
        "details",
        "timestamp",
        "path",
        "requestId",
    ] {
        assert!(
            json["properties"].get(key).is_some(),
            "{key} missing in {json}"
        );
    }
}
