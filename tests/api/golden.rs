//! Golden TwiML: every distinct answer of the call flow, as files in `twiml-samples/`.
//!
//! The test walks calls through the real service (SQLite, fixed clock, public URL
//! `https://atiende.example.org`) and compares each answer, indented for reading, with its file.
//! Any drift fails the test. To accept a change in the flow on purpose, regenerate them:
//! `UPDATE_GOLDEN=1 cargo test --test api golden` and review the diff.

use crate::helpers::{CALLER, Db, Options, spawn_app_with};
use atiende::domain::Folio;
use atiende::sim::RecordingEnd;
use quick_xml::events::Event;
use quick_xml::{Reader, Writer};
use std::collections::BTreeMap;
use std::path::PathBuf;

const PUBLIC_URL: &str = "https://atiende.example.org";

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("twiml-samples")
}

/// The document indented two spaces a level, text kept as is.
fn indent(xml: &str) -> String {
    let mut reader = Reader::from_str(xml);
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    loop {
        match reader.read_event().expect("valid XML") {
            Event::Eof => break,
            e => writer.write_event(e).expect("write"),
        }
    }
    let mut out = String::from_utf8(writer.into_inner()).expect("UTF-8");
    out.push('\n');
    out
}

struct Samples(BTreeMap<String, String>);

impl Samples {
    fn add(&mut self, name: &str, xml: &str) {
        let previous = self.0.insert(name.to_owned(), indent(xml));
        assert!(previous.is_none(), "sample {name} produced twice");
    }
}

