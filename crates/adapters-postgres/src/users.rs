//! The user list (filters, any sort, offset or keyset pages; the `q` filter is
//! [`crate::search`]'s) and the admin accounts the domain's admin predicates are applied to.
//!
//! Sort keys map to non-null expressions, so that ORDER BY and the keyset comparison
//! agree without NULLS FIRST/LAST subtleties. The id is always the final tie-breaker, so
//! the order is total and a keyset page never skips or repeats a row. The id runs in the
//! direction of the last sort key: then every single-key sort (the default `-createdAt`
//! included) has one direction throughout, its keyset condition is a row comparison
//! `(key, id) < ($1, $2)` that PostgreSQL uses as an index bound on the `(key, id)`
//! indexes of the migrations, and a page costs the same at any depth even inside a large
//! tie group (say, 100 000 users who never logged in). An ascending id under a descending
//! key would make every page re-sort the whole tie group.

use diesel::sql_types::{Array, BigInt, Text};
use diesel::{ExpressionMethods, QueryDsl, QueryableByName, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::page::{Page, PageRequest, Position, UserFilter, UserQuery, UserSortField};
use domain::user::{Role, TakenNames, User};
use domain::RepoError;
use serde_json::Value;

use crate::cursor::{self, CursorBody};
use crate::error::query_error;
use crate::page::{assemble, checked_count, fetch_limit, offset};
use crate::rows::UserRow;
use crate::schema::users;
use crate::search;
use crate::sql::{Bind, SqlBuilder};

/// Every column of `users`, in the order of [`UserRow`].
pub(crate) const USER_COLUMNS: &str = "id, username, email, display_name, password_hash, \
     role, status, must_change_password, created_at, updated_at, last_login_at, login_count, \
     failed_login_attempts, locked_until, password_changed_at, deleted_at, version";

/// A list row: the user and the values of its text sort keys as PostgreSQL computed them
/// (so the cursor repeats exactly what the database compares, collation included).
#[derive(QueryableByName)]
struct ListRow {
    #[diesel(embed)]
    user: UserRow,
    #[diesel(sql_type = Text)]
    sk_username: String,
    #[diesel(sql_type = Text)]
    sk_display_name: String,
    #[diesel(sql_type = Text)]
    sk_email: String,
    /// The page's total when the same statement summed it (else NULL).
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    total_n: Option<i64>,
}

/// `SELECT count(*) AS n`.
#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The non-null SQL expression a sort field orders by.
fn sort_expr(field: UserSortField) -> &'static str {
    match field {
        UserSortField::Username => "lower(username)",
        UserSortField::DisplayName => "lower(display_name)",
        UserSortField::Email => "coalesce(lower(email), '')",
        UserSortField::CreatedAt => "created_at",
        UserSortField::LastLoginAt => "coalesce(last_login_at, '-infinity'::timestamptz)",
    }
}

/// The contract's spelling of a sort field (for cursor signatures).
fn sort_name(field: UserSortField) -> &'static str {
    match field {
        UserSortField::Username => "username",
        UserSortField::DisplayName => "displayName",
        UserSortField::Email => "email",
        UserSortField::CreatedAt => "createdAt",
        UserSortField::LastLoginAt => "lastLoginAt",
    }
}

/// What a cursor is bound to: the sort, in the contract's spelling.
fn signature(query: &UserQuery) -> String {
    let keys: Vec<String> = query
        .sort
        .keys()
        .iter()
        .map(|k| {
            format!(
                "{}{}",
                if k.descending { "-" } else { "" },
                sort_name(k.field)
            )
        })
        .collect();
    format!("users:{}", keys.join(","))
}

