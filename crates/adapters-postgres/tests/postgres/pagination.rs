//! The user list: filters, every sort field in both directions, offset and keyset pages.
//!
//! Sort-relevant strings use lowercase letters (and distinct first letters for emails), so
//! the expected order computed here holds under any collation of the test cluster.

use std::cmp::Ordering;

use adapters_postgres::testing::TestDatabase;
use adapters_postgres::PgStore;
use chrono::{DateTime, Duration, Utc};
use domain::page::{
    Cursor, Limit, Offset, PageRequest, Position, UserFilter, UserQuery, UserSort, UserSortField,
};
use domain::ports::UserRepository;
use domain::search::SearchTerm;
use domain::user::{DisplayName, Email, Role, User, UserId, UserStatus};
use domain::RepoError;

use crate::helpers::{insert, t0, user};

/// Twelve users with ties in every sort key but the username, and one deleted user.
fn dataset() -> Vec<User> {
    let names = [
        "Alpha", "bravo", "Charlie", "delta", "Echo", "foxtrot", "Golf", "hotel", "India",
        "juliet", "Kilo", "lima",
    ];
    let displays = [
        "zed", "Yak", "zed", "mob", "Mob", "kite", "yak", "zed", "ant", "mob", "kite", "bee",
    ];
    let emails = [
        Some("alpha@example.org"),
        None,
        Some("Charlie@example.org"),
        Some("delta@example.com"),
        None,
        Some("foxtrot@example.org"),
        None,
        Some("Hotel@example.net"),
        Some("india@example.org"),
        None,
        Some("kilo@example.org"),
        Some("lima@example.org"),
    ];
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut u = user(name);
            u.display_name = DisplayName::parse(displays[i]).unwrap();
            u.email = emails[i].map(|e| Email::parse(e).unwrap());
            u.created_at = t0() + Duration::minutes((i % 4) as i64);
            u.last_login_at = match i % 3 {
                0 => None,
                1 => Some(t0() + Duration::hours(1)),
                _ => Some(t0() + Duration::hours(i as i64)),
            };
            u.role = if i % 5 == 0 { Role::Admin } else { Role::User };
            u.status = if i % 4 == 3 {
                UserStatus::Blocked
            } else {
                UserStatus::Active
            };
            u
        })
        .collect()
}

fn deleted_user() -> User {
    let mut u = user("mike");
    u.deleted_at = Some(t0());
    u.display_name = DisplayName::parse("ant").unwrap();
    u
}

async fn seeded() -> (TestDatabase, PgStore, Vec<User>) {
    let db = TestDatabase::new().await;
    let store = db.store();
    let users = dataset();
    let mut all: Vec<&User> = users.iter().collect();
    let gone = deleted_user();
    all.push(&gone);
    insert(&store, &all).await;
    (db, store, users)
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Text(String),
    Time(Option<DateTime<Utc>>),
}

fn key(u: &User, field: UserSortField) -> Key {
    match field {
        UserSortField::Username => Key::Text(u.username.as_str().to_lowercase()),
        UserSortField::DisplayName => Key::Text(u.display_name.as_str().to_lowercase()),
        UserSortField::Email => Key::Text(
            u.email
                .as_ref()
                .map(|e| e.as_str().to_lowercase())
                .unwrap_or_default(),
        ),
        UserSortField::CreatedAt => Key::Time(Some(u.created_at)),
        UserSortField::LastLoginAt => Key::Time(u.last_login_at),
    }
}