#[tokio::test]
async fn twiml_samples_match_the_call_flow() {
    let mut s = Samples(BTreeMap::new());
    let options = || {
        Options::default()
            .with("ATIENDE_PUBLIC_URL", PUBLIC_URL)
            .with("ATIENDE_TRANSFER_NUMBER", "+525511112222")
    };
    let app = spawn_app_with(Db::Sqlite, options())
        .await
        .expect("SQLite always runs");

    // A report with urgency, from a caller with caller ID.
    let mut call = app.call(Some(CALLER)).await;
    s.add("01-greeting", call.last_xml());
    call.press("7").await.unwrap();
    s.add("02-invalid-option", call.last_xml());
    call.silence().await.unwrap();
    s.add("03-no-input", call.last_xml());
    call.press("1").await.unwrap();
    s.add("04-category-menu", call.last_xml());
    call.press("*").await.unwrap();
    s.add("05-main-menu", call.last_xml());
    call.press("1").await.unwrap();
    call.press("2").await.unwrap();
    s.add("06-urgency-question", call.last_xml());
    call.press("1").await.unwrap();
    s.add("07-recording", call.last_xml());
    call.record_nothing().await.unwrap();
    s.add("08-nothing-recorded", call.last_xml());
    call.record(30, RecordingEnd::Key).await.unwrap();
    s.add("09-folio-confirmation", call.last_xml());
    call.press("1").await.unwrap();
    s.add("10-folio-again", call.last_xml());
    call.silence().await.unwrap();
    s.add("11-report-goodbye", call.last_xml());
    call.hang_up(120).await.unwrap();

    // A report from a withheld number: the folio by SMS only if the caller types a number.
    // Street lighting: where to report the CFE's cables, then the recording.
    let mut call = app.call(None).await;
    call.press("1").await.unwrap();
    call.press("1").await.unwrap();
    s.add("25-street-lighting", call.last_xml());
    call.record(30, RecordingEnd::Key).await.unwrap();
    s.add("12-number-entry", call.last_xml());
    call.press("5587654321").await.unwrap();
    s.add("13-number-readback", call.last_xml());
    call.press("1").await.unwrap();
    s.add("14-number-confirmed", call.last_xml());
    call.hang_up(150).await.unwrap();

    // Status by folio: found, wrong check digit, unknown; then goodbye.
    let first = Folio::from_sequence(1);
    let mut call = app.call(Some("+525598765432")).await;
    call.press("2").await.unwrap();
    s.add("15-status-prompt", call.last_xml());
    call.press(&format!("{first}#")).await.unwrap();
    s.add("16-status-found", call.last_xml());
    call.press("1").await.unwrap();
    let mut wrong = first.as_str().to_owned();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    call.press(&wrong).await.unwrap();
    s.add("17-status-invalid", call.last_xml());
    call.press(Folio::from_sequence(999).as_str())
        .await
        .unwrap();
    s.add("18-status-unknown", call.last_xml());
    call.press(first.as_str()).await.unwrap();
    call.silence().await.unwrap();
    s.add("19-goodbye", call.last_xml());
    call.hang_up(60).await.unwrap();

    // Talking to staff, inside office hours: nobody answers, so the caller may leave a report.
    let mut call = app.call(Some("+525598765432")).await;
    call.press("0").await.unwrap();
    s.add("20-transfer", call.last_xml());
    call.transfer_result("no-answer").await.unwrap();
    s.add("21-transfer-no-answer", call.last_xml());
    // What staff hear when they answer a transfer, before being connected.
    let (_, xml) = app
        .post_signed(
            "/twilio/voice/screen",
            &[
                ("CallSid", "CA11111111111111111111111111111111"),
                ("ParentCallSid", call.call_sid()),
                ("Direction", "outbound-dial"),
            ],
        )
        .await;
    s.add("26-transfer-screen", &xml);

    // Three failures at the main menu.
    let mut call = app.call(Some("+525598765432")).await;
    call.press("8").await.unwrap();
    call.press("8").await.unwrap();
    call.press("8").await.unwrap();
    s.add("22-too-many-failures", call.last_xml());

    // With speech on (ATIENDE_SPEECH=true): the main menu listens, with hints.
    let speaking = spawn_app_with(Db::Sqlite, options().with("ATIENDE_SPEECH", "true"))
        .await
        .expect("SQLite always runs");
    let call = speaking.call(Some("+525598765432")).await;
    s.add("27-main-menu-speech", call.last_xml());
    speaking.stop().await;

    // With a language spoken from recordings installed (Náhuatl, key 7).
    let (_dir, prompts) = crate::languages::prompts_with_nahuatl(&[]);
    let recorded = spawn_app_with(
        Db::Sqlite,
        options().with("ATIENDE_PROMPTS_DIR", &prompts.display().to_string()),
    )
    .await
    .expect("SQLite always runs");
    let mut call = recorded.call(Some("+525598765432")).await;
    s.add("28-greeting-with-languages", call.last_xml());
    call.press("7").await.unwrap();
    s.add("29-language-chosen", call.last_xml());
    call.press("1").await.unwrap();
    s.add("30-category-menu-recorded", call.last_xml());
    recorded.stop().await;

    // The apology, when something breaks mid-call.
    let (_, xml) = app
        .post_signed(
            "/twilio/voice/nope?t=0&c=2",
            &[("CallSid", "CA0123456789abcdef0123456789abcdef")],
        )
        .await;
    s.add("23-technical-error", &xml);

    // The database down at the recording: the report is kept in the journal, the folio
    // comes by SMS.
    app.state.store.close().await;
    let (_, xml) = app
        .post_signed(
            "/twilio/voice/recorded?t=1&f=1",
            &[
                ("CallSid", "CA0123456789abcdef0123456789abcdee"),
                ("From", CALLER),
                ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
                ("RecordingUrl", "https://api.twilio.com/r"),
                ("RecordingDuration", "25"),
                ("Digits", "#"),
            ],
        )
        .await;
    s.add("31-report-kept", &xml);
    app.stop().await;

    // Outside office hours, "0" gives the hours instead.
    let app = spawn_app_with(
        Db::Sqlite,
        Options {
            clock: crate::helpers::weekend_now(),
            ..options()
        },
    )
    .await
    .unwrap();
    let mut call = app.call(Some(CALLER)).await;
    call.press("0").await.unwrap();
    s.add("24-transfer-closed", call.last_xml());
    app.stop().await;

    check_or_update(&s.0);
}

fn check_or_update(samples: &BTreeMap<String, String>) {
    let dir = samples_dir();
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let existing: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n.ends_with(".xml"))
                .collect()
        })
        .unwrap_or_default();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
        for name in &existing {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        for (name, xml) in samples {
            std::fs::write(dir.join(format!("{name}.xml")), xml).unwrap();
        }
        return;
    }
    let mut problems = Vec::new();
    for (name, xml) in samples {
        match std::fs::read_to_string(dir.join(format!("{name}.xml"))) {
            Ok(golden) if golden == *xml => {}
            Ok(golden) => problems.push(format!(
                "twiml-samples/{name}.xml drifted:\n--- golden\n{golden}--- now\n{xml}"
            )),
            Err(_) => problems.push(format!("twiml-samples/{name}.xml is missing")),
        }
    }
    for name in existing {
        if !samples.contains_key(name.trim_end_matches(".xml")) {
            problems.push(format!(
                "twiml-samples/{name} is no longer produced by the flow"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\nIf the change is intended: UPDATE_GOLDEN=1 cargo test --test api golden",
        problems.join("\n\n")
    );
}
