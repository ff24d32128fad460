//! Who may do what, and the record of what was done: roles ([`Role`], [`Principal`]), API
//! tokens (`tokens.rs`), dashboard users with passwords and a second factor (`users.rs`), and
//! the hash-chained audit log (`audit.rs`). All of it lives in `state.db` beside the job log
//! (same file, same migrations, mode 0600), so a running daemon sees a revoked token or a
//! removed user at its next request. Every change here is audited.

mod audit;
mod role;
mod tokens;
mod users;

use std::path::Path;

pub use audit::{AuditEvent, AuditRecord, AuditVerdict};
pub use role::{Principal, Role};
pub use tokens::{NewToken, TokenInfo};
pub use users::{Enrolment, MIN_PASSWORD, UserInfo};

use crate::{
    error::{DaemonError, DaemonErrorKind, Result},
    joblog::JobLog,
};

/// Tokens, users and the audit log of one state directory.
pub struct Access {
    log: JobLog,
}

impl Access {
    /// Opens (creating) them in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(Self { log: JobLog::open(dir)? })
    }

    /// The job log of the same file, on the same connection.
    pub fn jobs(&self) -> &JobLog {
        &self.log
    }
}

impl AuditEvent {
    /// A change made with a command on this host, by the OS user `user`.
    pub fn on_host(user: &str) -> AuditEvent {
        AuditEvent { actor: user.into(), source: "cli".into(), outcome: "ok".into(), ..AuditEvent::default() }
    }
}

/// `N` bytes from the operating system's random source.
fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| DaemonError::new(DaemonErrorKind::Access, "the system's random source failed", "this should not happen; report it"))?;
    Ok(bytes)
}

/// Percent-encoding for a URI's path or query value.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> (tempfile::TempDir, Access) {
        let dir = tempfile::tempdir().unwrap();
        let access = Access::open(dir.path()).unwrap();
        (dir, access)
    }

    /// The token made is the token accepted, with its role and scope; a changed character,
    /// another token's id, an expired or a revoked token are refused the same way, and the
    /// refusal never repeats the token.
    #[test]
    fn a_token_proves_who_it_is_until_it_expires_or_is_revoked() {
        let (_dir, access) = access();
        let by = AuditEvent::on_host("root");
        let scope = ["app".to_string()];
        let token = access.add_token(&NewToken { name: "ci", role: Role::Operator, databases: &scope, expires_at: None }, &by).unwrap();
        let who = access.authenticate_token(&token).unwrap();
        assert_eq!(who, Principal { name: "ci".into(), kind: "token", role: Role::Operator, databases: Some(scope.to_vec()) });
        assert!(access.tokens().unwrap()[0].last_used_at.is_some(), "its use is recorded");

        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for wrong in [tampered.as_str(), "lb_", "", "Bearer x", &token[..token.len() - 1]] {
            let err = access.authenticate_token(wrong).unwrap_err();
            assert_eq!(err.kind, DaemonErrorKind::Denied, "{wrong}");
            assert!(wrong.len() < 8 || !err.to_string().contains(wrong), "the error does not repeat the token");
        }

        let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
        let old = access.add_token(&NewToken { name: "old", role: Role::Admin, databases: &[], expires_at: Some(past) }, &by).unwrap();
        assert!(access.authenticate_token(&old).unwrap_err().to_string().contains("has expired"));

        access.revoke_token("ci", &by).unwrap();
        assert_eq!(access.authenticate_token(&token).unwrap_err().kind, DaemonErrorKind::Denied, "revoked at once");
    }

    /// A login needs the password and, once enrolled, the current TOTP code, each code once;
    /// a wrong user, password or code get the same answer.
    #[test]
    fn a_login_needs_the_password_and_a_fresh_code_once_enrolled() {
        let (_dir, access) = access();
        let by = AuditEvent::on_host("root");
        access.add_user("alice", Role::Admin, &[], "correct horse battery staple", &by).unwrap();
        assert_eq!(access.check_login("alice", "correct horse battery staple", None).unwrap().role, Role::Admin);
        let same = |result: Result<Principal>| result.unwrap_err().to_string();
        let wrong_password = same(access.check_login("alice", "wrong horse battery staple", None));
        assert_eq!(wrong_password, same(access.check_login("nobody", "correct horse battery staple", None)));

        let enrolled = access.enrol_totp("alice", &by).unwrap();
        assert_eq!(same(access.check_login("alice", "correct horse battery staple", None)), wrong_password, "a code is needed now");
        let totp = totp_rs::Builder::new().with_secret(totp_rs::Secret::try_from_base32(&enrolled.secret).unwrap()).build().unwrap();
        let code = totp.generate_current().to_string();
        assert_eq!(same(access.check_login("alice", "correct horse battery staple", Some("000000x"))), wrong_password);
        assert!(access.check_login("alice", "correct horse battery staple", Some(&code)).is_ok());
        assert_eq!(same(access.check_login("alice", "correct horse battery staple", Some(&code))), wrong_password, "not twice");
        let kinds: Vec<String> = access.audit_rows(None).unwrap().into_iter().map(|r| r.action).collect();
        assert_eq!(kinds, ["user.add", "user.totp"]);
    }
}
