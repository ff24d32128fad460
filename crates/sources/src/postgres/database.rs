//! What belongs to a PostgreSQL database itself rather than to anything inside it: its
//! owner, comment, connection limit, who may connect (its ACL), its `ALTER DATABASE … SET`
//! and `ALTER ROLE … IN DATABASE … SET` settings, and how it was created (encoding, locale
//! provider, collation). `pg_dump` without `--create` leaves all of it out, so a restore that
//! replays only its sections would hand PUBLIC back the CONNECT right a `REVOKE` took away.
//!
//! A backup reads these from the catalog ([`QUERY`]) into the manifest's `database`
//! property; a restore sets them on the new database before the load (who may connect and
//! who owns it: the database is never more open than the one backed up) and after it (the
//! settings, which would otherwise apply to the load's own sessions).

use serde::{Deserialize, Serialize};

use super::{
    Conn, Tools,
    psql::{self, ident, literal},
};
use crate::{Catalog, Result};

/// The manifest property that holds [`DatabaseProperties`].
pub(crate) const PROPERTY: &str = "database";

/// One JSON object describing the current database. `to_jsonb(d)` reads the locale columns
/// whatever the server version calls them (`daticulocale` up to 16, `datlocale` from 17).
pub(crate) const QUERY: &str = r"
SELECT json_build_object(
  'owner', pg_get_userbyid(d.datdba),
  'comment', shobj_description(d.oid, 'pg_database'),
  'connection_limit', d.datconnlimit,
  'acl', CASE WHEN d.datacl IS NULL THEN NULL ELSE
    (SELECT coalesce(json_agg(json_build_object('grantee', CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END,
                                                'privilege', a.privilege_type, 'grantable', a.is_grantable)), '[]')
     FROM aclexplode(d.datacl) a) END,
  'settings', (SELECT coalesce(json_agg(json_build_object('role', CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END,
                                                          'setting', u.c) ORDER BY s.setrole, u.o), '[]')
               FROM pg_db_role_setting s, unnest(s.setconfig) WITH ORDINALITY u(c, o) WHERE s.setdatabase = d.oid),
  'locale_provider', to_jsonb(d)->>'datlocprovider',
  'icu_locale', coalesce(to_jsonb(d)->>'datlocale', to_jsonb(d)->>'daticulocale'))
FROM pg_database d WHERE d.datname = current_database()";

/// A database's own properties, as the manifest records them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct DatabaseProperties {
    pub(crate) owner: String,
    pub(crate) comment: Option<String>,
    /// -1: no limit.
    pub(crate) connection_limit: i64,
    /// `None`: the default rights (PUBLIC may connect and create temporary tables).
    pub(crate) acl: Option<Vec<Grant>>,
    pub(crate) settings: Vec<Setting>,
    /// `c` (libc), `i` (ICU) or `b` (builtin); absent before PostgreSQL 15.
    pub(crate) locale_provider: Option<String>,
    pub(crate) icu_locale: Option<String>,
}

/// One privilege on the database: `grantee` `None` is PUBLIC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct Grant {
    pub(crate) grantee: Option<String>,
    pub(crate) privilege: String,
    pub(crate) grantable: bool,
}

/// `name=value`, for every session in the database (`role` `None`) or for one role's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct Setting {
    pub(crate) role: Option<String>,
    pub(crate) setting: String,
}

