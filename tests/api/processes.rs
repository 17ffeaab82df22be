//! Two `atiende serve` processes (the real binary) on one PostgreSQL database and one
//! S3-compatible bucket, behind a round-robin balancer that sends each webhook of a call to the
//! next process in turn: the results of one instance, with the work shared.
//!
//! Each process has its own data folder (temporary downloads) and the same settings otherwise:
//! database, storage, Twilio account and token, and the balancer's address as its public URL.

use crate::helpers::{
    Db, HANG_GUARD, ServeProcess, TOKEN, WATER, at_the_beep, balancer, caller_for, drop_schema,
    free_port, fresh_bucket, fresh_database, record, s3_url, serve_env, start_fake_api,
    stored_recording,
};
use atiende::store::Store;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// The keys of the objects in `bucket` on the S3-compatible test server (moto answers unsigned
/// requests), under `prefix`.
async fn objects(bucket: &str, prefix: &str) -> Vec<String> {
    let endpoint = s3_url().expect("the S3 test server");
    let listing = reqwest::get(format!(
        "{endpoint}/{bucket}?list-type=2&prefix={prefix}&max-keys=1000"
    ))
    .await
    .expect("the S3 test server answers")
    .text()
    .await
    .unwrap();
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|rest| rest.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn two_serve_processes_behind_a_balancer_give_one_case_one_file_one_sms_per_call() {
    // Arrange: one schema, one bucket, the fake of Twilio's API; two processes.
    let dir = tempfile::tempdir().unwrap();
    let Some((database_url, schema)) = fresh_database(Db::Postgres, dir.path()).await else {
        eprintln!("skipped: ATIENDE_TEST_POSTGRES_URL is not set");
        return;
    };
    let Some(bucket_settings) = fresh_bucket().await else {
        eprintln!("skipped: ATIENDE_TEST_S3_URL is not set");
        drop_schema(schema).await;
        return;
    };
    let storage_url = bucket_settings
        .iter()
        .find(|(k, _)| *k == "ATIENDE_STORAGE_URL")
        .map(|(_, v)| v.clone())
        .unwrap();
    let bucket = storage_url
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let api = start_fake_api(TOKEN).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = format!("http://{}", listener.local_addr().unwrap());
    let mut servers = Vec::new();
    for name in ["a", "b"] {
        let data = dir.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        let mut env = serve_env(&database_url, &data, &api);
        env.extend(bucket_settings.iter().cloned());
        env.push(("ATIENDE_PUBLIC_URL", public.clone()));
        let log = dir.path().join(format!("{name}.log"));
        servers.push(ServeProcess::start(dir.path(), free_port(), &env, &log));
    }
    for server in &mut servers {
        server.wait_until_healthy().await;
    }
    let upstreams = servers
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let counts = balancer(listener, upstreams);
    let mut caller = caller_for(&public, &public, Some(TOKEN), &api);
    // A new connection for every request, so that the turns really alternate.
    caller.client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    // Act: eight reports, every webhook to the next process.
    let calls = 8;
    let mut sids = Vec::new();
    let mut callers = BTreeSet::new();
    for n in 0..calls {
        let from = format!("+5255123456{n:02}");
        let mut call = at_the_beep(&caller, Some(&from), WATER).await;
        let recording = call.new_recording(4);
        record(&mut call, &recording).await;
        call.hang_up(40).await.unwrap();
        sids.push(recording.sid.clone());
        callers.insert(from);
    }

    // Every job done (bounded).
    let store = Store::connect(&database_url).await.unwrap();
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        let pending = store.jobs(None, 100).await.unwrap();
        if pending.is_empty() && api.sms().len() >= calls {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs never finished: {pending:#?}\n{}\n{}",
            servers[0].log(),
            servers[1].log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Assert: both processes answered webhooks; one case, one stored object, one download and
    // one folio SMS per call.
    let answered: Vec<usize> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert!(answered.iter().all(|&n| n > 0), "{answered:?}");
    assert_eq!(store.count_cases().await.unwrap(), calls as i64);
    for sid in &sids {
        assert_eq!(api.requests_for_recording(sid), 1, "{sid} fetched once");
        stored_recording(&store, sid).await;
    }
    let mut stored = objects(&bucket, "recordings/").await;
    stored.sort();
    let mut expected: Vec<String> = sids
        .iter()
        .map(|sid| format!("recordings/{sid}.wav"))
        .collect();
    expected.sort();
    assert_eq!(stored, expected, "one object per recording");
    let sms = api.sms();
    assert_eq!(sms.len(), calls, "one folio SMS per call: {sms:?}");
    let to: BTreeSet<String> = sms
        .iter()
        .filter_map(|m| m.get("To").map(str::to_owned))
        .collect();
    assert_eq!(to, callers, "each caller got one");
    // The queue is shared: each recording was stored by one process or the other (from their
    // logs). Which one is a race between the process that made the case and the one told the
    // file is ready, so the split is printed, not asserted.
    let stored_by: Vec<usize> = servers
        .iter()
        .map(|s| s.log().matches("recording stored").count())
        .collect();
    eprintln!("webhooks per process {answered:?}, recordings stored per process {stored_by:?}");
    assert_eq!(stored_by.iter().sum::<usize>(), calls, "{stored_by:?}");

    store.close().await;
    for server in servers {
        server.stop();
    }
    drop_schema(schema).await;
}
