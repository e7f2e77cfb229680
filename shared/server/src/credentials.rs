//! API key format and where callers put their credential.
//!
//! A key is `pk_live_` + 43 base62 characters (32 random bytes) + 6 base62
//! characters of CRC32 over everything before them. The checksum lets any
//! service refuse a mistyped or made-up key without a database or network
//! round trip; only the SHA-256 of a key is ever stored.

use http::HeaderMap;

use crate::ApiError;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every Boost API key starts with this.
pub const KEY_PREFIX: &str = "pk_live_";
const RANDOM_BYTES: usize = 32;
const BODY_CHARS: usize = 43; // ceil(256 bits / log2(62))
const CHECKSUM_CHARS: usize = 6; // 62^6 > 2^32
/// Length of every well-formed key.
pub const KEY_LEN: usize = KEY_PREFIX.len() + BODY_CHARS + CHECKSUM_CHARS;
/// How many leading characters of a key are kept to recognise it in listings.
pub const DISPLAY_PREFIX_LEN: usize = 12;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated key: the secret is shown to the user once, the rest is stored.
pub struct GeneratedKey {
    /// The plaintext key; never stored or logged.
    pub secret: String,
    /// SHA-256 of the secret, the only form kept at rest.
    pub hash: [u8; 32],
    /// Leading characters for listings.
    pub display_prefix: String,
}

/// Creates a new random key.
pub fn generate() -> GeneratedKey {
    let mut random = [0u8; RANDOM_BYTES];
    rand::rng().fill_bytes(&mut random);
    let mut secret = String::with_capacity(KEY_LEN);
    secret.push_str(KEY_PREFIX);
    secret.push_str(&base62(&random, BODY_CHARS));
    let checksum = crc32fast::hash(secret.as_bytes());
    secret.push_str(&base62(&checksum.to_be_bytes(), CHECKSUM_CHARS));
    GeneratedKey {
        hash: hash(&secret),
        display_prefix: secret[..DISPLAY_PREFIX_LEN].to_string(),
        secret,
    }
}

/// Why a presented key was refused before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// Not starting with `pk_live_`.
    #[error("api key must start with {KEY_PREFIX}")]
    Prefix,
    /// Wrong length or characters outside base62.
    #[error("api key is malformed")]
    Malformed,
    /// The checksum does not match: a typo or a made-up key.
    #[error("api key checksum does not match")]
    Checksum,
}

/// Checks prefix, length, alphabet and checksum of a presented key.
pub fn check_format(key: &str) -> Result<(), KeyFormatError> {
    if !key.starts_with(KEY_PREFIX) {
        return Err(KeyFormatError::Prefix);
    }
    if key.len() != KEY_LEN
        || !key[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
    {
        return Err(KeyFormatError::Malformed);
    }
    let (body, checksum) = key.split_at(KEY_LEN - CHECKSUM_CHARS);
    let expected = base62(
        &crc32fast::hash(body.as_bytes()).to_be_bytes(),
        CHECKSUM_CHARS,
    );
    if checksum != expected {
        return Err(KeyFormatError::Checksum);
    }
    Ok(())
}

/// Longest JWT accepted.
pub const MAX_JWT_LEN: usize = 8 * 1024;

/// Whether `credential` has the shape of a compact JWT: three base64url parts.
pub fn looks_like_jwt(credential: &str) -> bool {
    let base64url = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let parts: Vec<&str> = credential.split('.').collect();
    credential.len() <= MAX_JWT_LEN && parts.len() == 3 && parts.iter().all(|p| base64url(p))
}

/// Refuses anything that is neither a well-formed API key nor JWT-shaped,
/// before any lookup. JWTs are verified by the auth service.
pub fn check_shape(credential: &str) -> Result<(), KeyFormatError> {
    if looks_like_jwt(credential) {
        return Ok(());
    }
    check_format(credential)
}

/// SHA-256 of a key, the form keys are stored and looked up in.
pub fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The credential a caller sent: `x-api-key`, or `authorization: Bearer
/// <key>`; `None` when neither. Both at once must carry the same key: a
/// request with two different credentials is refused rather than served
/// with whichever one a rule would pick.
pub fn from_headers(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let api_key = headers
        .get("x-api-key")
        .map(|v| v.to_str().map(str::trim).unwrap_or_default());
    let bearer = headers.get(http::header::AUTHORIZATION).and_then(|value| {
        let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    match (api_key, bearer) {
        (Some(key), Some(token)) if key != token => Err(ApiError::unauthenticated(
            "conflicting credentials: x-api-key and authorization: Bearer differ; send one",
        )),
        (Some(key), _) => Ok(Some(key)),
        (None, token) => Ok(token),
    }
}

/// Big-endian base62 of `bytes`, left-padded with '0' to `width` characters.
fn base62(bytes: &[u8], width: usize) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(width);
    while number.iter().any(|&b| b != 0) {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        digits.push(ALPHABET[remainder as usize]);
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8(digits).expect("alphabet is ascii")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_generated_key_passes_format_check() {
        let key = generate();
        assert_eq!(key.secret.len(), KEY_LEN);
        assert_eq!(check_format(&key.secret), Ok(()));
        assert_eq!(key.hash, hash(&key.secret));
        assert!(key.secret.starts_with(&key.display_prefix));
    }

    #[test]
    fn test_one_wrong_character_is_refused() {
        let key = generate().secret;
        let mut bytes = key.into_bytes();
        let i = KEY_PREFIX.len() + 5;
        bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).expect("ascii");
        assert_eq!(check_format(&typo), Err(KeyFormatError::Checksum));
    }

    #[test]
    fn test_garbage_is_refused() {
        assert_eq!(check_format("hello"), Err(KeyFormatError::Prefix));
        assert_eq!(
            check_format("pk_live_short"),
            Err(KeyFormatError::Malformed)
        );
    }

    #[test]
    fn test_credential_from_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(from_headers(&headers).expect("none"), None);
        headers.insert("authorization", "Bearer abc".parse().expect("header"));
        assert_eq!(from_headers(&headers).expect("bearer"), Some("abc"));
        headers.insert("x-api-key", "abc".parse().expect("header"));
        assert_eq!(
            from_headers(&headers).expect("the same key twice"),
            Some("abc")
        );
        headers.insert("x-api-key", "xyz".parse().expect("header"));
        let conflict = from_headers(&headers).expect_err("two keys");
        assert_eq!(conflict.code, crate::ErrorCode::Unauthenticated);
    }

    #[test]
    fn test_jwt_shape() {
        assert!(looks_like_jwt("eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a..c"));
        assert!(!looks_like_jwt("a.b.c d"));
        assert_eq!(check_shape("hello"), Err(KeyFormatError::Prefix));
    }

    #[test]
    fn test_base62_is_fixed_width() {
        assert_eq!(base62(&[0, 0], 4), "0000");
        assert_eq!(base62(&[0, 62], 2), "10");
    }
}
