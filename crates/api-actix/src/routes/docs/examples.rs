//! Examples of the OpenAPI document. Response examples are sample DTOs serialised, and
//! error examples bodies rendered by [`ApiError`], so neither can drift from the wire;
//! request examples are JSON that the unit tests below parse into their DTOs.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::dto::audit::{AuditEntryDto, AuditLogList, CheckpointDto, VerifyReportDto};
use crate::dto::auth::TokenPairDto;
use crate::dto::health::{
    ConnectionsDto, DatabaseHealthDto, DetailedHealthDto, DiskDto, HealthDto, MemoryDto,
    RedisHealthDto,
};
use crate::dto::import::{ImportResponse, ImportRowResult, ImportStatusDto};
use crate::dto::list::UserList;
use crate::dto::profile::{PersonalDataDto, PreferencesDto, ThemeDto};
use crate::dto::sessions::{SessionDto, SessionList};
use crate::dto::user::{RoleDto, StatusDto, UserDto};
use crate::dto::users::{
    BulkCreateResult, BulkCreateResults, BulkCreatedResponse, BulkDeleteItem, BulkDeleteResponse,
    BulkDeleteStatusDto, BulkItemError, ResetPasswordResponse,
};
use crate::http::error::{ApiError, ErrorBody, ErrorCode, FieldDetail};

/// The id of the sample user; also the example of every `{id}` path parameter.
pub const USER_ID: Uuid = Uuid::from_u128(0x0193_6c3e_5b7a_7c1d_9f2e_4a6b_8c0d_1e2f);
/// The id of the sample session.
const SESSION_ID: Uuid = Uuid::from_u128(0x0193_6c3f_0a1b_7d2e_8f3a_5b6c_7d8e_9f0a);
/// The id of the sample audit entry.
const AUDIT_ID: Uuid = Uuid::from_u128(0x0193_6c3f_1b2c_7e3f_904b_6c7d_8e9f_a0b1);
/// The `X-Request-ID` of every sample.
const REQUEST_ID: &str = "0193c1a2-7f00-7abc-8def-0123456789ab";
/// A sample access token (a JWT's shape; not a valid one).
const ACCESS_TOKEN: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6IjNmYTljMjE0ZTBkNWI3ODgiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiIwMTkzNmMzZS01YjdhLTdjMWQtOWYyZS00YTZiOGMwZDFlMmYiLCJzaWQiOiIwMTkzNmMzZi0wYTFiLTdkMmUtOGYzYS01YjZjN2Q4ZTlmMGEiLCJleHAiOjE3OTU1MjYxMDB9.c2lnbmF0dXJl";
/// A sample refresh token (opaque).
const REFRESH_TOKEN: &str = "Qk3x9T1mZ0pLr7yVw2cN8sEaHf5uJd4bGq6oKi0tXvY";
/// A password the sample user could set (long, not containing the username).
const PASSWORD: &str = "tangerine-Ocelot-harbor-93";

/// `2026-11-24T10:00:00Z` plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_514_400 + minutes * 60, 0).unwrap_or_default()
}

fn to_value(sample: impl Serialize) -> Value {
    serde_json::to_value(sample).unwrap_or(Value::Null)
}

fn user() -> UserDto {
    UserDto {
        id: USER_ID,
        username: "alice".into(),
        email: Some("alice@example.com".into()),
        display_name: "Alice Liddell".into(),
        role: RoleDto::User,
        status: StatusDto::Active,
        must_change_password: false,
        created_at: at(0),
        updated_at: at(30),
        last_login_at: Some(at(45)),
        login_count: 3,
        failed_login_attempts: 0,
        locked_until: None,
        password_changed_at: at(0),
        deleted_at: None,
    }
}

fn session() -> SessionDto {
    SessionDto {
        id: SESSION_ID,
        created_at: at(45),
        last_used_at: at(55),
        expires_at: at(45 + 7 * 24 * 60),
        ip_address: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        current: true,
    }
}

fn audit_entry() -> AuditEntryDto {
    AuditEntryDto {
        id: AUDIT_ID,
        user_id: Some(USER_ID),
        action: "LOGIN".into(),
        entity_type: "SESSION".into(),
        entity_id: Some(SESSION_ID.to_string()),
        metadata: json!({}),
        ip_address: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        request_id: Some(REQUEST_ID.into()),
        created_at: at(45),
    }
}

