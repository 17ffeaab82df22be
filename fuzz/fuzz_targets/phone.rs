//! Phone numbers from Twilio's fields and from the keypad: any text is a number or an error,
//! and a number reads back as itself.
#![no_main]

use atiende::domain::{CallerId, PhoneNumber};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for parsed in [
        PhoneNumber::parse(text),
        PhoneNumber::mexican(text),
        PhoneNumber::from_keypad(text),
        PhoneNumber::from_typed(text),
    ] {
        if let Ok(n) = parsed {
            assert_eq!(PhoneNumber::parse(n.as_str()), Ok(n.clone()));
            assert_eq!(n.last_four().len(), 4);
        }
    }
    if let Ok(n) = PhoneNumber::from_keypad(text) {
        assert_eq!(n.national_digits().len(), 10);
    }
    let _ = CallerId::parse(Some(text)).number();
    let _ = atiende::domain::phone::mask_numbers(text);
});
