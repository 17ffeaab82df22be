//! Bad input, generated: whatever bytes arrive, the parsers of the service's edges answer with
//! a value or a clear error, and never panic. (Property tests with proptest; the same surfaces
//! have fuzz targets under `fuzz/` for longer runs.)

use atiende::domain::{CallerId, Folio, PhoneNumber};
use atiende::twilio::WebhookForm;
use atiende::twilio::signature;
use atiende::twiml::{Response, SAY_MAX_CHARS, Verb};
use atiende::voice::{MAX_FAILURES, StepQuery};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_body_is_a_form_or_refused_never_a_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let form = WebhookForm::parse(&body);
        if !form.well_formed {
            prop_assert!(form.pairs().is_empty());
        }
        for (k, _) in form.pairs() {
            prop_assert!(!k.is_empty());
        }
    }

    #[test]
    fn a_signature_check_of_anything_is_a_yes_or_a_no(
        token in ".{0,40}", url in ".{0,200}", sig in ".{0,80}",
        params in proptest::collection::vec((".{0,20}", ".{0,40}"), 0..8),
    ) {
        let params: Vec<(String, String)> = params;
        let good = signature::sign(&token, &url, &params);
        prop_assert!(signature::is_valid(&token, &url, &params, &good));
        if sig != good {
            prop_assert!(!signature::is_valid(&token, &url, &params, &sig));
        }
        let _ = signature::is_valid_json(&token, &url, sig.as_bytes(), &sig);
    }

    #[test]
    fn any_step_state_reads_within_bounds(query in ".{0,200}") {
        let q = StepQuery::parse(Some(&query));
        prop_assert!(q.tries <= MAX_FAILURES);
        // What we write reads back the same.
        prop_assert_eq!(StepQuery::parse(Some(&q.to_query())), q);
    }

    #[test]
    fn any_text_is_a_folio_or_an_error(text in ".{0,30}", digits in "[0-9]{0,14}") {
        let _ = Folio::parse(&text);
        if let Ok(f) = Folio::parse(&digits) {
            prop_assert_eq!(Folio::parse(f.as_str()), Ok(f.clone()));
        }
    }

    #[test]
    fn any_text_is_a_phone_number_or_an_error(text in ".{0,30}", digits in "[0-9]{0,16}") {
        let _ = PhoneNumber::parse(&text);
        let _ = PhoneNumber::mexican(&text);
        let _ = CallerId::parse(Some(&text));
        if let Ok(n) = PhoneNumber::from_keypad(&digits) {
            prop_assert_eq!(n.national_digits().len(), 10);
            prop_assert_eq!(PhoneNumber::parse(n.as_str()), Ok(n.clone()));
        }
    }

    #[test]
    fn any_text_said_is_valid_twiml_within_the_limit(text in "\\PC{0,80}", controls in "[\\x00-\\x1f]{0,5}", repeat in 1usize..60) {
        let said = format!("{controls}{}", text.repeat(repeat));
        let mut r = Response::new("Polly.Mia-Neural");
        r.say(&said);
        let xml = r.to_xml();
        let back = Response::parse(&xml).expect("our TwiML reads back");
        match back.verbs.as_slice() {
            [Verb::Say(s)] => prop_assert!(s.text.chars().count() <= SAY_MAX_CHARS),
            other => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn any_file_is_a_recording_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.wav");
        std::fs::write(&path, &bytes).unwrap();
        let _ = atiende::recordings::check_wav(&path);
    }

    #[test]
    fn a_wav_header_with_odd_numbers_is_an_error_not_a_panic(
        channels in 0u16..4, rate in 0u32..100_000, bits in 0u16..40, data in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut wav = Vec::new();
        let block = channels.saturating_mul(bits / 8);
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes());
        wav.extend_from_slice(&channels.to_le_bytes());
        wav.extend_from_slice(&rate.to_le_bytes());
        wav.extend_from_slice(&(rate.saturating_mul(u32::from(block))).to_le_bytes());
        wav.extend_from_slice(&block.to_le_bytes());
        wav.extend_from_slice(&bits.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
        wav.extend_from_slice(&data);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.wav");
        std::fs::write(&path, &wav).unwrap();
        let _ = atiende::recordings::check_wav(&path);
    }
}