fn expected_order(users: &[User], sort: &UserSort) -> Vec<UserId> {
    let mut sorted: Vec<&User> = users.iter().collect();
    sorted.sort_by(|a, b| {
        for k in sort.keys() {
            let o = key(a, k.field).cmp(&key(b, k.field));
            let o = if k.descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        // The id tie-breaker runs in the direction of the last key.
        let by_id = a.id.cmp(&b.id);
        if sort.keys().last().is_some_and(|k| k.descending) {
            by_id.reverse()
        } else {
            by_id
        }
    });
    sorted.into_iter().map(|u| u.id).collect()
}

fn query(sort: &str, limit: i64, position: Position) -> UserQuery {
    UserQuery {
        filter: UserFilter::default(),
        sort: UserSort::parse(sort).unwrap(),
        page: PageRequest {
            limit: Limit::new(limit).unwrap(),
            position,
        },
    }
}

/// Follows cursors from the first page to the last; returns ids in page order.
async fn walk_cursors(store: &PgStore, sort: &str, limit: i64) -> Vec<UserId> {
    let mut seen = Vec::new();
    let mut position = Position::Offset(Offset::ZERO);
    for _ in 0..100 {
        let page = store.list(&query(sort, limit, position)).await.unwrap();
        assert!(page.items.len() <= limit as usize);
        seen.extend(page.items.iter().map(|u| u.id));
        match page.next_cursor {
            Some(c) => position = Position::After(c),
            None => return seen,
        }
    }
    panic!("cursor paging did not end")
}

/// Pages by offset; returns ids and every page's total.
async fn walk_offsets(store: &PgStore, sort: &str, limit: i64) -> (Vec<UserId>, Vec<Option<u64>>) {
    let mut seen = Vec::new();
    let mut totals = Vec::new();
    let mut offset = Offset::ZERO;
    loop {
        let page = store
            .list(&query(sort, limit, Position::Offset(offset)))
            .await
            .unwrap();
        totals.push(page.total);
        let n = page.items.len() as u64;
        seen.extend(page.items.iter().map(|u| u.id));
        if page.next_cursor.is_none() {
            return (seen, totals);
        }
        offset = Offset::new(i64::try_from(offset.get() + n).unwrap()).unwrap();
    }
}

const SORTS: [&str; 16] = [
    "username",
    "-username",
    "displayName",
    "-displayName",
    "email",
    "-email",
    "createdAt",
    "-createdAt",
    "lastLoginAt",
    "-lastLoginAt",
    "-createdAt,username",
    "displayName,-createdAt",
    "-lastLoginAt,-displayName,email",
    "-lastLoginAt,-displayName",
    "displayName,createdAt",
    "createdAt,-lastLoginAt,displayName,-email,username",
];

#[tokio::test]
async fn every_sort_in_both_directions_orders_offset_pages_with_a_total() {
    let (_db, store, users) = seeded().await;
    for sort in SORTS {
        let expected = expected_order(&users, &UserSort::parse(sort).unwrap());
        let (seen, totals) = walk_offsets(&store, sort, 5).await;
        assert_eq!(seen, expected, "offset pages sorted by {sort}");
        assert!(totals.iter().all(|t| *t == Some(12)), "{sort}: {totals:?}");
    }
}

#[tokio::test]
async fn cursor_pages_visit_every_row_exactly_once_in_order_for_every_sort() {
    let (_db, store, users) = seeded().await;
    for sort in SORTS {
        let expected = expected_order(&users, &UserSort::parse(sort).unwrap());
        for limit in [1, 4, 5, 12, 100] {
            let seen = walk_cursors(&store, sort, limit).await;
            assert_eq!(seen, expected, "cursor pages of {limit} sorted by {sort}");
        }
    }
}

#[tokio::test]
async fn cursor_pages_have_no_total_and_the_last_page_no_cursor() {
    let (_db, store, _) = seeded().await;
    let first = store
        .list(&query("username", 10, Position::Offset(Offset::ZERO)))
        .await
        .unwrap();
    assert_eq!(first.total, Some(12));
    let second = store
        .list(&query(
            "username",
            10,
            Position::After(first.next_cursor.unwrap()),
        ))
        .await
        .unwrap();
    assert_eq!(second.total, None);
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.next_cursor, None);
}

#[tokio::test]
async fn the_default_sort_is_newest_first() {
    let (_db, store, users) = seeded().await;
    let page = store.list(&UserQuery::default()).await.unwrap();
    let ids: Vec<_> = page.items.iter().map(|u| u.id).collect();
    assert_eq!(ids, expected_order(&users, &UserSort::default()));
}

#[tokio::test]
async fn a_cursor_made_for_another_sort_is_invalid() {
    let (_db, store, _) = seeded().await;
    let page = store
        .list(&query("username", 2, Position::Offset(Offset::ZERO)))
        .await
        .unwrap();
    let cursor = page.next_cursor.unwrap();
    let err = store
        .list(&query("-username", 2, Position::After(cursor)))
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::InvalidCursor), "{err:?}");
}

#[tokio::test]
async fn a_cursor_that_does_not_decode_is_invalid() {
    let (_db, store, _) = seeded().await;
    for junk in ["", "not base64!", "bm90IGpzb24", "eyJzIjoidXNlcnM6dXNlcm5hbWUiLCJ2IjpbMV0sImlkIjoiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwIn0"] {
        let err = store
            .list(&query("username", 2, Position::After(Cursor(junk.into()))))
            .await
            .unwrap_err();
        assert!(matches!(err, RepoError::InvalidCursor), "{junk}: {err:?}");
    }
}

async fn filtered(store: &PgStore, filter: UserFilter) -> (Vec<String>, Option<u64>) {
    let page = store
        .list(&UserQuery {
            filter,
            sort: UserSort::parse("username").unwrap(),
            page: PageRequest::default(),
        })
        .await
        .unwrap();
    (
        page.items
            .iter()
            .map(|u| u.username.as_str().to_owned())
            .collect(),
        page.total,
    )
}

#[tokio::test]
async fn q_matches_a_substring_of_username_display_name_or_email_ignoring_case() {
    let (_db, store, _) = seeded().await;
    let q = |s: &str| UserFilter {
        q: SearchTerm::filter(s).unwrap(),
        ..UserFilter::default()
    };
    assert_eq!(filtered(&store, q("OTEL")).await.0, ["hotel"]);
    assert_eq!(filtered(&store, q("yAk")).await.0, ["bravo", "Golf"]);
    assert_eq!(
        filtered(&store, q("EXAMPLE.NET")).await.0,
        ["hotel"],
        "email"
    );
    assert_eq!(filtered(&store, q("zz")).await, (vec![], Some(0)));
}

