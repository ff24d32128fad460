//! Restoring a PostgreSQL backup into a database that did not exist before, and checking it.
//!
//! The order is pg_restore's: the DDL that comes before data (tables without their indexes,
//! constraints and triggers), then every table part through `COPY … FROM STDIN` on parallel
//! sessions, then sequence values and large objects, then the DDL after data (indexes,
//! constraints, triggers, materialized view refreshes). The target is always a new database;
//! swapping it in place of a live one is the engine's decision, after it has been checked.

use std::{
    io::{self, Write},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
};

use super::{
    capture::{POST_DATA, PRE_DATA, SEQUENCES, hash_rows, large_object_stream},
    conn::Conn,
    database::{self, DatabaseProperties, Phase},
    post_data::PostData,
    psql::{self, column_list, ident, literal, qualified},
    shared_copy::SharedFeed,
    tools::Tools,
};
use crate::{
    Catalog, CopyCheck, KeepReplaced, Result, SourceError, SourceErrorKind, TableCheck, TableInfo, TableSet, content_hash::RowSetHash,
};

/// Writes the content of one of the backup's streams (decoded from how it is stored, see
/// [`crate::frames`]) into a writer; returns the bytes read from the repository.
pub type ReadStream<'a> = &'a (dyn Fn(&str, &mut dyn Write) -> io::Result<u64> + Sync);

/// The database named by `target` on its server, seen from the server's maintenance database.
fn maintenance(target: &Conn) -> Conn {
    target.with_database("postgres")
}

fn target_name(target: &Conn) -> Result<&str> {
    target.database().ok_or_else(|| {
        SourceError::new(SourceErrorKind::NotFound, format!("{} names no database", target.label()), "end the URL with /DATABASE")
    })
}

/// Whether the database `target` names exists.
pub fn database_exists(tools: &Tools, target: &Conn) -> Result<bool> {
    let name = target_name(target)?;
    let rows = psql::query(tools, &maintenance(target), &[&format!("SELECT 1 FROM pg_database WHERE datname = {}", literal(name))])?;
    Ok(!rows.is_empty())
}

/// Creates the database `target` names, with the backup's encoding and collation, owner and
/// access rights; returns notes on what could not be kept (see [`database::apply`]).
pub fn create_database(tools: &Tools, target: &Conn, catalog: &Catalog) -> Result<Vec<String>> {
    let name = target_name(target)?;
    let property = |key: &str| catalog.properties.get(key).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(str::to_string);
    let mut sql = format!("CREATE DATABASE {} TEMPLATE template0", ident(name));
    if let Some(encoding) = property("encoding") {
        sql.push_str(&format!(" ENCODING {}", literal(&encoding)));
    }
    if let Some(collate) = property("lc_collate") {
        sql.push_str(&format!(" LC_COLLATE {}", literal(&collate)));
    }
    if let Some(ctype) = property("lc_ctype") {
        sql.push_str(&format!(" LC_CTYPE {}", literal(&ctype)));
    }
    // The same collation provider as the source, or text would sort differently.
    if let Some(props) = DatabaseProperties::of(catalog) {
        match (props.locale_provider.as_deref(), &props.icu_locale) {
            (Some("i"), Some(locale)) => sql.push_str(&format!(" LOCALE_PROVIDER icu ICU_LOCALE {}", literal(locale))),
            (Some("b"), Some(locale)) => sql.push_str(&format!(" LOCALE_PROVIDER builtin BUILTIN_LOCALE {}", literal(locale))),
            _ => {}
        }
    }
    psql::execute(tools, &maintenance(target), &[&sql])?;
    database::apply(tools, target, &maintenance(target), catalog, Phase::Created)
}

/// Drops the database `target` names, if it exists, ending sessions still connected to it
/// (only ever called on databases lifeboat created: scratch and staging copies).
pub fn drop_database(tools: &Tools, target: &Conn) -> Result<()> {
    let name = target_name(target)?;
    psql::execute(
        tools,
        &maintenance(target),
        &[
            &format!("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = {}", literal(name)),
            &format!("DROP DATABASE IF EXISTS {}", ident(name)),
        ],
    )
}

