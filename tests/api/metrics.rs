//! `/metrics`: Prometheus' text on an address of its own or behind a bearer token, never open on
//! the public webhook address.

use crate::helpers::{CALLER, Db, Options, STREET_LIGHTING, WATER, eventually, office_hours_now};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{Address, JobState, Timestamp, Urgency};
use atiende::store::Triage;

on_both_databases!(
    a_report_shows_in_every_family_of_the_metrics,
    the_webhooks_that_make_the_case_log_their_steps_in_its_commit,
    the_kept_totals_are_the_tables_own
);

const TOKEN: &str = "metrics-token-0123456789";

async fn a_report_shows_in_every_family_of_the_metrics(db: Db) {
    // Arrange: metrics on their own address and, with a token, on the main one.
    let app = app_or_skip!(
        db,
        Options::default()
            .with("ATIENDE_METRICS_LISTEN", "127.0.0.1:0")
            .with("ATIENDE_METRICS_TOKEN", TOKEN)
    );

    // Act: a report whose jobs finish.
    app.report_and_hang_up(Some(CALLER), WATER).await;
    eventually("the folio SMS is sent", || async {
        !app.api.sms().is_empty()
    })
    .await;
    let own = app.metrics_base.clone().expect("the metrics address");
    let get = |url: String, token: Option<&'static str>| {
        let mut req = app.client.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let mut text = String::new();
    for _ in 0..100 {
        text = get(format!("{own}/metrics"), None).await.1;
        if text.contains(r#"atiende_jobs{kind="send_sms",state="done"} 1"#)
            && text.contains(r#"atiende_jobs{kind="download_recording",state="done"} 1"#)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Assert: each family, with the report in it.
    for line in [
        r#"atiende_webhook_seconds_count{step="recorded"} 1"#,
        r#"atiende_webhook_seconds_count{step="incoming"} 1"#,
        r#"atiende_calls{outcome="report"} 1"#,
        r#"atiende_cases{category="agua",channel="phone"} 1"#,
        r#"atiende_jobs{kind="download_recording",state="done"} 1"#,
        r#"atiende_jobs{kind="send_sms",state="done"} 1"#,
        "atiende_sms{status=",
        "atiende_database_down 0",
        "atiende_shed_total 0",
        "atiende_journal_entries_total 0",
        "atiende_db_connections{pool=",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");

    // On the public address: a 404 without the token or with a wrong one.
    let public = format!("{}/metrics", app.caller.connect_base);
    assert_eq!(get(public.clone(), None).await.0, 404);
    assert_eq!(
        get(public.clone(), Some("metrics-token-wrong-00000"))
            .await
            .0,
        404
    );
    let (status, with_token) = get(public, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(with_token.contains("atiende_cases{"), "{with_token}");
    app.stop().await;
}

/// The pool waits come from sqlx's own event for each connection acquired, read by the
/// subscriber `atiende serve` installs: the real binary, one service in its process.
#[tokio::test]
async fn the_real_binary_reports_how_long_connections_took_to_get() {
    use crate::helpers::{ServeProcess, free_port, serve_env, start_fake_api};
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let api = start_fake_api(crate::helpers::TOKEN).await;
    let url = format!("sqlite://{}", dir.path().join("atiende.db").display());
    let mut env = serve_env(&url, &dir.path().join("data"), &api);
    env.push(("ATIENDE_METRICS_TOKEN", TOKEN.into()));
    let port = free_port();
    let mut server = ServeProcess::start(dir.path(), port, &env, &dir.path().join("log"));
    server.wait_until_healthy().await;
    let client = reqwest::Client::new();
    let scrape = || async {
        let res = client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    };
    let count = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("atiende_db_pool_wait_seconds_count "))
            .unwrap_or_else(|| panic!("no pool waits in:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };

    // Act: two scrapes, each reading the database's totals.
    let first = count(&scrape().await);
    let second = scrape().await;

    // Assert: the scrape's own reads took connections, each one counted, in the buckets.
    assert!(count(&second) > first, "{first} then:\n{second}");
    assert!(
        second.contains(r#"atiende_db_pool_wait_seconds_bucket{le="0.001"}"#),
        "{second}"
    );
    server.stop();
}

#[tokio::test]
async fn without_a_token_or_an_address_there_are_no_metrics() {
    let app = crate::helpers::spawn_app_with(Db::Sqlite, Options::default())
        .await
        .unwrap();
    let (status, _) = app.get("/metrics").await;
    assert_eq!(status, 404);
    assert!(app.metrics_base.is_none());
    app.stop().await;
}

on_both_databases!(concurrent_webhooks_share_commits_and_every_step_is_logged_in_order);

async fn concurrent_webhooks_share_commits_and_every_step_is_logged_in_order(db: Db) {
    use atiende::domain::{CallSid, CallerId, Timestamp};
    use atiende::store::{CallStep, StepKind};
    // Arrange: 50 calls, each logging four steps in order (the third a callback, which must
    // not move the call's last step), all calls at once.
    let app = app_or_skip!(db);
    let store = app.state.store.clone();
    let (batches_before, steps_before) = store.step_batches();
    let at = app.state.clock.now();
    let calls: Vec<String> = (0..50).map(|_| crate::helpers::new_call_sid()).collect();

    // Act
    let mut tasks = tokio::task::JoinSet::new();
    for sid in calls.clone() {
        let store = store.clone();
        tasks.spawn(async move {
            let sid = CallSid::parse(&sid).unwrap();
            let caller = CallerId::parse(Some(CALLER));
            for (i, (step, kind)) in [
                ("incoming", StepKind::Caller),
                ("main", StepKind::Caller),
                ("call_status", StepKind::Callback),
                ("category", StepKind::Caller),
            ]
            .into_iter()
            .enumerate()
            {
                store
                    .record_call_step(&CallStep {
                        call_sid: &sid,
                        caller: &caller,
                        to: Some("+525500000000"),
                        step,
                        detail: Some("it's \"quoted\""),
                        kind,
                        at: Timestamp::from_utc(
                            at.as_utc() + chrono::TimeDelta::milliseconds(i as i64),
                        ),
                    })
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    // Assert: every step, in order, once; the last step is the caller's; and 200 steps took
    // fewer commits than steps.
    for sid in &calls {
        let sid = CallSid::parse(sid).unwrap();
        let call = store.call(&sid).await.unwrap().unwrap();
        assert_eq!(call.last_step, "category", "{call:?}");
        assert_eq!(call.from_number.as_deref(), Some(CALLER));
        let steps: Vec<String> = store
            .call_steps(&sid)
            .await
            .unwrap()
            .into_iter()
            .map(|(step, _)| step)
            .collect();
        assert_eq!(steps, ["incoming", "main", "call_status", "category"]);
    }
    let (batches, steps) = store.step_batches();
    assert_eq!(steps - steps_before, 200);
    assert!(
        batches - batches_before < 200,
        "{} commits for 200 steps",
        batches - batches_before
    );
    app.stop().await;
}

on_both_databases!(concurrent_reports_share_commits_and_each_recording_makes_one_case);

async fn concurrent_reports_share_commits_and_each_recording_makes_one_case(db: Db) {
    use atiende::domain::{CallSid, PhoneNumber, RecordingSid};
    use atiende::store::NewPhoneCase;
    use std::collections::HashSet;
    // Arrange: 40 reports, each announced twice at once (the `<Record>` action and the
    // recording callback race, as they do), all at once.
    let app = app_or_skip!(db);
    let store = app.state.store.clone();
    let (batches_before, cases_before) = store.case_batches();
    let at = app.state.clock.now();
    let reports: Vec<(String, String)> = (0..40)
        .map(|_| {
            (
                crate::helpers::new_call_sid(),
                crate::helpers::new_recording_sid(),
            )
        })
        .collect();

    // Act
    let mut tasks = tokio::task::JoinSet::new();
    for (call, recording) in reports.iter().flat_map(|r| [r.clone(), r.clone()]) {
        let store = store.clone();
        tasks.spawn(async move {
            let call_sid = CallSid::parse(&call).unwrap();
            let recording_sid = RecordingSid::parse(&recording).unwrap();
            let caller = PhoneNumber::parse(CALLER).ok();
            let url =
                format!("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{recording}");
            let (case, created) = store
                .create_phone_case(&NewPhoneCase {
                    call_sid: &call_sid,
                    caller: caller.as_ref(),
                    category_id: Some(3),
                    urgency: atiende::domain::Urgency::Unknown,
                    recording_sid: &recording_sid,
                    recording_url: Some(&url),
                    recording_duration_seconds: Some(30),
                    at,
                    recovered: None,
                })
                .await
                .unwrap();
            (recording, case.folio, created)
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        answers.push(done.unwrap());
    }

    // Assert: both announcements of a recording got the same folio, exactly one made it; 40
    // distinct folios, each case with its folio SMS and its download.
    for (_, recording) in &reports {
        let mine: Vec<_> = answers.iter().filter(|(r, _, _)| r == recording).collect();
        assert_eq!(mine.len(), 2);
        assert_eq!(mine[0].1, mine[1].1, "{mine:?}");
        assert_eq!(mine.iter().filter(|(_, _, created)| *created).count(), 1);
    }
    let folios: HashSet<&String> = answers.iter().map(|(_, folio, _)| folio).collect();
    assert_eq!(folios.len(), 40);
    assert_eq!(store.count_cases().await.unwrap(), 40);
    let figures = store.service_figures().await.unwrap();
    for kind in ["download_recording", "send_sms"] {
        let n: i64 = figures
            .jobs_by_kind_state
            .iter()
            .filter(|(k, _, _)| k == kind)
            .map(|(_, _, n)| n)
            .sum();
        assert_eq!(n, 40, "{kind}: {figures:?}");
    }
    // On SQLite through the group writer, fewer commits than announcements; PostgreSQL makes
    // them in parallel, one transaction each.
    let (batches, cases) = store.case_batches();
    if matches!(db, Db::Sqlite) {
        assert_eq!(
            cases - cases_before,
            80,
            "each announcement is answered from a commit"
        );
        assert!(
            batches - batches_before < 80,
            "{} commits for 80 announcements",
            batches - batches_before
        );
    } else {
        assert_eq!((batches, cases), (batches_before, cases_before));
    }
    app.stop().await;
}

/// `/metrics` reads totals that triggers keep as the rows change (migration 0013), not counts
/// over whole tables. Whatever the rows go through (calls ending each way or still going, cases
/// made and reclassified, jobs and SMS done, rows removed by hand), the kept totals are the
/// tables' own.
async fn the_kept_totals_are_the_tables_own(db: Db) {
    let app = app_or_skip!(db);
    let store = &app.state.store;
    let same = |when: &'static str| async move {
        let kept = store.service_figures().await.unwrap();
        let counted = store.service_figures_recounted().await.unwrap();
        assert_eq!(kept, counted, "{when}");
        kept
    };
    same("before any call").await;

    // Act: two reports whose jobs finish, a call abandoned, a call still at the menu.
    let water = app.report_and_hang_up(Some(CALLER), WATER).await;
    app.report_and_hang_up(Some("+525587654321"), STREET_LIGHTING)
        .await;
    let mut abandoned = app.call(Some("+525511112222")).await;
    abandoned.hang_up(12).await.unwrap();
    let _at_the_menu = app.call(Some("+525533334444")).await;
    eventually("both folio SMS are sent", || async {
        app.api.sms().len() >= 2
    })
    .await;
    eventually("every job is done", || async {
        store
            .jobs(Some(JobState::Queued), 10)
            .await
            .unwrap()
            .is_empty()
            && store
                .jobs(Some(JobState::Running), 10)
                .await
                .unwrap()
                .is_empty()
    })
    .await;

    // Assert
    let kept = same("after the calls").await;
    assert!(
        kept.calls_by_outcome
            .iter()
            .any(|(o, n)| o == "in_progress" && *n == 1),
        "{kept:?}"
    );
    assert!(
        kept.jobs_by_kind_state.iter().any(|(_, s, _)| s == "done"),
        "{kept:?}"
    );

    // Act: the water case reclassified as street lighting.
    let lighting = store
        .categories()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.code == "alumbrado")
        .unwrap();
    store
        .triage_case(&Triage {
            case_id: water.id,
            category_id: Some(lighting.id),
            urgency: Urgency::NotUrgent,
            address: &Address::default(),
            description: None,
            actor: "operador",
            at: Timestamp::from_utc(office_hours_now()),
        })
        .await
        .unwrap();

    // Assert: the same before and after the changes are folded into the totals (PostgreSQL
    // appends changes, and each instance folds them every few seconds).
    same("after the triage").await;
    let folded = store.fold_service_counts().await.unwrap();
    assert_eq!(
        folded > 0,
        matches!(db, Db::Postgres),
        "{folded} totals changed"
    );
    let kept = same("after the triage, folded").await;
    assert!(
        kept.cases_by_category_channel
            .iter()
            .any(|(c, ch, n)| c == "alumbrado" && ch == "phone" && *n == 2),
        "{kept:?}"
    );

    // Act: rows removed by hand (an operator cleaning up): the water case with what hangs on
    // it, the abandoned call, every job (and on PostgreSQL, one more report).
    let url = app.state.config.database_url.as_str().to_owned();
    let statements = [
        format!("delete from case_events where case_id = {}", water.id),
        format!("delete from recordings where case_id = {}", water.id),
        format!("delete from messages where case_id = {}", water.id),
        format!("delete from cases where id = {}", water.id),
        format!(
            "delete from call_events where call_id = (select id from calls where call_sid = '{}')",
            abandoned.call_sid()
        ),
        format!(
            "delete from calls where call_sid = '{}'",
            abandoned.call_sid()
        ),
        "delete from jobs".to_owned(),
    ];
    match db {
        Db::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            for sql in &statements {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        Db::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            for sql in &statements {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            // The service folds the changes by itself, every few seconds.
            app.report_and_hang_up(Some(CALLER), WATER).await;
            eventually("the third folio SMS is sent", || async {
                app.api.sms().len() >= 3
            })
            .await;
            eventually("every job is done", || async {
                store.jobs(Some(JobState::Done), 10).await.unwrap().len() == 2
            })
            .await;
            eventually("the service folds the changes", || async {
                sqlx::query_scalar::<_, i64>("select count(*) from service_count_changes")
                    .fetch_one(&pool)
                    .await
                    .unwrap()
                    == 0
            })
            .await;
            pool.close().await;
        }
    }

    // Assert
    let kept = same("after the deletions").await;
    if matches!(db, Db::Sqlite) {
        assert!(kept.jobs_by_kind_state.is_empty(), "{kept:?}");
    }
    store.fold_service_counts().await.unwrap();
    same("after the deletions, folded").await;
    assert_eq!(
        store.fold_service_counts().await.unwrap(),
        0,
        "nothing left to fold"
    );
    app.stop().await;
}

/// The `<Record>` action and the recording callback each wait for one commit: their call steps
/// are written in the case's transaction, not in step commits of their own, and the action's
/// step still names the folio.
async fn the_webhooks_that_make_the_case_log_their_steps_in_its_commit(db: Db) {
    // Arrange: a caller at the beep.
    let app = app_or_skip!(db);
    let mut call = crate::helpers::at_the_beep(&app.caller, Some(CALLER), WATER).await;
    let (batches_before, steps_before) = app.state.store.step_batches();

    // Act: the recording ends with # (the action, and Twilio's recording callback).
    call.record(30, atiende::sim::RecordingEnd::Key)
        .await
        .unwrap();
    eventually("the callback's step is logged", || async {
        !app.step_details(&call, "recording_status").await.is_empty()
    })
    .await;

    // Assert: both steps logged, with the case, and no step commit of their own.
    let case = app.case_of(&call).await;
    assert_eq!(
        app.step_details(&call, "recorded").await,
        vec![format!("folio {}", case.folio)]
    );
    assert_eq!(
        app.step_details(&call, "recording_status").await,
        vec!["completed".to_owned()]
    );
    let (batches, steps) = app.state.store.step_batches();
    assert_eq!(batches, batches_before, "step commits of their own");
    assert_eq!(steps, steps_before + 2);
    app.stop().await;
}
