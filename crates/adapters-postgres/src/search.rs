//! Finding users by a term: the match condition the list's `q` filter and the ranked
//! search share, the bounded count behind their totals, and the ranked search itself.
//!
//! The search reads its three ranks (exact username, username prefix, anything else that
//! matches) one after another, each with its own index and `LIMIT`, in the order
//! `(lower(username) COLLATE "C", id)` that the index `users_username_bytes_id_idx` holds.
//! So a page costs a few index reads whatever the number of matches, instead of ranking
//! and sorting every match (seconds at a million users when a term matches them all).

use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::page::{Page, PageRequest, Position};
use domain::search::{Matching, SearchTerm};
use domain::user::User;
use domain::RepoError;
use serde_json::Value;

use crate::cursor::{self, CursorBody};
use crate::error::{query_error, StoreFailure};
use crate::page::{assemble, checked_count, fetch_limit, offset};
use crate::rows::UserRow;
use crate::sql::{contains_pattern, prefix_pattern, Bind, SqlBuilder};
use crate::users::USER_COLUMNS;

/// Cursor signature of search pages.
const SEARCH_SIGNATURE: &str = "search";

/// The search order's name key: byte order, so that it is an index range for prefixes.
const NAME_KEY: &str = "lower(username) COLLATE \"C\"";

/// The most words of a term whose selectivity is asked for (one planning each).
const PROBED_WORDS_MAX: usize = 4;

/// The most rows a word may be expected to match to be read instead of the whole term.
/// Past this, reading the word's rows costs more than the whole term's posting lists: for
/// `Person Person` at a million users, 3.8 s for a page through `Person` against 1.1 s.
const DRIVER_ROWS_MAX: u64 = 10_000;

/// A term as the match condition reads it: through its own pattern, or, for a substring
/// term of several words, through its rarest word with the whole term checked on the rows
/// that word finds (wherever the term occurs, each of its words does).
///
/// Why: a trigram index read decodes the posting list of every trigram of the pattern.
/// For `Person 4242` among a million `Person …` display names, seven of its trigrams are
/// in every row, and one read cost 18 ms; its word `4242` reads two short lists (< 1 ms).
#[derive(Debug, Clone)]
pub(crate) struct TermMatch {
    term: SearchTerm,
    /// The contains-pattern of the word the indexes are read by, when not the whole term.
    driver: Option<String>,
}

impl TermMatch {
    /// The term read through its own pattern (no round trip; unit tests and one-word terms).
    pub(crate) fn whole(term: &SearchTerm) -> Self {
        Self {
            term: term.clone(),
            driver: None,
        }
    }

    /// Chooses how to read `term`: when it has two or more words of at least
    /// [`SearchTerm::SUBSTRING_MIN_CHARS`] characters, the one the planner expects the
    /// fewest matches of (an `EXPLAIN` each, nothing executed) if that is at most
    /// [`DRIVER_ROWS_MAX`], else the whole term.
    pub(crate) async fn plan(
        conn: &mut AsyncPgConnection,
        term: &SearchTerm,
    ) -> Result<Self, RepoError> {
        let mut words: Vec<&str> = Vec::new();
        if term.matching() == Matching::Substring {
            for word in term.as_str().split_whitespace() {
                if word.chars().count() >= SearchTerm::SUBSTRING_MIN_CHARS
                    && !words.contains(&word)
                    && words.len() < PROBED_WORDS_MAX
                {
                    words.push(word);
                }
            }
        }
        if words.len() < 2 {
            return Ok(Self::whole(term));
        }
        let mut rarest: Option<(u64, String)> = None;
        for word in words {
            let pattern = contains_pattern(word);
            let mut b = SqlBuilder::new("EXPLAIN (FORMAT JSON) SELECT 1 FROM users WHERE ");
            let p = b.bind(Bind::Text(pattern.clone()));
            push_any_column(&mut b, p);
            let row: PlanRow = b
                .build()
                .get_result(conn)
                .await
                .map_err(|e| query_error("estimate matching users", e))?;
            let rows = planned_rows(&row.plan)?;
            if rarest.as_ref().is_none_or(|(fewest, _)| rows < *fewest) {
                rarest = Some((rows, pattern));
            }
        }
        Ok(Self {
            term: term.clone(),
            driver: rarest
                .filter(|(rows, _)| *rows <= DRIVER_ROWS_MAX)
                .map(|(_, pattern)| pattern),
        })
    }

    /// The term.
    pub(crate) fn term(&self) -> &SearchTerm {
        &self.term
    }
}

/// The columns a term is looked for in.
const MATCHED_COLUMNS: [&str; 3] = ["username", "display_name", "email"];

