//! Helpers for portable statements.
//!
//! Batches travel as one JSON parameter: `INSERT … SELECT … FROM json_each(?)` on SQLite and
//! `… FROM jsonb_array_elements($1::jsonb)` on PostgreSQL. One text parameter per statement
//! instead of one per value keeps a 100,000-measure import inside its time budget: binding
//! 1.7 million separate values costs more than the inserts themselves, and SQLite looks up a
//! numbered parameter's name by walking a list, which makes `$N` placeholders quadratic.
//! An import's new measures go into PostgreSQL with `COPY … FROM STDIN` instead
//! ([`copy_rows`]): taking a JSON batch apart cost the server as much as the inserts.

use serde::ser::{Serialize, Serializer};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AssertSqlSafe};

use super::Backend;

/// A value to bind or to put in a JSON batch.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    /// An integer.
    Int(i64),
    /// A nullable integer.
    OptInt(Option<i64>),
    /// Text.
    Text(&'a str),
    /// Nullable text.
    OptText(Option<&'a str>),
}

impl Serialize for Val<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Val::Int(v) | Val::OptInt(Some(v)) => serializer.serialize_i64(v),
            Val::Text(v) | Val::OptText(Some(v)) => serializer.serialize_str(v),
            Val::OptInt(None) | Val::OptText(None) => serializer.serialize_none(),
        }
    }
}

/// The SQL type of a column read out of a JSON batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// TEXT.
    Text,
    /// INTEGER / BIGINT.
    Int,
}

/// `SELECT <one expression per column> FROM <the rows of JSON parameter 1>`: each row of the
/// batch is a JSON array, one element per column.
pub(crate) fn json_select(backend: Backend, columns: &[(&str, Kind)]) -> String {
    let columns: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| format!("{} AS {name}", json_column(backend, i, *kind)))
        .collect();
    // `WHERE true` keeps SQLite's parser from reading a following ON CONFLICT as a join.
    format!(
        "SELECT {} FROM {} WHERE true",
        columns.join(", "),
        json_rows(backend)
    )
}

fn json_column(backend: Backend, i: usize, kind: Kind) -> String {
    match (backend, kind) {
        (Backend::Sqlite, _) | (Backend::Postgres, Kind::Text) => format!("value->>{i}"),
        (Backend::Postgres, Kind::Int) => format!("(value->>{i})::bigint"),
    }
}

/// The table of rows of JSON parameter 1. SQLite's `jsonb_each` hands each row over in its
/// binary form, so reading the row's elements does not parse text again.
fn json_rows(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "jsonb_each(?)",
        Backend::Postgres => "jsonb_array_elements($1::jsonb)",
    }
}

/// `(SELECT <integer> FROM <the elements of JSON parameter 1>)`, for `IN (…)` with a JSON
/// array of ids.
pub(crate) fn json_id_list(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "(SELECT value FROM jsonb_each(?))",
        Backend::Postgres => "(SELECT value::bigint FROM jsonb_array_elements_text($1::jsonb))",
    }
}

/// A batch of rows as one JSON text.
pub(crate) fn json_batch<R: Serialize>(rows: &[R]) -> String {
    serde_json::to_string(rows).expect("values serialize")
}

