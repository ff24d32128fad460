//! Capturing one point in time of a PostgreSQL database as streams.
//!
//! The leader exports a snapshot; everything else adopts it: `pg_dump --snapshot` for the DDL
//! before and after the data, one `psql` per table part streaming `COPY … TO STDOUT`, and the
//! queries for sequences and large objects. So every stream shows the same instant, however
//! long the backup takes and whatever the application writes meanwhile.
//!
//! Large tables are cut into parts by physical block ranges (`ctid`, a TID range scan from
//! PostgreSQL 14), so one big table is copied by several workers at once and a change in one
//! region of it only changes that part's stream.

use std::{
    collections::BTreeMap,
    io::{self, Read},
    sync::{Arc, Mutex},
};

use super::{
    Subset,
    conn::Conn,
    leader::Leader,
    psql::{self, column_list, copy_columns, literal, qualified},
    sessions::{Limited, SessionLimit},
    tools::Tools,
};
use crate::{
    Capture, Catalog, ColumnInfo, Result, SourceStream, TableInfo,
    content_hash::RowSetHash,
    frames::{self, FrameEncoder},
};

/// Blocks per table part: 128 MiB of heap with the default 8 KiB blocks.
const PART_BLOCKS: u64 = 16_384;
/// Bytes of a large object per line of its stream.
const LO_CHUNK: u64 = 1 << 20;

pub(crate) const PRE_DATA: &str = "ddl/pre-data.sql";
pub(crate) const POST_DATA: &str = "ddl/post-data.sql";
pub(crate) const SEQUENCES: &str = "ddl/sequences.sql";
pub(crate) const GLOBALS: &str = "globals.sql";
/// The database's own properties as one script for whatever database it is loaded into, for
/// restores without lifeboat (lifeboat's own restore reads them from the manifest).
pub(crate) const DATABASE: &str = "ddl/database.sql";

/// A table to copy, as listed under the snapshot.
#[derive(Debug, Clone)]
pub(crate) struct TablePlan {
    pub(crate) schema: String,
    pub(crate) name: String,
    pub(crate) columns: Vec<ColumnInfo>,
    pub(crate) blocks: u64,
    /// With its indexes and TOAST data (`pg_total_relation_size`).
    pub(crate) total_bytes: Option<u64>,
}

impl TablePlan {
    pub(crate) fn qualified(&self) -> String {
        qualified(&self.schema, &self.name)
    }
}

/// `data/<schema>.<table>/<part>.zst`; `/` and `%` in names are escaped so each table is one
/// folder. The COPY text is stored in zstd frames ([`frames`]).
pub(crate) fn part_stream(schema: &str, table: &str, part: usize) -> String {
    let escape = |s: &str| s.replace('%', "%25").replace('/', "%2F");
    format!("data/{}.{}/{part:05}{}", escape(schema), escape(table), frames::SUFFIX)
}

pub(crate) fn large_object_stream(oid: u32) -> String {
    format!("large-objects/{oid}")
}

/// What every data session needs: where to connect, the snapshot to adopt, and the limit on
/// how many run at once.
struct CopySessions {
    tools: Tools,
    conn: Conn,
    snapshot: String,
    limit: Arc<SessionLimit>,
}

impl CopySessions {
    /// Waits for a free session, then runs `copy` (a `COPY … TO STDOUT`) on the snapshot; the
    /// session counts against the limit until its output ends.
    fn open(&self, copy: &str, what: String) -> io::Result<Limited<crate::child::ChildOutput>> {
        let permit = self.limit.acquire();
        let mut cmd = psql::psql(&self.tools, &self.conn);
        for statement in in_snapshot(&self.snapshot) {
            cmd.arg("-c").arg(statement);
        }
        cmd.arg("-c").arg(copy);
        Ok(Limited::new(psql::tool_output(cmd, what, &self.conn)?, permit))
    }
}

/// The statements that make a session read the leader's snapshot.
fn in_snapshot(snapshot: &str) -> [String; 3] {
    [
        psql::SESSION_SETTINGS.to_string(),
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".to_string(),
        format!("SET TRANSACTION SNAPSHOT {}", literal(snapshot)),
    ]
}

pub(crate) fn query_in(tools: &Tools, conn: &Conn, snapshot: &str, sql: &str) -> Result<Vec<Vec<String>>> {
    let setup = in_snapshot(snapshot);
    let mut statements: Vec<&str> = setup.iter().map(String::as_str).collect();
    statements.push(sql);
    psql::query(tools, conn, &statements)
}

