//! What a client sends the API: a `GET /jobs` query string and a trigger's JSON body (the
//! first byte splits the input between the two).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some((&split, rest)) = bytes.split_first() else {
        return;
    };
    let at = usize::from(split).min(rest.len());
    let (query, body) = rest.split_at(at);
    let _ = api::http::jobs::list_filter(&String::from_utf8_lossy(query));
    let _ = api::uploads::parse_request(body);
});
