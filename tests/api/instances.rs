//! Several instances on one PostgreSQL and one S3-compatible store, behind a balancer that sends
//! each webhook of a call to the next instance in turn: the results of one instance.
//!
//! The instances run in this process (each an `Application` with its own pools, workers and
//! listener, as `atiende serve` builds it); the balancer is a round-robin TCP proxy on loopback,
//! and the simulator opens a new connection for every request so that the turns really
//! alternate.

use crate::helpers::{
    Db, Options, StorageKind, TOKEN, WATER, at_the_beep, balancer, caller_for, eventually, record,
    spawn_app_with,
};
use atiende::domain::{JobState, RecordingStatus};
use atiende::{Application, Clock};
use std::sync::atomic::Ordering;
use tokio::net::TcpListener;

#[tokio::test]
async fn two_instances_behind_a_balancer_give_one_case_one_file_one_sms_per_call() {
    // Arrange: a first instance makes the schema and the bucket; two more instances run on the
    // same database and storage with the balancer's address as their public URL.
    let Some(first) = spawn_app_with(
        Db::Postgres,
        Options {
            storage: StorageKind::S3,
            ..Options::default()
        },
    )
    .await
    else {
        eprintln!("skipped: ATIENDE_TEST_POSTGRES_URL or ATIENDE_TEST_S3_URL is not set");
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    let mut instances = Vec::new();
    for _ in 0..2 {
        let mut config = (*first.state.config).clone();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.public_url = public.parse().unwrap();
        config.public_url_explicit = true;
        let app = Application::build_with_clock(config, Clock::system())
            .await
            .unwrap();
        instances.push(app.spawn());
    }
    let upstreams = instances
        .iter()
        .map(|i| i.connect_base.trim_start_matches("http://").to_owned())
        .collect();
    // The balancer answers at the public URL the instances write into TwiML and sign for.
    let counts = balancer(listener, upstreams);
    let mut caller = caller_for(&public, &public, Some(TOKEN), &first.api);
    caller.client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    // Act: six reports, every webhook to the next instance.
    let calls = 6;
    let mut sids = Vec::new();
    for n in 0..calls {
        let from = format!("+5255123456{n:02}");
        let mut call = at_the_beep(&caller, Some(&from), WATER).await;
        let recording = call.new_recording(4);
        record(&mut call, &recording).await;
        call.hang_up(40).await.unwrap();
        sids.push(recording.sid.clone());
    }

    // Assert: both instances served; one case, one stored file, one download and one folio SMS
    // per call.
    assert!(counts.iter().all(|c| c.load(Ordering::SeqCst) > 0));
    let store = &first.state.store;
    let keys: Vec<String> = sids.iter().map(|sid| format!("recording:{sid}")).collect();
    eventually("every recording stored and every SMS sent", || async {
        let mut stored = true;
        for key in &keys {
            let job = store.job_by_key(key).await.ok().flatten();
            stored &= job.is_some_and(|j| j.state == JobState::Done);
        }
        stored && first.api.sms().len() >= calls
    })
    .await;
    assert_eq!(store.count_cases().await.unwrap(), calls as i64);
    for sid in &sids {
        assert_eq!(
            first.api.requests_for_recording(sid),
            1,
            "{sid} fetched once"
        );
        let row = store
            .recording(&atiende::domain::RecordingSid::parse(sid).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, RecordingStatus::Stored);
    }
    assert_eq!(first.state.files.list().await.unwrap().len(), calls);
    assert_eq!(first.api.sms().len(), calls, "one folio SMS per call");
    for i in instances {
        i.stop(std::time::Duration::from_secs(30)).await.unwrap();
    }
    first.stop().await;
}
