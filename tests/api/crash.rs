//! Never lose a report: the real `atiende serve` killed with SIGKILL at pseudo-random moments
//! while simulated callers make reports, restarted each time on the same port, database and
//! data folder; at the end, what every caller was told holds.
//!
//! Twilio is played as it behaves: a voice request that fails (the connection refused or cut)
//! is never retried; Twilio asks the number's fallback URL at once (the same service, so
//! usually dead too), and if that fails the caller hears Twilio's error and the call ends. The
//! recording status callback is sent once, a moment after the recording (when Twilio has the
//! file), whatever became of the action. So a call cut by a kill may be lost, but only if no
//! request naming its recording was answered: every folio a caller heard, and every recording
//! the service acknowledged, must be a case.
//!
//! The kill schedule comes from a seed, printed (`ATIENDE_CRASH_SEED=N` repeats it); the calls'
//! timing around it is the machine's.

use crate::helpers::{
    Db, HANG_GUARD, STREET_LIGHTING, ServeProcess, TOKEN, WATER, caller_for, drop_schema,
    files_under, free_port, fresh_database, serve_env, start_fake_api, stored_recording,
};
use atiende::sim::{CallSimulator, RecordingEnd, Waiting};
use atiende::store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::Connection;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

crate::on_both_databases!(sigkill_at_random_moments_loses_no_report_a_caller_was_told);

/// How many times the service is killed.
const KILLS: usize = 3;
/// Callers on the line at once.
const CONCURRENT_CALLS: usize = 6;
/// Calls made at least; more are made until the last kill is over.
const MIN_CALLS: usize = 40;
/// A bound on the calls made, should the kills never end.
const MAX_CALLS: usize = 400;
/// What the caller hears when the report is taken (`folio_created` in `prompts/es-MX.toml`).
const FOLIO_TOLD: &str = "Su reporte quedó registrado con el folio:";

/// What became of one simulated call, as its caller and Twilio saw it.
#[derive(Debug, Default)]
struct CallRecord {
    call_sid: String,
    from: String,
    /// The recordings Twilio made (the caller spoke after the beep), in order.
    recordings: Vec<String>,
    /// The recordings the service answered 200 to a request about (the action or the callback).
    acknowledged: BTreeSet<String>,
    /// The folio the caller heard, digits only.
    folio_heard: Option<String>,
    /// Requests that failed and went to the fallback URL.
    failures: usize,
    /// The fallback failed too: the caller heard Twilio's error and the call ended.
    cut: bool,
}

/// The seed of this run: `ATIENDE_CRASH_SEED`, or the clock's.
fn seed() -> u64 {
    std::env::var("ATIENDE_CRASH_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// The folio in what the caller heard after the report ("… el folio: 1 0 0, 0 1 4."), digits
/// only.
fn folio_in(heard: &str) -> Option<String> {
    let (_, rest) = heard.split_once(FOLIO_TOLD)?;
    let said = rest.split('.').next()?;
    let digits: String = said.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// One caller making a report (street lighting or water), with Twilio's behaviour on failures.
async fn one_call(caller: &CallSimulator, n: usize, seed: u64) -> CallRecord {
    let mut rng = StdRng::seed_from_u64(seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let from = format!("+5255{:08}", 10_000_000 + n);
    let mut call = caller.dialled(Some(&from));
    let mut record = CallRecord {
        call_sid: call.call_sid().to_owned(),
        from,
        ..CallRecord::default()
    };
    let category = if rng.random_bool(0.5) {
        STREET_LIGHTING
    } else {
        WATER
    };
    let mut keys = ["1", category].into_iter();
    let mut made = Vec::new();
    let mut attempt = call.ring().await;
    loop {
        if attempt.is_err() {
            record.failures += 1;
            if call.fallback("11200").await.is_err() {
                record.cut = true;
                break;
            }
        }
        // The caller listens, thinks, presses.
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..40))).await;
        attempt = match call.waiting() {
            Waiting::Ended => break,
            Waiting::Keys { .. } => {
                if let Some(folio) = folio_in(&call.heard()) {
                    record.folio_heard = Some(folio);
                    break;
                }
                let key = keys
                    .next()
                    .unwrap_or_else(|| panic!("a third menu: {}", call.heard()));
                call.press(key).await
            }
            Waiting::Recording => {
                let recording = call.new_recording(rng.random_range(3..30));
                record.recordings.push(recording.sid.clone());
                let action = call.send_record_action(&recording, RecordingEnd::Key).await;
                if action.is_ok() {
                    record.acknowledged.insert(recording.sid.clone());
                }
                made.push(recording);
                action
            }
            Waiting::Transfer(to) => panic!("a transfer to {to} in a report"),
        };
    }
    // The caller hangs up; Twilio's status callback is not retried either.
    let _ = call.hang_up(rng.random_range(30..90)).await;
    // Twilio sends each recording's status callback once the file is ready, a moment later,
    // whatever became of the action.
    for recording in &made {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..2500))).await;
        if call
            .send_recording_status(recording, "completed")
            .await
            .is_ok()
        {
            record.acknowledged.insert(recording.sid.clone());
        }
    }
    record
}