/// Appends `(username ILIKE $p OR display_name ILIKE $p OR email ILIKE $p)`.
fn push_any_column(b: &mut SqlBuilder, p: crate::sql::Param) {
    b.push("(");
    for (i, column) in MATCHED_COLUMNS.iter().enumerate() {
        if i > 0 {
            b.push(" OR ");
        }
        b.push(column).push(" ILIKE ").param(p);
    }
    b.push(")");
}

/// Appends the condition "the term matches username, display name or email" (no leading
/// `AND`), case-insensitive, as [`SearchTerm::matching`] says.
pub(crate) fn push_match(b: &mut SqlBuilder, matcher: &TermMatch) {
    let term = &matcher.term;
    match term.matching() {
        Matching::Substring => {
            let p = b.bind(Bind::Text(contains_pattern(term.as_str())));
            match &matcher.driver {
                None => push_any_column(b, p),
                // `(column || '')` is no indexed expression: the whole term filters the
                // rows the word's index read finds instead of joining that read.
                Some(driver) => {
                    let d = b.bind(Bind::Text(driver.clone()));
                    b.push("(");
                    for (i, column) in MATCHED_COLUMNS.iter().enumerate() {
                        if i > 0 {
                            b.push(" OR ");
                        }
                        b.push("(").push(column).push(" ILIKE ").param(d);
                        b.push(" AND (")
                            .push(column)
                            .push(" || '') ILIKE ")
                            .param(p);
                        b.push(")");
                    }
                    b.push(")");
                }
            }
        }
        Matching::Prefix => {
            let p = b.bind(Bind::Text(prefix_pattern(term.as_str())));
            b.push("(lower(username) COLLATE \"C\" LIKE lower(")
                .param(p)
                .push(") OR lower(display_name) COLLATE \"C\" LIKE lower(")
                .param(p)
                .push(") OR lower(email) COLLATE \"C\" LIKE lower(")
                .param(p)
                .push("))");
        }
    }
}

/// `SELECT count(*) AS n`.
#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// One line of `EXPLAIN (FORMAT JSON)`: the plan as JSON text.
#[derive(QueryableByName)]
struct PlanRow {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    plan: String,
}

/// `SELECT count(*) AS n` of the rows `FROM users WHERE TRUE` + what `push_where`
/// appends, reading no more than [`SearchTerm::COUNTED_MATCHES_MAX`] + 1 of them.
fn bounded_count_query(push_where: &impl Fn(&mut SqlBuilder)) -> SqlBuilder {
    let mut b = SqlBuilder::new("SELECT count(*) AS n FROM (SELECT 1 FROM users WHERE TRUE");
    push_where(&mut b);
    b.push(" LIMIT ")
        .push_bind(Bind::BigInt(offset(SearchTerm::COUNTED_MATCHES_MAX + 1)))
        .push(") AS bounded");
    b
}

/// The `total` of the rows `FROM users WHERE TRUE` + what `push_where` appends: counted
/// up to [`SearchTerm::COUNTED_MATCHES_MAX`] + 1 rows, past that the planner's estimate
/// ([`SearchTerm::total`]), so a term matching a million users costs a bounded read.
pub(crate) async fn bounded_total(
    conn: &mut AsyncPgConnection,
    push_where: impl Fn(&mut SqlBuilder),
) -> Result<u64, RepoError> {
    let row: CountRow = bounded_count_query(&push_where)
        .build()
        .get_result(conn)
        .await
        .map_err(|e| query_error("count matching users", e))?;
    let counted = checked_count("count matching users", row.n)?;
    if counted <= SearchTerm::COUNTED_MATCHES_MAX {
        return Ok(counted);
    }
    let mut explain = SqlBuilder::new("EXPLAIN (FORMAT JSON) SELECT 1 FROM users WHERE TRUE");
    push_where(&mut explain);
    let row: PlanRow = explain
        .build()
        .get_result(conn)
        .await
        .map_err(|e| query_error("estimate matching users", e))?;
    Ok(SearchTerm::total(counted, planned_rows(&row.plan)?))
}

/// The top node's `Plan Rows` of an `EXPLAIN (FORMAT JSON)` document.
fn planned_rows(plan: &str) -> Result<u64, RepoError> {
    let doc: Value = serde_json::from_str(plan)
        .map_err(|e| StoreFailure::new("estimate matching users", e.to_string()))?;
    doc.pointer("/0/Plan/Plan Rows")
        .and_then(Value::as_f64)
        .filter(|rows| rows.is_finite() && *rows >= 0.0)
        // A row estimate is a whole number of rows, far below 2^53.
        .map(|rows| rows.round() as u64)
        .ok_or_else(|| {
            StoreFailure::new("estimate matching users", "no row estimate in the plan").into()
        })
}