/// Appends the WHERE conditions of the filter (after a `WHERE TRUE`).
/// `q` is the filter's term as [`search::TermMatch::plan`] chose to read it; without it
/// (or for another term) the term is read through its own pattern.
fn push_filter(b: &mut SqlBuilder, filter: &UserFilter, q: Option<&search::TermMatch>) {
    if !filter.include_deleted {
        b.push(" AND deleted_at IS NULL");
    }
    if let Some(term) = &filter.q {
        b.push(" AND ");
        match q.filter(|q| q.term() == term) {
            Some(q) => search::push_match(b, q),
            None => search::push_match(b, &search::TermMatch::whole(term)),
        }
    }
    push_role_and_status(b, filter);
    if let Some(from) = filter.created_from {
        b.push(" AND created_at >= ").push_bind(Bind::Time(from));
    }
    if let Some(to) = filter.created_to {
        b.push(" AND created_at <= ").push_bind(Bind::Time(to));
    }
}

/// `AND role = … AND status = …` of `filter`: the same columns on `users` and on the
/// `user_counts` notes.
fn push_role_and_status(b: &mut SqlBuilder, filter: &UserFilter) {
    if let Some(role) = filter.role {
        b.push(" AND role = ")
            .push_bind(Bind::Text(role.as_str().to_owned()));
    }
    if let Some(status) = filter.status {
        b.push(" AND status = ")
            .push_bind(Bind::Text(status.as_str().to_owned()));
    }
}

/// The bind of one cursor value for `field`, and whether it needs the `-infinity` mapping.
fn key_bind(field: UserSortField, v: &Value) -> Result<Bind, RepoError> {
    Ok(match field {
        UserSortField::Username | UserSortField::DisplayName | UserSortField::Email => {
            Bind::Text(cursor::parse_text(v)?)
        }
        UserSortField::CreatedAt => Bind::Time(cursor::parse_time(v)?),
        UserSortField::LastLoginAt => Bind::OptTime(cursor::parse_opt_time(v)?),
    })
}

/// Whether the id tie-breaker sorts descending: it follows the last sort key.
fn id_descending(query: &UserQuery) -> bool {
    query.sort.keys().last().is_some_and(|k| k.descending)
}

/// Appends the keyset condition "strictly after the cursor's row".
///
/// When every key runs in the id's direction this is one row comparison,
/// `ROW(k1, …, id) > ROW(v1, …, vid)` (or `<`), which PostgreSQL turns into an index
/// bound. For mixed directions it is expanded to
/// `(k1 ⋛ v1) OR (k1 = v1 AND k2 ⋛ v2) OR … OR (k1 = v1 AND … AND id ⋛ vid)`, preceded by
/// the redundant `k1 ≥ v1` (or `≤`) that still lets an index on the first key start the
/// scan at the cursor rather than at the first row.
fn push_keyset(b: &mut SqlBuilder, query: &UserQuery, body: &CursorBody) -> Result<(), RepoError> {
    let keys = query.sort.keys();
    let mut params = Vec::with_capacity(keys.len());
    for (key, v) in keys.iter().zip(&body.v) {
        let bind = key_bind(key.field, v)?;
        params.push((key, b.bind(bind)));
    }
    let id = b.bind(Bind::Uuid(body.id));
    let id_desc = id_descending(query);
    let push_value = |b: &mut SqlBuilder, field: UserSortField, p| {
        if field == UserSortField::LastLoginAt {
            b.push("coalesce(")
                .param(p)
                .push("::timestamptz, '-infinity'::timestamptz)");
        } else {
            b.param(p);
        }
    };
    let after = |descending: bool| if descending { " < " } else { " > " };

    if keys.iter().all(|k| k.descending == id_desc) {
        b.push(" AND ROW(");
        for (key, _) in &params {
            b.push(sort_expr(key.field)).push(", ");
        }
        b.push("id)").push(after(id_desc)).push("ROW(");
        for (key, p) in &params {
            push_value(b, key.field, *p);
            b.push(", ");
        }
        b.param(id).push(")");
        return Ok(());
    }

    if let Some((first, p)) = <[_]>::first(&params) {
        b.push(" AND ").push(sort_expr(first.field));
        b.push(if first.descending { " <= " } else { " >= " });
        push_value(b, first.field, *p);
    }
    b.push(" AND (");
    for i in 0..=params.len() {
        if i > 0 {
            b.push(" OR ");
        }
        b.push("(");
        for (key, p) in &params[..i] {
            b.push(sort_expr(key.field)).push(" = ");
            push_value(b, key.field, *p);
            b.push(" AND ");
        }
        match params.get(i) {
            Some((key, p)) => {
                b.push(sort_expr(key.field)).push(after(key.descending));
                push_value(b, key.field, *p);
            }
            None => {
                b.push("id").push(after(id_desc)).param(id);
            }
        }
        b.push(")");
    }
    b.push(")");
    Ok(())
}

