//! `X-Twilio-Signature`: HMAC-SHA1 over the URL Twilio requested and the sorted form fields.
//!
//! `base64(HMAC-SHA1(auth_token, URL + name1 + value1 + name2 + value2 ...))`, fields sorted by
//! name (a repeated name contributes each of its values, sorted). Like Twilio's own helper
//! libraries we also accept the URL with the scheme's default port added or removed, because
//! proxies and Twilio disagree on whether `:443` is part of "the URL". JSON bodies are signed over
//! the URL alone, which then carries `bodySHA256`, the hex SHA-256 of the body.
//!
//! Comparison is constant-time (`Mac::verify_slice`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

type HmacSha1 = Hmac<Sha1>;

fn mac(token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    let mut mac = HmacSha1::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The signature Twilio would send for this request (what the simulator and tests sign with).
pub fn sign(token: &str, url: &str, params: &[(String, String)]) -> String {
    BASE64.encode(mac(token, url, params).finalize().into_bytes())
}

/// Whether `signature` is valid for a form-encoded request to `url` with these fields.
pub fn is_valid(token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(given) = BASE64.decode(signature.trim()) else {
        return false;
    };
    url_variants(url)
        .iter()
        .any(|u| mac(token, u, params).verify_slice(&given).is_ok())
}

/// Whether `signature` is valid for a JSON request: the URL (with its `bodySHA256`) is signed
/// and the hash must match the body.
pub fn is_valid_json(token: &str, url: &str, body: &[u8], signature: &str) -> bool {
    let Some(expected_hash) = url::Url::parse(url).ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "bodySHA256")
            .map(|(_, v)| v.into_owned())
    }) else {
        return false;
    };
    let actual = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    // The hash is not secret: an ordinary comparison is fine; the HMAC check is constant-time.
    actual.eq_ignore_ascii_case(&expected_hash) && is_valid(token, url, &[], signature)
}

/// The URL as given, and with the scheme's default port toggled (added if absent, removed if
/// present). String surgery, because URL libraries normalise the default port away.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host_end = authority
        .rfind(':')
        .filter(|i| !authority[*i..].contains(']'));
    let toggled = match host_end {
        Some(i) if &authority[i + 1..] == default_port => authority[..i].to_owned(),
        Some(_) => return variants,
        None => format!("{authority}:{default_port}"),
    };
    variants.push(format!("{scheme}://{toggled}{tail}"));
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn protocol_vector_one() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            sign("12345", url, &vector_params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(is_valid(
            "12345",
            url,
            &vector_params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn protocol_vector_two_with_default_port() {
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(
            sign("12345", with_port, &vector_params()),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        // Either signature is accepted for either spelling of the URL.
        let without = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(is_valid(
            "12345",
            without,
            &vector_params(),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
        assert!(is_valid(
            "12345",
            with_port,
            &vector_params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn protocol_vector_three_json_body() {
        // twilio-python's own test vector for a JSON body: the URL keeps `foo=1&bar=2&` before
        // `bodySHA256` (the signature recomputed here with HMAC-SHA1).
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let body = br#"{"property": "value", "boolean": true}"#;
        assert!(is_valid_json(
            "12345",
            url,
            body,
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ));
        assert!(!is_valid_json(
            "12345",
            url,
            b"{}",
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ));
    }

    #[test]
    fn forgeries_are_rejected() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert!(!is_valid("54321", url, &vector_params(), good));
        assert!(!is_valid(
            "12345",
            "https://mycompany.com/other",
            &vector_params(),
            good
        ));
        let mut tampered = vector_params();
        tampered[2].1 = "9".into();
        assert!(!is_valid("12345", url, &tampered, good));
        assert!(!is_valid("12345", url, &vector_params(), ""));
        assert!(!is_valid("12345", url, &vector_params(), "not base64!"));
    }

    #[test]
    fn repeated_names_contribute_every_value_sorted() {
        let a = vec![
            ("A".to_owned(), "2".to_owned()),
            ("A".to_owned(), "1".to_owned()),
        ];
        let b = vec![
            ("A".to_owned(), "1".to_owned()),
            ("A".to_owned(), "2".to_owned()),
        ];
        assert_eq!(sign("t", "https://x", &a), sign("t", "https://x", &b));
        let mut manual = HmacSha1::new_from_slice(b"t").unwrap();
        manual.update(b"https://xA1A2");
        assert_eq!(
            sign("t", "https://x", &a),
            BASE64.encode(manual.finalize().into_bytes())
        );
    }

    #[test]
    fn port_variants() {
        assert_eq!(
            url_variants("http://127.0.0.1:80/a?b"),
            ["http://127.0.0.1:80/a?b", "http://127.0.0.1/a?b"]
        );
        assert_eq!(
            url_variants("http://127.0.0.1:8080/a"),
            ["http://127.0.0.1:8080/a"]
        );
        assert_eq!(
            url_variants("https://[::1]/a"),
            ["https://[::1]/a", "https://[::1]:443/a"]
        );
    }
}
