//! Folios as typed or spoken: any text is a folio or an error, and a folio reads back as itself.
#![no_main]

use atiende::domain::Folio;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(folio) = Folio::parse(text) {
        assert_eq!(Folio::parse(folio.as_str()), Ok(folio.clone()));
        assert_eq!(folio.groups().concat(), folio.as_str());
    }
});
