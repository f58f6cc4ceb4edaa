//! Helpers for portable statements.
//!
//! Batches travel as one JSON parameter: `INSERT … SELECT … FROM json_each(?)` on SQLite and
//! `… FROM jsonb_array_elements($1::jsonb)` on PostgreSQL. One text parameter per statement
//! instead of one per value: through sqlx, binding 1.7 million separate values costs more
//! than the inserts themselves, and SQLite looks up a numbered parameter's name by walking a
//! list, which makes `$N` placeholders quadratic.
//!
//! An import's new rows take faster paths of their own: `COPY … FROM STDIN` on PostgreSQL
//! ([`copy_rows`]), where taking a JSON batch apart cost the server as much as the inserts,
//! and on SQLite one prepared single-row statement run on the connection's own handle
//! ([`insert_bound`]), where taking a JSON batch apart cost more than inserting its rows.

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

/// The names of `columns`, as a statement lists them: `a, b, c`.
fn column_list(columns: &[(&str, Kind)]) -> String {
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    names.join(", ")
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
    let sql = format!(
        "INSERT INTO {table} ({}) {} {tail}",
        column_list(columns),
        json_select(backend, columns)
    );
    let mut out = Vec::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let batch = json_batch(chunk);
        out.extend(fetch(conn, sql.clone(), &[Val::Text(&batch)]).await?);
    }
    Ok(out)
}

/// A row of values for the bulk inserts ([`copy_rows`], [`insert_bound`]).
pub(crate) trait BulkRow {
    /// The row's values, one per column, in order.
    fn values(&self) -> impl Iterator<Item = Val<'_>>;
}

impl<const N: usize> BulkRow for [Val<'_>; N] {
    fn values(&self) -> impl Iterator<Item = Val<'_>> {
        self.iter().copied()
    }
}

impl<const N: usize> BulkRow for [i64; N] {
    fn values(&self) -> impl Iterator<Item = Val<'_>> {
        self.iter().map(|v| Val::Int(*v))
    }
}

impl rusqlite::ToSql for Val<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Val::Int(v) | Val::OptInt(Some(v)) => ValueRef::Integer(v),
            Val::Text(v) | Val::OptText(Some(v)) => ValueRef::Text(v.as_bytes()),
            Val::OptInt(None) | Val::OptText(None) => ValueRef::Null,
        }))
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
const COPY_CHUNK: usize = 1 << 16;