const TABLES: &str = r"
SELECT c.oid, n.nspname, c.relname, pg_relation_size(c.oid) / current_setting('block_size')::bigint,
       coalesce((SELECT string_agg(concat_ws(E'\x1c', a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated <> '',
                                             coalesce((SELECT k.n FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY k(att, n)
                                                       WHERE i.indrelid = c.oid AND i.indisprimary AND k.att = a.attnum), 0)),
                                   E'\x1d' ORDER BY a.attnum)
                 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), ''),
       pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2";

const SEQUENCE_NAMES: &str = r"
SELECT format('%I.%I', n.nspname, c.relname), n.nspname,
       coalesce((SELECT string_agg(d.refobjid::text, ',') FROM pg_depend d
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname !~ '^pg_(toast|temp)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1";

fn parse_columns(text: &str) -> Vec<ColumnInfo> {
    text.split('\u{1d}')
        .filter(|c| !c.is_empty())
        .map(|c| {
            let f: Vec<&str> = c.split('\u{1c}').collect();
            ColumnInfo {
                name: f[0].to_string(),
                decl_type: f.get(1).unwrap_or(&"").to_string(),
                not_null: f.get(2) == Some(&"t"),
                generated: f.get(3) == Some(&"t"),
                // PostgreSQL keeps every generated column stored.
                generated_as: (f.get(3) == Some(&"t")).then(|| "stored".to_string()),
                primary_key: f.get(4).and_then(|p| p.parse().ok()).unwrap_or(0),
                ..Default::default()
            }
        })
        .collect()
}

/// What the server says about the database before anything is pinned.
#[derive(Debug, Clone)]
pub(crate) struct ServerFacts {
    pub(crate) database: String,
    pub(crate) version: String,
    pub(crate) version_num: u32,
    /// `pg_database_size` when the facts were read.
    pub(crate) database_bytes: Option<u64>,
    pub(crate) properties: BTreeMap<String, serde_json::Value>,
    /// Which cluster this is: its system identifier (the same on a streaming replica and
    /// whatever name the server is reached by), else `host:port` as the URL names it.
    pub(crate) cluster: String,
}

pub(crate) fn server_facts(tools: &Tools, conn: &Conn) -> Result<ServerFacts> {
    let ((rows, database), cluster) = psql::at_once(
        || {
            psql::at_once(
                || {
                    psql::query(
                        tools,
                        conn,
                        &[r"SELECT current_database(), current_setting('server_version'), current_setting('server_version_num'),
                                  pg_database_size(current_database()), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
                                  coalesce((SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension), '')
                           FROM pg_database d WHERE d.datname = current_database()"],
                    )
                },
                || psql::query(tools, conn, &[super::database::QUERY]),
            )
        },
        // pg_control_system() may be closed to ordinary roles; then the address has to do.
        || psql::query(tools, conn, &["SELECT system_identifier FROM pg_control_system()"]),
    );
    let (rows, database) = (rows?, database?);
    let row = rows.into_iter().next().unwrap_or_default();
    let field = |i: usize| row.get(i).cloned().unwrap_or_default();
    let mut properties = BTreeMap::new();
    properties.insert("encoding".into(), serde_json::Value::from(field(4)));
    properties.insert("lc_collate".into(), serde_json::Value::from(field(5)));
    properties.insert("lc_ctype".into(), serde_json::Value::from(field(6)));
    let extensions: Vec<&str> = row.get(7).map(|e| e.split(", ").filter(|e| !e.is_empty()).collect()).unwrap_or_default();
    properties.insert("extensions".into(), serde_json::Value::from(extensions));
    if let Some(json) = database.first().and_then(|r| r.first()) {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
            crate::SourceError::new(
                crate::SourceErrorKind::Database,
                "the server described the database in a form lifeboat cannot read",
                "this is a bug in lifeboat",
            )
            .with_source(e)
        })?;
        properties.insert(super::database::PROPERTY.into(), value);
    }
    let cluster = cluster
        .ok()
        .and_then(|rows| rows.into_iter().next()?.into_iter().next())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| conn.address());
    Ok(ServerFacts {
        database: field(0),
        version: field(1),
        version_num: field(2).parse().unwrap_or(0),
        database_bytes: field(3).parse().ok(),
        properties,
        cluster,
    })
}

/// Row counts and hashes of every part stream, filled in as the streams are read.
type Tallies = Arc<Mutex<BTreeMap<String, RowSetHash>>>;

