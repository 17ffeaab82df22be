//! A webhook's body: any bytes are a form or refused, never a panic. A refused form has no
//! fields; an accepted one has only names Twilio could send (a letter, then letters, digits or
//! `_`, at most 64), and `get` gives a field's first value, trimmed, or nothing when empty.
#![no_main]

use atiende::twilio::WebhookForm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let form = WebhookForm::parse(body);
    if !form.well_formed {
        assert!(form.pairs().is_empty());
    }
    for (name, _) in form.pairs() {
        assert!(name.len() <= 64);
        assert!(name.starts_with(|c: char| c.is_ascii_alphabetic()));
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let first = form
            .pairs()
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim());
        assert_eq!(form.get(name), first.filter(|v| !v.is_empty()));
    }
});