/// Appends ORDER BY for the sort plus the id tie-breaker.
fn push_order(b: &mut SqlBuilder, query: &UserQuery) {
    b.push(" ORDER BY ");
    for key in query.sort.keys() {
        b.push(sort_expr(key.field));
        b.push(if key.descending { " DESC, " } else { " ASC, " });
    }
    b.push(if id_descending(query) {
        "id DESC"
    } else {
        "id ASC"
    });
}

/// `LIMIT limit+1 [OFFSET n]`: one extra row tells whether a next page exists.
fn push_limit(b: &mut SqlBuilder, page: &PageRequest) {
    b.push(" LIMIT ")
        .push_bind(Bind::BigInt(fetch_limit(page.limit)));
    if let Position::Offset(n) = page.position {
        if n.get() > 0 {
            b.push(" OFFSET ").push_bind(Bind::BigInt(offset(n.get())));
        }
    }
}

/// Counts the rows of a filter (offset pages only).
async fn count(conn: &mut AsyncPgConnection, b: SqlBuilder) -> Result<u64, RepoError> {
    let row: CountRow = b
        .build()
        .get_result(conn)
        .await
        .map_err(|e| query_error("count users", e))?;
    checked_count("count users", row.n)
}

/// Whether `filter` selects by role, status and deletion only: what the `user_counts`
/// notes are kept by (migration `2026-12-07-000030_user_counts`).
fn counted_by_notes(filter: &UserFilter) -> bool {
    filter.q.is_none() && filter.created_from.is_none() && filter.created_to.is_none()
}

/// The exact number of users `filter` selects, summed from the `user_counts` notes that
/// every committed change of a counted column leaves (as exact as `count(*)` in the same
/// snapshot, without reading the users).
async fn noted_count(conn: &mut AsyncPgConnection, filter: &UserFilter) -> Result<u64, RepoError> {
    let mut b = SqlBuilder::new("SELECT (");
    push_noted_count(&mut b, filter);
    b.push(") AS n");
    count(conn, b).await
}

/// The statement summing the notes of `filter` (one `bigint`), to embed.
fn push_noted_count(b: &mut SqlBuilder, filter: &UserFilter) {
    b.push("SELECT coalesce(sum(n), 0)::bigint FROM user_counts WHERE TRUE");
    if !filter.include_deleted {
        b.push(" AND NOT deleted");
    }
    push_role_and_status(b, filter);
}

/// Folds the notes of each (role, status, deleted) that has more than one into a single
/// row of their sum; returns how many notes were folded. One statement: a fold beside
/// another (another instance's) or beside writers loses nothing, since notes are only
/// ever inserted and a note deleted by one fold is skipped by the other.
pub(crate) async fn fold_counts(conn: &mut AsyncPgConnection) -> Result<u64, RepoError> {
    let row: CountRow = diesel::sql_query(
        "WITH many AS ( \
             SELECT role, status, deleted FROM user_counts \
             GROUP BY role, status, deleted HAVING count(*) > 1), \
         gone AS ( \
             DELETE FROM user_counts c USING many m \
             WHERE c.role = m.role AND c.status = m.status AND c.deleted = m.deleted \
             RETURNING c.role, c.status, c.deleted, c.n), \
         folded AS ( \
             INSERT INTO user_counts (role, status, deleted, n) \
             SELECT role, status, deleted, sum(n) FROM gone \
             GROUP BY role, status, deleted HAVING sum(n) <> 0 \
             RETURNING 1) \
         SELECT count(*) AS n FROM gone",
    )
    .get_result(conn)
    .await
    .map_err(|e| query_error("fold user counts", e))?;
    checked_count("fold user counts", row.n)
}

