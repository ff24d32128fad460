//! AWS Signature Version 4 for S3, by `aws-sigv4` (Amazon's own implementation): every request
//! carries an `Authorization` header made from the request itself (method, path, query, the
//! headers given, and the SHA-256 of the body) and the secret key, so the server can tell both
//! who sent it and that nothing in it changed on the way, the body included. What is ours is
//! the choice of settings S3 needs, and the test against Amazon's published example.

use std::time::SystemTime;

use aws_sigv4::{
    http_request::{PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode},
    sign::v4,
};
use ring::digest;

use super::credentials::Credentials;

/// The SHA-256 of `parts` (one body) in lower-case hex, as S3 wants it in `x-amz-content-sha256`.
pub(super) fn sha256_hex(parts: &[impl AsRef<[u8]>]) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(part.as_ref());
    }
    hex::encode(context.finish())
}

/// Percent-encoding as S3 paths and queries want it: everything but `A-Z a-z 0-9 - _ . ~`
/// (and `/` in paths).
pub(super) fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') || (keep_slash && byte == b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The headers that sign a request to `uri` (already percent-encoded, query included) carrying
/// `headers` (lower-case names) and a body whose SHA-256 is `payload`, at `time`:
/// `authorization`, `x-amz-date`, `x-amz-content-sha256`, and `x-amz-security-token` for
/// temporary credentials.
pub(super) fn signing_headers(
    credentials: &Credentials,
    region: &str,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    payload: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        &credentials.secret,
        credentials.session_token.clone(),
        None,
        "lifeboat",
    )
    .into();
    let mut settings = SigningSettings::default();
    // S3 signs the path as sent: encoded once, never normalized (`a//b` and `a/./b` are keys).
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let request = SignableRequest::new(method, uri, headers.iter().copied(), SignableBody::Precomputed(payload.to_string()))
        .map_err(|e| e.to_string())?;
    let (instructions, _) = aws_sigv4::http_request::sign(request, &params).map_err(|e| e.to_string())?.into_parts();
    Ok(instructions.headers().map(|(name, value)| (name.to_string(), value.to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(access_key_id: &str, secret: &str, session_token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: access_key_id.into(),
            secret: secret.into(),
            session_token: session_token.map(str::to_string),
            expires: None,
            source: "the test".into(),
        }
    }

    /// The "GET Object" example of Amazon's SigV4 documentation for S3, with its published
    /// signature: if this passes, the settings are the ones S3 checks.
    #[test]
    fn signs_the_published_example_as_amazon_does() {
        let credentials = keys("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None);
        let empty = sha256_hex(&[b""]);
        assert_eq!(empty, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
        let uri = "https://examplebucket.s3.amazonaws.com/test.txt";
        let signed = signing_headers(&credentials, "us-east-1", "GET", uri, &[("range", "bytes=0-9")], &empty, time).unwrap();
        let header = |name: &str| signed.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(
            header("authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
                 Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            )
        );
        assert_eq!((header("x-amz-date"), header("x-amz-content-sha256")), (Some("20130524T000000Z"), Some(empty.as_str())));
        assert_eq!(header("x-amz-security-token"), None);
        // Temporary credentials sign their session token too.
        let temporary = keys("ASIAEXAMPLE", "secret", Some("the-token"));
        let signed = signing_headers(&temporary, "us-east-1", "GET", uri, &[], &empty, time).unwrap();
        let names: Vec<&str> = signed.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"x-amz-security-token"), "{names:?}");
        let auth = &signed.iter().find(|(n, _)| n == "authorization").unwrap().1;
        assert!(auth.contains("x-amz-security-token"), "the token is signed: {auth}");
    }

    #[test]
    fn encodes_what_sigv4_encodes() {
        assert_eq!(uri_encode("a b/c~d+e", true), "a%20b/c~d%2Be");
        assert_eq!(uri_encode("data/", false), "data%2F");
    }
}