/// What a load put into the database: the rows of each table of the catalog, in its order,
/// as the server counted them (`COPY n`).
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    rows: Vec<u64>,
}

/// Loads a backup into the (new, empty) database `target`, `jobs` tables at a time.
pub fn load(tools: &Tools, target: &Conn, catalog: &Catalog, read: ReadStream<'_>, jobs: usize) -> Result<Loaded> {
    for schema in partial_schemas(catalog) {
        psql::execute(tools, target, &[&format!("CREATE SCHEMA IF NOT EXISTS {}", ident(schema))])?;
    }
    run_script(tools, target, PRE_DATA, read, None)?;
    let loaded = copy_tables(tools, target, catalog, read, jobs)?;
    run_script(tools, target, SEQUENCES, read, None)?;
    for oid in large_objects(catalog) {
        run_script(tools, target, &large_object_stream(oid), read, Some(oid))?;
    }
    run_post_data(tools, target, read, jobs)?;
    database::apply(tools, target, &maintenance(target), catalog, Phase::Loaded)?;
    Ok(loaded)
}

/// The post-data section, keys and indexes on `jobs` parallel sessions (see [`PostData`]).
fn run_post_data(tools: &Tools, target: &Conn, read: ReadStream<'_>, jobs: usize) -> Result<()> {
    let mut script = Vec::new();
    read(POST_DATA, &mut script)
        .map_err(|e| SourceError::new(SourceErrorKind::Io, format!("reading {POST_DATA} from the backup failed"), "").with_source(e))?;
    let text = String::from_utf8_lossy(&script);
    let Some(plan) = PostData::split(&text) else {
        return run_text(tools, target, POST_DATA, &[&text]);
    };
    let queue = Mutex::new(plan.parallel.clone());
    let failure: Mutex<Option<SourceError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                while failure.lock().expect("lock").is_none() {
                    let Some(entry) = queue.lock().expect("lock").pop() else { return };
                    if let Err(err) = run_text(tools, target, POST_DATA, &[plan.preamble, entry]) {
                        failure.lock().expect("lock").get_or_insert(err);
                    }
                }
            });
        }
    });
    if let Some(err) = failure.into_inner().expect("lock") {
        return Err(err);
    }
    let mut ordered = vec![plan.preamble];
    ordered.extend(&plan.ordered);
    run_text(tools, target, POST_DATA, &ordered)
}

/// Runs pieces of a script, concatenated, on one `psql` session.
fn run_text(tools: &Tools, target: &Conn, what: &str, pieces: &[&str]) -> Result<()> {
    run_fed(script(tools, target), target, what, |stdin| {
        let mut bytes = 0;
        for piece in pieces {
            stdin.write_all(piece.as_bytes())?;
            bytes += piece.len() as u64;
        }
        Ok(bytes)
    })
    .map(drop)
}

/// The schemas a table-subset backup needs but does not create (pg_dump leaves them out).
pub(crate) fn partial_schemas(catalog: &Catalog) -> Vec<&str> {
    if catalog.properties.get("partial").and_then(|v| v.as_bool()) != Some(true) {
        return Vec::new();
    }
    let mut schemas: Vec<&str> = catalog.tables.iter().filter_map(|t| t.schema.as_deref()).collect();
    schemas.sort_unstable();
    schemas.dedup();
    schemas
}

/// The large objects a backup holds, from its stream list.
pub(crate) fn large_objects(catalog: &Catalog) -> Vec<u32> {
    catalog
        .properties
        .get("large_objects")
        .and_then(|v| v.as_array())
        .map(|oids| oids.iter().filter_map(|o| o.as_u64()).map(|o| o as u32).collect())
        .unwrap_or_default()
}

/// Feeds a stream to `psql` as a script. A large object's stream (hex lines) is turned into
/// `lo_put` calls on the way.
fn run_script(tools: &Tools, target: &Conn, stream: &str, read: ReadStream<'_>, large_object: Option<u32>) -> Result<()> {
    run_fed(script(tools, target), target, stream, |stdin| match large_object {
        Some(oid) => read(stream, &mut LoScript::new(oid, stdin)),
        None => read(stream, stdin),
    })
    .map(drop)
}