pub(crate) fn capture(tools: &Tools, conn: &Conn, facts: ServerFacts, subset: &Subset, jobs: usize) -> Result<Capture> {
    let mut leader = Leader::begin(tools, conn)?;
    let snapshot = leader.snapshot.clone();
    let copies =
        Arc::new(CopySessions { tools: tools.clone(), conn: conn.clone(), snapshot: snapshot.clone(), limit: SessionLimit::new(jobs) });
    let listed: Vec<(String, TablePlan)> = query_in(tools, conn, &snapshot, TABLES)?
        .into_iter()
        .map(|r| {
            (
                r[0].clone(),
                TablePlan {
                    schema: r[1].clone(),
                    name: r[2].clone(),
                    blocks: r[3].parse().unwrap_or(0),
                    columns: parse_columns(&r[4]),
                    total_bytes: r.get(5).and_then(|b| b.parse().ok()),
                },
            )
        })
        .filter(|(_, t)| subset.keeps(&t.schema, &t.name))
        .collect();
    if listed.is_empty() && subset.is_partial() {
        return Err(crate::SourceError::new(
            crate::SourceErrorKind::TableNotFound,
            "no table matches --schema / --tables / --exclude-table",
            "name tables as `name` or `schema.name`; `\\dt *.*` in psql lists them",
        ));
    }
    let kept_oids: Vec<String> = listed.iter().map(|(oid, _)| oid.clone()).collect();
    let tables: Vec<TablePlan> = listed.into_iter().map(|(_, t)| t).collect();
    leader.lock(&tables.iter().map(TablePlan::qualified).collect::<Vec<_>>())?;
    let ((sequences, large_objects), structure) = psql::at_once(
        || {
            psql::at_once(
                || sequence_script(tools, conn, &snapshot, subset, &kept_oids),
                || -> Result<Vec<u32>> {
                    if subset.is_partial() {
                        return Ok(Vec::new());
                    }
                    let rows = query_in(tools, conn, &snapshot, "SELECT oid FROM pg_largeobject_metadata ORDER BY oid")?;
                    Ok(rows.into_iter().filter_map(|r| r[0].parse().ok()).collect())
                },
            )
        },
        || super::structure::read(tools, conn, &snapshot, &kept_oids),
    );
    let (sequences, large_objects, (mut structure, objects)) = (sequences?, large_objects?, structure?);
    let structures: Vec<super::structure::TableStructure> = kept_oids.iter().map(|oid| structure.remove(oid).unwrap_or_default()).collect();
    let dump_filters = pg_dump_filters(subset, &tables);

    let mut facts = facts;
    facts.properties.insert("large_objects".into(), serde_json::Value::from(&large_objects[..]));
    if subset.is_partial() {
        // pg_dump leaves the schemas out of a table subset; a restore creates them.
        facts.properties.insert("partial".into(), serde_json::Value::Bool(true));
    }
    let tallies: Tallies = Arc::default();
    let mut streams = Vec::new();
    let mut table_streams = Vec::new();
    for table in &tables {
        let names: Vec<String> = part_queries(table, facts.version_num)
            .into_iter()
            .enumerate()
            .map(|(part, copy)| {
                let name = part_stream(&table.schema, &table.name, part);
                let (copies, tallies, stream) = (copies.clone(), tallies.clone(), name.clone());
                streams.push(SourceStream {
                    name: name.clone(),
                    open: Box::new(move || {
                        let output = copies.open(&copy, format!("copying {stream}"))?;
                        Ok(Box::new(RowFrames::new(output, stream, tallies)?) as Box<dyn Read + Send>)
                    }),
                });
                name
            })
            .collect();
        table_streams.push(names);
    }
    for (name, section) in [(PRE_DATA, "pre-data"), (POST_DATA, "post-data")] {
        let (tools, conn, snapshot, dump_filters) = (tools.clone(), conn.clone(), snapshot.clone(), dump_filters.clone());
        streams.push(SourceStream {
            name: name.to_string(),
            open: Box::new(move || {
                let mut cmd = conn.command(&tools.path("pg_dump"));
                cmd.arg(format!("--snapshot={snapshot}")).arg(format!("--section={section}")).arg("--no-password").args(&dump_filters);
                Ok(Box::new(psql::tool_output(cmd, format!("pg_dump --section={section}"), &conn)?) as Box<dyn Read + Send>)
            }),
        });
    }
    if subset.globals {
        let (tools, conn) = (tools.clone(), conn.clone());
        streams.push(SourceStream {
            name: GLOBALS.to_string(),
            open: Box::new(move || {
                let mut cmd = conn.command(&tools.path("pg_dumpall"));
                cmd.args(["--globals-only", "--no-role-passwords", "--no-password"]);
                Ok(Box::new(psql::tool_output(cmd, "pg_dumpall --globals-only", &conn)?) as Box<dyn Read + Send>)
            }),
        });
    }
    if let Some(props) = super::database::DatabaseProperties::from_properties(&facts.properties) {
        let script = props.export_block();
        streams.push(SourceStream {
            name: DATABASE.to_string(),
            open: Box::new(move || Ok(Box::new(io::Cursor::new(script.into_bytes())) as _)),
        });
    }
    streams.push(SourceStream {
        name: SEQUENCES.to_string(),
        open: Box::new(move || Ok(Box::new(io::Cursor::new(sequences.into_bytes())) as _)),
    });
    for oid in large_objects {
        let copies = copies.clone();
        streams.push(SourceStream {
            name: large_object_stream(oid),
            open: Box::new(move || {
                let copy = format!(
                    "COPY (WITH RECURSIVE c(off, data) AS (SELECT 0::bigint, lo_get({oid}, 0, {LO_CHUNK}) \
                     UNION ALL SELECT off + {LO_CHUNK}, lo_get({oid}, off + {LO_CHUNK}, {LO_CHUNK}) FROM c WHERE length(data) = {LO_CHUNK}) \
                     SELECT encode(data, 'hex') FROM c WHERE length(data) > 0) TO STDOUT"
                );
                Ok(Box::new(copies.open(&copy, format!("reading large object {oid}"))?) as Box<dyn Read + Send>)
            }),
        });
    }

    let catalog = Box::new(move || {
        // Held until every stream has been read: sessions adopt the snapshot only while the
        // leader's transaction is open.
        drop(leader);
        let tallies = tallies.lock().expect("tally lock");
        let tables = tables
            .into_iter()
            .zip(table_streams)
            .zip(structures)
            .map(|((table, streams), structure)| {
                let mut hash = RowSetHash::default();
                for stream in &streams {
                    hash.merge(tallies.get(stream).copied().unwrap_or_default());
                }
                TableInfo {
                    name: format!("{}.{}", table.schema, table.name),
                    rows: hash.rows,
                    bytes: table.total_bytes,
                    columns: table.columns,
                    content_hash: hash.finish(),
                    schema: Some(table.schema),
                    streams,
                    sql: structure.sql,
                    foreign_keys: structure.foreign_keys,
                    partition_of: structure.partition_of,
                    partition_bound: structure.partition_bound,
                    inherits: structure.inherits,
                    ancestors: structure.ancestors,
                    module: None,
                    shadow_of: None,
                }
            })
            .collect();
        Ok(Catalog {
            engine: "postgres".into(),
            server_version: facts.version,
            database_bytes: facts.database_bytes,
            properties: facts.properties,
            tables,
            objects,
        })
    });
    Ok(Capture::new(streams, catalog))
}

