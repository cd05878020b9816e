//! Routing: every documented route, the OpenAPI document and the explorer. Handlers are
//! three lines of intent: DTO in, use case called, DTO out.

mod audit;
mod auth;
mod bulk;
mod docs;
mod export;
mod health;
mod import;
mod metrics;
mod profile;
mod served;
mod sessions;
mod users;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Condition};
use actix_web::{App, Error};
use paperclip::actix::{web, OpenApiExt};

use crate::http::access_log::access_log_middleware;
use crate::http::error::{
    error_body_middleware, json_config, not_found, path_config, query_config,
};
use crate::http::metrics::metrics_middleware;
use crate::http::rate_limit::rate_limit_middleware;
use crate::http::request_id::request_id_middleware;
use crate::http::security_headers::security_headers_middleware;
use crate::startup::AppState;

use served::Served;
pub use served::ServedRoute;

/// Default JSON body limit; larger bodies get 413 PAYLOAD_TOO_LARGE.
pub const JSON_LIMIT_BYTES: usize = 64 * 1024;

/// JSON body limit of `/users/bulk` (up to 1000 create bodies).
pub const BULK_JSON_LIMIT_BYTES: usize = 2 * 1024 * 1024;

/// `/api/v1`, each resource recorded in `served`.
fn api_v1(served: &mut Served) -> web::Scope {
    let mut resource = |path: &str, allow: &'static str| served.resource("/api/v1", path, allow);
    web::scope("/api/v1")
        .service(resource("/auth/login", "POST").route(web::post().to(auth::login)))
        .service(resource("/auth/refresh", "POST").route(web::post().to(auth::refresh)))
        .service(resource("/auth/logout", "POST").route(web::post().to(auth::logout)))
        .service(resource("/auth/logout-all", "POST").route(web::post().to(auth::logout_all)))
        .service(
            resource("/profile", "GET, PATCH")
                .route(web::get().to(profile::get_profile))
                .route(web::patch().to(profile::update_profile)),
        )
        .service(
            resource("/profile/password", "PUT").route(web::put().to(profile::change_password)),
        )
        .service(resource("/profile/export", "GET").route(web::get().to(export::profile)))
        .service(
            resource("/profile/preferences", "GET, PUT")
                .route(web::get().to(profile::get_preferences))
                .route(web::put().to(profile::put_preferences)),
        )
        .service(
            resource("/users", "GET, POST")
                .route(web::get().to(users::list))
                .route(web::post().to(users::create)),
        )
        // Static segments before the `{id}` template.
        .service(resource("/users/search", "GET").route(web::get().to(users::search)))
        .service(resource("/users/export", "GET").route(web::get().to(export::users)))
        .service(
            resource("/users/bulk", "POST, DELETE")
                // Up to 1000 create bodies: a larger limit for this route only.
                .app_data(json_config(BULK_JSON_LIMIT_BYTES))
                .route(web::post().to(bulk::create))
                .route(web::delete().to(bulk::delete)),
        )
        .service(
            resource("/users/import", "POST")
                // A JSON import holds up to 10 000 create bodies; CSV is bounded as read.
                .app_data(json_config(import::IMPORT_LIMIT_BYTES))
                .route(web::post().to(import::import)),
        )
        .service(
            resource("/users/{id}", "GET, PATCH, DELETE")
                .route(web::get().to(users::get))
                .route(web::patch().to(users::update))
                .route(web::delete().to(users::delete)),
        )
        .service(resource("/users/{id}/restore", "POST").route(web::post().to(users::restore)))
        .service(resource("/users/{id}/export", "GET").route(web::get().to(export::user_data)))
        .service(resource("/users/{id}/anonymize", "POST").route(web::post().to(users::anonymize)))
        .service(
            resource("/users/{id}/reset-password", "PATCH")
                .route(web::patch().to(users::reset_password)),
        )
        .service(
            resource("/users/{id}/sessions", "GET, DELETE")
                .route(web::get().to(sessions::list_of_user))
                .route(web::delete().to(sessions::revoke_all_of_user)),
        )
        .service(resource("/sessions", "GET").route(web::get().to(sessions::list)))
        .service(resource("/sessions/{id}", "DELETE").route(web::delete().to(sessions::revoke)))
        // `/verify` before any `{id}` template of the audit log.
        .service(resource("/audit-logs", "GET").route(web::get().to(audit::list)))
        .service(resource("/audit-logs/verify", "GET").route(web::get().to(audit::verify)))
        .service(resource("/audit-logs/checkpoint", "GET").route(web::get().to(audit::checkpoint)))
}

