//! What `restore --table NAME` restores in PostgreSQL: a table with everything below it. A
//! partitioned table has no rows of its own, so naming it restores all its partitions (and
//! their sub-partitions and default partition) together; an inheritance parent comes with its
//! children, as a query of the parent sees them. A partition named alone is restored alone,
//! and the restore says that it is one.

use crate::{Catalog, TableInfo, TableSet};

/// The kind of schema object that records a partitioned table (it holds no rows itself).
pub(crate) const PARTITIONED: &str = "partitioned table";

/// The set `name` (`table` or `schema.table`) stands for, or `None` when the backup has no
/// such table.
pub(crate) fn find(catalog: &Catalog, name: &str) -> Option<TableSet> {
    let qualified = if name.contains('.') { name.to_string() } else { format!("public.{name}") };
    let is_named = |candidate: &str| candidate == qualified || candidate == name;
    let own = catalog.tables.iter().find(|t| is_named(&t.name));
    let key = match own {
        Some(table) => table.name.clone(),
        None => catalog.objects.iter().find(|o| o.kind == PARTITIONED && is_named(&o.name))?.name.clone(),
    };
    let below: Vec<&TableInfo> = catalog.tables.iter().filter(|t| t.ancestors.contains(&key)).collect();
    let listed = |tables: &[&TableInfo]| tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
    let note = match (own, below.is_empty()) {
        (None, _) => Some(format!(
            "`{key}` is a partitioned table: its {} {} ({}) were restored together, in one transaction",
            below.len(),
            if below.len() == 1 { "partition" } else { "partitions" },
            listed(&below)
        )),
        (Some(table), true) => table.partition_of.as_ref().map(|parent| {
            format!(
                "`{key}` is one partition of `{parent}` ({}): only its rows were restored; name `{parent}` to restore every partition",
                table.partition_bound.as_deref().unwrap_or("its bounds")
            )
        }),
        (Some(_), false) => Some(format!(
            "`{key}` has {} inheriting {} ({}), restored with it in one transaction, as a query of `{key}` sees them",
            below.len(),
            if below.len() == 1 { "table" } else { "tables" },
            listed(&below)
        )),
    };
    let members: Vec<TableInfo> = own.into_iter().chain(below).cloned().collect();
    let rows = members.iter().map(|t| t.rows).sum();
    Some(TableSet { name: key, members, rows, note })
}