/// A stored user row as the entity.
fn to_user(row: UserRow) -> Result<User, RepoError> {
    User::try_from(row).map_err(RepoError::from)
}

/// The filtered, sorted page of [`domain::ports::UserRepository::list`].
pub(crate) async fn list(
    conn: &mut AsyncPgConnection,
    query: &UserQuery,
) -> Result<Page<User>, RepoError> {
    let signature = signature(query);
    // An offset page counted by the notes gets its total from the same statement: one
    // round trip instead of two (an empty page has no row to carry it, so it asks again).
    let total_in_page =
        matches!(query.page.position, Position::Offset(_)) && counted_by_notes(&query.filter);
    let mut b = SqlBuilder::new("SELECT ");
    b.push(USER_COLUMNS).push(
        ", lower(username) AS sk_username, lower(display_name) AS sk_display_name, \
         coalesce(lower(email), '') AS sk_email, ",
    );
    if total_in_page {
        b.push("(");
        push_noted_count(&mut b, &query.filter);
        b.push(") AS total_n");
    } else {
        b.push("NULL::bigint AS total_n");
    }
    b.push(" FROM users WHERE TRUE");
    let q = match &query.filter.q {
        Some(term) => Some(search::TermMatch::plan(conn, term).await?),
        None => None,
    };
    push_filter(&mut b, &query.filter, q.as_ref());
    let total = match &query.page.position {
        Position::After(c) => {
            let body = CursorBody::decode(c, &signature, query.sort.keys().len())?;
            push_keyset(&mut b, query, &body)?;
            None
        }
        Position::Offset(_) if query.filter.q.is_some() => {
            Some(search::bounded_total(conn, |b| push_filter(b, &query.filter, q.as_ref())).await?)
        }
        Position::Offset(_) if total_in_page => None,
        Position::Offset(_) => {
            let mut counter = SqlBuilder::new("SELECT count(*) AS n FROM users WHERE TRUE");
            push_filter(&mut counter, &query.filter, q.as_ref());
            Some(count(conn, counter).await?)
        }
    };
    push_order(&mut b, query);
    push_limit(&mut b, &query.page);
    let rows: Vec<ListRow> = b
        .build()
        .load(conn)
        .await
        .map_err(|e| query_error("list users", e))?;
    let total = match (total_in_page, rows.as_slice().first()) {
        (false, _) => total,
        (true, Some(row)) => Some(checked_count(
            "count users",
            row.total_n.unwrap_or_default(),
        )?),
        (true, None) => Some(noted_count(conn, &query.filter).await?),
    };
    let keys = query.sort.keys();
    assemble(
        rows,
        query.page.limit,
        total,
        |r| CursorBody {
            s: signature.clone(),
            v: keys
                .iter()
                .map(|k| match k.field {
                    UserSortField::Username => Value::String(r.sk_username.clone()),
                    UserSortField::DisplayName => Value::String(r.sk_display_name.clone()),
                    UserSortField::Email => Value::String(r.sk_email.clone()),
                    UserSortField::CreatedAt => cursor::time_value(r.user.created_at),
                    UserSortField::LastLoginAt => {
                        r.user.last_login_at.map_or(Value::Null, cursor::time_value)
                    }
                })
                .collect(),
            id: r.user.id,
        },
        |r| to_user(r.user),
    )
}

/// Every account of role [`Role::Admin`], deleted or blocked ones included: the candidates
/// to which the callers apply the domain's predicates (`User::is_active_admin`,
/// `User::is_deleted`), so that what counts as an active admin is said once, in `domain`.
/// Narrowed by role only, which each of those predicates requires; admins are few.
pub(crate) async fn admins(conn: &mut AsyncPgConnection) -> Result<Vec<User>, RepoError> {
    let rows: Vec<UserRow> = users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .select(UserRow::as_select())
        .load(conn)
        .await
        .map_err(|e| query_error("read admins", e))?;
    rows.into_iter()
        .map(|row| User::try_from(row).map_err(RepoError::from))
        .collect()
}

/// One lower-cased name or address that is held.
#[derive(QueryableByName)]
struct HeldRow {
    #[diesel(sql_type = Text)]
    held: String,
}

