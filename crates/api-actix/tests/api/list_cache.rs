//! `GET /users` and `/users/search` pages are served from the list cache while no user
//! changed: every write path that changes a user row shows on the very next read (and
//! voids the old `ETag`), writes that change none keep the page and its 304, and a cached
//! page answers, and answers 304, while PostgreSQL is down; with the in-process cache and
//! with Redis.

use serde_json::{json, Value};

use crate::helpers::{bring_database_back, take_database_down, token, Reply, TestApp, STRONG};
use crate::sessions::{cache_variants, spawn_cached};

const LIST: &str = "/api/v1/users?includeDeleted=true&limit=100&sort=username";
const SEARCH: &str = "/api/v1/users/search?q=ann";
const RENEWED: &str = "cobalt-Meadow-lantern-58";

/// Reads `path` twice (the second read answered from the page the first stored); both
/// must agree. Returns the page and its tag.
async fn cached_page(app: &TestApp, admin: &str, path: &str) -> (Value, String) {
    let first = app.call("GET", path, Some(admin), None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let second = app.call("GET", path, Some(admin), None).await;
    assert_eq!(second.body, first.body, "{path}");
    let tag = first.header("etag").expect("a list page has a tag");
    assert_eq!(second.header("etag").as_deref(), Some(tag.as_str()));
    (second.body, tag)
}

async fn revalidate(app: &TestApp, admin: &str, path: &str, tag: &str) -> Reply {
    app.send("GET", path, Some(admin), None, &[("If-None-Match", tag)])
        .await
}

/// The page at `path` after a change: the old tag no longer answers 304, and the new
/// page is what the next read serves.
async fn changed(app: &TestApp, admin: &str, path: &str, old_tag: &str, step: &str) -> Value {
    let reply = revalidate(app, admin, path, old_tag).await;
    assert_eq!(
        reply.status, 200,
        "{step}: the old tag of {path} still matched"
    );
    let (page, tag) = cached_page(app, admin, path).await;
    assert_eq!(page, reply.body, "{step}");
    assert_ne!(tag, old_tag, "{step}");
    page
}

fn row<'a>(page: &'a Value, id: &str) -> &'a Value {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|u| u["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {page}"))
}

fn has(page: &Value, id: &str) -> bool {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|u| u["id"] == id)
}

async fn ok(reply: Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    reply.body
}

