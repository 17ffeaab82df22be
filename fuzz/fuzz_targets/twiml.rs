//! TwiML: what the builder writes parses, and parsing then writing again gives the same
//! document; any text parses to a document or an error, and a document parsed writes out to
//! one that reads back the same.
#![no_main]

use atiende::twiml::{Response, SAY_MAX_CHARS, Verb};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    Say(String),
    Play(String),
    Pause(u32),
    Redirect(String),
    Message(String),
    Hangup,
}

#[derive(Arbitrary, Debug)]
struct Input {
    ops: Vec<Op>,
    xml: String,
}

fuzz_target!(|input: Input| {
    let mut built = Response::new("Polly.Mia-Neural");
    for op in &input.ops {
        match op {
            Op::Say(text) => built.say(text),
            Op::Play(url) => built.play(url),
            Op::Pause(seconds) => built.pause(*seconds),
            Op::Redirect(url) => built.redirect(url),
            Op::Message(body) => built.message(body),
            Op::Hangup => built.hangup(),
        };
    }
    let xml = built.to_xml();
    let back =
        Response::parse(&xml).unwrap_or_else(|e| panic!("our TwiML reads back ({e}): {xml}"));
    assert_eq!(back.to_xml(), xml, "{input:?}");
    for verb in &back.verbs {
        if let Verb::Say(say) = verb {
            assert!(say.text.chars().count() <= SAY_MAX_CHARS);
        }
    }

    if let Ok(parsed) = Response::parse(&input.xml) {
        let written = parsed.to_xml();
        let again = Response::parse(&written)
            .unwrap_or_else(|e| panic!("a parsed document writes valid TwiML ({e}): {written}"));
        assert_eq!(again.to_xml(), written);
    }
});