/// Settings whose value is a list: each element is its own literal, or `search_path` would
/// become one schema called `public, extra` (the server quotes such elements as identifiers).
const LIST_SETTINGS: [&str; 6] = [
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

impl DatabaseProperties {
    /// The properties a backup recorded; `None` for backups taken before they were.
    pub(crate) fn of(catalog: &Catalog) -> Option<Self> {
        Self::from_properties(&catalog.properties)
    }

    /// The properties among a catalog's `properties`, as the backup recorded them.
    pub(crate) fn from_properties(properties: &std::collections::BTreeMap<String, serde_json::Value>) -> Option<Self> {
        serde_json::from_value(properties.get(PROPERTY)?.clone()).ok()
    }

    /// The roles these properties name, each once.
    fn roles(&self) -> Vec<&str> {
        let mut roles: Vec<&str> = std::iter::once(self.owner.as_str())
            .chain(self.acl.iter().flatten().filter_map(|g| g.grantee.as_deref()))
            .chain(self.settings.iter().filter_map(|s| s.role.as_deref()))
            .collect();
        roles.sort_unstable();
        roles.dedup();
        roles
    }

    /// The owner, for the database `db` just created.
    fn ownership(&self, db: &str) -> String {
        format!("ALTER DATABASE {} OWNER TO {}", ident(db), ident(&self.owner))
    }

    /// Who may do what in the database `db` just created: set before anything is loaded.
    fn access(&self, db: &str) -> Vec<Statement> {
        let db = ident(db);
        let mut sql = Vec::new();
        if let Some(acl) = &self.acl {
            sql.push(Statement::any(format!("REVOKE ALL ON DATABASE {db} FROM PUBLIC")));
            sql.push(Statement::of(&self.owner, format!("REVOKE ALL ON DATABASE {db} FROM {}", ident(&self.owner))));
            for grant in acl {
                let option = if grant.grantable { " WITH GRANT OPTION" } else { "" };
                sql.push(match &grant.grantee {
                    None => Statement::any(format!("GRANT {} ON DATABASE {db} TO PUBLIC{option}", grant.privilege)),
                    Some(role) => Statement::of(role, format!("GRANT {} ON DATABASE {db} TO {}{option}", grant.privilege, ident(role))),
                });
            }
        }
        sql
    }

    /// Comment, connection limit and settings: set once the load is done.
    fn rest(&self, db: &str) -> Vec<Statement> {
        let db = ident(db);
        let mut sql = Vec::new();
        if let Some(comment) = &self.comment {
            sql.push(Statement::any(format!("COMMENT ON DATABASE {db} IS {}", literal(comment))));
        }
        if self.connection_limit != -1 {
            sql.push(Statement::any(format!("ALTER DATABASE {db} CONNECTION LIMIT {}", self.connection_limit)));
        }
        for setting in &self.settings {
            let Some((name, value)) = setting.setting.split_once('=') else { continue };
            let value = if LIST_SETTINGS.contains(&name) {
                split_list(value).iter().map(|v| literal(v)).collect::<Vec<_>>().join(", ")
            } else {
                literal(value)
            };
            sql.push(match &setting.role {
                None => Statement::any(format!("ALTER DATABASE {db} SET {} TO {value}", ident(name))),
                Some(role) => Statement::of(role, format!("ALTER ROLE {} IN DATABASE {db} SET {} TO {value}", ident(role), ident(name))),
            });
        }
        sql
    }

    /// Everything, as one `DO` block for a plain SQL export: it applies to whatever database
    /// the script is loaded into, skips roles that server lacks, and warns instead of failing
    /// where the loading role may not (give the database away, e.g.).
    pub(crate) fn export_block(&self) -> String {
        const PLACE: &str = "lifeboat\u{1}database";
        let mut statements = vec![Statement::of(&self.owner, self.ownership(PLACE))];
        statements.extend(self.access(PLACE));
        statements.extend(self.rest(PLACE));
        let mut block = String::from("DO $lifeboat$\nBEGIN\n");
        for statement in statements {
            // format() fills in the database: `%` of the statement itself is doubled.
            let template = statement.sql.replace('%', "%%").replace(&ident(PLACE), "%I");
            let run = format!("EXECUTE format({}, current_database());", literal(&template));
            let guarded = format!(
                "BEGIN {run} EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING 'lifeboat: not restored: %', {}; END;",
                literal(&template)
            );
            match &statement.role {
                None => block.push_str(&format!("  {guarded}\n")),
                Some(role) => block
                    .push_str(&format!("  IF EXISTS (SELECT FROM pg_roles WHERE rolname = {}) THEN {guarded} END IF;\n", literal(role))),
            }
        }
        block.push_str("END $lifeboat$;\n");
        block
    }
}

/// One statement on the database, and the role it names (which the server must have).
struct Statement {
    role: Option<String>,
    sql: String,
}

impl Statement {
    fn any(sql: String) -> Self {
        Self { role: None, sql }
    }

    fn of(role: &str, sql: String) -> Self {
        Self { role: Some(role.to_string()), sql }
    }
}

/// The elements of a list setting as the server stores it: `public, "$user", "a""b"`.
fn split_list(value: &str) -> Vec<String> {
    let (mut items, mut current, mut quoted, mut chars) = (Vec::new(), String::new(), false, value.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => items.push(std::mem::take(&mut current)),
            c if c.is_whitespace() && !quoted => {}
            c => current.push(c),
        }
    }
    if !current.is_empty() || !items.is_empty() {
        items.push(current);
    }
    if items.is_empty() { vec![String::new()] } else { items }
}