/// The whole application over `state`.
pub fn app(
    state: actix_web::web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let metrics_enabled = state.metrics_enabled;
    let app = App::new()
        .wrap_api_with_spec(docs::spec_defaults())
        .app_data(state.rate_limits.clone())
        .app_data(state.client_ip.clone())
        .app_data(state)
        .app_data(json_config(JSON_LIMIT_BYTES))
        .app_data(query_config())
        .app_data(path_config())
        // `.wrap` resets paperclip's spec path: every wrap comes before the spec routes.
        // Innermost: a refusal is completed by the error body, counted and logged.
        .wrap(from_fn(rate_limit_middleware))
        .wrap(from_fn(error_body_middleware))
        // Outside the error body, so it counts the status the client got.
        .wrap(Condition::new(metrics_enabled, from_fn(metrics_middleware)))
        // Inside the request id (to log it), outside the error body (to log the final status).
        .wrap(from_fn(access_log_middleware))
        .wrap(from_fn(request_id_middleware))
        // Outermost: every response, whatever made it, gets the security headers.
        .wrap(from_fn(security_headers_middleware));
    mount(app, &mut Served::default()).build()
}

/// Every route [`app`] serves, as registered: what the OpenAPI document must list.
pub fn served_routes() -> Vec<ServedRoute> {
    let mut served = Served::default();
    let _unused = mount(actix_web::App::new().wrap_api(), &mut served);
    served.into_routes()
}

/// Mounts every route on `app` (its middlewares already wrapped), recording each in
/// `served`, then the document rendered from them and the explorer.
fn mount<T>(app: paperclip::actix::App<T>, served: &mut Served) -> paperclip::actix::App<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = Error, InitError = ()>,
{
    let mut resource = |path: &str, allow: &'static str| served.resource("", path, allow);
    let app = app
        .service(resource("/api/health", "GET").route(web::get().to(health::live)))
        .service(resource("/api/health/ready", "GET").route(web::get().to(health::ready)))
        .service(resource("/api/health/detailed", "GET").route(web::get().to(health::detailed)))
        .service(resource("/metrics", "GET").route(web::get().to(metrics::scrape)))
        .service(resource("/.well-known/jwks.json", "GET").route(web::get().to(health::jwks)))
        .service(api_v1(served))
        .default_service(web::to(not_found));
    served.record(docs::SPEC_PATH, "GET");
    served.record(docs::UI_PATH, "GET");
    served.record(docs::ASSET_PATH, "GET");
    // The v3 document is rendered once from what is registered so far, post-processed,
    // and served from memory; the explorer and its assets follow.
    app.with_raw_json_spec_v3(|app, mut spec| {
        docs::finish_v3(&mut spec);
        let body = docs::render_spec(&spec);
        app.route(
            docs::SPEC_PATH,
            web::get().to(move || docs::serve_spec(body.clone())),
        )
    })
    .with_json_spec_v3_at(docs::SPEC_PATH)
    .route(docs::UI_PATH, web::get().to(docs::explorer_redirect))
    .route(
        &format!("{}/", docs::UI_PATH),
        web::get().to(docs::explorer_redirect),
    )
    .service(docs::unknown_assets())
    .with_swagger_ui_at(docs::UI_PATH)
}
