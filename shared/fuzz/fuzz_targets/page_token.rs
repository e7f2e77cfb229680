//! Page-token decoding over any text: a cursor or INVALID_ARGUMENT's page
//! error, never a panic; a token the pager made decodes to its cursor.
#![no_main]

use boost_server::paging::Pager;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let pager = Pager::new("events-newest", &[b"project", b"query"], 10, 100, 1000)
        .expect("valid page size");
    let _ = pager.after(token);
    // A real token (its cursor is the fuzz text) round-trips.
    let mut rows = vec![token.to_string(); 11];
    let next = pager.finish(&mut rows, |row| row.clone());
    assert_eq!(
        pager.after(&next).expect("own token"),
        Some(token.to_string())
    );
});