/// Which phase of a restore is setting properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Right after `CREATE DATABASE`: owner and who may connect.
    Created,
    /// After the load: comment, connection limit and settings.
    Loaded,
}

/// Sets the backup's database properties of `phase` on the database `target` names (on its
/// server's maintenance database). A role the server does not have is left out, never
/// replaced by a wider grant; the returned notes say what was left out.
pub(crate) fn apply(tools: &Tools, target: &Conn, maintenance: &Conn, catalog: &Catalog, phase: Phase) -> Result<Vec<String>> {
    let (Some(props), Some(db)) = (DatabaseProperties::of(catalog), target.database()) else { return Ok(Vec::new()) };
    let wanted = props.roles();
    let listed = wanted.iter().map(|r| literal(r)).collect::<Vec<_>>().join(", ");
    let existing: Vec<String> = psql::query(tools, maintenance, &[&format!("SELECT rolname FROM pg_roles WHERE rolname IN ({listed})")])?
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let present = |role: &str| existing.iter().any(|r| r == role);
    let mut notes = Vec::new();
    let statements = match phase {
        Phase::Created => {
            // A role that may create databases but not act as their owner keeps the database
            // itself: narrower than the backup's, never wider, so it is a note, not a failure.
            if present(&props.owner)
                && let Err(err) = psql::execute(tools, maintenance, &[&props.ownership(db)])
            {
                notes.push(format!("the database could not be given to its owner `{}` ({err}); the restoring role owns it", props.owner));
            }
            let missing: Vec<&str> = wanted.into_iter().filter(|r| !present(r)).collect();
            if !missing.is_empty() {
                notes.push(format!(
                    "the backup names roles this server does not have ({}): their ownership, grants and settings on the database \
                     were left out; create them (or restore a backup taken with --globals, with --globals) and restore again",
                    missing.join(", ")
                ));
            }
            props.access(db)
        }
        Phase::Loaded => props.rest(db),
    };
    let statements: Vec<&str> = statements.iter().filter(|s| s.role.as_deref().is_none_or(present)).map(|s| s.sql.as_str()).collect();
    if !statements.is_empty() {
        let refs = statements;
        psql::execute(tools, maintenance, &refs)?;
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_settings_split_into_their_elements() {
        assert_eq!(split_list(r#"public, "$user", extra"#), ["public", "$user", "extra"]);
        assert_eq!(split_list(r#""a""b", "c, d""#), [r#"a"b"#, "c, d"]);
        assert_eq!(split_list(""), [""]);
    }

    #[test]
    fn a_revoked_connect_is_revoked_again_and_missing_roles_get_nothing() {
        let props = DatabaseProperties {
            owner: "app".into(),
            acl: Some(vec![
                Grant { grantee: None, privilege: "TEMPORARY".into(), grantable: false },
                Grant { grantee: Some("app".into()), privilege: "CONNECT".into(), grantable: false },
                Grant { grantee: Some("gone".into()), privilege: "CONNECT".into(), grantable: false },
            ]),
            ..Default::default()
        };
        let sql: Vec<String> = props.access("shop").into_iter().filter(|s| s.role.as_deref() != Some("gone")).map(|s| s.sql).collect();
        assert_eq!(
            sql,
            [
                r#"REVOKE ALL ON DATABASE "shop" FROM PUBLIC"#,
                r#"REVOKE ALL ON DATABASE "shop" FROM "app""#,
                r#"GRANT TEMPORARY ON DATABASE "shop" TO PUBLIC"#,
                r#"GRANT CONNECT ON DATABASE "shop" TO "app""#,
            ]
        );
    }
}
