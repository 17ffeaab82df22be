//! Languages no voice speaks, from recorded prompts: a catalogue per language in
//! `prompts/<code>/` (here generated tones), chosen with one key at the first menu, with
//! folios, statuses, categories and dates played from recorded pieces.

use crate::helpers::{CALLER, Db, Options, TestApp, WATER, try_spawn_app_with};
use crate::{app_or_skip, on_both_databases};
use atiende::prompts::recorded::required_clips_by_default;
use atiende::sim::audio::tone_wav;
use atiende::sim::{RecordingEnd, SimCall};
use std::path::{Path, PathBuf};

on_both_databases!(
    one_key_chooses_the_language_and_every_prompt_is_its_recording,
    folios_categories_statuses_and_dates_are_played_from_pieces,
    a_catalogue_missing_recordings_is_refused_with_the_list,
    a_language_puts_the_pieces_in_its_own_order,
);

/// The categories of the default phone menu.
const CATEGORIES: &[&str] = &["alumbrado", "seguridad", "agua", "proteccion_civil", "otro"];

/// A prompts folder: the repository's Spanish catalogue and a recorded language `nah` chosen
/// with 7, every recording a tone, except the `missing` ones.
pub fn prompts_with_nahuatl(missing: &[&str]) -> (tempfile::TempDir, PathBuf) {
    prompts_with_nahuatl_and(missing, "")
}

/// As [`prompts_with_nahuatl`], with more of `language.toml` (a `[sequences]` table).
fn prompts_with_nahuatl_and(missing: &[&str], more: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/prompts/es-MX.toml"),
        prompts.join("es-MX.toml"),
    )
    .unwrap();
    let nah = prompts.join("nah");
    std::fs::create_dir_all(&nah).unwrap();
    std::fs::write(
        nah.join("language.toml"),
        format!("name = \"Náhuatl\"\nkey = \"7\"\n{more}"),
    )
    .unwrap();
    let tone = tone_wav(1);
    let categories = CATEGORIES.iter().map(|c| format!("categories/{c}"));
    for clip in required_clips_by_default().into_iter().chain(categories) {
        if missing.contains(&clip.as_str()) {
            continue;
        }
        let path = nah.join(format!("{clip}.wav"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &tone).unwrap();
    }
    (dir, prompts)
}

fn with_prompts(prompts: &Path) -> Options {
    Options::default().with("ATIENDE_PROMPTS_DIR", &prompts.display().to_string())
}

/// The recordings played since the last input, as paths inside the language's folder; panics
/// if anything was said with a voice instead.
fn played(app: &TestApp, call: &SimCall) -> Vec<String> {
    let prefix = format!("[audio {}/audio/prompts/nah/", app.base);
    let heard = call.heard();
    let mut clips = Vec::new();
    for part in heard.split("] ").map(|p| p.trim_end_matches(']')) {
        let clip = format!("{part}]");
        let Some(rest) = clip.strip_prefix(&prefix) else {
            panic!("not a recording of the language: {part:?} in {heard}");
        };
        clips.push(rest.trim_end_matches(".wav]").to_owned());
    }
    clips
}

fn digits(folio: &str) -> Vec<String> {
    folio.chars().map(|d| format!("digits/{d}")).collect()
}

/// A call that chooses Náhuatl.
async fn in_nahuatl(app: &TestApp, from: &str) -> SimCall {
    let mut call = app.call(Some(from)).await;
    call.press("7").await.unwrap();
    call
}

async fn one_key_chooses_the_language_and_every_prompt_is_its_recording(db: Db) {
    let (_dir, prompts) = prompts_with_nahuatl(&[]);
    let app = app_or_skip!(db, with_prompts(&prompts));

    // Act: a call comes in.
    let call = app.call(Some(CALLER)).await;

    // Assert: the first menu offers the language in its own recording, before the Spanish.
    let offer = format!("[audio {}/audio/prompts/nah/choose.wav]", app.base);
    assert!(call.heard().starts_with(&offer), "{}", call.heard());
    assert!(call.heard().contains("Para reportar, marque 1."));

    // Act: 7.
    let mut call = in_nahuatl(&app, CALLER).await;

    // Assert: the greeting and the main menu again, all recordings, and the next step knows the
    // language.
    assert_eq!(
        played(&app, &call),
        ["emergency", "greeting", "privacy", "main_menu"]
    );
    assert!(call.last_xml().contains("l=nah"), "{}", call.last_xml());

    // A wrong key is answered in the language too.
    call.press("8").await.unwrap();
    assert_eq!(played(&app, &call), ["invalid_option", "main_menu"]);

    // The recordings are served, and nothing else under their path.
    let (status, _) = app.get("/audio/prompts/nah/digits/7.wav").await;
    assert_eq!(status, 200);
    for path in [
        "/audio/prompts/nah/digits/77.wav",
        "/audio/prompts/nah/../es-MX.toml",
        "/audio/prompts/xx/digits/7.wav",
    ] {
        assert_eq!(app.get(path).await.0, 404, "{path}");
    }
    app.stop().await;
}

