//! The rendered user list and search: served from the list cache on a hit, read, rendered
//! and offered to the cache on a miss, read without the cache when it cannot answer; and
//! never looked up for a caller or input that is refused.

use std::sync::{Arc, Mutex};

use domain::error::ServiceError;
use domain::list_cache::{ListKey, ListLookup, ListTicket, RenderedList};
use domain::page::{Page, UserQuery};
use domain::search::SearchTerm;
use domain::user::{Role, User};

use super::*;
use crate::error::AppError;
use crate::paging::{PageInput, Paged};
use crate::testing::{self, Mocks};

fn admin() -> User {
    testing::user(1, Role::Admin)
}

fn rendered(tag: &str) -> RenderedList {
    RenderedList {
        etag: format!("\"{tag}\""),
        body: tag.as_bytes().to_vec().into(),
    }
}

/// Renders a page as its row count, recording each call.
fn render(calls: &Arc<Mutex<u32>>) -> impl FnOnce(Paged<User>) -> Result<RenderedList, AppError> {
    let calls = calls.clone();
    move |paged| {
        *calls.lock().expect("not poisoned") += 1;
        Ok(rendered(&format!("rows{}", paged.page.items.len())))
    }
}

fn one_row() -> Page<User> {
    Page {
        items: vec![testing::user(2, Role::User)],
        total: Some(1),
        next_cursor: None,
    }
}

/// The first page of the default list, as an admin asks for it.
async fn list_as_admin(mocks: Mocks, calls: &Arc<Mutex<u32>>) -> Result<RenderedList, AppError> {
    ListUsers::new(mocks.ports())
        .execute_rendered(
            &testing::principal(admin()),
            &UserListInput::default(),
            &PageInput::default(),
            render(calls),
        )
        .await
}

fn default_key() -> ListKey {
    ListKey::users(&UserQuery::default())
}

#[tokio::test]
async fn a_hit_is_served_without_reading_the_store_or_rendering() {
    let mut mocks = Mocks::new();
    mocks
        .lists
        .expect_lookup()
        .withf(|key| *key == default_key())
        .times(1)
        .returning(|_| Ok(ListLookup::Hit(rendered("cached"))));
    mocks.users.expect_list().never();
    mocks.lists.expect_store().never();
    let calls = Arc::default();

    let page = list_as_admin(mocks, &calls).await.expect("served");

    assert_eq!(page, rendered("cached"));
    assert_eq!(*calls.lock().expect("not poisoned"), 0);
}

#[tokio::test]
async fn a_miss_reads_renders_and_stores_under_the_ticket_taken_first() {
    let ticket = ListTicket {
        key: default_key(),
        stamp: "g7".into(),
    };
    let order = Arc::new(Mutex::new(Vec::<&str>::new()));
    let mut mocks = Mocks::new();
    let (looked, missed) = (order.clone(), ticket.clone());
    mocks.lists.expect_lookup().times(1).returning(move |_| {
        looked.lock().expect("not poisoned").push("lookup");
        Ok(ListLookup::Miss(missed.clone()))
    });
    let read = order.clone();
    mocks.users.expect_list().times(1).returning(move |_| {
        read.lock().expect("not poisoned").push("read");
        Ok(one_row())
    });
    let stored = order.clone();
    mocks
        .lists
        .expect_store()
        .withf(move |t, page| *t == ticket && *page == rendered("rows1"))
        .times(1)
        .returning(move |_, _| {
            stored.lock().expect("not poisoned").push("store");
            Ok(())
        });
    let calls = Arc::default();

    let page = list_as_admin(mocks, &calls).await.expect("served");

    assert_eq!(page, rendered("rows1"));
    assert_eq!(
        order.lock().expect("not poisoned").as_slice(),
        ["lookup", "read", "store"]
    );
}

#[tokio::test]
async fn a_cache_that_cannot_answer_or_store_costs_a_read_never_the_answer() {
    let mut mocks = Mocks::new();
    mocks
        .lists
        .expect_lookup()
        .returning(|_| Err(ServiceError("redis down".into())));
    mocks.lists.expect_store().never();
    mocks
        .users
        .expect_list()
        .times(1)
        .returning(|_| Ok(one_row()));
    let calls = Arc::default();
    let page = list_as_admin(mocks, &calls)
        .await
        .expect("served from the store");
    assert_eq!(page, rendered("rows1"));

    let mut mocks = Mocks::new();
    mocks.lists.expect_lookup().returning(|key| {
        Ok(ListLookup::Miss(ListTicket {
            key: key.clone(),
            stamp: "-".into(),
        }))
    });
    mocks
        .lists
        .expect_store()
        .times(1)
        .returning(|_, _| Err(ServiceError("READONLY".into())));
    mocks.users.expect_list().returning(|_| Ok(one_row()));
    let page = list_as_admin(mocks, &calls)
        .await
        .expect("a failed store is not the caller's problem");
    assert_eq!(page, rendered("rows1"));
}

#[tokio::test]
async fn refused_callers_and_bad_input_never_reach_the_cache() {
    // No cache or store expectation: any call fails the test.
    let calls = Arc::default();
    let users = ListUsers::new(Mocks::new().ports());
    let err = users
        .execute_rendered(
            &testing::principal(testing::user(2, Role::User)),
            &UserListInput::default(),
            &PageInput::default(),
            render(&calls),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Forbidden), "{err:?}");
    let bad = PageInput {
        limit: Some(0),
        ..PageInput::default()
    };
    let err = users
        .execute_rendered(
            &testing::principal(admin()),
            &UserListInput::default(),
            &bad,
            render(&calls),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Validation(_)), "{err:?}");
    let err = SearchUsers::new(Mocks::new().ports())
        .execute_rendered(
            &testing::principal(admin()),
            "\u{0}",
            &PageInput::default(),
            render(&calls),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Validation(_)), "{err:?}");
    assert_eq!(*calls.lock().expect("not poisoned"), 0);
}

#[tokio::test]
async fn a_search_page_is_keyed_by_its_term_and_page() {
    let term = SearchTerm::parse("ann").expect("a term");
    let expected = ListKey::search(&term, &domain::page::PageRequest::default());
    let mut mocks = Mocks::new();
    mocks
        .lists
        .expect_lookup()
        .withf(move |key| *key == expected)
        .times(1)
        .returning(|_| Ok(ListLookup::Hit(rendered("found"))));
    mocks.users.expect_search().never();
    let calls = Arc::default();
    let page = SearchUsers::new(mocks.ports())
        .execute_rendered(
            &testing::principal(admin()),
            " ann ",
            &PageInput::default(),
            render(&calls),
        )
        .await
        .expect("served");
    assert_eq!(page, rendered("found"));
}
