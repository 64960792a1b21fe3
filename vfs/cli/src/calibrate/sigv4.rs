//! AWS Signature Version 4 in the `Authorization` header, as the SDKs sign
//! S3 requests (rusty-s3 presigns URLs instead, which some S3-compatible
//! servers do not check: moto's IAM enforcement needs the header).
//!
//! The query string is canonical as sent (sorted, RFC 3986 encoded); the
//! path is signed as it is (already encoded, as S3 wants it signed); the
//! payload is hashed, as boto3 does over plain HTTP.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use url::Url;

/// What signs: the key, its secret, the session token, the region.
pub struct Signer {
    pub key: String,
    pub secret: String,
    pub token: Option<String>,
    pub region: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding (unreserved characters kept), as SigV4 wants.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string of `params` (sorted by name, then value).
pub fn query(params: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `YYYYMMDDTHHMMSSZ` of a UNIX time in seconds (UTC).
pub fn amz_date(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm), from 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

impl Signer {
    /// The headers to send with a request to `url` (its query already
    /// canonical): `x-amz-date`, `x-amz-content-sha256`, the token's, and
    /// `Authorization`. `extra` headers (lowercase names) are signed too.
    pub fn sign(
        &self,
        method: &str,
        url: &Url,
        extra: &[(&str, String)],
        body: &[u8],
        unix: u64,
    ) -> Vec<(&'static str, String)> {
        let date = amz_date(unix);
        let day = &date[..8];
        let payload = hex(&Sha256::digest(body));
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), host),
            ("x-amz-content-sha256".into(), payload.clone()),
            ("x-amz-date".into(), date.clone()),
        ];
        if let Some(token) = &self.token {
            headers.push(("x-amz-security-token".into(), token.clone()));
        }
        headers.extend(
            extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.trim().to_string())),
        );
        headers.sort();
        let signed = headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical = format!(
            "{method}\n{}\n{}\n{canonical_headers}\n{signed}\n{payload}",
            url.path(),
            url.query().unwrap_or("")
        );
        let scope = format!("{day}/{}/s3/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(format!("AWS4{}", self.secret).as_bytes(), day);
        for part in [self.region.as_str(), "s3", "aws4_request"] {
            key = hmac(&key, part);
        }
        let signature = hex(&hmac(&key, &to_sign));
        let mut out = vec![
            ("x-amz-date", date),
            ("x-amz-content-sha256", payload),
            (
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
                    self.key
                ),
            ),
        ];
        if let Some(token) = &self.token {
            out.push(("x-amz-security-token", token.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_time() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        // 2013-05-24 00:00:00 UTC, the AWS documentation's example time.
        assert_eq!(amz_date(1_369_353_600), "20130524T000000Z");
        assert_eq!(amz_date(951_825_599), "20000229T115959Z");
    }

    #[test]
    fn queries_are_sorted_and_rfc3986_encoded() {
        assert_eq!(
            query(&[("prefix", "a b/c"), ("list-type", "2"), ("delete", "")]),
            "delete=&list-type=2&prefix=a%20b%2Fc"
        );
    }

    /// The example "GET Object" of the AWS S3 documentation (Signature
    /// Version 4, Authorization header): its published signature.
    #[test]
    fn the_aws_documentation_example_signs_alike() {
        let signer = Signer {
            key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            token: None,
            region: "us-east-1".into(),
        };
        let url: Url = "https://examplebucket.s3.amazonaws.com/test.txt"
            .parse()
            .unwrap();
        let headers = signer.sign(
            "GET",
            &url,
            &[("range", "bytes=0-9".into())],
            b"",
            1_369_353_600,
        );
        let auth = &headers
            .iter()
            .find(|(k, _)| *k == "Authorization")
            .unwrap()
            .1;
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }
}