fn preferences() -> PreferencesDto {
    PreferencesDto {
        theme: ThemeDto::Light,
        language: "en".into(),
        notifications: true,
    }
}

/// The example of a response body of schema `name` (a `components/schemas` key).
pub fn response(name: &str) -> Option<Value> {
    Some(match name {
        "UserDto" => to_value(user()),
        "UserList" => to_value(UserList {
            items: vec![user()],
            total: Some(1),
            limit: 20,
            offset: 0,
            next_cursor: None,
        }),
        "TokenPairDto" => to_value(TokenPairDto {
            access_token: ACCESS_TOKEN.into(),
            refresh_token: REFRESH_TOKEN.into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            refresh_expires_in: 604_800,
            session_id: SESSION_ID,
            user: user(),
        }),
        "SessionList" => to_value(SessionList {
            items: vec![session()],
            total: None,
            limit: 20,
            offset: 0,
            next_cursor: Some("eyJjIjoiMjAyNi0xMS0yNFQxMDo0NTowMFoifQ".into()),
        }),
        "AuditLogList" => to_value(AuditLogList {
            items: vec![audit_entry()],
            total: Some(1),
            limit: 20,
            offset: 0,
            next_cursor: None,
        }),
        "VerifyReportDto" => to_value(VerifyReportDto {
            valid: true,
            checked: 1284,
            first_broken_id: None,
        }),
        "CheckpointDto" => to_value(CheckpointDto {
            checkpoint: "eyJhbGciOiJFZERTQSIsImtpZCI6IjNmYTljMjE0ZTBkNWI3ODgiLCJ0eXAiOiJlbXMtYXVkaXQtY2hlY2twb2ludCtqd3MifQ.eyJzZXEiOjEyODQsImhhc2giOiJxM2g3Li4uIiwiY291bnQiOjEyODQsImlhdCI6MTc5NTUxNzEwMH0.c2lnbmF0dXJl".into(),
        }),
        "HealthDto" => to_value(HealthDto {
            status: "ok".into(),
        }),
        "DetailedHealthDto" => to_value(DetailedHealthDto {
            status: "ok".into(),
            database: DatabaseHealthDto {
                status: "up".into(),
                latency_ms: 0.8,
                connections: ConnectionsDto {
                    size: 4,
                    idle: 3,
                    waiting: 0,
                },
            },
            redis: RedisHealthDto {
                status: "DISABLED".into(),
                latency_ms: None,
            },
            disk: DiskDto {
                path: "/var/lib/ems".into(),
                total_bytes: Some(53_687_091_200),
                available_bytes: Some(21_474_836_480),
            },
            memory: MemoryDto {
                rss_bytes: Some(41_943_040),
            },
            uptime_seconds: 86_400,
            version: env!("CARGO_PKG_VERSION").into(),
        }),
        "PreferencesDto" => to_value(preferences()),
        "PersonalDataDto" => to_value(PersonalDataDto {
            user: user(),
            preferences: preferences(),
            sessions: vec![session()],
            audit_entries: vec![audit_entry()],
        }),
        "ResetPasswordResponse" => to_value(ResetPasswordResponse {
            temporary_password: "vX3-kq8P-2mZr-Lw7t".into(),
        }),
        "BulkCreatedResponse" => to_value(BulkCreatedResponse {
            created: vec![user()],
        }),
        "BulkCreateResults" => to_value(BulkCreateResults {
            results: vec![
                BulkCreateResult {
                    index: 0,
                    status: 201,
                    user: Some(user()),
                    error: None,
                },
                BulkCreateResult {
                    index: 1,
                    status: 409,
                    user: None,
                    error: Some(BulkItemError {
                        code: ErrorCode::UsernameTaken,
                        message: ErrorCode::UsernameTaken.default_message().into(),
                        details: None,
                    }),
                },
            ],
        }),
        "ImportResponse" => to_value(ImportResponse {
            dry_run: false,
            created: 1,
            failed: 1,
            results: vec![
                ImportRowResult {
                    row: 1,
                    status: ImportStatusDto::Created,
                    user: Some(user()),
                    errors: None,
                },
                ImportRowResult {
                    row: 2,
                    status: ImportStatusDto::Invalid,
                    user: None,
                    errors: Some(vec![FieldDetail::new(
                        "username",
                        "repeats the username of row 1",
                    )]),
                },
            ],
        }),
        "BulkDeleteResponse" => to_value(BulkDeleteResponse {
            results: vec![
                BulkDeleteItem {
                    id: USER_ID,
                    status: BulkDeleteStatusDto::Deleted,
                },
                BulkDeleteItem {
                    id: SESSION_ID,
                    status: BulkDeleteStatusDto::NotFound,
                },
            ],
        }),
        _ => return None,
    })
}

