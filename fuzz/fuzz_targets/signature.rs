//! Twilio's signature check: what we sign is valid, anything else is not, and no input panics
//! (the form's and the JSON body's variants).
#![no_main]

use atiende::twilio::signature;
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    |input: (String, String, String, Vec<(String, String)>, Vec<u8>)| {
        let (token, url, sig, params, body) = input;
        let good = signature::sign(&token, &url, &params);
        assert!(signature::is_valid(&token, &url, &params, &good));
        if sig != good {
            assert!(!signature::is_valid(&token, &url, &params, &sig));
        }
        let _ = signature::is_valid_json(&token, &url, &body, &sig);
    }
);