/// A part being loaded: its table's index in the catalog, the table, the stream, its feed.
type Loading<'a> = (usize, &'a TableInfo, &'a str, Arc<SharedFeed>);

/// Every table part through its own `COPY … FROM STDIN` session, `jobs` at a time, and once
/// none is left to start, idle sessions join the parts of big tables still loading (see
/// `shared_copy.rs`); returns the rows the server reports for each table.
fn copy_tables(tools: &Tools, target: &Conn, catalog: &Catalog, read: ReadStream<'_>, jobs: usize) -> Result<Loaded> {
    let queue: Mutex<Vec<(usize, &TableInfo, &str)>> =
        Mutex::new(catalog.tables.iter().enumerate().flat_map(|(i, t)| t.streams.iter().map(move |s| (i, t, s.as_str()))).rev().collect());
    // Parts being loaded that another session may join: those of tables cut into parts
    // (128 MiB of heap each), where a lone last part is worth sharing.
    let joinable: Mutex<Vec<Loading>> = Mutex::default();
    let rows = Mutex::new(vec![0; catalog.tables.len()]);
    let failure: Mutex<Option<SourceError>> = Mutex::new(None);
    let session = |table: &TableInfo| {
        let mut cmd = psql::psql(tools, target);
        // Not quiet: psql then prints the server's `COPY n`, the rows it took.
        cmd.args(["-v", "QUIET=off"]);
        cmd.arg("-c").arg(psql::SESSION_SETTINGS).arg("-c").arg(format!("COPY {} FROM STDIN", copy_target(table)));
        cmd
    };
    // One session's start, as a feed takes it: the session, and its input apart.
    let start = |table: &TableInfo| {
        let mut fed = spawn_with_stdin(session(table))?;
        let stdin = fed.child.stdin.take().expect("piped");
        Ok((fed, stdin))
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    if failure.lock().expect("lock").is_some() {
                        return;
                    }
                    let next = queue.lock().expect("lock").pop();
                    let loaded = match next {
                        Some((index, table, stream)) if table.streams.len() > 1 => {
                            let feed = Arc::new(SharedFeed::default());
                            joinable.lock().expect("lock").push((index, table, stream, feed.clone()));
                            let own = feed.join(|| start(table)).expect("a new feed is open");
                            let mut writer = feed.writer();
                            let fed = read(stream, &mut writer).and_then(|bytes| writer.finish().map(|()| bytes));
                            feed.end();
                            joinable.lock().expect("lock").retain(|(.., f)| !Arc::ptr_eq(f, &feed));
                            own.and_then(|own| finish_fed(own, target, stream, fed))
                                .and_then(|out| copied_rows(&out, stream))
                                .map(|n| (index, n))
                        }
                        Some((index, table, stream)) => run_fed(session(table), target, stream, |stdin| read(stream, stdin))
                            .and_then(|out| copied_rows(&out, stream))
                            .map(|n| (index, n)),
                        None => {
                            let open = joinable.lock().expect("lock").iter().find(|(.., feed)| feed.is_open()).cloned();
                            let Some((index, table, stream, feed)) = open else { return };
                            match feed.join(|| start(table)) {
                                None => continue,
                                Some(joined) => joined
                                    .and_then(|fed| finish_fed(fed, target, stream, Ok(0)))
                                    .and_then(|out| copied_rows(&out, stream))
                                    .map(|n| (index, n)),
                            }
                        }
                    };
                    match loaded {
                        Ok((index, n)) => rows.lock().expect("lock")[index] += n,
                        Err(err) => {
                            failure.lock().expect("lock").get_or_insert(err);
                            return;
                        }
                    }
                }
            });
        }
    });
    match failure.into_inner().expect("lock") {
        Some(err) => Err(err),
        None => Ok(Loaded { rows: rows.into_inner().expect("lock") }),
    }
}

/// The row count of psql's `COPY n` line.
fn copied_rows(psql_output: &str, stream: &str) -> Result<u64> {
    psql_output.lines().find_map(|line| line.strip_prefix("COPY ")?.trim().parse().ok()).ok_or_else(|| {
        SourceError::new(
            SourceErrorKind::Database,
            format!("restoring {stream}: psql did not report the rows it copied ({psql_output:?})"),
            "this is a bug in lifeboat",
        )
    })
}