/// The example of a request body of schema `name`.
pub fn request(name: &str) -> Option<Value> {
    let create = json!({
        "username": "alice",
        "email": "alice@example.com",
        "displayName": "Alice Liddell",
        "password": PASSWORD,
        "role": "USER",
    });
    Some(match name {
        "LoginRequest" => json!({ "username": "alice", "password": PASSWORD }),
        "RefreshRequest" => json!({ "refreshToken": REFRESH_TOKEN }),
        "LogoutRequest" => json!({ "refreshToken": REFRESH_TOKEN }),
        "ProfilePatchDto" => {
            json!({ "displayName": "Alice Liddell", "email": "alice@example.org" })
        }
        "ChangePasswordRequest" => json!({
            "currentPassword": PASSWORD,
            "newPassword": "velvet-Glacier-compass-58",
        }),
        "PreferencesDto" => json!({ "theme": "dark", "language": "de-CH", "notifications": false }),
        "CreateUserRequest" => create,
        "UserPatchDto" => json!({ "displayName": "Alice L.", "role": "ADMIN", "status": "ACTIVE" }),
        "ResetPasswordRequest" => json!({ "newPassword": "amber-Falcon-drizzle-26" }),
        "BulkCreateRequest" => json!({ "users": [create], "atomic": true }),
        "BulkDeleteRequest" => json!({ "ids": [USER_ID] }),
        "ImportJsonRequest" => json!({ "users": [create] }),
        _ => return None,
    })
}

/// The example of a query or path parameter called `name`, where one says more than
/// its schema.
pub fn parameter(name: &str) -> Option<Value> {
    Some(match name {
        "id" => json!(USER_ID),
        "q" => json!("ali"),
        "sort" => json!("-createdAt,username"),
        "format" => json!("csv"),
        "createdFrom" => json!("2026-11-01T00:00:00Z"),
        "createdTo" => json!("2026-11-30T23:59:59Z"),
        "from" => json!("2026-11-01T00:00:00Z"),
        "to" => json!("2026-11-30T23:59:59Z"),
        "action" => json!("LOGIN"),
        "limit" => json!(20),
        _ => return None,
    })
}

/// The example error of `status` on the operation at `path`: the code a client most
/// likely meets there, rendered as the server renders it.
pub fn error(status: u16, operation_id: &str, path: &str) -> Option<Value> {
    let code = match (status, operation_id) {
        (400, _) => ErrorCode::ValidationFailed,
        (401, "login") => ErrorCode::InvalidCredentials,
        (401, "refresh") => ErrorCode::TokenReused,
        (401, _) => ErrorCode::Unauthorized,
        (403, _) => ErrorCode::Forbidden,
        (404, _) => ErrorCode::NotFound,
        (405, _) => ErrorCode::MethodNotAllowed,
        (409, "deleteUser" | "anonymizeUser") => ErrorCode::LastAdmin,
        (409, "restoreUser") => ErrorCode::Conflict,
        (409, _) => ErrorCode::UsernameTaken,
        (412, _) => ErrorCode::PreconditionFailed,
        (413, _) => ErrorCode::PayloadTooLarge,
        (415, _) => ErrorCode::UnsupportedMediaType,
        (429, _) => ErrorCode::RateLimited,
        (503, _) => ErrorCode::ServiceUnavailable,
        (500, _) => ErrorCode::Internal,
        _ => return None,
    };
    let mut error = ApiError::from_code(code);
    if code == ErrorCode::ValidationFailed {
        error = error.with_details([FieldDetail::new("limit", "must be between 1 and 100")]);
    }
    let path = path
        .replace("{id}", &USER_ID.to_string())
        .replace("{filename}", "index.html");
    let body = ErrorBody {
        // Fixed, so the document does not change from one start to the next.
        timestamp: "2026-11-24T10:00:00Z".into(),
        ..error.body(&path, REQUEST_ID)
    };
    Some(to_value(body))
}

