//! A tiny builder for the dynamic queries (lists, search): SQL text is appended only from
//! `&'static str` fragments chosen by the code, and every value the caller supplied goes
//! through a numbered bind parameter. There is no way to append a runtime string, so
//! user input cannot be concatenated into SQL by accident.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use uuid::Uuid;

/// One bound value.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Time(DateTime<Utc>),
    OptTime(Option<DateTime<Utc>>),
    Uuid(Uuid),
    BigInt(i64),
}

/// A bound parameter's number, to reference it (possibly several times) in the text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Param(usize);

/// SQL text plus its binds, in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct SqlBuilder {
    sql: String,
    binds: Vec<Bind>,
}

impl SqlBuilder {
    /// Starts with a static fragment.
    pub(crate) fn new(sql: &'static str) -> Self {
        Self {
            sql: sql.to_owned(),
            binds: Vec::new(),
        }
    }

    /// Appends a static fragment.
    pub(crate) fn push(&mut self, sql: &'static str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Registers a value and returns its parameter.
    pub(crate) fn bind(&mut self, value: Bind) -> Param {
        self.binds.push(value);
        Param(self.binds.len())
    }

    /// Appends a reference to a parameter (`$n`).
    pub(crate) fn param(&mut self, p: Param) -> &mut Self {
        self.sql.push('$');
        self.sql.push_str(&p.0.to_string());
        self
    }

    /// Binds a value and appends its reference.
    pub(crate) fn push_bind(&mut self, value: Bind) -> &mut Self {
        let p = self.bind(value);
        self.param(p)
    }

    /// The same query under `EXPLAIN (ANALYZE, BUFFERS)`, for the tests of plan shapes.
    pub(crate) fn explained(mut self) -> Self {
        self.sql.insert_str(0, "EXPLAIN (ANALYZE, BUFFERS) ");
        self
    }

    /// The SQL text (for tests and debugging; contains no values).
    #[cfg(test)]
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// The diesel query, ready to load.
    pub(crate) fn build(self) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
        let mut query = diesel::sql_query(self.sql).into_boxed::<Pg>();
        for bind in self.binds {
            query = match bind {
                Bind::Text(v) => query.bind::<Text, _>(v),
                Bind::Time(v) => query.bind::<Timestamptz, _>(v),
                Bind::OptTime(v) => query.bind::<Nullable<Timestamptz>, _>(v),
                Bind::Uuid(v) => query.bind::<diesel::sql_types::Uuid, _>(v),
                Bind::BigInt(v) => query.bind::<BigInt, _>(v),
            };
        }
        query
    }
}

/// Escapes `%`, `_` and `\` so that user input matches literally inside a LIKE pattern
/// (PostgreSQL's default LIKE escape character is the backslash).
pub(crate) fn escape_like(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `%input%`, escaped: a case-insensitive substring pattern for ILIKE.
pub(crate) fn contains_pattern(input: &str) -> String {
    format!("%{}%", escape_like(input))
}

/// `input%`, escaped: a prefix pattern for ILIKE.
pub(crate) fn prefix_pattern(input: &str) -> String {
    format!("{}%", escape_like(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
        assert_eq!(contains_pattern("a_b"), r"%a\_b%");
        assert_eq!(prefix_pattern("x%"), r"x\%%");
    }

    #[test]
    fn parameters_are_numbered_in_bind_order_and_reusable() {
        let mut b = SqlBuilder::new("SELECT 1 WHERE ");
        let p = b.bind(Bind::Text("a".into()));
        b.param(p).push(" = ").param(p).push(" AND ");
        b.push_bind(Bind::BigInt(3));
        assert_eq!(b.sql(), "SELECT 1 WHERE $1 = $1 AND $2");
    }
}