/// A case as read back from the database.
#[derive(Debug)]
struct CaseRow {
    folio: String,
    call_sid: Option<String>,
    recording_sid: Option<String>,
    sms_number: Option<String>,
}

const CASES_SQL: &str = "select c.folio, k.call_sid, c.recording_sid, c.sms_number \
     from cases c left join calls k on k.id = c.call_id order by c.id";

/// Every case, read over a connection of its own.
async fn cases(db: Db, url: &str) -> Vec<CaseRow> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = match db {
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_as(CASES_SQL)
                .fetch_all(&mut conn)
                .await
                .unwrap()
        }
        Db::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_as(CASES_SQL)
                .fetch_all(&mut conn)
                .await
                .unwrap()
        }
    };
    rows.into_iter()
        .map(|(folio, call_sid, recording_sid, sms_number)| CaseRow {
            folio: folio.expect("every case has a folio"),
            call_sid,
            recording_sid,
            sms_number,
        })
        .collect()
}

/// The message id in an SMS request's status callback URL (`…/twilio/messaging/status?m=ID`).
fn message_id(sms: &atiende::sim::fake_api::SentSms) -> Option<i64> {
    let callback = url::Url::parse(sms.get("StatusCallback")?).ok()?;
    let m = callback.query_pairs().find(|(k, _)| k == "m")?.1;
    m.parse().ok()
}