/// One `COPY … TO STDOUT` per part of the table.
fn part_queries(table: &TablePlan, server_version_num: u32) -> Vec<String> {
    let qualified = table.qualified();
    let parts = if server_version_num >= 140_000 { table.blocks.div_ceil(PART_BLOCKS).max(1) } else { 1 };
    if parts == 1 {
        return vec![format!("COPY {qualified}{} TO STDOUT", column_list(&table.columns))];
    }
    let columns = copy_columns(&table.columns);
    (0..parts)
        .map(|part| {
            let from = part * PART_BLOCKS;
            // The last part is open-ended: the table may have grown since its size was read.
            let range = if part + 1 == parts {
                format!("ctid >= '({from},0)'::tid")
            } else {
                format!("ctid >= '({from},0)'::tid AND ctid < '({},0)'::tid", from + PART_BLOCKS)
            };
            format!("COPY (SELECT {} FROM ONLY {qualified} WHERE {range}) TO STDOUT", columns.join(", "))
        })
        .collect()
}

/// pg_dump's own options for the same subset, naming the kept tables exactly.
fn pg_dump_filters(subset: &Subset, tables: &[TablePlan]) -> Vec<String> {
    let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut args: Vec<String> = subset.schemas.iter().map(|s| format!("--schema={}", quoted(s))).collect();
    if !subset.tables.is_empty() || !subset.exclude_tables.is_empty() {
        args.extend(tables.iter().map(|t| format!("--table={}.{}", quoted(&t.schema), quoted(&t.name))));
    }
    args
}