/// `"schema"."table"` of a table in the backup's catalog.
fn table_name(table: &TableInfo) -> String {
    let schema = table.schema.as_deref().unwrap_or("public");
    qualified(schema, table.name.strip_prefix(&format!("{schema}.")).unwrap_or(&table.name))
}

/// `"schema"."table" ("a", "b")`: the table and the columns COPY moves.
pub(crate) fn copy_target(table: &TableInfo) -> String {
    table_name(table) + &column_list(&table.columns)
}

/// `psql -f -`: a script on standard input.
fn script(tools: &Tools, target: &Conn) -> Command {
    let mut cmd = psql::psql(tools, target);
    cmd.args(["-f", "-"]);
    cmd
}

/// A running tool with a pipe to its standard input and its output and errors collected.
struct Fed {
    child: Child,
    stdout: std::thread::JoinHandle<String>,
    stderr: std::thread::JoinHandle<String>,
}

fn spawn_with_stdin(mut cmd: Command) -> Result<Fed> {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| psql::spawn_failed("psql", e))?;
    if let Some(stdin) = &child.stdin {
        crate::child::enlarge_pipe(stdin);
    }
    let stdout = crate::child::drain(child.stdout.take().expect("piped"));
    let stderr = crate::child::drain(child.stderr.take().expect("piped"));
    Ok(Fed { child, stdout, stderr })
}

/// Runs `cmd`, writing its standard input with `feed` (the work of restoring `stream`), and
/// fails unless both the feeding and the tool finished cleanly; returns what it printed.
fn run_fed(cmd: Command, target: &Conn, stream: &str, feed: impl FnOnce(&mut dyn Write) -> io::Result<u64>) -> Result<String> {
    let mut session = spawn_with_stdin(cmd)?;
    let mut stdin = session.child.stdin.take().expect("piped");
    let fed = feed(&mut stdin);
    drop(stdin);
    finish_fed(session, target, stream, fed)
}

/// Waits for a session whose input is closed (or is being closed by a shared feed) and fails
/// unless both the feeding (`fed`) and the tool finished cleanly; returns what it printed.
fn finish_fed(session: Fed, target: &Conn, stream: &str, fed: io::Result<u64>) -> Result<String> {
    let Fed { mut child, stdout, stderr } = session;
    let status = child.wait().map_err(|e| psql::spawn_failed("psql", e))?;
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(psql::server_error(target, &stderr).with_context_prefix(format!("restoring {stream}: ")));
    }
    fed.map_err(|e| SourceError::new(SourceErrorKind::Io, format!("reading {stream} from the backup failed"), "").with_source(e))?;
    Ok(stdout.join().unwrap_or_default())
}

/// Turns a large object's stream (one hex line per chunk) into `lo_put` calls.
pub(crate) struct LoScript<'a> {
    oid: u32,
    offset: u64,
    line: Vec<u8>,
    out: &'a mut dyn Write,
}

impl<'a> LoScript<'a> {
    pub(crate) fn new(oid: u32, out: &'a mut dyn Write) -> Self {
        Self { oid, offset: 0, line: Vec::new(), out }
    }
}