/// A search row: the user, its rank and its name key.
#[derive(QueryableByName)]
struct SearchRow {
    #[diesel(embed)]
    user: UserRow,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    rank: i32,
    #[diesel(sql_type = Text)]
    sk_username: String,
}

/// The ranks, best first: exact username, username prefix, any other match.
const RANKS: [Rank; 3] = [Rank::Exact, Rank::Prefix, Rank::Other];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rank {
    Exact,
    Prefix,
    Other,
}

impl Rank {
    /// The number in rows and cursors.
    fn number(self) -> i32 {
        match self {
            Rank::Exact => 0,
            Rank::Prefix => 1,
            Rank::Other => 2,
        }
    }

    /// Appends `SELECT columns, rank, sk_username FROM users WHERE` the rank's rows,
    /// without order or limit.
    fn push_select(self, b: &mut SqlBuilder, matcher: &TermMatch, columns: &'static str) {
        let term = matcher.term();
        b.push("SELECT ").push(columns);
        b.push(match self {
            Rank::Exact => ", 0 AS rank",
            Rank::Prefix => ", 1 AS rank",
            Rank::Other => ", 2 AS rank",
        });
        b.push(", lower(username) COLLATE \"C\" AS sk_username FROM users WHERE deleted_at IS NULL AND ");
        match self {
            Rank::Exact => {
                b.push("lower(username) = lower(")
                    .push_bind(Bind::Text(term.as_str().to_owned()))
                    .push(")");
            }
            Rank::Prefix => {
                b.push(NAME_KEY).push(" LIKE lower(");
                b.push_bind(Bind::Text(prefix_pattern(term.as_str())));
                b.push(") AND lower(username) <> lower(");
                b.push_bind(Bind::Text(term.as_str().to_owned())).push(")");
            }
            Rank::Other => {
                push_match(b, matcher);
                b.push(" AND NOT ").push(NAME_KEY).push(" LIKE lower(");
                b.push_bind(Bind::Text(prefix_pattern(term.as_str())));
                b.push(")");
            }
        }
    }
}

/// The query of one rank's rows: at most `limit`, skipping `skip`, after `(name, id)`.
fn rank_query(
    rank: Rank,
    matcher: &TermMatch,
    after: Option<(&str, uuid::Uuid)>,
    skip: u64,
    limit: i64,
) -> SqlBuilder {
    let mut b = SqlBuilder::new("");
    rank.push_select(&mut b, matcher, USER_COLUMNS);
    if let Some((name, id)) = after {
        b.push(" AND (").push(NAME_KEY).push(", id) > (");
        b.push_bind(Bind::Text(name.to_owned())).push(", ");
        b.push_bind(Bind::Uuid(id)).push(")");
    }
    b.push(" ORDER BY ").push(NAME_KEY).push(", id LIMIT ");
    b.push_bind(Bind::BigInt(limit));
    if skip > 0 {
        b.push(" OFFSET ").push_bind(Bind::BigInt(offset(skip)));
    }
    b
}

