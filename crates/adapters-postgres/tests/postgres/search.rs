//! Ranked search: exact name, then prefix, then substring anywhere.

use adapters_postgres::testing::TestDatabase;
use adapters_postgres::PgStore;
use domain::page::{Limit, Offset, PageRequest, Position};
use domain::page::{UserFilter, UserQuery};
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

#[tokio::test]
async fn a_term_of_one_or_two_characters_matches_the_start_of_name_display_name_or_email() {
    let (_db, store) = seeded().await;
    // "joanna" holds "an" inside only: no match for a two-character term.
    assert_eq!(
        names(&store, "An", PageRequest::default()).await,
        (
            vec![
                "Anna".to_owned(),
                "annab".into(),
                "annabel".into(),
                "quinn".into(),
                "zed".into()
            ],
            Some(5)
        )
    );
}

/// `count` users named `<prefix>NNNNNN` with display name "Person NNNNNN", inserted by
/// one statement, then vacuumed (which moves them from the trigram indexes' pending lists
/// into the indexes, as autovacuum would) and analysed so the planner knows them.
async fn seed_many(db: &TestDatabase, prefix: &str, count: u32) {
    assert!(prefix.chars().all(|c| c.is_ascii_lowercase()));
    db.execute(&format!(
        "INSERT INTO users (id, username, email, display_name, password_hash, role, status, \
         created_at, updated_at, password_changed_at) \
         SELECT gen_random_uuid(), '{prefix}' || lpad(g::text, 6, '0'), \
         '{prefix}' || g || '@example.com', 'Person ' || g, 'x', 'USER', 'ACTIVE', \
         now() - g * interval '1 second', now(), now() \
         FROM generate_series(1, {count}) AS g"
    ))
    .await;
    db.execute("VACUUM ANALYZE users").await;
}

#[tokio::test]
async fn past_a_thousand_matches_the_total_is_an_estimate_and_cursors_still_reach_every_match() {
    let db = TestDatabase::new().await;
    let store = db.store();
    seed_many(&db, "member", 1_200).await;
    let term = SearchTerm::parse("person").unwrap();
    let first = store
        .search(
            &term,
            &PageRequest {
                limit: Limit::new(Limit::MAX.into()).unwrap(),
                position: Position::Offset(Offset::ZERO),
            },
        )
        .await
        .unwrap();
    let total = first.total.unwrap();
    assert!(
        (1_001..=2_400).contains(&total),
        "estimated total {total} for 1,200 matches"
    );
    let mut seen = first.items.len();
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor {
        let page = store
            .search(
                &term,
                &PageRequest {
                    limit: Limit::new(Limit::MAX.into()).unwrap(),
                    position: Position::After(c),
                },
            )
            .await
            .unwrap();
        seen += page.items.len();
        cursor = page.next_cursor;
    }
    assert_eq!(seen, 1_200);
}

#[tokio::test]
async fn an_offset_page_past_the_first_rank_skips_exactly_the_rows_before_it() {
    let db = TestDatabase::new().await;
    let store = db.store();
    // 30 username-prefix matches ("anna…") and 30 display-name matches.
    db.execute(
        "INSERT INTO users (id, username, display_name, password_hash, role, status, \
         created_at, updated_at, password_changed_at) \
         SELECT gen_random_uuid(), 'anna' || lpad(g::text, 2, '0'), 'x', 'x', 'USER', \
         'ACTIVE', now(), now(), now() FROM generate_series(1, 30) AS g; \
         INSERT INTO users (id, username, display_name, password_hash, role, status, \
         created_at, updated_at, password_changed_at) \
         SELECT gen_random_uuid(), 'zz' || lpad(g::text, 2, '0'), 'Anna ' || g, 'x', 'USER', \
         'ACTIVE', now(), now(), now() FROM generate_series(1, 30) AS g",
    )
    .await;
    let page = |offset: i64| PageRequest {
        limit: Limit::new(7).unwrap(),
        position: Position::Offset(Offset::new(offset).unwrap()),
    };
    let (items, total) = names(&store, "anna", page(28)).await;
    assert_eq!(total, Some(60));
    assert_eq!(
        items,
        ["anna29", "anna30", "zz01", "zz02", "zz03", "zz04", "zz05"]
    );
    let (items, _) = names(&store, "anna", page(45)).await;
    assert_eq!(
        items,
        ["zz16", "zz17", "zz18", "zz19", "zz20", "zz21", "zz22"]
    );
    let (items, total) = names(&store, "anna", page(60)).await;
    assert_eq!((items.len(), total), (0, Some(60)));
}

