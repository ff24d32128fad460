//! Virtual tables and what `restore --table` does with them. A virtual table keeps its data
//! in shadow tables that its module owns (FTS5's `<name>_data`, `_idx`, `_content`,
//! `_docsize`, `_config`; R*Tree's `_node`, `_rowid`, `_parent`): they are restored together,
//! never one alone, or the index no longer matches what it indexes. An FTS5 table with
//! external content (`content=other`) indexes another table, so its index is rebuilt from
//! that table as it is in the target, the way SQLite defines such a table.

use crate::{Catalog, Result, SourceError, SourceErrorKind, TableInfo, TableSet};

use super::inspect::is_virtual;

/// A virtual table as its `CREATE VIRTUAL TABLE` statement declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VirtualTable {
    pub(crate) name: String,
    /// The module, lower case: `fts5`, `rtree`, …
    pub(crate) module: String,
    /// FTS5 `content=` when it names a table (external content); `None` for FTS5's own
    /// content table and for contentless tables (`content=''`).
    pub(crate) external_content: Option<String>,
}

impl VirtualTable {
    /// `None` for an ordinary table.
    pub(crate) fn parse(name: &str, sql: &str) -> Option<Self> {
        if !is_virtual(sql) {
            return None;
        }
        let upper = sql.to_ascii_uppercase();
        let after = &sql[upper.find(" USING ")? + 7..];
        let module: String = after.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let args = after.find('(').map(|open| &after[open + 1..after.rfind(')').unwrap_or(after.len())]).unwrap_or("");
        let external_content = module.eq_ignore_ascii_case("fts5").then(|| option(args, "content")).flatten().filter(|c| !c.is_empty());
        Some(Self { name: name.to_string(), module: module.to_ascii_lowercase(), external_content })
    }

    /// The suffixes of the shadow tables its module keeps, or `None` for a module lifeboat
    /// does not know (whose storage it cannot tell apart).
    fn shadow_suffixes(&self) -> Option<&'static [&'static str]> {
        Some(match self.module.as_str() {
            "fts5" => &["data", "idx", "content", "docsize", "config"],
            "fts3" | "fts4" => &["content", "segments", "segdir", "docsize", "stat"],
            "rtree" | "rtree_i32" | "geopoly" => &["node", "rowid", "parent"],
            _ => return None,
        })
    }

    /// Its shadow tables among `catalog`'s tables.
    pub(crate) fn shadows<'c>(&self, catalog: &'c Catalog) -> Vec<&'c TableInfo> {
        let suffixes = self.shadow_suffixes().unwrap_or_default();
        catalog.tables.iter().filter(|t| suffixes.iter().any(|s| t.name == format!("{}_{s}", self.name))).collect()
    }

    /// The statement that checks its index against its content, when the module has one.
    pub(crate) fn integrity_check(&self) -> Option<String> {
        let quoted = super::inspect::quote(&self.name);
        match self.module.as_str() {
            "fts5" => Some(format!("INSERT INTO {quoted}({quoted}) VALUES ('integrity-check')")),
            "rtree" | "rtree_i32" | "geopoly" => Some(format!("SELECT rtreecheck({})", super::inspect::quote_literal(&self.name))),
            _ => None,
        }
    }
}

/// The value of `key=value` among a module's arguments (quotes removed).
fn option(args: &str, key: &str) -> Option<String> {
    args.split(',').find_map(|arg| {
        let (k, v) = arg.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| {
            let v = v.trim();
            let unquoted = v.strip_prefix(['\'', '"', '[', '`']).and_then(|v| v.strip_suffix(['\'', '"', ']', '`'])).unwrap_or(v);
            unquoted.to_string()
        })
    })
}

/// The virtual tables of `catalog`.
pub(crate) fn virtual_tables(catalog: &Catalog) -> Vec<VirtualTable> {
    catalog.tables.iter().filter_map(|t| VirtualTable::parse(&t.name, &t.sql)).collect()
}

/// What `restore --table name` restores of `catalog`: a virtual table with its shadow tables,
/// an ordinary table alone. A shadow table named alone is refused, naming its virtual table.
pub(crate) fn find(catalog: &Catalog, name: &str) -> Result<TableSet> {
    let Some(table) = catalog.table(name) else {
        // SQLite's own tables (sqlite_sequence, sqlite_stat1) and shadow tables are not the user's.
        let own = catalog.tables.iter().filter(|t| !t.name.starts_with("sqlite_") && t.shadow_of.is_none());
        return Err(crate::no_such_table(name, own.map(|t| t.name.as_str())));
    };
    let virtuals = virtual_tables(catalog);
    if let Some(owner) = virtuals.iter().find(|v| v.shadows(catalog).iter().any(|s| s.name == name)) {
        return Err(SourceError::new(
            SourceErrorKind::Usage,
            format!(
                "`{name}` is a shadow table of the {} virtual table `{}`: restored alone, its index would not match",
                owner.module, owner.name
            ),
            format!("restore --table {} (its shadow tables come with it)", owner.name),
        ));
    }
    let Some(vt) = virtuals.into_iter().find(|v| v.name == name) else {
        return Ok(TableSet::single(table));
    };
    if vt.shadow_suffixes().is_none() {
        return Err(SourceError::new(
            SourceErrorKind::Incompatible,
            format!("`{name}` is a virtual table of module {}, whose storage lifeboat cannot restore on its own", vt.module),
            "restore the whole database, or into a new file and copy what you need",
        ));
    }
    let shadows = vt.shadows(catalog);
    let note = match &vt.external_content {
        Some(content) => format!("`{name}` indexes the table `{content}`: its full-text index was rebuilt from `{content}` as it is now"),
        None => format!(
            "`{name}` is a {} virtual table: restored with its shadow tables ({})",
            vt.module,
            shadows.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    // External content: the index is derived from the content table, not copied.
    let members = std::iter::once(table).chain(shadows.into_iter().filter(|_| vt.external_content.is_none())).cloned().collect();
    Ok(TableSet { name: name.to_string(), members, rows: table.rows, note: Some(note) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_and_external_content_are_read_from_the_statement() {
        let vt = VirtualTable::parse("a", "CREATE VIRTUAL TABLE a USING fts5(title, body, content='art', content_rowid='id')").unwrap();
        assert_eq!((vt.module.as_str(), vt.external_content.as_deref()), ("fts5", Some("art")));
        let own = VirtualTable::parse("d", "create virtual table d using FTS5(x)").unwrap();
        assert_eq!((own.module.as_str(), own.external_content), ("fts5", None));
        let contentless = VirtualTable::parse("c", "CREATE VIRTUAL TABLE c USING fts5(x, content='')").unwrap();
        assert_eq!(contentless.external_content, None);
        assert_eq!(VirtualTable::parse("b", "CREATE VIRTUAL TABLE b USING rtree(id, x0, x1)").unwrap().module, "rtree");
        assert_eq!(VirtualTable::parse("t", "CREATE TABLE t(x)"), None);
    }
}
