//! `/metrics`: Prometheus' text on an address of its own or behind a bearer token, never open on
//! the public webhook address.

use crate::helpers::{CALLER, Db, Options, WATER, eventually};
use crate::{app_or_skip, on_both_databases};

on_both_databases!(a_report_shows_in_every_family_of_the_metrics);

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
