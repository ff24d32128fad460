//! The little of S3's XML that lifeboat reads: a ListObjectsV2 page, an error's code, and the
//! credentials of an STS answer.
//!
//! Both are flat documents of known elements, so a search for `<Name>…</Name>` reads them
//! without an XML parser; text is unescaped for the five entities XML predefines (keys and
//! tokens may hold `&`, `<`, …).

/// Temporary credentials as STS returns them.
pub(super) struct StsCredentials {
    pub access_key_id: String,
    pub secret: String,
    pub session_token: String,
    pub expiration: String,
}

/// Reads the `<Credentials>` of an STS `AssumeRole…` response; `None` when it has none.
pub(super) fn sts_credentials(xml: &str) -> Option<StsCredentials> {
    let credentials = all(xml, "Credentials").into_iter().next()?;
    Some(StsCredentials {
        access_key_id: first(credentials, "AccessKeyId")?,
        secret: first(credentials, "SecretAccessKey")?,
        session_token: first(credentials, "SessionToken")?,
        expiration: first(credentials, "Expiration")?,
    })
}

/// One page of a bucket listing.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ListPage {
    /// (key, size) of each object on the page.
    pub objects: Vec<(String, u64)>,
    /// Where the next page starts, when there is one.
    pub next: Option<String>,
}

/// The text of every `<tag>…</tag>` in `xml`, in order.
fn all<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    found
}

fn first(xml: &str, tag: &str) -> Option<String> {
    all(xml, tag).first().map(|text| unescape(text))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// Reads a ListObjectsV2 response; `None` when it is not one.
pub(super) fn list_page(xml: &str) -> Option<ListPage> {
    if !xml.contains("<ListBucketResult") {
        return None;
    }
    let mut objects = Vec::new();
    for entry in all(xml, "Contents") {
        let key = first(entry, "Key")?;
        let size = first(entry, "Size")?.trim().parse().ok()?;
        objects.push((key, size));
    }
    let truncated = first(xml, "IsTruncated").is_some_and(|t| t.trim() == "true");
    let next = if truncated { Some(first(xml, "NextContinuationToken")?) } else { None };
    Some(ListPage { objects, next })
}

/// The `Code` and `Message` of an S3 error document, when the body is one.
pub(super) fn error_code(xml: &str) -> Option<(String, String)> {
    Some((first(xml, "Code")?, first(xml, "Message").unwrap_or_default()))
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
}
