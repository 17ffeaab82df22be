//! The gate and the safety net: a forged or unsigned webhook is refused with 403 and changes
//! nothing; odd or incomplete requests still get valid TwiML; a broken database still lets the
//! caller leave a report (and never loops); health checks; recorded prompts served for `<Play>`.

use crate::helpers::{
    ACCOUNT_SID, CALLER, Db, Options, STREET_LIGHTING, TOKEN, TestApp, ends_with_hangup, fields,
    form_body, has_record, new_call_sid, new_recording_sid, post_signed_raw, twiml, voice_fields,
};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{CallOutcome, CallSid, RecordingSid, Urgency};
use atiende::prompts::Key;
use atiende::sim::audio::tone_wav;
use atiende::sim::{Waiting, random_hex};
use atiende::twilio::signature::sign;
use atiende::twiml::{Prompt, Verb};
use sqlx::Connection;

on_both_databases!(
    forged_and_missing_signatures_are_refused_and_change_nothing,
    the_signature_covers_the_query_string,
    demo_mode_accepts_unsigned_requests,
    a_request_without_a_valid_call_sid_is_refused_politely,
    a_body_that_is_not_a_form_still_gets_twiml,
    odd_field_names_are_refused_even_when_signed,
    lenient_step_state_still_answers_the_menu,
    an_unknown_step_gets_the_apology,
    the_fallback_url_apologises_and_takes_the_report,
    an_empty_or_malformed_recording_makes_no_case,
    a_broken_database_gets_the_apology_and_never_a_loop,
    a_report_on_the_apology_path_belongs_to_its_call,
    health_and_readiness,
    a_recorded_prompt_is_played_and_served,
);

/// How many rows a table holds, read over a connection of its own (so it also sees what no
/// `Store` method exposes, such as calls without a valid CallSid).
pub async fn count_rows(app: &TestApp, table: &str) -> i64 {
    let url = app.state.config.database_url.as_str();
    let sql = format!("select count(*) from {table}");
    match app.db {
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar::<_, i64>(&sql)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar::<_, i64>(&sql)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
    }
}

/// One webhook request of the forgery test.
struct Target {
    path: String,
    params: Vec<(String, String)>,
    effect: Effect,
    call_sid: String,
}

/// What each webhook would store if it were accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Logs the call.
    Call,
    /// Logs the call and makes a case.
    Case,
    /// Acknowledged only.
    Nothing,
}

