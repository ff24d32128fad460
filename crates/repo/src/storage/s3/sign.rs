//! AWS Signature Version 4, as S3 checks it: every request carries an `Authorization` header
//! made from the request itself (method, path, query, chosen headers, and the SHA-256 of the
//! body) and the secret key, so the server can tell both who sent it and that nothing in it
//! changed on the way, the body included.

use ring::{digest, hmac};

/// Who signs: the access key id, its secret and, for temporary credentials, the session token.
pub(super) struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
}

/// The SHA-256 of `bytes` in lower-case hex, as S3 wants it in `x-amz-content-sha256`.
pub(super) fn sha256_hex(parts: &[impl AsRef<[u8]>]) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(part.as_ref());
    }
    hex::encode(context.finish())
}

/// Percent-encoding as SigV4 wants it: everything but `A-Z a-z 0-9 - _ . ~` (and `/` in paths).
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

impl Signer<'_> {
    /// The `Authorization` header of a request.
    ///
    /// `path` is the encoded path (`/bucket/key`), `query` the decoded parameters, `headers`
    /// the headers to sign with lower-case names (`host`, `x-amz-date` and
    /// `x-amz-content-sha256` among them), `amz_date` the `x-amz-date` value
    /// (`20130524T000000Z`) and `payload` the body's SHA-256 in hex.
    pub(super) fn authorization(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        amz_date: &str,
        payload: &str,
    ) -> String {
        let mut query: Vec<(String, String)> = query.iter().map(|(k, v)| (uri_encode(k, false), uri_encode(v, false))).collect();
        query.sort();
        let query = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        let mut headers: Vec<(&str, &str)> = headers.to_vec();
        headers.sort();
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
        let signed_headers = headers.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(";");
        let canonical_request = format!("{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload}");

        let date = &amz_date[..8];
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", sha256_hex(&[canonical_request]));
        let mut key = hmac_sha256(format!("AWS4{}", self.secret).as_bytes(), date.as_bytes());
        for part in [self.region, "s3", "aws4_request"] {
            key = hmac_sha256(&key, part.as_bytes());
        }
        let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
        format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}", self.access_key_id)
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "GET Object" example of Amazon's SigV4 documentation for S3, with its published
    /// signature: if this passes, real servers accept what we sign.
    #[test]
    fn signs_the_published_example_as_amazon_does() {
        let signer =
            Signer { access_key_id: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1" };
        let empty = sha256_hex(&[b""]);
        assert_eq!(empty, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let headers = [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", empty.as_str()),
            ("x-amz-date", "20130524T000000Z"),
        ];
        let auth = signer.authorization("GET", "/test.txt", &[], &headers, "20130524T000000Z", &empty);
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn encodes_what_sigv4_encodes() {
        assert_eq!(uri_encode("a b/c~d+e", true), "a%20b/c~d%2Be");
        assert_eq!(uri_encode("data/", false), "data%2F");
    }
}
