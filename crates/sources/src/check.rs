//! The result of checking a restored copy against the catalog recorded at backup time.

use serde::Serialize;

use crate::IntegrityLevel;

/// One table of a restored copy compared with the backup's catalog.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct TableCheck {
    pub table: String,
    pub expected_rows: u64,
    /// `None` when the table is missing from the copy.
    pub actual_rows: Option<u64>,
    /// `None` when no hash was compared (virtual tables, or a quick check).
    pub hash_matches: Option<bool>,
}

impl TableCheck {
    pub fn ok(&self) -> bool {
        self.actual_rows == Some(self.expected_rows) && self.hash_matches != Some(false)
    }
}

/// Everything a restore or a restore drill checked about a copy.
#[derive(Debug, Clone, Serialize, Default, schemars::JsonSchema)]
pub struct CopyCheck {
    /// What the engine's integrity check said; empty when it found nothing wrong.
    pub integrity_problems: Vec<String>,
    /// The engine's integrity check that ran on this copy now; `None` when none ran (the
    /// backup's own check stands for it: the copy provably has the bytes it ran on).
    pub integrity_now: Option<IntegrityLevel>,
    /// The integrity check the backup recorded as passed on these very bytes; `None` when it
    /// ran none, found damage, or the engine has no such check.
    pub integrity_at_backup: Option<IntegrityLevel>,
    pub tables: Vec<TableCheck>,
}

impl CopyCheck {
    pub fn ok(&self) -> bool {
        self.integrity_problems.is_empty() && self.tables.iter().all(TableCheck::ok)
    }

    /// One line per problem, for error messages.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self.integrity_problems.iter().map(|p| format!("integrity: {p}")).collect();
        for t in self.tables.iter().filter(|t| !t.ok()) {
            match (t.actual_rows, t.hash_matches) {
                (None, _) => out.push(format!("table {} is missing", t.table)),
                (Some(n), _) if n != t.expected_rows => {
                    out.push(format!("table {} has {n} rows, the backup recorded {}", t.table, t.expected_rows))
                }
                _ => out.push(format!("table {}: content differs from the backup's content hash", t.table)),
            }
        }
        out
    }
}