async fn folios_categories_statuses_and_dates_are_played_from_pieces(db: Db) {
    let (_dir, prompts) = prompts_with_nahuatl(&[]);
    let app = app_or_skip!(db, with_prompts(&prompts));

    // Act: a report in Náhuatl: 1, the category menu.
    let mut call = in_nahuatl(&app, CALLER).await;
    call.press("1").await.unwrap();

    // Assert: each category by its recording and its key.
    let menu = played(&app, &call);
    assert_eq!(
        menu[..6],
        [
            "category_option",
            "categories/alumbrado",
            "digits/1",
            "category_option_short",
            "categories/seguridad",
            "digits/2",
        ]
    );

    // Act: water, recorded.
    call.press(WATER).await.unwrap();
    assert_eq!(played(&app, &call), ["record_instructions"]);
    call.record(20, RecordingEnd::Key).await.unwrap();

    // Assert: the folio digit by digit, twice, and the promised date (Friday 4 December) from
    // the weekday, day and month recordings.
    let case = app.case_of(&call).await;
    let mut expected = vec!["folio_created".to_owned()];
    expected.extend(digits(&case.folio));
    expected.push("folio_repeat".into());
    expected.extend(digits(&case.folio));
    expected.extend(
        [
            "promise_pending",
            "weekdays/5",
            "days/4",
            "months/12",
            "folio_sms",
            "folio_hear_again",
        ]
        .map(String::from),
    );
    assert_eq!(played(&app, &call), expected);
    call.hang_up(60).await.unwrap();

    // Act: the folio looked up in Náhuatl from another phone.
    let mut call = in_nahuatl(&app, "+525587654321").await;
    call.press("2").await.unwrap();
    call.press(&format!("{}#", case.folio)).await.unwrap();

    // Assert: category, status and date of the last change (Friday 27 November) as pieces.
    let mut expected = vec!["status_found".to_owned()];
    expected.extend(digits(&case.folio));
    expected.extend(
        [
            "categories/agua",
            "status/received",
            "weekdays/5",
            "days/27",
            "months/11",
            "promise_pending",
            "weekdays/5",
            "days/4",
            "months/12",
            "status_next",
        ]
        .map(String::from),
    );
    assert_eq!(played(&app, &call), expected);
    app.stop().await;
}

async fn a_catalogue_missing_recordings_is_refused_with_the_list(db: Db) {
    // Arrange: a catalogue without two prompts and one digit.
    let (_dir, prompts) = prompts_with_nahuatl(&["greeting", "status_found", "digits/4"]);

    // Act
    let Some(built) = try_spawn_app_with(db, with_prompts(&prompts)).await else {
        return;
    };

    // Assert: start-up stops, naming the language and every missing file.
    let error = format!("{:#}", built.err().expect("start-up refuses the catalogue"));
    for missing in [
        "Náhuatl",
        "3 file(s)",
        "greeting.wav",
        "status_found.wav",
        "digits/4.wav",
    ] {
        assert!(error.contains(missing), "{missing}: {error}");
    }

    // A catalogue without a category of the phone menu is refused too, once the menu is read.
    let (_dir, prompts) = prompts_with_nahuatl(&["categories/agua"]);
    let built = try_spawn_app_with(db, with_prompts(&prompts))
        .await
        .unwrap();
    let error = format!("{:#}", built.err().expect("start-up refuses the catalogue"));
    assert!(error.contains("categories/agua.wav"), "{error}");
}

async fn a_language_puts_the_pieces_in_its_own_order(db: Db) {
    // Arrange: in this language the folio comes first, then a recording of its own.
    let more = "[sequences]\nfolio_created = [\"{folio}\", \"folio_created_after\"]\n";
    let (_dir, prompts) = prompts_with_nahuatl_and(&[], more);
    std::fs::write(prompts.join("nah/folio_created_after.wav"), tone_wav(1)).unwrap();
    let app = app_or_skip!(db, with_prompts(&prompts));

    // Act: a report.
    let mut call = in_nahuatl(&app, CALLER).await;
    call.press("1").await.unwrap();
    call.press(WATER).await.unwrap();
    call.record(20, RecordingEnd::Key).await.unwrap();

    // Assert
    let case = app.case_of(&call).await;
    let mut expected = digits(&case.folio);
    expected.push("folio_created_after".into());
    assert_eq!(played(&app, &call)[..expected.len()], expected[..]);
    app.stop().await;
}
