//! The caller's time: how many words a first-time caller hears between the answer and the beep.
//!
//! At 150 Spanish words a minute, 75 words are 30 seconds and 30 words are 12 seconds. A caller
//! who listens to every prompt in full reaches the beep within [`TOTAL_BUDGET`] words; a caller
//! who knows the keys and presses each one as soon as its menu starts hears at most
//! [`UNSKIPPABLE_BUDGET`] words that no key can skip (`<Say>` outside a `<Gather>`). Counted on
//! the TwiML of a walked call, so a prompt edit that breaks the budget fails the suite.

use crate::helpers::{CALLER, Db, Options, TestApp, spawn_app_with};
use atiende::prompts::Key;
use atiende::twiml::{Prompt, Response, Verb};

/// Words a first-time caller who listens to everything hears before the beep (30 s).
const TOTAL_BUDGET: usize = 75;
/// Words that no key can skip on the way to the beep (12 s).
const UNSKIPPABLE_BUDGET: usize = 30;

/// Words said, as a listener counts them: "9 1 1" is three.
fn words(text: &str) -> usize {
    text.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

/// What a `<Play>` of a recorded prompt says: its catalogue text.
fn played_words(app: &TestApp, url: &str) -> usize {
    let name = url
        .rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".wav"))
        .expect("a recorded prompt");
    let key = Key::ALL
        .iter()
        .find(|k| k.section() == "ivr" && k.name() == name)
        .expect("a prompt of the catalogue");
    words(&app.text_with(*key, &[("office", &app.state.config.phone.office_name)]))
}

fn prompt_words(app: &TestApp, prompt: &Prompt) -> usize {
    match prompt {
        Prompt::Say(s) => words(&s.text),
        Prompt::Play(p) => played_words(app, &p.url),
        Prompt::Pause(_) => 0,
    }
}

/// Words heard so far on the way to the beep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Heard {
    /// Everything, every prompt heard to its end.
    total: usize,
    /// Only what no key can skip: said outside a `<Gather>`.
    unskippable: usize,
    /// The document ended at a `<Record>`: the beep.
    at_beep: bool,
}

/// Adds one answer of the service, up to the verb that waits for the caller (the `<Gather>`
/// the caller answers, or the `<Record>`).
fn count(app: &TestApp, heard: &mut Heard, xml: &str) {
    let r = Response::parse(xml).expect("valid TwiML");
    for verb in &r.verbs {
        match verb {
            Verb::Say(s) => {
                heard.total += words(&s.text);
                heard.unskippable += words(&s.text);
            }
            Verb::Play(p) => {
                heard.total += played_words(app, &p.url);
                heard.unskippable += played_words(app, &p.url);
            }
            Verb::Gather(g) => {
                heard.total += g
                    .children
                    .iter()
                    .map(|p| prompt_words(app, p))
                    .sum::<usize>();
                return;
            }
            Verb::Record(_) => {
                heard.at_beep = true;
                return;
            }
            Verb::Pause(_) => {}
            other => panic!("unexpected verb before the beep: {other:?}\n{xml}"),
        }
    }
}

/// A first-time caller (caller ID, no open case) presses `keys`, one per menu, and reaches the
/// beep.
async fn walk(app: &TestApp, keys: &[&str]) -> Heard {
    let mut heard = Heard::default();
    let mut call = app.call(Some(CALLER)).await;
    count(app, &mut heard, call.last_xml());
    for key in keys {
        assert!(!heard.at_beep, "at the beep before {key}");
        call.press(key).await.unwrap();
        count(app, &mut heard, call.last_xml());
    }
    assert!(
        heard.at_beep,
        "{keys:?} did not reach the beep: {}",
        call.heard()
    );
    call.hang_up(60).await.unwrap();
    heard
}

#[tokio::test]
async fn a_first_time_caller_reaches_the_beep_within_the_budget() {
    // Office hours, the clock of the golden files.
    // `true`: the whole budget applies. With "0, talk to staff" on offer (a transfer number set,
    // office hours) the main menu is four words longer: only the unskippable budget applies.
    let paths: [(&str, &[&str], Options, bool); 5] = [
        ("street lighting", &["1", "1"], Options::default(), true),
        (
            "public safety, urgent",
            &["1", "2", "1"],
            Options::default(),
            true,
        ),
        (
            "street lighting, speech on",
            &["1", "1"],
            Options::default().with("ATIENDE_SPEECH", "true"),
            true,
        ),
        (
            "street lighting, staff on offer",
            &["1", "1"],
            Options::default().with("ATIENDE_TRANSFER_NUMBER", "+525511112222"),
            false,
        ),
        (
            "public safety, urgent, staff on offer",
            &["1", "2", "1"],
            Options::default().with("ATIENDE_TRANSFER_NUMBER", "+525511112222"),
            false,
        ),
    ];
    let mut report = Vec::new();
    for (name, keys, options, whole) in paths {
        let app = spawn_app_with(Db::Sqlite, options)
            .await
            .expect("SQLite always runs");
        let heard = walk(&app, keys).await;
        app.stop().await;
        report.push(format!(
            "{name}: {} words in all, {} that no key skips",
            heard.total, heard.unskippable
        ));
        assert!(
            (!whole || heard.total <= TOTAL_BUDGET) && heard.unskippable <= UNSKIPPABLE_BUDGET,
            "{name}: {heard:?}, over the budget of {TOTAL_BUDGET} words in all and \
             {UNSKIPPABLE_BUDGET} that no key skips"
        );
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn words_are_counted_as_they_are_said() {
    assert_eq!(words("Para emergencias, llame al 9 1 1."), 7);
    assert_eq!(
        words("Para alumbrado público, marque 1. — Otro reporte, 5."),
        8
    );
    assert_eq!(words("  "), 0);
}
