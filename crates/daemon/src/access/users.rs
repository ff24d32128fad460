//! Dashboard users: a password hashed with Argon2id (the PHC string keeps its salt and
//! parameters), and optionally a TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s, as every
//! authenticator app reads it), whose secret stays in `state.db` (mode 0600) for the server
//! to check codes against.

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{
    Access, AuditEvent, random_bytes,
    role::{Principal, Role, scope_of, scope_text},
    tokens::check_name,
};
use crate::error::{DaemonError, DaemonErrorKind, Result};

/// Shorter passwords are refused: a dashboard that can restore deserves at least this.
pub const MIN_PASSWORD: usize = 12;

/// A user as `user list` shows it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    pub databases: Option<Vec<String>>,
    /// Whether a second factor is enrolled.
    pub totp: bool,
    pub created_at: Timestamp,
}

/// A TOTP secret just enrolled: shown once, for the authenticator app.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Enrolment {
    /// The secret in base32, for typing into an app.
    pub secret: String,
    /// The `otpauth://` URI an app reads from a QR code.
    pub uri: String,
}

impl Access {
    /// Adds the user `name` with `password`. Audited as `user.add`.
    pub fn add_user(&self, name: &str, role: Role, databases: &[String], password: &str, actor: &AuditEvent) -> Result<()> {
        check_name(name, "user")?;
        let hash = hash_password(password)?;
        let added = self
            .log
            .conn
            .execute(
                "INSERT INTO users (name, role, databases, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO NOTHING",
                params![name, role.as_str(), scope_text(databases), hash, Timestamp::now().to_string()],
            )
            .map_err(|e| DaemonError::state("recording a user", e))?;
        if added == 0 {
            return Err(DaemonError::new(
                DaemonErrorKind::Access,
                format!("there is already a user named `{name}`"),
                "choose another name, or change that user's password with `lifeboat user passwd`",
            ));
        }
        self.audit(&AuditEvent {
            action: "user.add".into(),
            target: Some(name.into()),
            detail: Some(role.as_str().into()),
            ..actor.clone()
        })?;
        Ok(())
    }

    /// Sets `name`'s password. Audited as `user.passwd`.
    pub fn set_password(&self, name: &str, password: &str, actor: &AuditEvent) -> Result<()> {
        let hash = hash_password(password)?;
        self.change_user(name, "UPDATE users SET password_hash = ?2 WHERE name = ?1", &hash)?;
        self.audit(&AuditEvent { action: "user.passwd".into(), target: Some(name.into()), ..actor.clone() })?;
        Ok(())
    }

    /// Removes `name`. Audited as `user.remove`.
    pub fn remove_user(&self, name: &str, actor: &AuditEvent) -> Result<()> {
        self.change_user(name, "DELETE FROM users WHERE name = ?1 AND ?2 = ?2", "")?;
        self.audit(&AuditEvent { action: "user.remove".into(), target: Some(name.into()), ..actor.clone() })?;
        Ok(())
    }