impl Write for LoScript<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &byte in buf {
            if byte == b'\n' {
                let hex = std::mem::take(&mut self.line);
                writeln!(
                    self.out,
                    "SELECT pg_catalog.lo_put({}, {}, '\\x{}'::bytea);",
                    self.oid,
                    self.offset,
                    String::from_utf8_lossy(&hex)
                )?;
                self.offset += hex.len() as u64 / 2;
            } else {
                self.line.push(byte);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Row counts of the restored database against `expected`: as the load counted them, or
/// with `hashes` by reading every table back and hashing its rows as the backup did.
pub fn check(tools: &Tools, target: &Conn, expected: &Catalog, loaded: &Loaded, hashes: bool) -> Result<CopyCheck> {
    let actual: Vec<(u64, Option<bool>)> = if hashes {
        expected
            .tables
            .iter()
            .map(|table| hash_table(tools, target, table).map(|h| (h.rows, Some(h.finish() == table.content_hash))))
            .collect::<Result<_>>()?
    } else {
        loaded.rows.iter().map(|&rows| (rows, None)).collect()
    };
    let tables = expected
        .tables
        .iter()
        .zip(actual)
        .map(|(table, (rows, hash_matches))| TableCheck {
            table: table.name.clone(),
            expected_rows: table.rows,
            actual_rows: Some(rows),
            hash_matches,
        })
        .collect();
    Ok(CopyCheck { integrity_problems: Vec::new(), integrity_now: None, integrity_at_backup: None, tables })
}

/// The content hash of one restored table, read back the way the backup read it.
fn hash_table(tools: &Tools, target: &Conn, table: &TableInfo) -> Result<RowSetHash> {
    let name = table_name(table);
    let mut cmd = psql::psql(tools, target);
    cmd.arg("-c").arg(psql::SESSION_SETTINGS).arg("-c").arg(format!("COPY {} TO STDOUT", copy_target(table)));
    let output = psql::tool_output(cmd, format!("reading {name}"), target).map_err(|e| psql::spawn_failed("psql", e))?;
    hash_rows(output).map_err(|e| SourceError::new(SourceErrorKind::Database, format!("reading {name} failed"), "").with_source(e))
}

/// Gives the database `staging` the name `target` names. If that name is taken, the database
/// holding it is renamed to `old` in the same transaction, so at every moment the name points
/// at a whole database.
///
/// PostgreSQL cannot rename a database others are connected to. With `terminate` their
/// sessions are ended first (retrying while they exit); without it the error lists them.
pub fn swap(tools: &Tools, target: &Conn, staging: &str, old: Option<&str>, terminate: bool) -> Result<()> {
    let live = target_name(target)?;
    let maintenance = maintenance(target);
    let move_old = old.map(|old| format!("ALTER DATABASE {} RENAME TO {};", ident(live), ident(old))).unwrap_or_default();
    let rename = format!("BEGIN; {move_old} ALTER DATABASE {} RENAME TO {}; COMMIT;", ident(staging), ident(live));
    let sessions = format!("FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid()", literal(live));
    let mut attempts = 0;
    loop {
        if terminate {
            psql::execute(tools, &maintenance, &[&format!("SELECT pg_terminate_backend(pid) {sessions}")])?;
        }
        match psql::execute(tools, &maintenance, &[&rename]) {
            Ok(()) => return Ok(()),
            Err(err) if err.to_string().contains("being accessed by other users") => {
                attempts += 1;
                if terminate && attempts < 20 {
                    std::thread::sleep(std::time::Duration::from_millis(250));
                    continue;
                }
                let who = psql::query(
                    tools,
                    &maintenance,
                    &[&format!("SELECT format('pid %s (user %s, %s%s)', pid, usename, coalesce(nullif(application_name, ''), 'no application name'), coalesce(' from ' || client_addr, '')) {sessions}")],
                )
                .unwrap_or_default();
                let list: Vec<String> = who.into_iter().map(|r| r.join(" ")).collect();
                return Err(SourceError::new(
                    SourceErrorKind::Busy,
                    format!(
                        "the restored copy is ready as `{staging}`, but `{live}` cannot be swapped while sessions use it: {}",
                        if list.is_empty() { "sessions were connected".to_string() } else { list.join("; ") }
                    ),
                    "close those sessions and restore again, or pass --terminate-connections; the live database was not changed",
                ));
            }
            Err(err) => return Err(err),
        }
    }
}

/// Replaces the rows of the tables of `set` in the existing database `target` with the
/// backup's, changing nothing else. With `into`, the rows of its one table go into a new table
/// of that name beside it (same definition) and the original is not touched.
///
/// 1. The rows are loaded into a new table beside each live one (`<table>_lifeboat_new`, or
///    the `into` name), committed on their own: the live tables are untouched so far.
/// 2. Those tables are read back and hashed as the backup hashed them; each must match the
///    manifest's row count and content hash, or they are dropped and nothing else happens.
/// 3. One transaction, with `session_replication_role = replica` so that neither the tables'
///    triggers nor other tables' foreign-key actions fire (no cascade, no SET NULL; a parent
///    referenced by an ordinary foreign key can be emptied and refilled): the live rows are
///    replaced by the checked ones, every reference from and to the tables is checked by a
///    query of our own (a row left pointing nowhere rolls everything back and is named), and
///    the new tables are dropped. A partitioned table's partitions (or an inheritance parent
///    and its children) are all replaced in this one transaction.
pub fn restore_table(
    tools: &Tools,
    target: &Conn,
    set: &TableSet,
    read: ReadStream<'_>,
    into: Option<&str>,
    keep: KeepReplaced,
) -> Result<u64> {
    if into.is_some() && set.members.len() != 1 {
        return Err(SourceError::new(
            SourceErrorKind::Usage,
            format!("`{}` is restored as {} tables, and --as makes one", set.name, set.members.len()),
            "name one of its partitions with --table and --as, or restore the whole database into a new one",
        ));
    }
    let mut staged = Vec::new();
    for table in &set.members {
        staged.push(StagedTable::plan(tools, target, table, into)?);
    }
    let discard = || {
        for table in &staged {
            let _ = psql::execute(tools, target, &[&format!("DROP TABLE IF EXISTS {}", table.staged)]);
        }
    };

    // 1. Load beside the live tables.
    run_fed(script(tools, target), target, &set.name, |stdin| {
        writeln!(stdin, "BEGIN;\n{}", psql::SESSION_SETTINGS)?;
        let mut bytes = 0;
        for table in &staged {
            writeln!(stdin, "CREATE TABLE {} (LIKE {} INCLUDING ALL);", table.staged, table.original)?;
            let columns = column_list(&table.info.columns);
            for stream in &table.info.streams {
                writeln!(stdin, "COPY {}{columns} FROM stdin;", table.staged)?;
                bytes += read(stream, stdin)?;
                writeln!(stdin, "\\.")?;
            }
        }
        writeln!(stdin, "COMMIT;")?;
        Ok(bytes)
    })
    .inspect_err(|_| discard())?;

    // 2. The loaded rows are the backup's rows.
    for table in &staged {
        table.check(tools, target).inspect_err(|_| discard())?;
    }
    if into.is_some() {
        return Ok(set.rows);
    }

    // 3. Swap the rows in, in one transaction that changes these tables and nothing else. It
    //    first locks them against writers (readers go on, the safety backup among them), and
    //    the rows it replaces are kept while that lock is held: no commit falls between.
    let session = format!("lifeboat-restore-{}-{}", std::process::id(), jiff::Timestamp::now().as_nanosecond());
    let originals: Vec<&str> = staged.iter().map(|t| t.original.as_str()).collect();
    let mut kept: Option<SourceError> = None;
    let result = run_fed(script(tools, target), target, &set.name, |stdin| {
        writeln!(stdin, "SET application_name = {};", literal(&session))?;
        writeln!(stdin, "BEGIN;\nLOCK TABLE {} IN EXCLUSIVE MODE;", originals.join(", "))?;
        stdin.flush()?;
        if let Err(err) = wait_for_lock(tools, target, &session, &originals).and_then(|()| keep()) {
            kept = Some(err);
            return Err(io::Error::other("the rows to be replaced could not be kept"));
        }
        writeln!(stdin, "{}\nSET LOCAL session_replication_role = replica;", psql::SESSION_SETTINGS)?;
        for table in &staged {
            let (original, staged) = (&table.original, &table.staged);
            writeln!(stdin, "DELETE FROM ONLY {original};")?;
            let list = psql::copy_columns(&table.info.columns).join(", ");
            if list.is_empty() {
                writeln!(stdin, "INSERT INTO {original} SELECT FROM {staged};")?;
            } else {
                writeln!(stdin, "INSERT INTO {original} ({list}) OVERRIDING SYSTEM VALUE SELECT {list} FROM {staged};")?;
            }
        }
        for table in &staged {
            writeln!(stdin, "{}", reference_check(&table.original))?;
            writeln!(stdin, "DROP TABLE {};", table.staged)?;
        }
        writeln!(stdin, "COMMIT;")?;
        Ok(0)
    });
    if let Some(err) = kept {
        discard();
        return Err(err);
    }
    match result {
        Ok(_) => Ok(set.rows),
        Err(err) => {
            discard();
            if err.to_string().contains("session_replication_role") {
                return Err(SourceError::new(
                    SourceErrorKind::PermissionDenied,
                    format!(
                        "restoring table {} needs a role that may set session_replication_role (so that no trigger or cascade fires)",
                        set.name
                    ),
                    "restore the table as a superuser, or beside the live one with --as NEW_NAME; nothing was changed",
                )
                .with_source(err));
            }
            Err(err)
        }
    }
}

/// One table of a one-table restore: the live table and the new one its rows load into.
struct StagedTable<'a> {
    info: &'a TableInfo,
    /// `"schema"."table"` of the live table.
    original: String,
    /// `"schema"."<table>_lifeboat_new"`, or the `--as` name.
    staged: String,
    /// The live table's catalog entry under the staged name, to read it back with.
    as_staged: TableInfo,
}

impl<'a> StagedTable<'a> {
    /// Checks that the live table exists and that the staged name is free (a leftover of a
    /// restore killed half-way is ours by its name and is dropped; the user's `--as` is not).
    fn plan(tools: &Tools, target: &Conn, info: &'a TableInfo, into: Option<&str>) -> Result<Self> {
        let original = table_name(info);
        let exists = psql::query(tools, target, &[&format!("SELECT to_regclass({}) IS NOT NULL", literal(&original))])?;
        if exists.first().map(|r| r[0].as_str()) != Some("t") {
            return Err(SourceError::new(
                SourceErrorKind::TableNotFound,
                format!("table {} does not exist in {}", info.name, target.label()),
                "restore the whole database, or create the table first",
            ));
        }
        let schema = info.schema.as_deref().unwrap_or("public");
        let bare = info.name.strip_prefix(&format!("{schema}.")).unwrap_or(&info.name);
        let staged_name = match into {
            Some(name) => name.to_string(),
            None => {
                let mut name = format!("{bare}_lifeboat_new");
                while name.len() > 63 {
                    name.remove(0);
                }
                name
            }
        };
        let staged = qualified(schema, &staged_name);
        let taken = psql::query(tools, target, &[&format!("SELECT to_regclass({}) IS NOT NULL", literal(&staged))])?;
        if taken.first().map(|r| r[0].as_str()) == Some("t") {
            if into.is_some() {
                return Err(SourceError::new(
                    SourceErrorKind::Incompatible,
                    format!("table {schema}.{staged_name} already exists"),
                    "choose another name with --as",
                ));
            }
            psql::execute(tools, target, &[&format!("DROP TABLE {staged}")])?;
        }
        let as_staged = TableInfo { name: format!("{schema}.{staged_name}"), schema: Some(schema.to_string()), ..info.clone() };
        Ok(Self { info, original, staged, as_staged })
    }

