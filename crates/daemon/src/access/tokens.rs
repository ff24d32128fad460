//! API tokens: `lb_<id>_<secret>`, 256 random bits of secret, shown once. Only the secret's
//! SHA-256 is stored (a token is as strong as a random key, so no slow hash is needed); a
//! presented token is found by its id and its secret compared in constant time. A revoked
//! token's row is gone, so the next request with it (in a running daemon too) is refused.

use base64::Engine as _;
use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{
    Access, AuditEvent, random_bytes,
    role::{Principal, Role, scope_of, scope_text},
};
use crate::error::{DaemonError, DaemonErrorKind, Result};

const PREFIX: &str = "lb_";
/// Hex digits of a token's id.
const ID_LEN: usize = 12;

/// A token as `token list` shows it (never its secret).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TokenInfo {
    pub name: String,
    pub role: Role,
    /// The databases it is limited to; null: every one.
    pub databases: Option<Vec<String>>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

/// A token to make.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub name: &'a str,
    pub role: Role,
    /// Empty: every database.
    pub databases: &'a [String],
    pub expires_at: Option<Timestamp>,
}

impl Access {
    /// Makes a token and returns it: the only time it is seen. Audited as `token.add` by
    /// `actor`.
    pub fn add_token(&self, new: &NewToken, actor: &AuditEvent) -> Result<String> {
        check_name(new.name, "token")?;
        let id = hex::encode(random_bytes::<{ ID_LEN / 2 }>()?);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
        let added = self.log.conn.execute(
            "INSERT INTO api_tokens (name, id, secret_sha256, role, databases, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (name) DO NOTHING",
            params![
                new.name,
                id,
                sha256(&secret),
                new.role.as_str(),
                scope_text(new.databases),
                Timestamp::now().to_string(),
                new.expires_at.map(|t| t.to_string())
            ],
        );
        if added.map_err(|e| DaemonError::state("recording a token", e))? == 0 {
            return Err(DaemonError::new(
                DaemonErrorKind::Access,
                format!("there is already a token named `{}`", new.name),
                "choose another name, or revoke the old one first (`lifeboat token revoke NAME`)",
            ));
        }
        self.audit(&AuditEvent { action: "token.add".into(), target: Some(new.name.into()), ..actor.clone() })?;
        Ok(format!("{PREFIX}{id}_{secret}"))
    }

    /// Every token, by name.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let failed = |e| DaemonError::state("reading the tokens", e);
        let mut stmt = self
            .log
            .conn
            .prepare("SELECT name, role, databases, created_at, expires_at, last_used_at FROM api_tokens ORDER BY name")
            .map_err(failed)?;
        let rows = stmt
            .query_map([], |r| {
                let time =
                    |i: usize| -> rusqlite::Result<Option<Timestamp>> { Ok(r.get::<_, Option<String>>(i)?.and_then(|t| t.parse().ok())) };
                Ok(TokenInfo {
                    name: r.get(0)?,
                    role: Role::parse(&r.get::<_, String>(1)?).unwrap_or(Role::Viewer),
                    databases: scope_of(&r.get::<_, String>(2)?),
                    created_at: time(3)?.unwrap_or_default(),
                    expires_at: time(4)?,
                    last_used_at: time(5)?,
                })
            })
            .map_err(failed)?;
        rows.collect::<rusqlite::Result<_>>().map_err(failed)
    }

    /// Revokes the token `name` at once. Audited as `token.revoke`.
    pub fn revoke_token(&self, name: &str, actor: &AuditEvent) -> Result<()> {
        let removed = self
            .log
            .conn
            .execute("DELETE FROM api_tokens WHERE name = ?1", [name])
            .map_err(|e| DaemonError::state("revoking a token", e))?;
        if removed == 0 {
            return Err(DaemonError::new(
                DaemonErrorKind::Access,
                format!("there is no token named `{name}`"),
                "`lifeboat token list` shows the tokens there are",
            ));
        }
        self.audit(&AuditEvent { action: "token.revoke".into(), target: Some(name.into()), ..actor.clone() })?;
        Ok(())
    }

    /// Who `presented` (a whole token) is, if it is a token that exists and has not expired;
    /// records its use. The error never repeats the token.
    pub fn authenticate_token(&self, presented: &str) -> Result<Principal> {
        let denied =
            || DaemonError::new(DaemonErrorKind::Denied, "the token is not valid", "check it, or make a new one with `lifeboat token add`");
        let rest = presented.strip_prefix(PREFIX).ok_or_else(denied)?;
        let (id, secret) = (rest.get(..ID_LEN).ok_or_else(denied)?, rest.get(ID_LEN + 1..).ok_or_else(denied)?);
        if rest.as_bytes().get(ID_LEN) != Some(&b'_') {
            return Err(denied());
        }
        let row: Option<(String, String, String, String, Option<String>)> = self
            .log
            .conn
            .query_row("SELECT name, secret_sha256, role, databases, expires_at FROM api_tokens WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()
            .map_err(|e| DaemonError::state("reading the tokens", e))?;
        let Some((name, stored, role, databases, expires_at)) = row else { return Err(denied()) };
        if !constant_time_eq::constant_time_eq(sha256(secret).as_bytes(), stored.as_bytes()) {
            return Err(denied());
        }
        let now = Timestamp::now();
        if expires_at.and_then(|t| t.parse::<Timestamp>().ok()).is_some_and(|at| at <= now) {
            return Err(DaemonError::new(
                DaemonErrorKind::Denied,
                format!("the token `{name}` has expired"),
                "make a new one with `lifeboat token add`",
            ));
        }
        self.log
            .conn
            .execute("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1", params![id, now.to_string()])
            .map_err(|e| DaemonError::state("recording a token's use", e))?;
        Ok(Principal { name, kind: "token", role: Role::parse(&role)?, databases: scope_of(&databases) })
    }
}

fn sha256(text: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
}

/// A token's or user's name: what people type and what the audit log shows.
pub(super) fn check_name(name: &str, what: &str) -> Result<()> {
    let fine =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if fine {
        return Ok(());
    }
    Err(DaemonError::new(
        DaemonErrorKind::Access,
        format!("`{name}` cannot be a {what}'s name"),
        "use up to 64 letters, digits and - _ . @",
    ))
}