/// Sends `rows` into `table`'s `columns` with `COPY … FROM STDIN`, in the transaction `conn`
/// is in; `conn` must be a PostgreSQL connection. A row the table refuses fails the whole
/// `COPY`.
pub(crate) async fn copy_rows<R: BulkRow>(
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
    let statement = format!("COPY {table} ({}) FROM STDIN", column_list(columns));
    let mut copy = pg.copy_in_raw(&statement).await?;
    let mut buffer = Vec::with_capacity(COPY_CHUNK + 4096);
    for row in rows {
        write_copy_row(&mut buffer, row.values());
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

/// Inserts `rows` into `table`'s `columns` on SQLite, in the transaction `conn` is in; `conn`
/// must be a SQLite connection. Each row's values are bound to one prepared statement, which
/// runs on this thread while the connection's handle is lent out of sqlx's worker thread.
/// When `ids`, returns the rowid each row got (the id of a table with an integer primary
/// key), in order; else nothing. A row the table refuses stops the insert with the error:
/// the rows before it stay written in the transaction, which the caller rolls back.
///
/// Taking a JSON batch apart cost SQLite more than inserting its rows, and the batch had to
/// be written out and handed to the worker first. Several rows to a statement (`VALUES
/// (…),(…)`) saved a tenth of the writing thread's instructions but no time: a statement
/// that writes several rows into a table with foreign keys may have to be undone alone, so
/// SQLite keeps a statement journal of every page it touches: a 100,000-measure import
/// made 252,000 writes (most of them into that journal's temp file) where it made 26,000
/// with one row a statement (strace).
pub(crate) async fn insert_bound<R: BulkRow>(
    conn: &mut AnyConnection,
    table: &str,
    columns: &[(&str, Kind)],
    rows: &[R],
    ids: bool,
) -> Result<Vec<i64>, super::StoreError> {
    let Some(sqlite) = conn
        .backend_any_mut()
        .downcast_mut::<sqlx::sqlite::SqliteConnection>()
    else {
        return Err(sqlx::Error::Protocol(format!(
            "bound inserts into {table} need a SQLite connection"
        ))
        .into());
    };
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        column_list(columns),
        placeholders(Backend::Sqlite, columns.len())
    );
    let mut handle = sqlite.lock_handle().await?;
    let raw = handle.as_raw_handle().as_ptr();
    let insert = || -> Result<Vec<i64>, rusqlite::Error> {
        // SAFETY: `raw` is sqlx's open connection, and while `handle` lives sqlx's worker
        // makes no call on it or its statements. `from_handle` borrows the connection
        // without closing it on drop, and the borrow (with the statement prepared on it)
        // ends within this closure, before `handle` does.
        let db = unsafe { rusqlite::Connection::from_handle(raw)? };
        let mut statement = db.prepare(&sql)?;
        let mut out = Vec::with_capacity(if ids { rows.len() } else { 0 });
        for row in rows {
            let mut bound = 0;
            for value in row.values() {
                bound += 1;
                statement.raw_bind_parameter(bound, value)?;
            }
            // SQLite keeps a binding until it is replaced: a short row would take the values
            // of the row before it.
            if bound != columns.len() {
                return Err(rusqlite::Error::InvalidParameterCount(bound, columns.len()));
            }
            statement.raw_execute()?;
            if ids {
                out.push(db.last_insert_rowid());
            }
        }
        Ok(out)
    };
    // The rows are inserted on this thread. On a runtime with worker threads, the others
    // take over this one's tasks meanwhile (a web import must not hold up the webhook).
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let out = if multi_thread {
        tokio::task::block_in_place(insert)
    } else {
        insert()
    };
    drop(handle);
    Ok(out?)
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

    /// Rows copied into PostgreSQL read back as they were sent, over more than one
    /// `CopyData` message, with every text `COPY`'s text format escapes or could take for an
    /// end or a NULL, and a row the table refuses fails the `COPY` with the server's words
    /// and leaves the connection ready for the next.
    #[tokio::test]
    async fn copied_rows_read_back_as_they_were_sent() {
        use sqlx::{Connection, Row};
        sqlx::any::install_default_drivers();
        let url = std::env::var("DUBAN_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let mut conn = AnyConnection::connect(&url).await.unwrap();
        sqlx::query(
            "CREATE TEMP TABLE copied (id BIGINT PRIMARY KEY, name TEXT NOT NULL, \
             n BIGINT CHECK (n IS NULL OR n <> 13), note TEXT)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let columns = [
            ("id", Kind::Int),
            ("name", Kind::Text),
            ("n", Kind::Int),
            ("note", Kind::Text),
        ];
        let odd = [
            "",
            "\\.",
            "\\N",
            "\\",
            "a\tb\nc\rd",
            "整改“销号”🙂",
            "\u{3000}",
            "'; DROP TABLE copied; --",
        ];
        let long = "长".repeat(500);
        let names: Vec<String> = (0..3_000)
            .map(|i| {
                format!(
                    "{}{}",
                    odd[i % odd.len()],
                    if i % 3 == 0 { &long[..] } else { "" }
                )
            })
            .collect();
        let rows: Vec<[Val; 4]> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let n = match i % 3 {
                    0 => None,
                    1 => Some(i64::MIN + i as i64),
                    _ => Some(i64::MAX - i as i64),
                };
                [
                    Val::Int(i as i64),
                    Val::Text(name),
                    Val::OptInt(n),
                    Val::OptText((i % 2 == 0).then_some(odd[i % odd.len()])),
                ]
            })
            .collect();
        let bytes: usize = names.iter().map(String::len).sum();
        assert!(bytes > COPY_CHUNK, "{bytes} bytes: more than one message");
        copy_rows(&mut conn, "copied", &columns, &rows)
            .await
            .unwrap();
        let back = sqlx::query("SELECT id, name, n, note FROM copied ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(back.len(), rows.len());
        for (row, sent) in back.iter().zip(&rows) {
            let got = (
                row.get::<i64, _>(0),
                row.get::<String, _>(1),
                row.get::<Option<i64>, _>(2),
                row.get::<Option<String>, _>(3),
            );
            let [
                Val::Int(id),
                Val::Text(name),
                Val::OptInt(n),
                Val::OptText(note),
            ] = *sent
            else {
                unreachable!("rows are built above")
            };
            assert_eq!(got, (id, name.to_string(), n, note.map(str::to_string)));
        }
        let refused = [[
            Val::Int(5_000),
            Val::Text("x"),
            Val::OptInt(Some(13)),
            Val::OptText(None),
        ]];
        let err = copy_rows(&mut conn, "copied", &columns, &refused)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("copied_n_check"), "{err}");
        let again = [[
            Val::Int(5_001),
            Val::Text("y"),
            Val::OptInt(None),
            Val::OptText(None),
        ]];
        copy_rows(&mut conn, "copied", &columns, &again)
            .await
            .unwrap();
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM copied")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(count, 3_001);
    }

    /// Bound inserts run on the connection sqlx holds, inside its transaction: they return
    /// each row's id, store NULLs and odd text as given, leave the connection working for
    /// sqlx, and a refused row fails with SQLite's own words and is rolled back with the
    /// transaction.
    #[tokio::test]
    async fn bound_inserts_share_the_connection_and_its_transaction() {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, \
             n INTEGER CHECK (n >= 0), note TEXT)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let columns = [("name", Kind::Text), ("n", Kind::Int), ("note", Kind::Text)];
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        let rows = [
            [
                Val::Text("整改办"),
                Val::OptInt(Some(3)),
                Val::OptText(None),
            ],
            [
                Val::Text("a\tb\n\\N"),
                Val::OptInt(None),
                Val::Text("'; DROP TABLE t; --"),
            ],
            [Val::Text(""), Val::Int(0), Val::OptText(Some("\u{0}x"))],
        ];
        let ids = insert_bound(&mut conn, "t", &columns, &rows, true)
            .await
            .unwrap();
        assert_eq!(ids, vec![1, 2, 3]);
        let read: Vec<(i64, String, Option<i64>, Option<String>)> =
            sqlx::query_as("SELECT id, name, n, note FROM t ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert_eq!(
            read,
            vec![
                (1, "整改办".into(), Some(3), None),
                (
                    2,
                    "a\tb\n\\N".into(),
                    None,
                    Some("'; DROP TABLE t; --".into())
                ),
                (3, String::new(), Some(0), Some("\u{0}x".into())),
            ]
        );
        // Without ids asked for, none come back.
        let more = [[Val::Text("x"), Val::Int(1), Val::OptText(None)]];
        assert!(
            insert_bound(&mut conn, "t", &columns, &more, false)
                .await
                .unwrap()
                .is_empty()
        );
        // A refused row names the constraint; the transaction rolls back whole.
        let refused = [
            [Val::Text("y"), Val::Int(1), Val::OptText(None)],
            [Val::Text("整改办"), Val::Int(1), Val::OptText(None)],
        ];
        let error = insert_bound(&mut conn, "t", &columns, &refused, false)
            .await
            .unwrap_err();
        assert!(
            matches!(error, crate::store::StoreError::Sqlite(_)),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("UNIQUE constraint failed: t.name"),
            "{error}"
        );
        let negative = [[Val::Text("z"), Val::Int(-1), Val::OptText(None)]];
        let error = insert_bound(&mut conn, "t", &columns, &negative, false)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("CHECK constraint failed"),
            "{error}"
        );
        sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(count, 0);
        // A row with fewer values than columns is refused, not filled from the row before.
        let short = [[Val::Text("w"), Val::Int(2)]];
        let error = insert_bound(&mut conn, "t", &columns, &short, false)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                crate::store::StoreError::Sqlite(rusqlite::Error::InvalidParameterCount(2, 3))
            ),
            "{error:?}"
        );
        // Nothing to insert is no statement at all, even for a table that is not there.
        let none: [[Val; 3]; 0] = [];
        assert!(
            insert_bound(&mut conn, "missing", &columns, &none, true)
                .await
                .unwrap()
                .is_empty()
        );
        conn.close().await.unwrap();
    }
}
