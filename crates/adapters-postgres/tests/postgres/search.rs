//! Ranked search: exact name, then prefix, then substring anywhere.

use adapters_postgres::testing::TestDatabase;
use adapters_postgres::PgStore;
use domain::page::{Limit, Offset, PageRequest, Position};
use domain::ports::UserRepository;
use domain::search::SearchTerm;
use domain::user::{DisplayName, Email};

use crate::helpers::{insert, t0, user};

async fn seeded() -> (TestDatabase, PgStore) {
    let db = TestDatabase::new().await;
    let store = db.store();
    let exact = user("Anna");
    let prefix_b = user("annabel");
    let prefix_a = user("annab");
    let substring = user("joanna");
    let mut by_display = user("zed");
    by_display.display_name = DisplayName::parse("ANNA Smith").unwrap();
    let mut by_email = user("quinn");
    by_email.email = Some(Email::parse("anna.q@example.org").unwrap());
    let mut deleted = user("annax");
    deleted.deleted_at = Some(t0());
    let unrelated = user("bob");
    insert(
        &store,
        &[
            &exact,
            &prefix_b,
            &prefix_a,
            &substring,
            &by_display,
            &by_email,
            &deleted,
            &unrelated,
        ],
    )
    .await;
    (db, store)
}

async fn names(store: &PgStore, term: &str, page: PageRequest) -> (Vec<String>, Option<u64>) {
    let term = SearchTerm::parse(term).unwrap();
    let page = store.search(&term, &page).await.unwrap();
    (
        page.items
            .iter()
            .map(|u| u.username.as_str().to_owned())
            .collect(),
        page.total,
    )
}

#[tokio::test]
async fn search_ranks_exact_then_prefix_then_substring_and_hides_deleted_users() {
    let (_db, store) = seeded().await;
    assert_eq!(
        names(&store, "aNNa", PageRequest::default()).await,
        (
            vec![
                "Anna".to_owned(),
                "annab".into(),
                "annabel".into(),
                "joanna".into(),
                "quinn".into(),
                "zed".into()
            ],
            Some(6)
        )
    );
}

#[tokio::test]
async fn search_cursor_pages_visit_every_match_once_in_rank_order() {
    let (_db, store) = seeded().await;
    let mut seen = Vec::new();
    let mut position = Position::Offset(Offset::ZERO);
    loop {
        let page = store
            .search(
                &SearchTerm::parse("anna").unwrap(),
                &PageRequest {
                    limit: Limit::new(2).unwrap(),
                    position,
                },
            )
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|u| u.username.as_str().to_owned()));
        match page.next_cursor {
            Some(c) => position = Position::After(c),
            None => break,
        }
    }
    assert_eq!(seen, ["Anna", "annab", "annabel", "joanna", "quinn", "zed"]);
}

#[tokio::test]
async fn search_offset_pages_count_every_match() {
    let (_db, store) = seeded().await;
    let page = PageRequest {
        limit: Limit::new(4).unwrap(),
        position: Position::Offset(Offset::new(4).unwrap()),
    };
    assert_eq!(
        names(&store, "anna", page).await,
        (vec!["quinn".to_owned(), "zed".into()], Some(6))
    );
}

#[tokio::test]
async fn search_escapes_like_wildcards() {
    let (_db, store) = seeded().await;
    assert_eq!(
        names(&store, "a_n", PageRequest::default()).await.0,
        Vec::<String>::new()
    );
    assert_eq!(
        names(&store, "%", PageRequest::default()).await.0,
        Vec::<String>::new()
    );
}
