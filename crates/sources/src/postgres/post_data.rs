//! Running pg_dump's post-data section with indexes built in parallel, as `pg_restore -j` does.
//!
//! After the data, most of a restore's time is index and key building, one table after
//! another if the script runs as it is. pg_dump's plain output marks every object with a
//! header (`-- Name: …; Type: INDEX; …`), so we cut the script there: indexes and constraints
//! that are not foreign keys depend only on their table's data and are built on parallel
//! sessions; everything else (foreign keys, which need those keys; partition index attaches;
//! triggers, rules, policies, materialized-view refreshes) then runs in the script's own order
//! on one session. Each piece runs after the script's preamble (its `SET`s and `\restrict`), so
//! it sees the settings pg_dump meant. A script we do not fully understand (per-object
//! tablespace or access-method settings between entries) runs whole, in order.

const HEADER: &str = "\n--\n-- Name: ";

/// The post-data script cut into what may run in parallel and what must run after, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PostData<'a> {
    pub(crate) preamble: &'a str,
    pub(crate) parallel: Vec<&'a str>,
    pub(crate) ordered: Vec<&'a str>,
}

impl<'a> PostData<'a> {
    /// `None` when the script must run whole.
    pub(crate) fn split(script: &'a str) -> Option<Self> {
        let starts: Vec<usize> = script.match_indices(HEADER).map(|(at, _)| at + 1).collect();
        let first = *starts.first()?;
        let preamble = &script[..first];
        let mut ends = starts[1..].to_vec();
        ends.push(script.len());
        let (mut parallel, mut ordered) = (Vec::new(), Vec::new());
        for (&start, &end) in starts.iter().zip(&ends) {
            let entry = &script[start..end];
            if entry.lines().any(|l| {
                l.starts_with("SET default_tablespace") || l.starts_with("SET default_table_access_method") || l.starts_with("\\connect")
            }) {
                return None;
            }
            let kind = entry.lines().nth(1).and_then(|l| l.split("; Type: ").nth(1)).and_then(|l| l.split(';').next()).unwrap_or("");
            if kind == "INDEX" || kind == "CONSTRAINT" {
                parallel.push(entry);
            } else {
                ordered.push(entry);
            }
        }
        Some(Self { preamble, parallel, ordered })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "--\n-- dump\n--\n\nSET statement_timeout = 0;\nSET default_tablespace = '';\n\
        \n--\n-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: o\n--\n\nALTER TABLE ONLY public.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);\n\n\
        \n--\n-- Name: orders_user; Type: INDEX; Schema: public; Owner: o\n--\n\nCREATE INDEX orders_user ON public.orders (user_id);\n\n\
        \n--\n-- Name: orders orders_user_fkey; Type: FK CONSTRAINT; Schema: public; Owner: o\n--\n\nALTER TABLE ONLY public.orders ADD CONSTRAINT f FOREIGN KEY (user_id) REFERENCES public.users(id);\n";

    #[test]
    fn keys_and_indexes_run_in_parallel_foreign_keys_after() {
        let split = PostData::split(SCRIPT).unwrap();
        assert!(split.preamble.contains("SET statement_timeout"));
        assert_eq!(split.parallel.len(), 2);
        assert!(split.parallel[0].contains("users_pkey") && split.parallel[1].contains("CREATE INDEX"));
        assert_eq!(split.ordered.len(), 1);
        assert!(split.ordered[0].contains("FOREIGN KEY"));
        // Nothing is lost: the pieces put back together are the script.
        let mut whole: Vec<&str> = split.parallel.iter().chain(&split.ordered).copied().collect();
        whole.sort_by_key(|piece| SCRIPT.find(piece).unwrap());
        assert_eq!(format!("{}{}", split.preamble, whole.concat()), SCRIPT);
    }

    #[test]
    fn tablespace_switches_run_whole() {
        let script = SCRIPT.replace("CREATE INDEX", "SET default_tablespace = fast;\nCREATE INDEX");
        assert_eq!(PostData::split(&script), None);
    }
}