    /// Enrols a new TOTP secret for `name` (replacing any earlier one). Audited as
    /// `user.totp`.
    pub fn enrol_totp(&self, name: &str, actor: &AuditEvent) -> Result<Enrolment> {
        let secret = totp_rs::Secret::from(&random_bytes::<20>()?[..]).to_base32();
        self.change_user(name, "UPDATE users SET totp_secret = ?2 WHERE name = ?1", &secret)?;
        self.audit(&AuditEvent { action: "user.totp".into(), target: Some(name.into()), ..actor.clone() })?;
        let label = super::percent_encode(&format!("lifeboat:{name}"));
        let uri = format!("otpauth://totp/{label}?secret={secret}&issuer=lifeboat&algorithm=SHA1&digits=6&period=30");
        Ok(Enrolment { secret, uri })
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserInfo>> {
        let failed = |e| DaemonError::state("reading the users", e);
        let mut stmt = self
            .log
            .conn
            .prepare("SELECT name, role, databases, totp_secret IS NOT NULL, created_at FROM users ORDER BY name")
            .map_err(failed)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(UserInfo {
                    name: r.get(0)?,
                    role: Role::parse(&r.get::<_, String>(1)?).unwrap_or(Role::Viewer),
                    databases: scope_of(&r.get::<_, String>(2)?),
                    totp: r.get(3)?,
                    created_at: r.get::<_, String>(4)?.parse().unwrap_or_default(),
                })
            })
            .map_err(failed)?;
        rows.collect::<rusqlite::Result<_>>().map_err(failed)
    }

    /// Who `name` is, when `password` is theirs and, with a second factor enrolled, `code`
    /// is its current code (one step of clock skew either way). Wrong name, password or code
    /// give the same answer, so a guesser learns nothing of which was wrong.
    pub fn check_login(&self, name: &str, password: &str, code: Option<&str>) -> Result<Principal> {
        let denied = || DaemonError::new(DaemonErrorKind::Denied, "wrong user, password or code", "check them and try again");
        let row = self
            .log
            .conn
            .query_row("SELECT role, databases, password_hash, totp_secret, totp_last_step FROM users WHERE name = ?1", [name], |r| {
                Ok(Stored { role: r.get(0)?, databases: r.get(1)?, hash: r.get(2)?, totp: r.get(3)?, last_step: r.get(4)? })
            })
            .optional()
            .map_err(|e| DaemonError::state("reading the users", e))?;
        let Some(Stored { role, databases, hash, totp, last_step }) = row else {
            // The same work as for a real user, so that timing does not tell who exists.
            let _ = hash_password(password);
            return Err(denied());
        };
        let parsed = PasswordHash::new(&hash).map_err(|_| denied())?;
        Argon2::default().verify_password(password.as_bytes(), &parsed).map_err(|_| denied())?;
        if let Some(secret) = totp {
            // A code is good once (RFC 6238, 5.2): one seen over the shoulder or in a log
            // cannot be replayed within its 30 seconds.
            let step = code.and_then(|code| totp_step(&secret, code)).filter(|step| last_step.is_none_or(|last| *step as i64 > last));
            let Some(step) = step else { return Err(denied()) };
            self.log
                .conn
                .execute("UPDATE users SET totp_last_step = ?2 WHERE name = ?1", params![name, step as i64])
                .map_err(|e| DaemonError::state("recording a second factor's use", e))?;
        }
        Ok(Principal { name: name.into(), kind: "user", role: Role::parse(&role)?, databases: scope_of(&databases) })
    }

    /// Runs `sql` with `name` and `value` on an existing user; an error when there is none.
    fn change_user(&self, name: &str, sql: &str, value: &str) -> Result<()> {
        let changed = self.log.conn.execute(sql, params![name, value]).map_err(|e| DaemonError::state("changing a user", e))?;
        if changed == 0 {
            return Err(DaemonError::new(
                DaemonErrorKind::Access,
                format!("there is no user named `{name}`"),
                "`lifeboat user list` shows the users there are",
            ));
        }
        Ok(())
    }
}

/// What a login is checked against.
struct Stored {
    role: String,
    databases: String,
    /// The PHC string.
    hash: String,
    /// The TOTP secret in base32, once enrolled.
    totp: Option<String>,
    /// The time step of the last code accepted.
    last_step: Option<i64>,
}

fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(DaemonError::new(
            DaemonErrorKind::Access,
            format!("the password is shorter than {MIN_PASSWORD} characters"),
            "choose a longer one (a few words make a good one); nothing was changed",
        ));
    }
    let salt = random_bytes::<16>()?;
    Argon2::default().hash_password_with_salt(password.as_bytes(), &salt).map(|hash| hash.to_string()).map_err(|e| {
        DaemonError::new(DaemonErrorKind::Access, format!("cannot hash the password: {e}"), "this should not happen; report it")
    })
}

/// The time step whose TOTP code of `secret` (base32) `code` is: now's, or one before or after.
fn totp_step(secret: &str, code: &str) -> Option<u64> {
    let secret = totp_rs::Secret::try_from_base32(secret).ok()?;
    totp_rs::Builder::new().with_secret(secret).build().ok()?.check_current(code.trim())
}