async fn sigkill_at_random_moments_loses_no_report_a_caller_was_told(db: Db) {
    // Arrange: the fake of Twilio's API here, the real binary in a child process.
    let dir = tempfile::tempdir().unwrap();
    let Some((database_url, schema)) = fresh_database(db, dir.path()).await else {
        eprintln!("skipped: ATIENDE_TEST_POSTGRES_URL is not set");
        return;
    };
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let api = start_fake_api(TOKEN).await;
    let env = serve_env(&database_url, &data, &api);
    let port = free_port();
    let mut server = ServeProcess::start(dir.path(), port, &env, &log);
    server.wait_until_healthy().await;
    let base = format!("http://127.0.0.1:{port}");
    let mut caller = caller_for(&base, &base, Some(TOKEN), &api);
    // A new connection per request, as Twilio's requests come: none outlives a kill unseen.
    caller.client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let seed = seed();
    eprintln!("crash seed: {seed} (ATIENDE_CRASH_SEED={seed} repeats the kill schedule)");

    // Act: callers on the line while the service is killed and restarted KILLS times.
    let kills_over = Arc::new(AtomicBool::new(false));
    let killer = {
        let (dir, env, log, over) = (
            dir.path().to_path_buf(),
            env.clone(),
            log.clone(),
            kills_over.clone(),
        );
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut server = server;
            for kill in 1..=KILLS {
                let wait = rng.random_range(200..1500);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                eprintln!("kill {kill}: SIGKILL to pid {}", server.pid());
                server.sigkill();
                server = ServeProcess::start(&dir, port, &env, &log);
                server.wait_until_healthy().await;
            }
            over.store(true, Ordering::SeqCst);
            server
        })
    };
    let next = Arc::new(AtomicUsize::new(0));
    let records = Arc::new(Mutex::new(Vec::new()));
    let mut callers = Vec::new();
    for i in 0..CONCURRENT_CALLS {
        let (caller, next, records, over) = (
            caller.clone(),
            next.clone(),
            records.clone(),
            kills_over.clone(),
        );
        callers.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed.rotate_left(17) ^ i as u64);
            loop {
                // Calls arrive at their own pace, whether the service is up or not.
                tokio::time::sleep(Duration::from_millis(rng.random_range(20..120))).await;
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= MAX_CALLS || (n >= MIN_CALLS && over.load(Ordering::SeqCst)) {
                    break;
                }
                let record = one_call(&caller, n, seed).await;
                records.lock().unwrap().push(record);
            }
        }));
    }
    for c in callers {
        c.await.expect("a caller task ended normally");
    }
    let server = tokio::time::timeout(HANG_GUARD, killer)
        .await
        .expect("the kills end")
        .expect("the killer ran");
    let records = std::mem::take(&mut *records.lock().unwrap());

    // Every job runs to its end (bounded): downloads stored, SMS sent.
    let store = Store::connect(&database_url).await.unwrap();
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        let pending = store.jobs(None, 1000).await.unwrap();
        if pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs never finished: {pending:#?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert
    let cases = cases(db, &database_url).await;
    let by_call: HashMap<&str, &CallRecord> =
        records.iter().map(|r| (r.call_sid.as_str(), r)).collect();
    let mut cases_of_call: BTreeMap<&str, Vec<&CaseRow>> = BTreeMap::new();
    for case in &cases {
        let sid = case.call_sid.as_deref().expect("every case has its call");
        let record = by_call
            .get(sid)
            .unwrap_or_else(|| panic!("a case of a call nobody made: {case:?}"));
        let recording = case.recording_sid.as_deref().expect("a phone case");
        assert!(
            record.recordings.iter().any(|r| r == recording),
            "{case:?} of a recording its call never made: {record:?}"
        );
        cases_of_call.entry(sid).or_default().push(case);
    }
    for record in &records {
        let made = cases_of_call
            .get(record.call_sid.as_str())
            .map_or(&[][..], Vec::as_slice);
        // Every folio a caller heard exists, once, and is the case of that call.
        if let Some(folio) = &record.folio_heard {
            let found: Vec<_> = cases.iter().filter(|c| &c.folio == folio).collect();
            assert_eq!(found.len(), 1, "folio {folio} heard: {record:?}");
            assert_eq!(found[0].call_sid.as_deref(), Some(record.call_sid.as_str()));
        }
        // Every recording the service acknowledged is a case; one case per call.
        for sid in &record.acknowledged {
            assert!(
                made.iter().any(|c| c.recording_sid.as_deref() == Some(sid)),
                "recording {sid} was acknowledged but has no case: {record:?}"
            );
        }
        assert!(made.len() <= 1, "one case per call: {made:?} of {record:?}");
    }
    // Each recording stored once: its file, and nothing else, in storage; fetched at least once.
    let recordings_dir = data.join("recordings");
    let mut expected: Vec<PathBuf> = cases
        .iter()
        .map(|c| PathBuf::from(format!("{}.wav", c.recording_sid.as_deref().unwrap())))
        .collect();
    expected.sort();
    assert_eq!(files_under(&recordings_dir), expected, "one file per case");
    assert_eq!(
        files_under(&data.join("tmp")),
        Vec::<PathBuf>::new(),
        "no partial download left behind"
    );
    let mut downloads = 0;
    for case in &cases {
        let sid = case.recording_sid.as_deref().unwrap();
        stored_recording(&store, sid).await;
        let fetched = api.requests_for_recording(sid);
        assert!(fetched >= 1, "{sid} never fetched");
        downloads += fetched;
    }
    // Every case got its folio SMS; a message sent twice is a kill between Twilio's answer and
    // our commit.
    let sms = api.sms();
    let mut sent_per_message: BTreeMap<i64, usize> = BTreeMap::new();
    for m in &sms {
        let id = message_id(m).expect("every SMS names its message in its callback");
        *sent_per_message.entry(id).or_default() += 1;
    }
    for case in &cases {
        let to = case
            .sms_number
            .as_deref()
            .expect("every caller had a number");
        let record = by_call[case.call_sid.as_deref().unwrap()];
        assert_eq!(to, record.from);
        assert!(
            sms.iter().any(|m| m.get("To") == Some(to)
                && m.get("Body").is_some_and(|b| b.contains(&case.folio))),
            "no folio SMS for {case:?}"
        );
    }
    let duplicates: usize = sent_per_message.values().map(|n| n - 1).sum();
    assert_eq!(sent_per_message.len(), cases.len(), "one message per case");

    // The figures.
    let calls = records.len();
    let heard = records.iter().filter(|r| r.folio_heard.is_some()).count();
    let cut = records.iter().filter(|r| r.cut).count();
    let failed = records.iter().filter(|r| r.failures > 0).count();
    let reached = records.iter().filter(|r| !r.recordings.is_empty()).count();
    let acknowledged = records
        .iter()
        .filter(|r| !r.acknowledged.is_empty())
        .count();
    eprintln!(
        "crash figures ({db:?}, seed {seed}): calls {calls}, kills {KILLS}, calls hit by a kill \
         {failed} (cut {cut}), reached the recording {reached}, acknowledged {acknowledged}, \
         reports kept {}, folios heard {heard}, recordings stored {}, downloads {downloads} \
         (repeated {}), SMS sent {}, duplicate SMS {duplicates}",
        cases.len(),
        expected.len(),
        downloads - cases.len(),
        sms.len(),
    );
    assert!(
        duplicates <= KILLS,
        "{duplicates} duplicate SMS for {KILLS} kills: {sent_per_message:?}"
    );
    assert!(calls >= MIN_CALLS);

    store.close().await;
    server.stop();
    drop_schema(schema).await;
}
