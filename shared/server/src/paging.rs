//! The one way a listing pages: check the page size, fetch one row more than
//! asked (it tells whether another page exists), truncate, and hand out the
//! last row's cursor in an opaque token.
//!
//! A token is base64url of `p1|<listing>|<binding>|<cursor>`: versioned,
//! tagged with its listing, and bound (a digest) to the scope it was made
//! for — the project and the query's own fields — so a token is refused by
//! another listing, another project's credential or another filter. The
//! cursor text belongs to the listing (e.g. `micros:uuid`).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::ApiError;

/// Token format version; bump when the layout changes.
const VERSION: &str = "p1";

/// Why a page request is refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct PageError {
    /// `page_size` or `page_token`.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl From<PageError> for ApiError {
    fn from(err: PageError) -> Self {
        ApiError::bad_field(err.field, err.reason)
    }
}

/// One page request of one listing, checked.
#[derive(Debug, Clone)]
pub struct Pager {
    /// What is listed, e.g. `events-newest`.
    listing: &'static str,
    /// Digest of the scope the tokens are valid for, hex.
    binding: String,
    /// Rows a page holds.
    limit: usize,
}

impl Pager {
    /// A pager for `listing` bound to `scope` (e.g. the project id and the
    /// encoded query), with `page_size` checked: 0 means `default`, else
    /// 1..=`max`.
    pub fn new(
        listing: &'static str,
        scope: &[&[u8]],
        page_size: i32,
        default: usize,
        max: usize,
    ) -> Result<Self, PageError> {
        let limit = match page_size {
            0 => default,
            n if n >= 1 && n as usize <= max => n as usize,
            _ => {
                return Err(PageError {
                    field: "page_size",
                    reason: format!("must be between 0 and {max}"),
                });
            }
        };
        let mut digest = Sha256::new();
        digest.update(listing.as_bytes());
        for part in scope {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        let binding = digest.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            listing,
            binding,
            limit,
        })
    }

    /// Rows to fetch: one more than a page.
    pub fn fetch(&self) -> usize {
        self.limit + 1
    }

    /// The cursor in `token` (`None` for the first page), or why the token
    /// is not one of this listing and scope.
    pub fn after(&self, token: &str) -> Result<Option<String>, PageError> {
        if token.is_empty() {
            return Ok(None);
        }
        let refused = || PageError {
            field: "page_token",
            reason: "not a token from a previous page of this listing, project and filter".into(),
        };
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(refused)?;
        let mut parts = raw.splitn(4, '|');
        let fits = parts.next() == Some(VERSION)
            && parts.next() == Some(self.listing)
            && parts.next() == Some(self.binding.as_str());
        match (fits, parts.next()) {
            (true, Some(cursor)) => Ok(Some(cursor.to_string())),
            _ => Err(refused()),
        }
    }

    /// Truncates `rows` (fetched with [`Pager::fetch`]) to a page and
    /// returns the next page's token, empty on the last page.
    pub fn finish<T>(&self, rows: &mut Vec<T>, cursor: impl Fn(&T) -> String) -> String {
        if rows.len() <= self.limit {
            return String::new();
        }
        rows.truncate(self.limit);
        rows.last()
            .map(|last| {
                URL_SAFE_NO_PAD.encode(format!(
                    "{VERSION}|{}|{}|{}",
                    self.listing,
                    self.binding,
                    cursor(last)
                ))
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pager(scope: &[u8]) -> Pager {
        Pager::new("things", &[b"project", scope], 2, 10, 100).expect("valid size")
    }

    #[test]
    fn test_page_sizes_are_checked() {
        assert_eq!(Pager::new("t", &[], 0, 10, 100).expect("default").limit, 10);
        assert_eq!(Pager::new("t", &[], 100, 10, 100).expect("max").limit, 100);
        for bad in [-1, 101] {
            let err = Pager::new("t", &[], bad, 10, 100).expect_err("out of range");
            assert_eq!(err.field, "page_size");
        }
    }

    #[test]
    fn test_finish_truncates_and_round_trips_the_cursor() {
        let pager = pager(b"filter");
        let mut rows = vec!["a", "b", "c"];
        let token = pager.finish(&mut rows, |r| format!("cursor:{r}|x"));
        assert_eq!(rows, ["a", "b"]);
        assert_eq!(
            pager.after(&token).expect("own token"),
            Some("cursor:b|x".into())
        );
        let mut last = vec!["a", "b"];
        assert_eq!(pager.finish(&mut last, |r| r.to_string()), "");
        assert_eq!(pager.after("").expect("first page"), None);
    }

    #[test]
    fn test_tokens_of_another_scope_listing_or_garbage_are_refused() {
        let mut rows = vec![1, 2, 3];
        let token = pager(b"filter").finish(&mut rows, |r| r.to_string());
        assert!(pager(b"other filter").after(&token).is_err());
        let other_listing =
            Pager::new("others", &[b"project", b"filter"], 2, 10, 100).expect("valid");
        assert!(other_listing.after(&token).is_err());
        for garbage in [
            "not a token",
            "cDF8dGhpbmdz",
            &URL_SAFE_NO_PAD.encode("p0|things|x|1"),
        ] {
            let err = pager(b"filter").after(garbage).expect_err("garbage");
            assert_eq!(err.field, "page_token");
        }
    }
}