    /// The staged rows hash as the backup's did.
    fn check(&self, tools: &Tools, target: &Conn) -> Result<()> {
        let hash = hash_table(tools, target, &self.as_staged)?;
        let table = self.info;
        if hash.rows != table.rows || (!table.content_hash.is_empty() && hash.finish() != table.content_hash) {
            return Err(SourceError::new(
                SourceErrorKind::Corrupt,
                format!(
                    "the restored rows of {} do not match the backup ({} rows loaded, {} recorded, or their content hash differs)",
                    table.name, hash.rows, table.rows
                ),
                "nothing was changed; run `lifeboat verify` on this snapshot, or restore an older one",
            ));
        }
        Ok(())
    }
}

/// Waits until the session named `session` holds its locks on `tables` (another session asks
/// the server: psql says nothing until a statement ends). A writer already in a transaction on
/// a table makes it wait; one that is still there after [`LOCK_PATIENCE`] fails the restore
/// with nothing changed.
fn wait_for_lock(tools: &Tools, target: &Conn, session: &str, tables: &[&str]) -> Result<()> {
    let started = std::time::Instant::now();
    let list = tables.iter().map(|t| format!("{}::regclass", literal(t))).collect::<Vec<_>>().join(", ");
    let granted = format!(
        "SELECT count(DISTINCT l.relation) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE a.application_name = {} AND l.relation IN ({list}) AND l.mode = 'ExclusiveLock' AND l.granted",
        literal(session),
    );
    let table = tables.join(", ");
    loop {
        if psql::query(tools, target, &[&granted])?.first().is_some_and(|r| r[0] == tables.len().to_string()) {
            return Ok(());
        }
        if started.elapsed() > LOCK_PATIENCE {
            return Err(SourceError::new(
                SourceErrorKind::Busy,
                format!("table {table} stayed locked by other sessions for {} s", LOCK_PATIENCE.as_secs()),
                "end the long transaction that holds it (see pg_stat_activity) and restore again; nothing was changed",
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// How long a one-table restore waits for the table's writers to let go.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// A statement that fails, naming up to five rows (as `orders (14,5,1.00)`), when a foreign key from or to `table`
/// points nowhere (MATCH SIMPLE: a reference with a NULL column is not checked).
fn reference_check(table: &str) -> String {
    format!(
        r#"DO $lifeboat$
DECLARE c record; bad text;
BEGIN
  FOR c IN
    SELECT con.conname, con.conrelid::regclass AS child, con.confrelid::regclass AS parent,
           (SELECT string_agg(format('c.%I IS NOT NULL', a.attname), ' AND ') FROM unnest(con.conkey) k(n)
              JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n) AS present,
           (SELECT string_agg(format('p.%I = c.%I', pa.attname, ca.attname), ' AND ')
              FROM unnest(con.conkey, con.confkey) k(cn, pn)
              JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.cn
              JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.pn) AS matches
    FROM pg_constraint con
    WHERE con.contype = 'f' AND (con.conrelid = {t}::regclass OR con.confrelid = {t}::regclass)
      -- A key to a partitioned table has a copy per partition: a row's target may be in another.
      AND NOT (con.conparentid <> 0 AND (SELECT relispartition FROM pg_class WHERE oid = con.confrelid))
  LOOP
    EXECUTE format('SELECT string_agg(r, ''; '') FROM (SELECT %L || '' '' || c::text AS r FROM %s c WHERE %s AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s) LIMIT 5) s',
                   c.child::text, c.child, c.present, c.parent, c.matches) INTO bad;
    IF bad IS NOT NULL THEN
      RAISE EXCEPTION 'lifeboat: the restore would break foreign key % (% -> %): rows pointing nowhere: %', c.conname, c.child, c.parent, bad;
    END IF;
  END LOOP;
END $lifeboat$;"#,
        t = literal(table)
    )
}

/// Creates the roles and tablespaces of a backup taken with `--globals` on the server of
/// `target`. Roles that already exist are left as they are (PostgreSQL reports them and goes
/// on); any other failure is an error. Returns how many statements were skipped.
pub fn apply_globals(tools: &Tools, target: &Conn, read: ReadStream<'_>) -> Result<usize> {
    let mut cmd = psql::psql(tools, &maintenance(target));
    // Unlike the other scripts, one existing role must not stop the rest.
    cmd.args(["-v", "ON_ERROR_STOP=0", "-f", "-"]);
    let Fed { mut child, stderr, .. } = spawn_with_stdin(cmd)?;
    let mut stdin = child.stdin.take().expect("piped");
    let fed = read(super::capture::GLOBALS, &mut stdin);
    drop(stdin);
    let _ = child.wait();
    fed.map_err(|e| SourceError::new(SourceErrorKind::Io, "reading globals.sql from the backup failed", "").with_source(e))?;
    let stderr = stderr.join().unwrap_or_default();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR:")).collect();
    let serious: Vec<&str> = errors.iter().copied().filter(|l| !l.contains("already exists")).collect();
    if !serious.is_empty() {
        return Err(SourceError::new(
            SourceErrorKind::Database,
            format!("restoring roles and tablespaces failed: {}", serious.join("; ")),
            "restore the globals as a superuser (or create the roles yourself), then restore again without --globals",
        ));
    }
    Ok(errors.len())
}