async fn forged_and_missing_signatures_are_refused_and_change_nothing(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: one request per webhook, each of which would store something if accepted.
    let record_query = "?t=0&c=1&u=unknown";
    let mut targets: Vec<Target> = Vec::new();
    let sid = new_call_sid();
    targets.push(Target {
        path: "/twilio/voice".into(),
        params: voice_fields(&sid, &[]),
        effect: Effect::Call,
        call_sid: sid,
    });
    let sid = new_call_sid();
    targets.push(Target {
        path: "/twilio/voice/main?t=0".into(),
        params: voice_fields(&sid, &[("Digits", "1")]),
        effect: Effect::Call,
        call_sid: sid,
    });
    let sid = new_call_sid();
    let rec = new_recording_sid();
    let rec_url = format!("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{rec}");
    targets.push(Target {
        path: format!("/twilio/voice/recorded{record_query}"),
        params: voice_fields(
            &sid,
            &[
                ("RecordingSid", &rec),
                ("RecordingUrl", &rec_url),
                ("RecordingDuration", "12"),
                ("Digits", "#"),
            ],
        ),
        effect: Effect::Case,
        call_sid: sid,
    });
    let sid = new_call_sid();
    let rec = new_recording_sid();
    let rec_url = format!("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{rec}");
    targets.push(Target {
        path: format!("/twilio/voice/recording-status{record_query}"),
        params: fields(&[
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", &sid),
            ("RecordingSid", &rec),
            ("RecordingUrl", &rec_url),
            ("RecordingStatus", "completed"),
            ("RecordingDuration", "12"),
            ("RecordingChannels", "1"),
            ("RecordingSource", "RecordVerb"),
        ]),
        effect: Effect::Case,
        call_sid: sid,
    });
    let sid = new_call_sid();
    targets.push(Target {
        path: "/twilio/voice/status".into(),
        params: voice_fields(&sid, &[("CallStatus", "completed"), ("CallDuration", "30")]),
        effect: Effect::Call,
        call_sid: sid,
    });
    let sid = new_call_sid();
    targets.push(Target {
        path: "/twilio/messaging".into(),
        params: fields(&[
            ("MessageSid", &format!("SM{}", random_hex())),
            ("From", CALLER),
            ("To", "+525500000000"),
            ("Body", "hola"),
            ("NumMedia", "0"),
        ]),
        effect: Effect::Nothing,
        call_sid: sid,
    });

    // Act: every forgery against every webhook.
    for Target { path, params, .. } in &targets {
        let url = format!("{}{path}", app.base);
        let body = form_body(params);
        let mut tampered = params.clone();
        let field = tampered
            .iter_mut()
            .find(|(k, _)| k == "From" || k == "RecordingDuration")
            .expect("a field to tamper with");
        field.1 = if field.0 == "From" {
            "+525599999999".into()
        } else {
            "99".into()
        };
        let path_only = path.split('?').next().unwrap();
        let forgeries: Vec<(&str, String, Option<String>)> = vec![
            (
                "wrong token",
                body.clone(),
                Some(sign("not-the-token", &url, params)),
            ),
            (
                "tampered field",
                form_body(&tampered),
                Some(sign(TOKEN, &url, params)),
            ),
            (
                "another path",
                body.clone(),
                Some(sign(
                    TOKEN,
                    &format!("{}/twilio/voice/fallback", app.base),
                    params,
                )),
            ),
            (
                "another host",
                body.clone(),
                Some(sign(
                    TOKEN,
                    &format!("https://attacker.example{path}"),
                    params,
                )),
            ),
            (
                "without the query string",
                body.clone(),
                Some(sign(TOKEN, &format!("{}{path_only}", app.base), params)),
            ),
            ("not base64", body.clone(), Some("not base64!".into())),
            ("empty", body.clone(), Some(String::new())),
            ("missing", body.clone(), None),
        ];
        for (what, body, sig) in forgeries {
            if what == "without the query string" && path_only == path {
                continue;
            }
            let (status, answer) = app.post_raw(path, &body, sig.as_deref()).await;
            assert_eq!(status, 403, "{path}, {what}: {answer}");
            assert!(!answer.contains("<Response"), "{path}, {what}: {answer}");
        }
    }

    // Assert: nothing was stored.
    for Target { path, call_sid, .. } in &targets {
        let sid = CallSid::parse(call_sid).unwrap();
        assert_eq!(app.state.store.call(&sid).await.unwrap(), None, "{path}");
    }
    assert_eq!(app.state.store.count_cases().await.unwrap(), 0);
    assert_eq!(count_rows(&app, "calls").await, 0);
    assert_eq!(count_rows(&app, "call_events").await, 0);

    // The same requests, correctly signed, are accepted and do store.
    let mut cases = 0;
    for Target {
        path,
        params,
        effect,
        call_sid,
    } in &targets
    {
        let (status, answer) = post_signed_raw(&app, path, params).await;
        assert_eq!(status, 200, "{path}: {answer}");
        twiml(&answer);
        let call = app
            .state
            .store
            .call(&CallSid::parse(call_sid).unwrap())
            .await
            .unwrap();
        assert_eq!(call.is_some(), *effect != Effect::Nothing, "{path}");
        if *effect == Effect::Case {
            cases += 1;
        }
        assert_eq!(
            app.state.store.count_cases().await.unwrap(),
            cases,
            "{path}"
        );
    }
    app.stop().await;
}

