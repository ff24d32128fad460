//! Roles and the principals that hold them: who a request is, and what it may do.

use serde::Serialize;

use crate::error::{DaemonError, DaemonErrorKind, Result};

/// What a token or a user may do; each role may do everything the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads health, snapshots, statistics, jobs and reports.
    Viewer,
    /// Also starts backups and drills.
    Operator,
    /// Also downloads and restores, and manages tokens, users and the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(DaemonError::new(
                DaemonErrorKind::Access,
                format!("`{other}` is not a role"),
                "write viewer (reads), operator (also backs up and drills) or admin (also restores, downloads and manages access)",
            )),
        }
    }
}

/// Who is asking: a token or a user, with its role and the databases it is limited to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Principal {
    pub name: String,
    /// `token` or `user`.
    pub kind: &'static str,
    pub role: Role,
    /// The databases it may see and act on; `None`: every one.
    pub databases: Option<Vec<String>>,
}

impl Principal {
    /// Whether it may do what needs `role`, on `database` (`None`: nothing database-specific).
    pub fn may(&self, role: Role, database: Option<&str>) -> bool {
        let in_scope = match (&self.databases, database) {
            (Some(scope), Some(database)) => scope.iter().any(|d| d == database),
            _ => true,
        };
        self.role >= role && in_scope
    }
}

/// A scope as stored: names joined by commas, empty for every database.
pub(super) fn scope_text(databases: &[String]) -> String {
    databases.join(",")
}

pub(super) fn scope_of(text: &str) -> Option<Vec<String>> {
    (!text.is_empty()).then(|| text.split(',').map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_may_what_the_roles_below_it_may_within_its_databases() {
        let operator = Principal { name: "ci".into(), kind: "token", role: Role::Operator, databases: Some(vec!["app".into()]) };
        assert!(operator.may(Role::Viewer, Some("app")) && operator.may(Role::Operator, Some("app")));
        assert!(!operator.may(Role::Admin, Some("app")), "not above its role");
        assert!(!operator.may(Role::Viewer, Some("shop")), "not outside its databases");
        let admin = Principal { role: Role::Admin, databases: None, ..operator };
        assert!(admin.may(Role::Admin, Some("shop")));
        assert!(Role::parse("root").unwrap_err().to_string().contains("viewer"));
    }
}