#[actix_rt::test]
async fn a_cached_list_shows_each_change_to_any_user_on_the_next_read() {
    for (variant, redis) in cache_variants() {
        let app = spawn_cached(redis, "1h").await;
        let admin = app.admin_token().await;
        let (_, tag) = cached_page(&app, &admin, LIST).await;
        let (_, search_tag) = cached_page(&app, &admin, SEARCH).await;

        // Create.
        let ann = app.create_user(&admin, "ann", "USER").await;
        let ann_id = ann["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/users/{ann_id}");
        let page = changed(&app, &admin, LIST, &tag, "create").await;
        assert!(has(&page, &ann_id), "{variant}");
        let found = changed(&app, &admin, SEARCH, &search_tag, "create").await;
        assert!(has(&found, &ann_id), "{variant}: search");
        let (_, mut tag) = cached_page(&app, &admin, LIST).await;

        // Bulk create, and an import's dry run (writes nothing) then its real run.
        let bulk = app
            .call(
                "POST",
                "/api/v1/users/bulk",
                Some(&admin),
                Some(json!({"users": [{"username": "bob", "displayName": "Bob",
                    "password": STRONG}]})),
            )
            .await;
        let bob_id = ok(bulk, 201).await["created"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let page = changed(&app, &admin, LIST, &tag, "bulk create").await;
        assert!(has(&page, &bob_id), "{variant}");
        tag = cached_page(&app, &admin, LIST).await.1;
        let carl = json!({"users": [{"username": "carl", "displayName": "Carl",
            "password": STRONG}]});
        let dry = app
            .call(
                "POST",
                "/api/v1/users/import?dryRun=true",
                Some(&admin),
                Some(carl.clone()),
            )
            .await;
        ok(dry, 200).await;
        assert_eq!(
            revalidate(&app, &admin, LIST, &tag).await.status,
            304,
            "{variant}: a dry run changes no page"
        );
        let imported = app
            .call(
                "POST",
                "/api/v1/users/import?dryRun=false",
                Some(&admin),
                Some(carl),
            )
            .await;
        let carl_id = ok(imported, 200).await["results"][0]["user"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let page = changed(&app, &admin, LIST, &tag, "import").await;
        assert!(has(&page, &carl_id), "{variant}");
        tag = cached_page(&app, &admin, LIST).await.1;

        // Admin patch.
        let patched = app
            .call(
                "PATCH",
                &path,
                Some(&admin),
                Some(json!({"displayName": "Ann Admin-Set"})),
            )
            .await;
        ok(patched, 200).await;
        let page = changed(&app, &admin, LIST, &tag, "admin patch").await;
        assert_eq!(row(&page, &ann_id)["displayName"], "Ann Admin-Set");
        tag = cached_page(&app, &admin, LIST).await.1;

        // Sign-in, failed sign-in.
        let access = token(&app.login("ann", STRONG).await);
        let page = changed(&app, &admin, LIST, &tag, "sign-in").await;
        assert_eq!(row(&page, &ann_id)["loginCount"], 1, "{variant}");
        tag = cached_page(&app, &admin, LIST).await.1;
        assert_eq!(app.attempt_login("ann", "wrong-Guess-99").await.status, 401);
        let page = changed(&app, &admin, LIST, &tag, "failed sign-in").await;
        assert_eq!(row(&page, &ann_id)["failedLoginAttempts"], 1, "{variant}");
        tag = cached_page(&app, &admin, LIST).await.1;

        // Preferences are in no list row: the page and its tag stay.
        let prefs = app
            .call(
                "PUT",
                "/api/v1/profile/preferences",
                Some(&access),
                Some(json!({"theme": "dark", "language": "de", "notifications": false})),
            )
            .await;
        assert!(prefs.status < 300, "{}", prefs.body);
        assert_eq!(revalidate(&app, &admin, LIST, &tag).await.status, 304);

        // The user's own profile patch and password change.
        let own = app
            .call(
                "PATCH",
                "/api/v1/profile",
                Some(&access),
                Some(json!({"displayName": "Ann Self"})),
            )
            .await;
        ok(own, 200).await;
        let page = changed(&app, &admin, LIST, &tag, "profile patch").await;
        assert_eq!(row(&page, &ann_id)["displayName"], "Ann Self");
        tag = cached_page(&app, &admin, LIST).await.1;
        let before = row(&page, &ann_id)["passwordChangedAt"].clone();
        app.advance(std::time::Duration::from_secs(2));
        let changed_pw = app
            .call(
                "PUT",
                "/api/v1/profile/password",
                Some(&access),
                Some(json!({"currentPassword": STRONG, "newPassword": RENEWED})),
            )
            .await;
        ok(changed_pw, 204).await;
        let page = changed(&app, &admin, LIST, &tag, "password change").await;
        assert_ne!(row(&page, &ann_id)["passwordChangedAt"], before);
        tag = cached_page(&app, &admin, LIST).await.1;

        // Admin reset.
        let reset = app
            .call(
                "PATCH",
                &format!("{path}/reset-password"),
                Some(&admin),
                Some(json!({})),
            )
            .await;
        ok(reset, 200).await;
        let page = changed(&app, &admin, LIST, &tag, "reset").await;
        assert_eq!(row(&page, &ann_id)["mustChangePassword"], true);
        tag = cached_page(&app, &admin, LIST).await.1;

        // Delete and restore; bulk delete.
        ok(app.call("DELETE", &path, Some(&admin), None).await, 204).await;
        let page = changed(&app, &admin, LIST, &tag, "delete").await;
        assert!(row(&page, &ann_id)["deletedAt"].is_string());
        tag = cached_page(&app, &admin, LIST).await.1;
        let restored = app
            .call("POST", &format!("{path}/restore"), Some(&admin), None)
            .await;
        ok(restored, 200).await;
        let page = changed(&app, &admin, LIST, &tag, "restore").await;
        assert!(row(&page, &ann_id)["deletedAt"].is_null());
        tag = cached_page(&app, &admin, LIST).await.1;
        let bulk_delete = app
            .call(
                "DELETE",
                "/api/v1/users/bulk",
                Some(&admin),
                Some(json!({"ids": [bob_id]})),
            )
            .await;
        ok(bulk_delete, 200).await;
        let page = changed(&app, &admin, LIST, &tag, "bulk delete").await;
        assert!(row(&page, &bob_id)["deletedAt"].is_string());
        tag = cached_page(&app, &admin, LIST).await.1;

        // Anonymize.
        let erased = app
            .call(
                "POST",
                &format!("/api/v1/users/{carl_id}/anonymize"),
                Some(&admin),
                None,
            )
            .await;
        ok(erased, 200).await;
        let page = changed(&app, &admin, LIST, &tag, "anonymize").await;
        assert!(
            row(&page, &carl_id)["username"]
                .as_str()
                .unwrap()
                .starts_with("deleted-"),
            "{variant}"
        );
    }
}

#[actix_rt::test]
async fn a_cached_page_is_served_and_revalidated_while_postgresql_is_down() {
    for (variant, redis) in cache_variants() {
        let app = spawn_cached(redis, "1h").await;
        let admin = app.admin_token().await;
        app.create_user(&admin, "ann", "USER").await;
        let (page, tag) = cached_page(&app, &admin, LIST).await;
        let (found, search_tag) = cached_page(&app, &admin, SEARCH).await;

        take_database_down(&app.db).await;
        let not_modified = revalidate(&app, &admin, LIST, &tag).await;
        assert_eq!(not_modified.status, 304, "{variant}: {}", not_modified.body);
        assert_eq!(not_modified.header("etag").as_deref(), Some(tag.as_str()));
        assert_eq!(
            revalidate(&app, &admin, SEARCH, &search_tag).await.status,
            304,
            "{variant}"
        );
        let served = app.call("GET", LIST, Some(&admin), None).await;
        assert_eq!((served.status, &served.body), (200, &page), "{variant}");
        let served = app.call("GET", SEARCH, Some(&admin), None).await;
        assert_eq!((served.status, &served.body), (200, &found), "{variant}");
        // A page nobody read before still needs the database.
        let other = app
            .call("GET", "/api/v1/users?limit=7", Some(&admin), None)
            .await;
        assert_eq!(other.status, 503, "{variant}: {}", other.body);
        bring_database_back(&app.db).await;
    }
}

/// Writers each rename their own user ten times while readers keep the page cached; after
/// every acknowledged rename, its writer's next read shows exactly that name. A page read
/// before a write that is stored after it would fail this.
#[actix_rt::test]
async fn a_page_read_while_a_write_commits_is_never_served_after_it() {
    for (variant, redis) in cache_variants() {
        let app = spawn_cached(redis, "1h").await;
        let admin = app.admin_token().await;
        let mut ids = Vec::new();
        for n in 0..4 {
            let user = app.create_user(&admin, &format!("writer{n}"), "USER").await;
            ids.push(user["id"].as_str().unwrap().to_owned());
        }
        let writers = ids.iter().enumerate().map(|(w, id)| {
            let (app, admin) = (&app, &admin);
            async move {
                for round in 0..10 {
                    let name = format!("w{w} r{round}");
                    let reply = app
                        .call(
                            "PATCH",
                            &format!("/api/v1/users/{id}"),
                            Some(admin),
                            Some(json!({"displayName": name})),
                        )
                        .await;
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    let page = app.call("GET", LIST, Some(admin), None).await;
                    assert_eq!(page.status, 200, "{}", page.body);
                    assert_eq!(
                        row(&page.body, id)["displayName"],
                        name.as_str(),
                        "{variant}"
                    );
                }
            }
        });
        let readers = (0..4).map(|_| {
            let (app, admin) = (&app, &admin);
            async move {
                for _ in 0..40 {
                    let page = app.call("GET", LIST, Some(admin), None).await;
                    assert_eq!(page.status, 200, "{}", page.body);
                }
            }
        });
        futures_util::join!(
            futures_util::future::join_all(writers),
            futures_util::future::join_all(readers)
        );
    }
}