/// The plans of a first search page on 50,000 users: every rank query the page runs is an
/// index read (never a scan of the table), and the count stops at its bound.
#[tokio::test]
async fn every_rank_of_a_search_is_an_index_read_and_the_count_is_bounded() {
    let db = TestDatabase::new().await;
    seed_many(&db, "user", 50_000).await;
    for term in [
        "Person",
        "user0001",
        "u",
        "zq",
        "nomatch",
        "Person 4242",
        "Person user",
        "ser00",
    ] {
        let plans = db
            .search_plans(&SearchTerm::parse(term).unwrap(), Limit::new(20).unwrap())
            .await;
        let (count, ranks) = plans.split_first().unwrap();
        assert!(
            count.contains("Limit"),
            "{term}: the count is bounded:\n{count}"
        );
        assert!(
            !count.contains("rows=50000 loops"),
            "{term}: the count reads at most its bound:\n{count}"
        );
        for (rank, plan) in ranks.iter().enumerate() {
            assert!(
                !plan.contains("Seq Scan"),
                "{term}: rank {rank} scans the table:\n{plan}"
            );
            assert!(
                plan.contains("Index"),
                "{term}: rank {rank} reads no index:\n{plan}"
            );
        }
        // A term of a word every user has and a rare one reaches the indexes through the
        // rare word only: the common word's trigrams are in every row.
        if term == "Person 4242" {
            let plans = plans.join("\n");
            assert!(
                plans.contains("Index Cond: (display_name ~~* '%4242%'::text)"),
                "{term}: the rare word reads the index:\n{plans}"
            );
            assert!(
                !plans.contains("Index Cond: (display_name ~~* '%Person 4242%'::text)"),
                "{term}: the whole term reads the index:\n{plans}"
            );
        }
        // A term whose every word is common is read through itself (its words' rows would
        // cost more than its posting lists).
        if term == "Person user" {
            assert!(
                !plans.join("\n").contains("|| ''"),
                "{term}: read through a common word:\n{}",
                plans.join("\n")
            );
        }
        // A term every user matches is read in page order, never ranked and sorted whole.
        if term == "Person" {
            assert_eq!(ranks.len(), 3, "{term}: the first two ranks are empty");
            assert!(
                !ranks[2].contains("Sort"),
                "{term}: the matches are sorted:\n{}",
                ranks[2]
            );
        }
    }
}

/// A term of several words read through its rarest word still matches the whole term:
/// rows with its words apart or in another order do not match, in the search and the
/// list's `q` filter alike.
#[tokio::test]
async fn a_term_of_several_words_matches_only_where_the_whole_term_occurs() {
    let db = TestDatabase::new().await;
    let store = db.store();
    seed_many(&db, "crowd", 5_000).await;
    db.execute(
        "INSERT INTO users (id, username, display_name, password_hash, role, status, \
         created_at, updated_at, password_changed_at) VALUES \
         (gen_random_uuid(), 'apart', '4242 Person', 'x', 'USER', 'ACTIVE', now(), now(), now()), \
         (gen_random_uuid(), 'between', 'Person 1 4242', 'x', 'USER', 'ACTIVE', now(), now(), now()), \
         (gen_random_uuid(), 'inside', 'A person 42425', 'x', 'USER', 'ACTIVE', now(), now(), now()); \
         ANALYZE users",
    )
    .await;
    let page = PageRequest {
        limit: Limit::new(100).unwrap(),
        position: Position::Offset(Offset::ZERO),
    };

    let (mut found, total) = names(&store, "Person 4242", page.clone()).await;
    found.sort();

    assert_eq!(found, ["crowd004242", "inside"]);
    assert_eq!(total, Some(2));
    let listed = store
        .list(&UserQuery {
            filter: UserFilter {
                q: SearchTerm::filter("person 4242").unwrap(),
                ..UserFilter::default()
            },
            page,
            ..UserQuery::default()
        })
        .await
        .unwrap();
    let mut listed: Vec<&str> = listed.items.iter().map(|u| u.username.as_str()).collect();
    listed.sort_unstable();
    assert_eq!(listed, ["crowd004242", "inside"]);
}