async fn the_signature_covers_the_query_string(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: a call, and its <Record> action signed for category 1, urgency unknown.
    let sid = new_call_sid();
    let (status, _) = post_signed_raw(&app, "/twilio/voice", &voice_fields(&sid, &[])).await;
    assert_eq!(status, 200);
    let rec = new_recording_sid();
    let params = voice_fields(
        &sid,
        &[
            ("RecordingSid", &rec),
            ("RecordingUrl", "https://api.twilio.com/r"),
            ("RecordingDuration", "20"),
            ("Digits", "#"),
        ],
    );
    let signed_path = "/twilio/voice/recorded?t=0&c=1&u=unknown";
    let sig = sign(TOKEN, &format!("{}{signed_path}", app.base), &params);

    // Act: the same body and signature, sent with the state in the URL changed.
    let (status, answer) = app
        .post_raw(
            "/twilio/voice/recorded?t=0&c=2&u=urgent",
            &form_body(&params),
            Some(&sig),
        )
        .await;

    // Assert: refused, nothing made; the URL actually signed is accepted.
    assert_eq!(status, 403, "{answer}");
    assert_eq!(app.state.store.count_cases().await.unwrap(), 0);
    let steps = app
        .state
        .store
        .call_steps(&CallSid::parse(&sid).unwrap())
        .await
        .unwrap();
    assert_eq!(steps.len(), 1, "only the greeting was logged: {steps:?}");
    let (status, answer) = app
        .post_raw(signed_path, &form_body(&params), Some(&sig))
        .await;
    assert_eq!(status, 200, "{answer}");
    let case = app
        .state
        .store
        .case_of_call(&CallSid::parse(&sid).unwrap())
        .await
        .unwrap()
        .expect("a case from the signed URL");
    assert_eq!(case.category_id, Some(1));
    assert_eq!(case.urgency, Urgency::Unknown);
    assert_eq!(
        case.recording_sid.as_deref(),
        Some(RecordingSid::parse(&rec).unwrap().as_str())
    );
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);
    app.stop().await;
}

async fn demo_mode_accepts_unsigned_requests(db: Db) {
    let app = app_or_skip!(
        db,
        Options {
            token: None,
            ..Default::default()
        }
    );
    assert!(app.state.config.demo_mode());

    // An unsigned request (and one with a nonsense signature) is answered.
    let sid = new_call_sid();
    let (status, answer) = app
        .post_raw("/twilio/voice", &form_body(&voice_fields(&sid, &[])), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        twiml(&answer)
            .spoken_text()
            .contains(&app.text(Key::MainMenu)),
        "{answer}"
    );
    let (status, answer) = app
        .post_raw(
            "/twilio/voice/status",
            &form_body(&voice_fields(&sid, &[("CallStatus", "completed")])),
            Some("bogus"),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        app.state
            .store
            .call(&CallSid::parse(&sid).unwrap())
            .await
            .unwrap()
            .is_some()
    );

    // A whole call, made by the simulator without a token.
    assert!(app.caller.auth_token.is_none());
    let mut call = app.report(Some(CALLER), STREET_LIGHTING).await;
    assert!(
        call.heard().contains("quedó registrado"),
        "{}",
        call.heard()
    );
    call.silence().await.unwrap();
    assert_eq!(call.waiting(), Waiting::Ended);
    call.hang_up(60).await.unwrap();
    let call_sid = CallSid::parse(call.call_sid()).unwrap();
    assert!(
        app.state
            .store
            .case_of_call(&call_sid)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);
    app.stop().await;
}

async fn a_request_without_a_valid_call_sid_is_refused_politely(db: Db) {
    let app = app_or_skip!(db);
    let invalid_request = app.text(Key::InvalidRequest);
    for (what, call_sid) in [
        ("no CallSid", None),
        ("empty CallSid", Some("")),
        ("short CallSid", Some("CA123")),
        ("not a call", Some("RE0123456789abcdef0123456789abcdef")),
        ("not hex", Some("CAzz23456789abcdef0123456789abcdef")),
    ] {
        // Arrange: a correctly signed request whose CallSid is missing or malformed.
        let mut params = fields(&[
            ("From", CALLER),
            ("Caller", CALLER),
            ("To", "+525500000000"),
        ]);
        if let Some(sid) = call_sid {
            params.push(("CallSid".into(), sid.into()));
        }

        // Act
        let (status, answer) = post_signed_raw(&app, "/twilio/voice", &params).await;

        // Assert: valid TwiML that apologises and hangs up; nothing stored.
        assert_eq!(status, 200, "{what}: {answer}");
        let r = twiml(&answer);
        assert!(
            r.spoken_text().contains(&invalid_request),
            "{what}: {answer}"
        );
        assert!(ends_with_hangup(&r), "{what}: {answer}");
        assert!(!has_record(&r), "{what}: {answer}");
    }
    // A later step without a CallSid is refused the same way.
    let (status, answer) = post_signed_raw(
        &app,
        "/twilio/voice/main?t=0",
        &fields(&[("From", CALLER), ("Digits", "1")]),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        twiml(&answer).spoken_text().contains(&invalid_request),
        "{answer}"
    );
    assert_eq!(count_rows(&app, "calls").await, 0);
    assert_eq!(count_rows(&app, "call_events").await, 0);
    assert_eq!(app.state.store.count_cases().await.unwrap(), 0);
    app.stop().await;
}

