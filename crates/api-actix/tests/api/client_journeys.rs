//! A user's and an admin's whole journeys through the generated Rust client
//! (`crates/client`) against the real server: every request is built and every answer
//! parsed by the code generated from the OpenAPI document, so a schema that does not
//! match what the server sends or accepts fails here.

use std::fmt::Debug;

use client::types::{
    ChangePasswordRequest, LogoutRequest, PreferencesDto, PreferencesDtoTheme, ProfilePatchDto,
    RefreshRequest, ResetPasswordRequest, TokenPairDto, UserDtoStatus, UserPatchDto,
    UserPatchDtoStatus,
};
use client::{authenticated, Client, Error, ResponseValue};

use crate::helpers::{TestApp, ADMIN, ADMIN_PASSWORD, STRONG};

/// The user's password after the change.
const NEW_PASSWORD: &str = "cobalt-Meadow-river-58";

/// Signs in through the client; panics unless the server answers a token pair.
async fn sign_in(app: &TestApp, username: &str, password: &str) -> TokenPairDto {
    Client::new(&app.address)
        .login()
        .body_map(|b| b.username(username).password(password))
        .send()
        .await
        .unwrap_or_else(|err| panic!("login of {username}: {err}"))
        .into_inner()
}

/// The status and code of the contract's error body the server answered instead.
fn refusal<T: Debug>(
    result: Result<ResponseValue<T>, Error<client::types::ErrorBody>>,
) -> (u16, String) {
    match result {
        Err(Error::ErrorResponse(body)) => (body.status().as_u16(), body.code.to_string()),
        other => panic!("expected an error body, got {other:?}"),
    }
}