/// `$1,$2,…,$n` on PostgreSQL, `?,?,…` on SQLite.
pub(crate) fn placeholders(backend: Backend, n: usize) -> String {
    (1..=n)
        .map(|i| match backend {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${i}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn bind_all<'q>(
    mut query: Query<'q, Any, AnyArguments>,
    values: &[Val<'q>],
) -> Query<'q, Any, AnyArguments> {
    for value in values {
        query = match *value {
            Val::Int(v) => query.bind(v),
            Val::OptInt(v) => query.bind(v),
            Val::Text(v) => query.bind(v),
            Val::OptText(v) => query.bind(v),
        };
    }
    query
}

/// Runs a statement with bound values and no result rows.
pub(crate) async fn execute(
    conn: &mut AnyConnection,
    sql: String,
    values: &[Val<'_>],
) -> Result<u64, sqlx::Error> {
    let query = bind_all(sqlx::query(AssertSqlSafe(sql)), values);
    Ok(query.execute(conn).await?.rows_affected())
}

/// Runs a statement with bound values and returns its rows.
pub(crate) async fn fetch(
    conn: &mut AnyConnection,
    sql: String,
    values: &[Val<'_>],
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let query = bind_all(sqlx::query(AssertSqlSafe(sql)), values);
    query.fetch_all(conn).await
}

/// Rows per statement: one JSON parameter each.
pub(crate) const ROWS_PER_STATEMENT: usize = 5000;

/// Inserts `rows` (each a JSON array, one element per column) into `table`, one JSON
/// statement per chunk, and returns the rows `tail` (`RETURNING …`, or an `ON CONFLICT`
/// clause) yields.
pub(crate) async fn insert_rows<R: Serialize>(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
    columns: &[(&str, Kind)],
    rows: &[R],
    tail: &str,
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) {} {tail}",
        names.join(", "),
        json_select(backend, columns)
    );
    let mut out = Vec::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let batch = json_batch(chunk);
        out.extend(fetch(conn, sql.clone(), &[Val::Text(&batch)]).await?);
    }
    Ok(out)
}

/// A row for [`copy_rows`].
pub(crate) trait CopyRow {
    /// Appends the row in `COPY`'s text format: values separated by tabs, ended by a newline.
    fn write_copy(&self, out: &mut Vec<u8>);
}

impl<const N: usize> CopyRow for [Val<'_>; N] {
    fn write_copy(&self, out: &mut Vec<u8>) {
        write_copy_row(out, self.iter().copied());
    }
}

impl<const N: usize> CopyRow for [i64; N] {
    fn write_copy(&self, out: &mut Vec<u8>) {
        write_copy_row(out, self.iter().map(|v| Val::Int(*v)));
    }
}

/// One row of `values` in `COPY`'s text format: `\N` for NULL, and a backslash, tab,
/// newline or carriage return in a text written as its backslash escape.
fn write_copy_row<'a>(out: &mut Vec<u8>, values: impl Iterator<Item = Val<'a>>) {
    use std::io::Write;
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match value {
            Val::Int(v) | Val::OptInt(Some(v)) => {
                let _ = write!(out, "{v}");
            }
            Val::Text(text) | Val::OptText(Some(text)) => {
                let mut rest = text.as_bytes();
                while let Some(at) = rest
                    .iter()
                    .position(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
                {
                    out.extend_from_slice(&rest[..at]);
                    out.extend_from_slice(match rest[at] {
                        b'\\' => b"\\\\",
                        b'\t' => b"\\t",
                        b'\n' => b"\\n",
                        _ => b"\\r",
                    });
                    rest = &rest[at + 1..];
                }
                out.extend_from_slice(rest);
            }
            Val::OptInt(None) | Val::OptText(None) => out.extend_from_slice(b"\\N"),
        }
    }
    out.push(b'\n');
}

/// Bytes of rows sent in one `CopyData` message.
const COPY_CHUNK: usize = 1 << 20;

/// Sends `rows` into `table`'s `columns` with `COPY … FROM STDIN`, in the transaction `conn`
/// is in; `conn` must be a PostgreSQL connection. A row the table refuses fails the whole
/// `COPY`.
pub(crate) async fn copy_rows<R: CopyRow>(
    conn: &mut AnyConnection,
    table: &str,
    columns: &[(&str, Kind)],
    rows: &[R],
) -> Result<(), sqlx::Error> {
    let Some(pg) = conn
        .backend_any_mut()
        .downcast_mut::<sqlx::postgres::PgConnection>()
    else {
        return Err(sqlx::Error::Protocol(format!(
            "COPY into {table} needs a PostgreSQL connection"
        )));
    };
    if rows.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let statement = format!("COPY {table} ({}) FROM STDIN", names.join(", "));
    let mut copy = pg.copy_in_raw(&statement).await?;
    let mut buffer = Vec::with_capacity(COPY_CHUNK + 4096);
    for row in rows {
        row.write_copy(&mut buffer);
        if buffer.len() >= COPY_CHUNK {
            copy.send(std::mem::take(&mut buffer)).await?;
            buffer.reserve(COPY_CHUNK + 4096);
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer).await?;
    }
    copy.finish().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements() {
        let columns = [("a", Kind::Text), ("b", Kind::Int)];
        assert_eq!(
            json_select(Backend::Sqlite, &columns),
            "SELECT value->>0 AS a, value->>1 AS b FROM jsonb_each(?) WHERE true"
        );
        assert_eq!(
            json_select(Backend::Postgres, &columns),
            "SELECT value->>0 AS a, (value->>1)::bigint AS b FROM jsonb_array_elements($1::jsonb) WHERE true"
        );
        assert_eq!(placeholders(Backend::Postgres, 3), "$1,$2,$3");
        assert_eq!(placeholders(Backend::Sqlite, 2), "?,?");
        let rows = [
            [Val::Int(1), Val::OptText(None)],
            [Val::OptInt(Some(2)), Val::Text("a\"b")],
        ];
        assert_eq!(json_batch(&rows), r#"[[1,null],[2,"a\"b"]]"#);
    }

    #[test]
    fn copy_rows_in_text_format() {
        let cases: [(&[Val], &str); 4] = [
            (&[Val::Int(1), Val::Text("整改")], "1\t整改\n"),
            (&[Val::OptInt(None), Val::OptText(None)], "\\N\t\\N\n"),
            (
                &[Val::Text("a\tb\nc\rd\\e"), Val::OptInt(Some(-7))],
                "a\\tb\\nc\\rd\\\\e\t-7\n",
            ),
            // A backslash before a dot or an N stays a backslash, not an end or a NULL.
            (&[Val::Text("\\."), Val::Text("\\N")], "\\\\.\t\\\\N\n"),
        ];
        for (values, expected) in cases {
            let mut out = Vec::new();
            write_copy_row(&mut out, values.iter().copied());
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{values:?}");
        }
    }
}
