//! Speech as well as keys (`ATIENDE_SPEECH=true`): the menus listen in es-MX, words pick the
//! options, unclear words ask again, and keys always work.

use crate::helpers::{CALLER, Db, Options, TestApp};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::Urgency;
use atiende::sim::{RecordingEnd, SimCall, Waiting};
use atiende::twiml::{Response, Verb};

on_both_databases!(
    the_menus_listen_in_mexican_spanish_with_hints,
    saying_the_problem_at_the_main_menu_starts_that_report,
    words_choose_the_options_of_every_menu,
    unclear_or_doubtful_words_ask_again_and_keys_still_work,
    without_the_setting_the_line_only_listens_to_keys,
);

fn speech() -> Options {
    Options::default().with("ATIENDE_SPEECH", "true")
}

/// The `<Gather>` of the answer the call is waiting at.
fn gather_of(call: &SimCall) -> atiende::twiml::Gather {
    let r = Response::parse(call.last_xml()).unwrap();
    r.verbs
        .into_iter()
        .find_map(|v| match v {
            Verb::Gather(g) => Some(g),
            _ => None,
        })
        .expect("a <Gather>")
}

async fn recorded_case(app: &TestApp, mut call: SimCall) -> atiende::store::CaseRecord {
    assert_eq!(call.waiting(), Waiting::Recording, "{}", call.heard());
    call.record(25, RecordingEnd::Key).await.unwrap();
    call.hang_up(60).await.unwrap();
    app.case_of(&call).await
}

async fn the_menus_listen_in_mexican_spanish_with_hints(db: Db) {
    let app = app_or_skip!(db, speech());

    // Act: a call comes in.
    let call = app.call(Some(CALLER)).await;

    // Assert: the main menu says callers may speak, in as few words as the keys-only one, and
    // listens to speech in es-MX with the options' phrases as hints.
    assert!(
        call.heard()
            .contains("Diga reporte o marque 1. Consultar folio, 2."),
        "{}",
        call.heard()
    );
    let g = gather_of(&call);
    assert_eq!(g.input.as_deref(), Some("dtmf speech"));
    assert_eq!(g.language.as_deref(), Some("es-MX"));
    assert_eq!(g.speech_timeout.as_deref(), Some("auto"));
    let hints = g.hints.unwrap();
    for phrase in ["reporte", "consultar", "no hay agua", "luminaria"] {
        assert!(hints.contains(phrase), "{phrase}: {hints}");
    }
    app.stop().await;
}

async fn saying_the_problem_at_the_main_menu_starts_that_report(db: Db) {
    let app = app_or_skip!(db, speech());
    let mut call = app.call(Some(CALLER)).await;

    // Act: the caller says what happens instead of choosing "report" then "water".
    call.speak("No hay agua en mi colonia desde ayer", 0.91)
        .await
        .unwrap();

    // Assert: straight to the recording of a water report; the log keeps what was said.
    assert!(
        call.heard().contains("Después del tono"),
        "{}",
        call.heard()
    );
    let steps = app.step_details(&call, "main_menu").await;
    assert!(
        steps.iter().any(
            |d| d.starts_with("said \"No hay agua en mi colonia desde ayer\" (0.91")
                && d.ends_with("1: report, agua")
        ),
        "{steps:?}"
    );
    let case = recorded_case(&app, call).await;
    assert_eq!(app.category_of(&case).await.code, "agua");
    app.stop().await;
}

async fn words_choose_the_options_of_every_menu(db: Db) {
    let app = app_or_skip!(db, speech());

    // Act: "report", then a street light by one of its phrases.
    let mut call = app.call(Some(CALLER)).await;
    call.speak("quiero hacer un reporte", 0.88).await.unwrap();
    assert!(
        call.heard().contains("Para alumbrado público, marque 1."),
        "{}",
        call.heard()
    );
    assert_eq!(gather_of(&call).input.as_deref(), Some("dtmf speech"));
    call.speak("la luminaria de la esquina", 0.8).await.unwrap();

    // Assert: the CFE's number (street lighting) and the recording.
    assert!(call.heard().contains("0 7 1"), "{}", call.heard());
    let case = recorded_case(&app, call).await;
    assert_eq!(app.category_of(&case).await.code, "alumbrado");

    // Act: public safety by name, then "yes, there is risk" at the urgency question.
    let mut call = app.call(Some(CALLER)).await;
    call.speak("reporte", 0.9).await.unwrap();
    call.speak("un robo", 0.9).await.unwrap();
    assert!(
        call.heard().contains("riesgo inmediato"),
        "{}",
        call.heard()
    );
    call.speak("sí, hay riesgo", 0.9).await.unwrap();
    let case = recorded_case(&app, call).await;
    assert_eq!(case.urgency, Urgency::Urgent);

    // Act: "consultar", a folio by keys, then "otro folio" and "menú principal".
    let mut call = app.call(Some("+525587654321")).await;
    call.speak("consultar", 0.9).await.unwrap();
    assert!(
        call.heard().contains("Marque su número de folio"),
        "{}",
        call.heard()
    );
    // A folio is typed: the folio prompt does not listen to speech.
    assert_eq!(gather_of(&call).input.as_deref(), Some("dtmf"));
    call.press(&format!("{}#", case.folio)).await.unwrap();
    call.speak("otro folio", 0.9).await.unwrap();
    assert!(
        call.heard().contains("Marque su número de folio"),
        "{}",
        call.heard()
    );
    call.press(&format!("{}#", case.folio)).await.unwrap();
    call.speak("menú principal", 0.9).await.unwrap();
    assert!(
        call.heard().contains("Diga reporte o marque 1"),
        "{}",
        call.heard()
    );
    app.stop().await;
}

async fn unclear_or_doubtful_words_ask_again_and_keys_still_work(db: Db) {
    let app = app_or_skip!(db, speech());
    let mut call = app.call(Some(CALLER)).await;

    // Act and assert: a phrase heard with low confidence is not trusted.
    call.speak("alumbrado", 0.3).await.unwrap();
    assert!(
        call.heard().starts_with("No le entendimos."),
        "{}",
        call.heard()
    );
    assert!(call.heard().contains("Diga reporte o marque 1"));

    // Two problems at once pick no single option.
    call.speak("no hay luz y no hay agua", 0.95).await.unwrap();
    assert!(
        call.heard().starts_with("No le entendimos."),
        "{}",
        call.heard()
    );

    // Keys always work.
    call.press("1").await.unwrap();
    assert!(
        call.heard().contains("Para alumbrado público, marque 1."),
        "{}",
        call.heard()
    );
    call.press("3").await.unwrap();
    let case = recorded_case(&app, call).await;
    assert_eq!(app.category_of(&case).await.code, "agua");
    app.stop().await;
}

async fn without_the_setting_the_line_only_listens_to_keys(db: Db) {
    let app = app_or_skip!(db);
    let mut call = app.call(Some(CALLER)).await;

    // Assert: keys only, and the keys-only menu.
    let g = gather_of(&call);
    assert_eq!(g.input.as_deref(), Some("dtmf"));
    assert!(g.hints.is_none());
    assert!(
        call.heard()
            .contains("Para reportar, marque 1. Consultar un folio, 2."),
        "{}",
        call.heard()
    );
    assert!(call.speak("reporte", 0.9).await.is_err());
    app.stop().await;
}