/// The CSV example of `GET /users/export?format=csv`.
pub fn users_csv(header: &[&str]) -> Value {
    let u = user();
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let row = [
        u.id.to_string(),
        u.username,
        u.email.unwrap_or_default(),
        u.display_name,
        "USER".into(),
        "ACTIVE".into(),
        time(u.created_at),
        u.last_login_at.map(time).unwrap_or_default(),
    ]
    .map(|cell| format!("\"{cell}\""))
    .join(",");
    Value::String(format!("{}\n{row}\n", header.join(",")))
}

/// The example of `GET /.well-known/jwks.json` (an Ed25519 key; ES256 keys are `EC`).
pub fn jwks() -> Value {
    json!({ "keys": [{
        "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "kid": "3fa9c214e0d5b788", "alg": "EdDSA", "use": "sig",
    }]})
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;

    use super::*;
    use crate::dto::auth::{LoginRequest, LogoutRequest, RefreshRequest};
    use crate::dto::profile::{ChangePasswordRequest, ProfilePatchDto};
    use crate::dto::users::{
        BulkCreateRequest, BulkDeleteRequest, CreateUserRequest, ResetPasswordRequest, UserPatchDto,
    };

    fn parses<T: DeserializeOwned>(name: &str) {
        let example = request(name).unwrap_or_else(|| panic!("{name} has an example"));
        if let Err(err) = serde_json::from_value::<T>(example) {
            panic!("the {name} example is refused: {err}");
        }
    }

    #[test]
    fn every_request_example_is_a_body_the_server_parses() {
        parses::<LoginRequest>("LoginRequest");
        parses::<RefreshRequest>("RefreshRequest");
        parses::<LogoutRequest>("LogoutRequest");
        parses::<ProfilePatchDto>("ProfilePatchDto");
        parses::<ChangePasswordRequest>("ChangePasswordRequest");
        parses::<PreferencesDto>("PreferencesDto");
        parses::<CreateUserRequest>("CreateUserRequest");
        parses::<UserPatchDto>("UserPatchDto");
        parses::<ResetPasswordRequest>("ResetPasswordRequest");
        parses::<BulkCreateRequest>("BulkCreateRequest");
        parses::<BulkDeleteRequest>("BulkDeleteRequest");
        parses::<crate::dto::import::ImportJsonRequest>("ImportJsonRequest");
    }

    #[test]
    fn sample_passwords_pass_the_password_policy() {
        let alice = domain::user::Username::parse("alice").unwrap();
        for password in [
            PASSWORD,
            "velvet-Glacier-compass-58",
            "amber-Falcon-drizzle-26",
        ] {
            let checked = domain::password::NewPassword::parse(password, &alice, &[]);
            assert!(checked.is_ok(), "{password}: {:?}", checked.err());
        }
    }

    #[test]
    fn an_error_example_carries_its_status_and_the_operation_path() {
        let body = error(404, "getUser", "/api/v1/users/{id}").unwrap();

        assert_eq!(body["statusCode"], 404);
        assert_eq!(body["code"], "NOT_FOUND");
        assert_eq!(body["path"], format!("/api/v1/users/{USER_ID}"));
        assert_eq!(error(418, "getUser", "/"), None);
    }

    #[test]
    fn the_csv_example_has_the_export_header_and_one_row() {
        let csv = users_csv(&crate::routes::export::CSV_HEADER);

        let text = csv.as_str().unwrap();
        assert!(
            text.starts_with("id,username,email,displayName,role,status,createdAt,lastLoginAt\n")
        );
        assert_eq!(text.lines().count(), 2);
    }
}