/// `SELECT setval(…)` for every sequence the subset keeps (all, those of kept schemas, or
/// those owned by kept tables, as pg_dump does), as of the snapshot.
fn sequence_script(tools: &Tools, conn: &Conn, snapshot: &str, subset: &Subset, kept_oids: &[String]) -> Result<String> {
    let names: Vec<String> = query_in(tools, conn, snapshot, SEQUENCE_NAMES)?
        .into_iter()
        .filter(|r| {
            let by_table = subset.tables.is_empty() && subset.exclude_tables.is_empty();
            let schema_ok = subset.schemas.is_empty() || subset.schemas.contains(&r[1]);
            let owner_kept = r[2].split(',').any(|oid| kept_oids.iter().any(|k| k == oid));
            if by_table { schema_ok } else { owner_kept }
        })
        .map(|r| r[0].clone())
        .collect();
    let mut script = String::new();
    for batch in names.chunks(200) {
        let union: Vec<String> = batch
            .iter()
            .map(|name| {
                format!(
                    "SELECT 'SELECT pg_catalog.setval(' || quote_literal({}) || ', ' || last_value || ', ' || is_called || ');' FROM {name}",
                    literal(name)
                )
            })
            .collect();
        for row in query_in(tools, conn, snapshot, &union.join(" UNION ALL "))? {
            script.push_str(&row[0]);
            script.push('\n');
        }
    }
    Ok(script)
}

/// Turns a COPY text stream into its stored form as it passes: rows counted and hashed (the
/// manifest's rows and content hash) and compressed into frames cut after rows ([`frames`]).
pub(crate) struct RowFrames<R> {
    inner: R,
    buf: Vec<u8>,
    partial_row: Vec<u8>,
    hash: RowSetHash,
    encoder: FrameEncoder,
    stream: String,
    tallies: Tallies,
    ended: bool,
}

impl<R: Read> RowFrames<R> {
    pub(crate) fn new(inner: R, stream: String, tallies: Tallies) -> io::Result<Self> {
        let encoder = FrameEncoder::new()?;
        Ok(Self {
            inner,
            buf: vec![0; 1 << 18],
            partial_row: Vec::new(),
            hash: RowSetHash::default(),
            encoder,
            stream,
            tallies,
            ended: false,
        })
    }

    /// Reads more of the COPY text; at its end, closes the last frame and files the tally.
    fn fill(&mut self) -> io::Result<()> {
        let Self { inner, buf, partial_row, hash, encoder, .. } = self;
        let n = inner.read(buf)?;
        if n > 0 {
            return for_each_row(&buf[..n], partial_row, |row| encoder.push(row, hash.add_row(&row[..row.len() - 1]) as u64));
        }
        if !partial_row.is_empty() {
            return Err(io::Error::other(format!("{} ended in the middle of a row", self.stream)));
        }
        encoder.finish()?;
        self.tallies.lock().expect("tally lock").insert(self.stream.clone(), self.hash);
        self.ended = true;
        Ok(())
    }
}

impl<R: Read> Read for RowFrames<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while !self.encoder.has_output() && !self.ended {
            self.fill()?;
        }
        Ok(self.encoder.take_output(out))
    }
}

/// Reads a whole COPY text stream and returns the hash of its rows.
pub(crate) fn hash_rows(mut reader: impl Read) -> io::Result<RowSetHash> {
    let (mut hash, mut partial_row, mut buf) = (RowSetHash::default(), Vec::new(), vec![0; 1 << 16]);
    loop {
        match reader.read(&mut buf)? {
            0 if partial_row.is_empty() => return Ok(hash),
            0 => return Err(io::Error::other("the stream ended in the middle of a row")),
            n => for_each_row(&buf[..n], &mut partial_row, |row| {
                hash.add_row(&row[..row.len() - 1]);
                Ok(())
            })?,
        }
    }
}

/// Calls `each` with every row (line end included) that `bytes` completes, carrying the
/// start of an unfinished last row in `partial_row` to the next call.
fn for_each_row(bytes: &[u8], partial_row: &mut Vec<u8>, mut each: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', bytes) {
        if partial_row.is_empty() {
            each(&bytes[start..=end])?;
        } else {
            partial_row.extend_from_slice(&bytes[start..=end]);
            each(partial_row)?;
            partial_row.clear();
        }
        start = end + 1;
    }
    partial_row.extend_from_slice(&bytes[start..]);
    Ok(())
}