async fn a_body_that_is_not_a_form_still_gets_twiml(db: Db) {
    // A signature over fields that are not there cannot match: demo mode, so the body is read.
    let app = app_or_skip!(
        db,
        Options {
            token: None,
            ..Default::default()
        }
    );
    let sid = new_call_sid();
    for body in [
        format!(r#"{{"CallSid": "{sid}", "From": "{CALLER}"}}"#),
        "<xml>no</xml>".to_owned(),
        "%%%&&&===".to_owned(),
        String::new(),
    ] {
        let (status, answer) = app.post_raw("/twilio/voice", &body, None).await;
        assert_eq!(status, 200, "{body}: {answer}");
        let r = twiml(&answer);
        assert!(
            r.spoken_text().contains(&app.text(Key::InvalidRequest)),
            "{body}: {answer}"
        );
        assert!(ends_with_hangup(&r), "{body}: {answer}");
    }
    assert_eq!(
        app.state
            .store
            .call(&CallSid::parse(&sid).unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(count_rows(&app, "calls").await, 0);
    app.stop().await;
}

async fn odd_field_names_are_refused_even_when_signed(db: Db) {
    // Arrange: forms a signature is computed over correctly, but with a field name Twilio never
    // sends: empty, with a space, with punctuation.
    let app = app_or_skip!(db);
    let sid = new_call_sid();
    for odd in ["", "Call Sid", "From[]", "9Digits"] {
        let mut fields = voice_fields(&sid, &[]);
        fields.push((odd.to_owned(), "x".to_owned()));

        // Act
        let (status, answer) = post_signed_raw(&app, "/twilio/voice", &fields).await;

        // Assert: refused, nothing written.
        assert_eq!(status, 400, "{odd:?}: {answer}");
    }
    assert_eq!(count_rows(&app, "calls").await, 0);
    // The same call with Twilio's names only is answered.
    let (status, _) = post_signed_raw(&app, "/twilio/voice", &voice_fields(&sid, &[])).await;
    assert_eq!(status, 200);
    app.stop().await;
}

async fn lenient_step_state_still_answers_the_menu(db: Db) {
    let app = app_or_skip!(db);
    let sid = new_call_sid();
    let path = "/twilio/voice/main?t=abc&c=zzz&u=nope&f=maybe";

    // Act: silence at the main menu, with state that does not parse.
    let (status, answer) = post_signed_raw(&app, path, &voice_fields(&sid, &[])).await;

    // Assert: read as no state at all: the first retry of the main menu.
    assert_eq!(status, 200, "{answer}");
    let r = twiml(&answer);
    assert!(
        r.spoken_text().contains(&app.text(Key::NoInput)),
        "{answer}"
    );
    assert!(
        r.spoken_text().contains(&app.text(Key::MainMenu)),
        "{answer}"
    );
    let gather = r
        .verbs
        .iter()
        .find_map(|v| match v {
            Verb::Gather(g) => Some(g.clone()),
            _ => None,
        })
        .expect("the menu's <Gather>");
    assert_eq!(
        gather.action.as_deref(),
        Some(format!("{}/twilio/voice/main?t=1", app.base).as_str())
    );

    // A valid key with the same junk state still works.
    let (status, answer) =
        post_signed_raw(&app, path, &voice_fields(&sid, &[("Digits", "1")])).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        twiml(&answer).spoken_text().contains(&app.text_with(
            Key::CategoryOption,
            &[("category", "alumbrado público"), ("digit", "1")]
        )),
        "{answer}"
    );
    app.stop().await;
}

async fn an_unknown_step_gets_the_apology(db: Db) {
    let app = app_or_skip!(db);
    let sid = new_call_sid();

    // Act: a signed request to a step that does not exist.
    let (status, answer) =
        post_signed_raw(&app, "/twilio/voice/nope", &voice_fields(&sid, &[])).await;

    // Assert: the safety net's apology, which still takes the report.
    assert_eq!(status, 200, "{answer}");
    let r = twiml(&answer);
    assert!(
        r.spoken_text().contains(&app.text(Key::TechnicalError)),
        "{answer}"
    );
    assert!(has_record(&r), "{answer}");

    // Unsigned, it is refused like any other /twilio request.
    let (status, _) = app
        .post_raw(
            "/twilio/voice/nope",
            &form_body(&voice_fields(&sid, &[])),
            None,
        )
        .await;
    assert_eq!(status, 403);
    app.stop().await;
}

async fn the_fallback_url_apologises_and_takes_the_report(db: Db) {
    let app = app_or_skip!(db);
    let sid = new_call_sid();

    // Act: Twilio could not get an answer from the primary handler.
    let (status, answer) = post_signed_raw(
        &app,
        "/twilio/voice/fallback",
        &voice_fields(&sid, &[("ErrorCode", "11205")]),
    )
    .await;

    // Assert: the apology with a <Record> on the apology path, and the request logged.
    assert_eq!(status, 200, "{answer}");
    let r = twiml(&answer);
    assert!(
        r.spoken_text().contains(&app.text(Key::TechnicalError)),
        "{answer}"
    );
    let action = r
        .verbs
        .iter()
        .find_map(|v| match v {
            Verb::Record(rec) => rec.action.clone(),
            _ => None,
        })
        .expect("a <Record> with an action");
    assert!(action.contains("f=1"), "{action}");
    let steps = app
        .state
        .store
        .call_steps(&CallSid::parse(&sid).unwrap())
        .await
        .unwrap();
    assert!(
        steps
            .iter()
            .any(|(s, d)| s == "fallback" && d.as_deref() == Some("error 11205")),
        "{steps:?}"
    );
    app.stop().await;
}

async fn an_empty_or_malformed_recording_makes_no_case(db: Db) {
    let app = app_or_skip!(db);
    let retry = app.text(Key::NothingRecordedRetry);
    let good_sid = new_recording_sid();
    for (what, recording_sid, duration) in [
        ("malformed RecordingSid", "RE123".to_owned(), "15"),
        ("not a recording", new_call_sid(), "15"),
        ("zero seconds", good_sid.clone(), "0"),
    ] {
        // Arrange: a <Record> action describing no usable recording.
        let sid = new_call_sid();
        let params = voice_fields(
            &sid,
            &[
                ("RecordingSid", &recording_sid),
                ("RecordingUrl", "https://api.twilio.com/r"),
                ("RecordingDuration", duration),
                ("Digits", "#"),
            ],
        );

        // Act
        let (status, answer) =
            post_signed_raw(&app, "/twilio/voice/recorded?t=0&c=1&u=unknown", &params).await;

        // Assert: "we did not hear you", another <Record>, no case.
        assert_eq!(status, 200, "{what}: {answer}");
        let r = twiml(&answer);
        assert!(r.spoken_text().contains(&retry), "{what}: {answer}");
        assert!(r.spoken_text().contains("No escuchamos su mensaje"));
        assert!(has_record(&r), "{what}: {answer}");
        assert_eq!(app.state.store.count_cases().await.unwrap(), 0, "{what}");
        let steps = app
            .state
            .store
            .call_steps(&CallSid::parse(&sid).unwrap())
            .await
            .unwrap();
        assert!(
            steps.iter().any(|(s, _)| s == "nothing_recorded"),
            "{what}: {steps:?}"
        );
    }
    // The recording status callback with the same values makes no case either.
    let sid = new_call_sid();
    let (status, _) = post_signed_raw(
        &app,
        "/twilio/voice/recording-status?t=0&c=1&u=unknown",
        &fields(&[
            ("CallSid", &sid),
            ("RecordingSid", &good_sid),
            ("RecordingStatus", "completed"),
            ("RecordingDuration", "0"),
        ]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app.state.store.count_cases().await.unwrap(), 0);
    app.stop().await;
}

async fn a_broken_database_gets_the_apology_and_never_a_loop(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: the pool closed, so every query fails.
    app.state.store.close().await;
    assert!(app.state.store.ping().await.is_err());
    let sid = new_call_sid();

    // Act: a call comes in; the greeting needs nothing from the database (its log line and the
    // open-case courtesy are best effort), so the caller gets the notices and the menu.
    let (status, answer) = post_signed_raw(&app, "/twilio/voice", &voice_fields(&sid, &[])).await;
    assert_eq!(status, 200, "{answer}");
    let greeting = twiml(&answer);
    assert!(greeting.spoken_text().contains("9 1 1"), "{answer}");
    assert!(
        greeting.spoken_text().contains("Grabamos su reporte"),
        "{answer}"
    );

    // The category menu needs the database: the apology, which records the report anyway, on
    // the apology path (f=1).
    let (status, answer) = post_signed_raw(
        &app,
        "/twilio/voice/main?t=0",
        &voice_fields(&sid, &[("Digits", "1")]),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let r = twiml(&answer);
    assert!(
        r.spoken_text().contains(&app.text(Key::TechnicalError)),
        "{answer}"
    );
    let record = r
        .verbs
        .iter()
        .find_map(|v| match v {
            Verb::Record(rec) => Some(rec.clone()),
            _ => None,
        })
        .expect("a <Record> in the apology");
    let action = record.action.expect("the <Record> has an action");
    assert_eq!(
        action,
        format!("{}/twilio/voice/recorded?t=1&f=1", app.base)
    );

    // Act: the caller records; the database still fails.
    let path = action.strip_prefix(&app.base).unwrap().to_owned();
    let rec = new_recording_sid();
    let (status, answer) = post_signed_raw(
        &app,
        &path,
        &voice_fields(
            &sid,
            &[
                ("RecordingSid", &rec),
                ("RecordingUrl", "https://api.twilio.com/r"),
                ("RecordingDuration", "25"),
                ("Digits", "#"),
            ],
        ),
    )
    .await;

    // Assert: the report is kept (in the journal: the folio comes by SMS) and a hang-up, not
    // another <Record>.
    assert_eq!(status, 200, "{answer}");
    let r = twiml(&answer);
    assert!(
        r.spoken_text().contains(&app.text(Key::ReportKept)),
        "{answer}"
    );
    assert!(ends_with_hangup(&r), "{answer}");
    assert!(!has_record(&r), "{answer}");

    // Nothing recorded on the apology path ends the call too.
    let (status, answer) = post_signed_raw(
        &app,
        "/twilio/voice/recorded?t=1&f=1",
        &voice_fields(&sid, &[]),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let r = twiml(&answer);
    assert!(ends_with_hangup(&r), "{answer}");
    assert!(!has_record(&r), "{answer}");
    app.stop().await;
}

async fn a_report_on_the_apology_path_belongs_to_its_call(db: Db) {
    let app = app_or_skip!(db);
    // Arrange: the state a transient database failure leaves behind: the greeting could not be
    // logged (so the call has no row yet) and answered with the apology, whose <Record> posts
    // to /recorded?t=1&f=1. The database is back when the caller finishes recording.
    let sid = new_call_sid();
    let call_sid = CallSid::parse(&sid).unwrap();
    assert_eq!(app.state.store.call(&call_sid).await.unwrap(), None);
    let rec = new_recording_sid();

    // Act: the <Record> action of the apology.
    let (status, answer) = post_signed_raw(
        &app,
        "/twilio/voice/recorded?t=1&f=1",
        &voice_fields(
            &sid,
            &[
                ("RecordingSid", &rec),
                ("RecordingUrl", "https://api.twilio.com/r"),
                ("RecordingDuration", "25"),
                ("Digits", "#"),
            ],
        ),
    )
    .await;

    // Assert: the report is made, belongs to the call, and the call counts as a report.
    assert_eq!(status, 200, "{answer}");
    assert_eq!(app.state.store.count_cases().await.unwrap(), 1);
    let case = app
        .state
        .store
        .case_of_call(&call_sid)
        .await
        .unwrap()
        .expect("the case is linked to its call");
    assert!(
        twiml(&answer)
            .spoken_text()
            .contains(&atiende::voice::speech_digits(&case.folio)),
        "{answer}"
    );
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert!(logged.made_report, "{logged:?}");

    // "1" hears the folio again (it needs the call's case).
    let (status, answer) = post_signed_raw(
        &app,
        "/twilio/voice/folio?t=0",
        &voice_fields(&sid, &[("Digits", "1")]),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let repeat = app.text_with(
        Key::FolioRepeat,
        &[("folio", &atiende::voice::speech_digits(&case.folio))],
    );
    assert!(twiml(&answer).spoken_text().contains(&repeat), "{answer}");

    // When the call ends, it is a report, not an abandoned call owed a callback.
    let (status, _) = post_signed_raw(
        &app,
        "/twilio/voice/status",
        &voice_fields(&sid, &[("CallStatus", "completed"), ("CallDuration", "90")]),
    )
    .await;
    assert_eq!(status, 200);
    let logged = app.state.store.call(&call_sid).await.unwrap().unwrap();
    assert_eq!(logged.outcome, Some(CallOutcome::Report), "{logged:?}");
    app.stop().await;
}

async fn health_and_readiness(db: Db) {
    let app = app_or_skip!(db);
    assert_eq!(app.get("/healthz").await.0, 200);
    assert_eq!(app.get("/readyz").await.0, 200);

    app.state.store.close().await;

    assert_eq!(app.get("/readyz").await.0, 503);
    assert_eq!(app.get("/healthz").await.0, 200, "the process still runs");
    app.stop().await;
}

async fn a_recorded_prompt_is_played_and_served(db: Db) {
    // Arrange: a prompts folder with the catalogue and a recorded greeting.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/prompts/es-MX.toml"),
        dir.path().join("es-MX.toml"),
    )
    .unwrap();
    let wav_path = dir.path().join("greeting.wav");
    std::fs::write(&wav_path, tone_wav(1)).unwrap();
    let wav = std::fs::read(&wav_path).unwrap();
    let app = app_or_skip!(
        db,
        Options::default().with("ATIENDE_PROMPTS_DIR", &dir.path().display().to_string())
    );
    let greeting_text = app.text_with(
        Key::Greeting,
        &[("office", &app.state.config.phone.office_name)],
    );
    let audio_url = format!("{}/audio/prompts/greeting.wav", app.base);

    // Act: a call comes in.
    let call = app.call(Some(CALLER)).await;

    // Assert: the greeting is played, not said; the rest is still said.
    let r = twiml(call.last_xml());
    let plays: Vec<&str> = r
        .verbs
        .iter()
        .filter_map(|v| match v {
            Verb::Play(p) => Some(p.url.as_str()),
            Verb::Gather(g) => g.children.iter().find_map(|c| match c {
                Prompt::Play(p) => Some(p.url.as_str()),
                _ => None,
            }),
            _ => None,
        })
        .collect();
    assert_eq!(plays, [audio_url.as_str()], "{}", call.last_xml());
    assert!(
        !r.spoken_text().contains(&greeting_text),
        "{}",
        call.last_xml()
    );
    assert!(
        r.spoken_text().contains(&app.text(Key::MainMenu)),
        "{}",
        call.last_xml()
    );

    // The URL serves the same bytes as audio/wav, unsigned.
    let res = app
        .client
        .get(format!(
            "{}/audio/prompts/greeting.wav",
            app.caller.connect_base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("audio/wav")
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), wav.as_slice());

    // Anything else is not found.
    for path in [
        "/audio/prompts/nope.wav",
        "/audio/prompts/privacy.wav",
        "/audio/prompts/greeting",
        "/audio/prompts/received.wav",
    ] {
        assert_eq!(app.get(path).await.0, 404, "{path}");
    }
    app.stop().await;
}