#[tokio::test]
async fn q_treats_like_wildcards_literally() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut pct = user("pct");
    pct.display_name = DisplayName::parse("100% sure").unwrap();
    let mut under = user("under");
    under.display_name = DisplayName::parse("a_b").unwrap();
    let mut slash = user("slash");
    slash.display_name = DisplayName::parse(r"back\slash").unwrap();
    let mut plain = user("plain");
    plain.display_name = DisplayName::parse("axb 1000 sure").unwrap();
    insert(&store, &[&pct, &under, &slash, &plain]).await;

    let q = |s: &str| UserFilter {
        q: SearchTerm::filter(s).unwrap(),
        ..UserFilter::default()
    };
    assert_eq!(filtered(&store, q("0% s")).await.0, ["pct"]);
    assert_eq!(filtered(&store, q("a_b")).await.0, ["under"]);
    assert_eq!(filtered(&store, q(r"k\s")).await.0, ["slash"]);
    // Short terms match prefixes, with the wildcards just as literal.
    assert_eq!(filtered(&store, q("a_")).await.0, ["under"]);
    assert_eq!(filtered(&store, q("%")).await.0, Vec::<String>::new());
    assert_eq!(filtered(&store, q(r"\")).await.0, Vec::<String>::new());
}

#[tokio::test]
async fn q_of_one_or_two_characters_matches_the_start_of_a_field() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let mut by_name = user("Joe");
    by_name.display_name = DisplayName::parse("Someone").unwrap();
    let mut by_display = user("zed");
    by_display.display_name = DisplayName::parse("jOhn Doe").unwrap();
    let mut by_email = user("quinn");
    by_email.email = Some(Email::parse("JOANNA@example.org").unwrap());
    let mut inside = user("bojo");
    inside.display_name = DisplayName::parse("Mr Jo").unwrap();
    insert(&store, &[&by_name, &by_display, &by_email, &inside]).await;
    let q = |s: &str| UserFilter {
        q: SearchTerm::filter(s).unwrap(),
        ..UserFilter::default()
    };
    let (mut names, total) = filtered(&store, q("jo")).await;
    names.sort();
    assert_eq!(names, ["Joe", "quinn", "zed"]);
    assert_eq!(total, Some(3));
    let (mut names, _) = filtered(&store, q("jo ")).await;
    names.sort();
    assert_eq!(names, ["Joe", "quinn", "zed"], "trimmed to two characters");
}

#[tokio::test]
async fn role_status_and_creation_range_filters_combine() {
    let (_db, store, _) = seeded().await;
    let admins = UserFilter {
        role: Some(Role::Admin),
        ..UserFilter::default()
    };
    assert_eq!(
        filtered(&store, admins).await,
        (
            vec!["Alpha".to_owned(), "foxtrot".into(), "Kilo".into()],
            Some(3)
        )
    );
    let blocked = UserFilter {
        status: Some(UserStatus::Blocked),
        ..UserFilter::default()
    };
    assert_eq!(
        filtered(&store, blocked).await.0,
        ["delta", "hotel", "lima"]
    );
    // created_at is t0 + (i % 4) minutes; both bounds are inclusive.
    let range = UserFilter {
        created_from: Some(t0() + Duration::minutes(1)),
        created_to: Some(t0() + Duration::minutes(2)),
        ..UserFilter::default()
    };
    assert_eq!(
        filtered(&store, range).await.0,
        ["bravo", "Charlie", "foxtrot", "Golf", "juliet", "Kilo"]
    );
    let combined = UserFilter {
        role: Some(Role::User),
        status: Some(UserStatus::Active),
        created_to: Some(t0()),
        ..UserFilter::default()
    };
    assert_eq!(filtered(&store, combined).await.0, ["Echo", "India"]);
}

#[tokio::test]
async fn deleted_users_are_hidden_unless_asked_for() {
    let (_db, store, _) = seeded().await;
    let (names, total) = filtered(&store, UserFilter::default()).await;
    assert!(!names.contains(&"mike".to_owned()));
    assert_eq!(total, Some(12));
    let with_deleted = UserFilter {
        include_deleted: true,
        ..UserFilter::default()
    };
    let (names, total) = filtered(&store, with_deleted).await;
    assert!(names.contains(&"mike".to_owned()));
    assert_eq!(total, Some(13));
}

#[tokio::test]
async fn an_offset_past_the_end_is_an_empty_page_with_the_total() {
    let (_db, store, _) = seeded().await;
    let page = store
        .list(&query(
            "username",
            5,
            Position::Offset(Offset::new(50).unwrap()),
        ))
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.total, Some(12));
    assert_eq!(page.next_cursor, None);
}
