//! Certificates for tests of TLS servers: a CA of the test's own and a server certificate it
//! signed (rustls, like browsers, refuses a CA certificate as a server's own, so a self-signed
//! server certificate will not do).

use std::path::Path;

use super::text;

/// Writes `ca.pem`, `server.pem` and `server.key` (mode 0600) into `dir`, the server's
/// certificate naming `san` (e.g. `IP:127.0.0.1`, `DNS:localhost`).
pub fn certificates(dir: &Path, san: &str) {
    let openssl = |args: &[&str]| {
        let out =
            std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed by scripts/setup");
        assert!(out.status.success(), "openssl {args:?}: {}", text(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=lifeboat test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=lifeboat test server", "-keyout", "server.key", "-out", "server.csr"]);
    std::fs::write(dir.join("server.ext"), format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\n")).unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    std::fs::set_permissions(dir.join("server.key"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}