/// Which of `usernames` and `emails` (lower-cased) some user holds, by the expressions of
/// the unique indexes (`lower(username)`, `lower(email)`), so each is an index lookup.
pub(crate) async fn taken_names(
    conn: &mut AsyncPgConnection,
    usernames: &[String],
    emails: &[String],
) -> Result<TakenNames, RepoError> {
    let mut taken = TakenNames::default();
    if !usernames.is_empty() {
        let rows: Vec<HeldRow> = diesel::sql_query(
            "SELECT lower(username) AS held FROM users WHERE lower(username) = ANY($1)",
        )
        .bind::<Array<Text>, _>(usernames)
        .load(conn)
        .await
        .map_err(|e| query_error("find taken usernames", e))?;
        taken.usernames = rows.into_iter().map(|r| r.held).collect();
    }
    if !emails.is_empty() {
        let rows: Vec<HeldRow> = diesel::sql_query(
            "SELECT lower(email) AS held FROM users \
             WHERE email IS NOT NULL AND lower(email) = ANY($1)",
        )
        .bind::<Array<Text>, _>(emails)
        .load(conn)
        .await
        .map_err(|e| query_error("find taken emails", e))?;
        taken.emails = rows.into_iter().map(|r| r.held).collect();
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::page::UserSort;
    use domain::search::SearchTerm;
    use uuid::Uuid;

    fn keyset_sql(sort: &str, values: Vec<Value>) -> String {
        let query = UserQuery {
            sort: UserSort::parse(sort).unwrap(),
            ..UserQuery::default()
        };
        let body = CursorBody {
            s: signature(&query),
            v: values,
            id: Uuid::nil(),
        };
        let mut b = SqlBuilder::new("");
        push_keyset(&mut b, &query, &body).unwrap();
        push_order(&mut b, &query);
        b.sql().to_owned()
    }

    #[test]
    fn keyset_condition_expands_mixed_directions() {
        let sql = keyset_sql(
            "-createdAt,username",
            vec![
                cursor::time_value(chrono::Utc::now()),
                Value::String("ann".into()),
            ],
        );
        assert_eq!(
            sql,
            " AND created_at <= $1 AND ((created_at < $1) OR (created_at = $1 AND \
             lower(username) > $2) OR (created_at = $1 AND lower(username) = $2 AND id > $3)) \
             ORDER BY created_at DESC, lower(username) ASC, id ASC"
        );
    }

    #[test]
    fn keyset_condition_of_one_direction_is_a_row_comparison() {
        let sql = keyset_sql("-lastLoginAt", vec![Value::Null]);
        assert_eq!(
            sql,
            " AND ROW(coalesce(last_login_at, '-infinity'::timestamptz), id) < \
             ROW(coalesce($1::timestamptz, '-infinity'::timestamptz), $2) \
             ORDER BY coalesce(last_login_at, '-infinity'::timestamptz) DESC, id DESC"
        );
        assert_eq!(
            keyset_sql("email", vec![Value::String(String::new())]),
            " AND ROW(coalesce(lower(email), ''), id) > ROW($1, $2) \
             ORDER BY coalesce(lower(email), '') ASC, id ASC"
        );
    }

    #[test]
    fn a_cursor_value_of_the_wrong_type_is_an_invalid_cursor() {
        let query = UserQuery::default();
        let body = CursorBody {
            s: signature(&query),
            v: vec![Value::from(7)],
            id: Uuid::nil(),
        };
        let mut b = SqlBuilder::new("");
        assert!(matches!(
            push_keyset(&mut b, &query, &body),
            Err(RepoError::InvalidCursor)
        ));
    }

    #[test]
    fn user_input_never_reaches_the_sql_text() {
        let filter = UserFilter {
            q: SearchTerm::filter("'; DROP TABLE users; --").unwrap(),
            ..UserFilter::default()
        };
        let mut b = SqlBuilder::new("SELECT 1 FROM users WHERE TRUE");
        push_filter(&mut b, &filter, None);
        assert!(!b.sql().contains("DROP"));
    }
}