/// Rows of one rank ([`rank_query`]); its plan added to `plans` first when asked for.
async fn rank_rows(
    conn: &mut AsyncPgConnection,
    query: SqlBuilder,
    plans: Option<&mut Vec<String>>,
) -> Result<Vec<SearchRow>, RepoError> {
    if let Some(plans) = plans {
        plans.push(explain(conn, query.clone()).await?);
    }
    query
        .build()
        .load(conn)
        .await
        .map_err(|e| query_error("search users", e))
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of a query, as text (the plan tests only).
async fn explain(conn: &mut AsyncPgConnection, query: SqlBuilder) -> Result<String, RepoError> {
    let lines: Vec<PlanRow> = query
        .explained()
        .build()
        .load(conn)
        .await
        .map_err(|e| query_error("explain search", e))?;
    let text: Vec<String> = lines.into_iter().map(|l| l.plan).collect();
    Ok(text.join("\n"))
}

/// How many rows of `rank` there are, counting no further than `up_to`.
async fn rank_count(
    conn: &mut AsyncPgConnection,
    rank: Rank,
    matcher: &TermMatch,
    up_to: u64,
) -> Result<u64, RepoError> {
    let mut b = SqlBuilder::new("SELECT count(*) AS n FROM (");
    rank.push_select(&mut b, matcher, "id");
    b.push(" LIMIT ").push_bind(Bind::BigInt(offset(up_to)));
    b.push(") AS r");
    let row: CountRow = b
        .build()
        .get_result(conn)
        .await
        .map_err(|e| query_error("search users", e))?;
    checked_count("search users", row.n)
}

/// Ranked search of [`domain::ports::UserRepository::search`]: rank 0 exact username,
/// 1 username prefix, 2 any other match (see [`push_match`]); within a rank by
/// `lower(username)` in byte order, then id.
pub(crate) async fn search(
    conn: &mut AsyncPgConnection,
    term: &SearchTerm,
    page: &PageRequest,
) -> Result<Page<User>, RepoError> {
    search_noting_plans(conn, term, page, None).await
}

/// [`search`], adding the plan of every rank query it runs to `plans` when given.
async fn search_noting_plans(
    conn: &mut AsyncPgConnection,
    term: &SearchTerm,
    page: &PageRequest,
    mut plans: Option<&mut Vec<String>>,
) -> Result<Page<User>, RepoError> {
    let matcher = TermMatch::plan(conn, term).await?;
    let wanted = fetch_limit(page.limit);
    let mut rows: Vec<SearchRow> = Vec::new();
    let (start, after, mut skip, total) = match &page.position {
        Position::After(c) => {
            let body = CursorBody::decode(c, SEARCH_SIGNATURE, 2)?;
            let rank = cursor::parse_int(&body.v[0])?;
            let name = cursor::parse_text(&body.v[1])?;
            (rank, Some((name, body.id)), 0, None)
        }
        Position::Offset(n) => {
            let total = bounded_total(conn, |b| {
                b.push(" AND deleted_at IS NULL AND ");
                push_match(b, &matcher);
            })
            .await?;
            (0, None, n.get(), Some(total))
        }
    };
    for rank in RANKS {
        let missing = wanted - rows.len() as i64;
        if missing <= 0 {
            break;
        }
        let number = rank.number();
        if number < start {
            continue;
        }
        let resume = after
            .as_ref()
            .filter(|_| number == start)
            .map(|(name, id)| (name.as_str(), *id));
        let query = rank_query(rank, &matcher, resume, skip, missing);
        let found = rank_rows(conn, query, plans.as_deref_mut()).await?;
        if skip > 0 {
            // Rows of this rank before the page: all `skip` of them when any row came
            // back, else however many there are (fewer than `skip`).
            skip = if found.is_empty() {
                skip - rank_count(conn, rank, &matcher, skip).await?
            } else {
                0
            };
        }
        rows.extend(found);
    }
    assemble(
        rows,
        page.limit,
        total,
        |r| CursorBody {
            s: SEARCH_SIGNATURE.to_owned(),
            v: vec![Value::from(r.rank), Value::String(r.sk_username.clone())],
            id: r.user.id,
        },
        |r| User::try_from(r.user).map_err(RepoError::from),
    )
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the statements the first page of a search with `limit`
/// runs: the bounded count, then each rank query, as many as the page needs. For the
/// tests of the plan shape.
#[cfg(feature = "test-support")]
pub(crate) async fn first_page_plans(
    conn: &mut AsyncPgConnection,
    term: &SearchTerm,
    limit: domain::page::Limit,
) -> Result<Vec<String>, RepoError> {
    let matcher = TermMatch::plan(conn, term).await?;
    let push_where = |b: &mut SqlBuilder| {
        b.push(" AND deleted_at IS NULL AND ");
        push_match(b, &matcher);
    };
    let mut plans = vec![explain(conn, bounded_count_query(&push_where)).await?];
    let page = PageRequest {
        limit,
        position: Position::Offset(domain::page::Offset::ZERO),
    };
    search_noting_plans(conn, term, &page, Some(&mut plans)).await?;
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_terms_match_prefixes_in_byte_order_and_long_ones_substrings() {
        let mut b = SqlBuilder::new("");
        push_match(&mut b, &TermMatch::whole(&SearchTerm::parse("ab").unwrap()));
        assert_eq!(
            b.sql(),
            "(lower(username) COLLATE \"C\" LIKE lower($1) OR lower(display_name) COLLATE \
             \"C\" LIKE lower($1) OR lower(email) COLLATE \"C\" LIKE lower($1))"
        );
        let mut b = SqlBuilder::new("");
        push_match(
            &mut b,
            &TermMatch::whole(&SearchTerm::parse("abc").unwrap()),
        );
        assert_eq!(
            b.sql(),
            "(username ILIKE $1 OR display_name ILIKE $1 OR email ILIKE $1)"
        );
    }

    #[test]
    fn the_estimate_is_the_top_plan_node_rows() {
        assert_eq!(
            planned_rows(r#"[{"Plan": {"Node Type": "Seq Scan", "Plan Rows": 999900}}]"#).unwrap(),
            999_900
        );
        assert!(planned_rows(r#"[{"Plan": {}}]"#).is_err());
        assert!(planned_rows("not json").is_err());
    }
}
