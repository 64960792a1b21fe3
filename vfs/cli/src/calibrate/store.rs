//! One S3-compatible store as calibration talks to it: path-style URLs and
//! the XML of listings and batch deletes from rusty-s3, SigV4 in the
//! `Authorization` header (as the SDKs send it), one request at a time on
//! one kept-alive connection, answers checked, S3 errors turned into one
//! line that says what to fix.

use super::credentials::Found;
use super::http::{Connection, Request, Response, Server};
use super::sigv4::{self, Signer};
use anyhow::{bail, Context, Result};
use rusty_s3::actions::{
    CreateBucket, DeleteObjects, ListObjectsV2, ListObjectsV2Response, ObjectIdentifier,
};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use url::Url;

pub struct Store {
    conn: Connection,
    bucket: Bucket,
    credentials: Credentials,
    signer: Signer,
}

/// An S3 error answer.
#[derive(Debug)]
pub struct S3Error {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}", self.status, self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for S3Error {}

/// The text of `<tag>` in an XML answer.
fn element(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..end].trim().to_string())
}

impl S3Error {
    fn of(response: &Response) -> S3Error {
        let xml = String::from_utf8_lossy(&response.body);
        S3Error {
            status: response.status,
            code: element(&xml, "Code").unwrap_or_else(|| "(no S3 error code)".into()),
            message: element(&xml, "Message").unwrap_or_default(),
        }
    }
}

/// Fails unless the answer is a 2xx.
pub fn ok(response: Response) -> Result<Response, S3Error> {
    if (200..300).contains(&response.status) {
        Ok(response)
    } else {
        Err(S3Error::of(&response))
    }
}

impl Store {
    pub fn new(endpoint: &str, bucket: &str, region: &str, found: &Found) -> Result<Store> {
        let endpoint: Url = endpoint
            .parse()
            .with_context(|| format!("--endpoint {endpoint:?} is not a URL (http://HOST:PORT)"))?;
        let server = Server::of(&endpoint)?;
        let bucket = Bucket::new(
            endpoint.clone(),
            UrlStyle::Path,
            bucket.to_string(),
            region.to_string(),
        )
        .with_context(|| format!("bucket {bucket:?} at {endpoint}"))?;
        let credentials = match &found.token {
            Some(t) => Credentials::new_with_token(&found.key, &found.secret, t),
            None => Credentials::new(&found.key, &found.secret),
        };
        Ok(Store {
            conn: Connection::new(server),
            bucket,
            credentials,
            signer: Signer {
                key: found.key.clone(),
                secret: found.secret.clone(),
                token: found.token.clone(),
                region: region.to_string(),
            },
        })
    }

    pub fn server(&self) -> &Server {
        self.conn.server()
    }

    /// Signs and sends a request to `url` with `params` as its query.
    fn send(
        &mut self,
        method: &str,
        mut url: Url,
        params: &[(&str, &str)],
        extra: &[(&str, String)],
        body: &[u8],
        expect_continue: bool,
    ) -> Result<Response> {
        let query = sigv4::query(params);
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut headers: Vec<(&str, String)> = self
            .signer
            .sign(method, &url, extra, body, now)
            .into_iter()
            .collect();
        headers.extend(extra.iter().cloned());
        self.conn.send(&Request {
            method,
            url: &url,
            headers: &headers,
            body,
            expect_continue,
        })
    }

    pub fn get(&mut self, key: &str) -> Result<Response> {
        let url = self.bucket.object_url(key);
        self.send("GET", url, &[], &[], &[], false)
    }

    pub fn put(&mut self, key: &str, body: &[u8], expect_continue: bool) -> Result<Response> {
        let url = self.bucket.object_url(key);
        self.send("PUT", url, &[], &[], body, expect_continue)
    }

    pub fn delete_one(&mut self, key: &str) -> Result<Response> {
        let url = self.bucket.object_url(key);
        self.send("DELETE", url, &[], &[], &[], false)
    }

    pub fn delete_many(&mut self, keys: &[String]) -> Result<Response> {
        let objects: Vec<ObjectIdentifier> = keys
            .iter()
            .map(|k| ObjectIdentifier::new(k.clone()))
            .collect();
        let mut action = DeleteObjects::new(&self.bucket, None, objects.iter());
        action.set_quiet(true);
        let (body, md5) = action.body_with_md5();
        let url = self.bucket.base_url().clone();
        self.send(
            "POST",
            url,
            &[("delete", "")],
            &[("content-md5", md5)],
            body.as_bytes(),
            false,
        )
    }

    /// One page of the keys under `prefix` (up to 1,000).
    pub fn list(
        &mut self,
        prefix: &str,
        continuation: Option<&str>,
    ) -> Result<(Response, ListObjectsV2Response)> {
        let mut params = vec![("list-type", "2"), ("prefix", prefix)];
        if let Some(token) = continuation {
            params.push(("continuation-token", token));
        }
        let url = self.bucket.base_url().clone();
        let response = ok(self.send("GET", url, &params, &[], &[], false)?)?;
        let text = std::str::from_utf8(&response.body).context("a listing not in UTF-8")?;
        let listing = ListObjectsV2::parse_response(text)
            .map_err(|e| anyhow::anyhow!("a listing that does not parse: {e}"))?;
        Ok((response, listing))
    }

    /// Every key under `prefix`.
    pub fn keys(&mut self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (_, page) = self.list(prefix, token.as_deref())?;
            keys.extend(page.contents.into_iter().map(|c| c.key));
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => return Ok(keys),
            }
        }
    }

    /// Deletes every key under `prefix`, 1,000 at a time; how many.
    pub fn delete_prefix(&mut self, prefix: &str) -> Result<usize> {
        let keys = self.keys(prefix)?;
        for chunk in keys.chunks(1000) {
            let response = ok(self.delete_many(chunk)?)?;
            let xml = String::from_utf8_lossy(&response.body);
            if let Some(code) = element(&xml, "Code") {
                bail!("deleting the scratch keys under {prefix}: {code}");
            }
        }
        Ok(keys.len())
    }

    pub fn create_bucket(&mut self) -> Result<()> {
        // The location constraint for regions other than us-east-1.
        let body = CreateBucket::new(&self.bucket, &self.credentials).body();
        let url = self.bucket.base_url().clone();
        ok(self.send("PUT", url, &[], &[], body.as_bytes(), false)?)?;
        Ok(())
    }

    pub fn delete_bucket(&mut self) -> Result<()> {
        let url = self.bucket.base_url().clone();
        ok(self.send("DELETE", url, &[], &[], &[], false)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn s3_errors_read_as_one_line() {
        let response = Response {
            status: 403,
            body: b"<?xml version=\"1.0\"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>".to_vec(),
            took: Duration::ZERO,
            continued_after: None,
        };
        let e = ok(response).err().unwrap();
        assert_eq!(
            e.to_string(),
            "HTTP 403 InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records."
        );
        let bare = Response {
            status: 404,
            body: vec![],
            took: Duration::ZERO,
            continued_after: None,
        };
        assert_eq!(
            ok(bare).err().unwrap().to_string(),
            "HTTP 404 (no S3 error code)"
        );
    }
}
