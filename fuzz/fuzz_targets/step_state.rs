//! The call's state in a step URL's query: any text reads within bounds, and what we write
//! reads back the same.
#![no_main]

use atiende::voice::{MAX_FAILURES, StepQuery};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| {
    let q = StepQuery::parse(Some(query));
    assert!(q.tries <= MAX_FAILURES);
    assert_eq!(StepQuery::parse(Some(&q.to_query())), q);
});
