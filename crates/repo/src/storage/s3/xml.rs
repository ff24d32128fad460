//! The little of S3's and STS's XML that lifeboat reads: a ListObjectsV2 page, an error's code,
//! and the credentials of an STS answer, each read by `quick-xml` into the fields it needs
//! (unknown elements are skipped, entities unescaped).

use serde::Deserialize;

/// Temporary credentials as STS returns them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct StsCredentials {
    pub access_key_id: String,
    #[serde(rename = "SecretAccessKey")]
    pub secret: String,
    pub session_token: String,
    pub expiration: String,
}

/// Reads the `<Credentials>` of an STS `AssumeRoleWithWebIdentity` response; `None` when the
/// body is not one.
pub(super) fn sts_credentials(xml: &str) -> Option<StsCredentials> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Response {
        assume_role_with_web_identity_result: Answer,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        credentials: StsCredentials,
    }
    if root(xml)? != "AssumeRoleWithWebIdentityResponse" {
        return None;
    }
    quick_xml::de::from_str::<Response>(xml).ok().map(|r| r.assume_role_with_web_identity_result.credentials)
}

/// One page of a bucket listing.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ListPage {
    /// (key, size) of each object on the page.
    pub objects: Vec<(String, u64)>,
    /// Where the next page starts, when there is one.
    pub next: Option<String>,
}

/// Reads a ListObjectsV2 response; `None` when it is not one.
pub(super) fn list_page(xml: &str) -> Option<ListPage> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct ListBucketResult {
        #[serde(default)]
        contents: Vec<Contents>,
        #[serde(default)]
        is_truncated: bool,
        next_continuation_token: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Contents {
        key: String,
        size: u64,
    }
    if root(xml)? != "ListBucketResult" {
        return None;
    }
    let page: ListBucketResult = quick_xml::de::from_str(xml).ok()?;
    let next = if page.is_truncated { Some(page.next_continuation_token?) } else { None };
    Some(ListPage { objects: page.contents.into_iter().map(|c| (c.key, c.size)).collect(), next })
}

/// The `Code` and `Message` of an error document (S3's `<Error>`, or STS's `<ErrorResponse>`
/// around one), when the body is one.
pub(super) fn error_code(xml: &str) -> Option<(String, String)> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Error {
        code: String,
        #[serde(default)]
        message: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct ErrorResponse {
        error: Error,
    }
    let error = match root(xml)?.as_str() {
        "Error" => quick_xml::de::from_str::<Error>(xml).ok()?,
        "ErrorResponse" => quick_xml::de::from_str::<ErrorResponse>(xml).ok()?.error,
        _ => return None,
    };
    Some((error.code, error.message))
}

/// The name of the document's first element.
fn root(xml: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event().ok()? {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                return Some(e.local_name().into_inner().to_string());
            }
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_listing_page_and_its_continuation() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>r/data/</Prefix><KeyCount>2</KeyCount>
<IsTruncated>true</IsTruncated><Contents><Key>r/data/3f/3f9a</Key><LastModified>2026-11-30T06:00:00.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>4096</Size></Contents>
<Contents><Key>r/a&amp;b</Key><Size>0</Size></Contents><NextContinuationToken>tok&lt;1&gt;</NextContinuationToken></ListBucketResult>"#;
        let page = list_page(xml).unwrap();
        assert_eq!(page.objects, vec![("r/data/3f/3f9a".to_string(), 4096), ("r/a&b".to_string(), 0)]);
        assert_eq!(page.next.as_deref(), Some("tok<1>"));
        let last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(list_page(last).unwrap(), ListPage::default());
        assert_eq!(list_page("<Error><Code>NoSuchBucket</Code></Error>"), None);
    }

    #[test]
    fn reads_an_error_code() {
        let xml = "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>";
        assert_eq!(error_code(xml).unwrap().0, "SignatureDoesNotMatch");
        assert_eq!(error_code("not xml"), None);
    }

    #[test]
    fn reads_sts_credentials_and_its_errors() {
        let xml = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>
<Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s&amp;1</SecretAccessKey><SessionToken>tok</SessionToken>
<Expiration>2026-12-04T20:33:49Z</Expiration></Credentials><Audience>x</Audience></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"#;
        let found = sts_credentials(xml).unwrap();
        assert_eq!((found.access_key_id.as_str(), found.secret.as_str(), found.session_token.as_str()), ("ASIA1", "s&1", "tok"));
        assert!(sts_credentials("<Error><Code>AccessDenied</Code></Error>").is_none());
        let refused =
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>expired</Message></Error></ErrorResponse>";
        assert_eq!(error_code(refused), Some(("InvalidIdentityToken".into(), "expired".into())));
    }
}