#[actix_rt::test]
async fn a_user_signs_in_edits_their_profile_rotates_changes_the_password_and_signs_out() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "ada", "USER").await;

    // Login.
    let pair = sign_in(&app, "ada", STRONG).await;
    assert_eq!(pair.token_type, "Bearer");
    assert_eq!(pair.user.username, "ada");
    assert!(pair.expires_in > 0 && pair.refresh_expires_in > pair.expires_in);
    let ada = authenticated(&app.address, &pair.access_token, &[]).unwrap();

    // Profile, with its ETag.
    let profile = ada.get_profile().send().await.unwrap();
    assert_eq!(profile.status().as_u16(), 200);
    assert!(profile.headers().contains_key("etag"));
    assert_eq!(profile.id, pair.user.id);
    assert!(!profile.must_change_password);

    // Update the profile.
    let updated = ada
        .update_profile()
        .body(ProfilePatchDto {
            display_name: Some("Ada Lovelace".parse().unwrap()),
            email: Some("ada@lovelace.example".into()),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(updated.display_name, "Ada Lovelace");
    assert_eq!(updated.email.as_deref(), Some("ada@lovelace.example"));

    // Preferences: defaults, then a change read back.
    let defaults = ada.get_preferences().send().await.unwrap();
    assert_eq!(defaults.theme, PreferencesDtoTheme::Light);
    let chosen = PreferencesDto {
        language: "de-CH".into(),
        notifications: false,
        theme: PreferencesDtoTheme::Dark,
    };
    let saved = ada
        .update_preferences()
        .body(chosen.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        (saved.language.as_str(), saved.notifications, &saved.theme),
        ("de-CH", false, &PreferencesDtoTheme::Dark)
    );
    let read = ada.get_preferences().send().await.unwrap();
    assert_eq!(
        (read.language.as_str(), read.theme),
        ("de-CH", chosen.theme)
    );

    // Sessions: this one, marked current.
    let sessions = ada.list_sessions().send().await.unwrap();
    assert_eq!(sessions.items.len(), 1);
    assert_eq!(sessions.items[0].id, pair.session_id);
    assert!(sessions.items[0].current);

    // Refresh: a new pair of the same session.
    let refreshed = Client::new(&app.address)
        .refresh()
        .body(RefreshRequest {
            refresh_token: pair.refresh_token.clone(),
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refreshed.session_id, pair.session_id);
    assert_ne!(refreshed.refresh_token, pair.refresh_token);
    let ada = authenticated(&app.address, &refreshed.access_token, &[]).unwrap();

    // Change the password: the old one stops working, the new one signs in.
    let changed = ada
        .change_password()
        .body(ChangePasswordRequest {
            current_password: STRONG.into(),
            new_password: NEW_PASSWORD.parse().unwrap(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status().as_u16(), 204);
    let old = Client::new(&app.address)
        .login()
        .body_map(|b| b.username("ada").password(STRONG))
        .send()
        .await;
    assert_eq!(refusal(old), (401, "INVALID_CREDENTIALS".into()));
    sign_in(&app, "ada", NEW_PASSWORD).await;

    // Logout: this session's access token is refused on the next request.
    let out = ada
        .logout()
        .body(LogoutRequest {
            refresh_token: Some(refreshed.refresh_token.clone()),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 204);
    let after = ada.get_profile().send().await;
    assert_eq!(refusal(after), (401, "SESSION_REVOKED".into()));
}

#[actix_rt::test]
async fn an_admin_creates_finds_edits_resets_blocks_deletes_restores_and_audits_a_user() {
    let app = TestApp::spawn().await;

    // Login as admin.
    let pair = sign_in(&app, ADMIN, ADMIN_PASSWORD).await;
    let admin = authenticated(&app.address, &pair.access_token, &[]).unwrap();

    // Create a user.
    let created = admin
        .create_user()
        .body_map(|b| {
            b.username("grace")
                .display_name("Grace Hopper")
                .email(Some("grace@navy.example".to_owned()))
                .password(STRONG)
        })
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let location = created.headers().get("location").unwrap().to_str().unwrap();
    assert!(location.ends_with(&created.id.to_string()), "{location}");
    let id = created.id;
    assert_eq!(created.status, UserDtoStatus::Active);

    // List with a filter, and search.
    let listed = admin.list_users().q("grace").send().await.unwrap();
    assert_eq!(listed.items.iter().map(|u| u.id).collect::<Vec<_>>(), [id]);
    assert_eq!(listed.total, Some(1));
    let found = admin.search_users().q("hopper").send().await.unwrap();
    assert_eq!(found.items.first().map(|u| u.id), Some(id));

    // Get by id with its ETag; a patch under If-Match, then the stale tag is refused.
    let fetched = admin.get_user().id(id).send().await.unwrap();
    let etag = fetched
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let if_match = authenticated(&app.address, &pair.access_token, &[("If-Match", &etag)]).unwrap();
    let renamed = UserPatchDto {
        display_name: Some("Rear Admiral Hopper".parse().unwrap()),
        ..UserPatchDto::default()
    };
    let patched = if_match
        .update_user()
        .id(id)
        .body(renamed.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.display_name, "Rear Admiral Hopper");
    let stale = if_match.update_user().id(id).body(renamed).send().await;
    assert_eq!(refusal(stale), (412, "PRECONDITION_FAILED".into()));

    // Reset the password: a temporary one that must be changed.
    let reset = admin
        .reset_password()
        .id(id)
        .body(ResetPasswordRequest { new_password: None })
        .send()
        .await
        .unwrap();
    assert!(!reset.temporary_password.is_empty());
    let temporary = sign_in(&app, "grace", &reset.temporary_password).await;
    assert!(temporary.user.must_change_password);

    // Block: signing in is refused.
    let blocked = admin
        .update_user()
        .id(id)
        .body(UserPatchDto {
            status: Some(UserPatchDtoStatus::Blocked),
            ..UserPatchDto::default()
        })
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status, UserDtoStatus::Blocked);
    let login = Client::new(&app.address)
        .login()
        .body_map(|b| {
            b.username("grace")
                .password(reset.temporary_password.as_str())
        })
        .send()
        .await;
    assert_eq!(refusal(login), (401, "INVALID_CREDENTIALS".into()));

    // Delete: hidden from lists unless asked for.
    let deleted = admin.delete_user().id(id).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let hidden = admin.list_users().q("grace").send().await.unwrap();
    assert!(hidden.items.is_empty());
    let shown = admin
        .list_users()
        .q("grace")
        .include_deleted(true)
        .send()
        .await
        .unwrap();
    assert!(shown.items.first().is_some_and(|u| u.deleted_at.is_some()));

    // Restore.
    let restored = admin.restore_user().id(id).send().await.unwrap();
    assert_eq!((restored.id, restored.deleted_at), (id, None));

    // The audit log holds each step, and verifies.
    let logs = admin
        .list_audit_logs()
        .entity_id(id.to_string())
        .send()
        .await
        .unwrap();
    let actions: Vec<&str> = logs.items.iter().map(|e| e.action.as_str()).collect();
    for action in [
        "CREATE_USER",
        "UPDATE_USER",
        "PASSWORD_RESET",
        "BLOCK_USER",
        "DELETE_USER",
        "RESTORE_USER",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let report = admin.verify_audit_log().send().await.unwrap();
    assert!(report.valid, "{report:?}");
    assert_eq!(report.first_broken_id, None);
}
