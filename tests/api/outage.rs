//! The database goes away during calls, for real, and comes back: every report made meanwhile
//! becomes one case, its recording is fetched and its folio SMS sent.
//!
//! - SQLite: the database file lives on a small tmpfs that the test fills to the last byte
//!   (the file cannot be written: `SQLITE_FULL`), then empties.
//! - PostgreSQL: a cluster of the test's own (initdb in a temporary folder, on a free port) is
//!   stopped with `pg_ctl stop -m fast` and started again; the shared test server is not
//!   touched, so other tests run on.
//!
//! Both need root (mount, running PostgreSQL as its user); without it they skip, except under
//! `CI=true`, where a skip is a failure.

use crate::helpers::{
    CALLER, Options, TestApp, WATER, free_port, new_call_sid, post_signed_raw, spawn_app_with,
    voice_fields,
};
use atiende::domain::{CallSid, RecordingStatus};
use atiende::prompts::Key;
use atiende::sim::{RecordingEnd, SimCall, Waiting};
use atiende::store::RECOVERED_NOTE;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Another caller's mobile.
const OTHER: &str = "+525587654321";

/// Callers with caller ID who report during the outage, at once.
const CALLERS: usize = 8;

/// Longest the test waits for the replay after the database is back (a guard, not a figure).
const REPLAY_GUARD: Duration = Duration::from_secs(60);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (returns `None`) with a message, or fails under CI.
fn skip<T>(why: &str) -> Option<T> {
    assert!(!in_ci(), "CI=true but {why}: the outage tests must run");
    eprintln!("skipped: {why}");
    None
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A tmpfs of a few megabytes holding the SQLite file; `fill` takes its last byte.
struct SmallDisk {
    dir: tempfile::TempDir,
    filler: PathBuf,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(dir.path()));
        match mounted {
            Ok(()) => Some(SmallDisk {
                filler: dir.path().join("filler"),
                dir,
            }),
            Err(e) => skip(&format!("cannot mount a tmpfs ({e})")),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes until the disk is full.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(&self.filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = f.write_all(&chunk).and_then(|()| f.sync_data()) {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
                break;
            }
        }
        // The last partial chunk: byte by byte.
        while f.write_all(&[0]).and_then(|()| f.sync_data()).is_ok() {}
    }

    fn empty(&self) {
        std::fs::remove_file(&self.filler).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A PostgreSQL cluster of the test's own, which it may stop and start.
struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl OwnPostgres {
    fn init() -> Option<OwnPostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(|v| v.ok().map(|v| v.path().join("bin")))
                    .find(|bin| bin.join("initdb").exists())
            });
        let Some(bin) = bin else {
            return skip("PostgreSQL's server programs are not installed");
        };
        let dir = tempfile::tempdir().unwrap();
        if let Err(e) = run(Command::new("chown").arg("postgres:").arg(dir.path())) {
            return skip(&format!("cannot hand a folder to the postgres user ({e})"));
        }
        let data = dir.path().join("data");
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args([
                "--auth=trust",
                "--username=atiende",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&data))
        .expect("initdb");
        let pg = OwnPostgres {
            dir,
            bin,
            port: free_port(),
        };
        pg.start();
        Some(pg)
    }

    fn url(&self) -> String {
        format!("postgres://atiende@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("log"))
            .args(args))
        .expect("pg_ctl");
    }

    fn start(&self) {
        self.pg_ctl(&["-w", "start"]);
    }

    fn stop(&self) {
        self.pg_ctl(&["-w", "-m", "fast", "stop"]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// The fault: the database goes away, then comes back.
enum Outage {
    DiskFull(SmallDisk),
    Stopped(OwnPostgres),
}

impl Outage {
    fn begin(&self) {
        match self {
            Outage::DiskFull(disk) => disk.fill(),
            Outage::Stopped(pg) => pg.stop(),
        }
    }

    fn end(&self) {
        match self {
            Outage::DiskFull(disk) => disk.empty(),
            Outage::Stopped(pg) => pg.start(),
        }
    }

    fn database_url(&self) -> String {
        match self {
            Outage::DiskFull(disk) => format!("sqlite://{}/atiende.db", disk.path().display()),
            Outage::Stopped(pg) => pg.url(),
        }
    }
}

#[tokio::test]
async fn sqlite_full_disk_during_calls_loses_no_report() {
    if std::env::var("OUTAGE_LOG").is_ok() {
        atiende::telemetry::init("info");
    }
    let Some(disk) = SmallDisk::mount() else {
        return;
    };
    reports_during_an_outage_become_cases_once_it_ends(Outage::DiskFull(disk)).await;
}

#[tokio::test]
async fn postgres_stopped_during_calls_loses_no_report() {
    if std::env::var("OUTAGE_LOG").is_ok() {
        atiende::telemetry::init("info");
    }
    let Some(pg) = OwnPostgres::init() else {
        return;
    };
    reports_during_an_outage_become_cases_once_it_ends(Outage::Stopped(pg)).await;
}

/// A caller reports during the outage: whatever the menu could not do, the apology takes the
/// recording, and the caller hears that the report is kept and the folio comes by SMS.
async fn report_during_outage(app: &TestApp, from: Option<&str>) -> SimCall {
    let mut call = app.call(from).await;
    call.press("1").await.unwrap();
    if call.waiting() != Waiting::Recording {
        // The category menu still came (the menu could be read): choose one.
        call.press(WATER).await.unwrap();
    }
    assert_eq!(call.waiting(), Waiting::Recording, "{}", call.heard());
    call.record(30, RecordingEnd::Key).await.unwrap();
    call.hang_up(60).await.unwrap();
    call
}

async fn reports_during_an_outage_become_cases_once_it_ends(outage: Outage) {
    // Arrange: a service on the database that will fail, and one report made before.
    let app = spawn_app_with(
        crate::helpers::Db::Sqlite,
        Options::default().with("DATABASE_URL", &outage.database_url()),
    )
    .await
    .expect("the service starts");
    let before = app.report_and_hang_up(Some(CALLER), WATER).await;

    // Act: the database goes away; two callers report (one with caller ID, one without), and
    // a recording callback comes for a call whose action never came (the caller hung up).
    outage.begin();
    // Several callers at once with caller ID (each its own mobile), one without.
    let numbers: Vec<String> = (0..CALLERS).map(|i| format!("+5255876543{i:02}")).collect();
    let with_numbers: Vec<SimCall> =
        futures_util::future::join_all(numbers.iter().map(|n| report_during_outage(&app, Some(n))))
            .await;
    let withheld = report_during_outage(&app, None).await;
    let hung_up_sid = new_call_sid();
    let recording_sid = format!("RE{}", atiende::sim::random_hex());
    let callback = voice_fields(
        &hung_up_sid,
        &[
            ("RecordingSid", recording_sid.as_str()),
            (
                "RecordingUrl",
                &format!(
                    "{}/2010-04-01/Accounts/{}/Recordings/{recording_sid}",
                    app.api.base(),
                    crate::helpers::ACCOUNT_SID
                ),
            ),
            ("RecordingStatus", "completed"),
            ("RecordingDuration", "15"),
        ],
    );
    let (status, _) = post_signed_raw(
        &app,
        "/twilio/voice/recording-status?t=0&c=3&u=unknown",
        &callback,
    )
    .await;

    // Assert, during the outage: each caller heard the report is kept; the callback was taken.
    assert_eq!(status, 200, "the callback is kept in the journal");
    for call in &with_numbers {
        assert!(
            call.heard().contains(&app.text(Key::ReportKept)),
            "{}",
            call.heard()
        );
    }
    assert!(
        withheld
            .heard()
            .contains(&app.text(Key::ReportKeptNoNumber)),
        "{}",
        withheld.heard()
    );
    let journal = app.data_dir.join("journal/current.jsonl");
    let kept = std::fs::read_to_string(&journal).expect("the journal was written");
    assert!(kept.lines().count() >= 6, "{kept}");

    // Act: the database comes back.
    outage.end();

    // Assert: the replay makes each case once, with its history saying so, its recording
    // stored and its folio SMS sent; the calls' ends are recorded; the journal is empty.
    let store = &app.state.store;
    let deadline = Instant::now() + REPLAY_GUARD;
    let mut cases = Vec::new();
    let sids: Vec<&str> = with_numbers
        .iter()
        .map(SimCall::call_sid)
        .chain([withheld.call_sid(), hung_up_sid.as_str()])
        .collect();
    for sid in sids {
        let sid = CallSid::parse(sid).unwrap();
        loop {
            if let Ok(Some(case)) = store.case_of_call(&sid).await {
                cases.push(case);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no case for {sid} after the outage"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    loop {
        let pending = std::fs::read_dir(app.data_dir.join("journal"))
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("segment-"));
        if !pending && std::fs::metadata(&journal).map_or(0, |m| m.len()) == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the journal was never emptied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        store.count_cases().await.unwrap(),
        CALLERS as i64 + 3,
        "one case per report"
    );
    for case in &cases {
        let history = store.case_history(case.id).await.unwrap();
        assert!(
            history
                .iter()
                .any(|e| e.note.as_deref() == Some(RECOVERED_NOTE)),
            "{history:?}"
        );
        assert_ne!(case.folio, before.folio);
    }
    for case in &cases {
        let sid =
            atiende::domain::RecordingSid::parse(case.recording_sid.as_deref().unwrap()).unwrap();
        loop {
            let rec = store.recording(&sid).await.unwrap().unwrap();
            if rec.status == RecordingStatus::Stored {
                break;
            }
            assert!(Instant::now() < deadline, "recording never stored: {rec:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let folio_sms = |to: &str, folio: &str| {
        app.api
            .sms()
            .iter()
            .filter(|m| m.get("To") == Some(to) && m.get("Body").is_some_and(|b| b.contains(folio)))
            .count()
    };
    for (number, case) in numbers.iter().zip(&cases) {
        while folio_sms(number, &case.folio) == 0 {
            assert!(Instant::now() < deadline, "the folio SMS never went");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(folio_sms(number, &case.folio), 1);
    }
    eprintln!(
        "outage figures: {} calls and 1 lone recording callback during the outage, {} reports kept, {} cases made, {} duplicate cases, {} folio SMS",
        CALLERS + 1,
        CALLERS + 2,
        cases.len(),
        store.count_cases().await.unwrap() - 1 - cases.len() as i64,
        app.api.sms().len() - 1
    );
    for call in with_numbers.iter().chain([&withheld]) {
        let record = store
            .call(&CallSid::parse(call.call_sid()).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.status.as_deref(), Some("completed"), "{record:?}");
        assert!(record.made_report, "{record:?}");
    }
    app.stop().await;
}

crate::on_both_databases!(a_replay_cut_short_by_a_crash_resumes_and_makes_each_case_once);

/// A report entry for a new call, its recording served by the fake API.
fn report_entry(app: &TestApp) -> (String, atiende::journal::Entry) {
    let call = new_call_sid();
    let recording = format!("RE{}", atiende::sim::random_hex());
    let entry = atiende::journal::Entry::Report {
        call_sid: call.clone(),
        from: Some(OTHER.into()),
        category_id: Some(3),
        urgency: "unknown".into(),
        recording_url: Some(format!(
            "{}/2010-04-01/Accounts/{}/Recordings/{recording}",
            app.api.base(),
            crate::helpers::ACCOUNT_SID
        )),
        recording_sid: recording,
        recording_duration_seconds: Some(20),
        at: "2026-11-27T16:00:00.000000Z".into(),
    };
    (call, entry)
}

async fn a_replay_cut_short_by_a_crash_resumes_and_makes_each_case_once(db: crate::helpers::Db) {
    use atiende::journal::Journal;
    // Arrange: the state a crash during replay leaves. A segment of three reports whose
    // checkpoint counts one line applied, while the second was applied too (the crash came
    // between its commit and its checkpoint); and after the segment, the current file with a
    // line cut short by the crash.
    let Some(app) = spawn_app_with(db, Options::default()).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<(String, atiende::journal::Entry)> =
        (0..3).map(|_| report_entry(&app)).collect();
    let lines: String = entries
        .iter()
        .map(|(_, e)| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    let segment = dir.path().join("segment-000000000000000000000001.jsonl");
    std::fs::write(&segment, lines).unwrap();
    std::fs::write(segment.with_extension("done"), "1").unwrap();
    let store = &app.state.store;
    for (_, entry) in &entries[..2] {
        let single = tempfile::tempdir().unwrap();
        let journal = std::sync::Arc::new(Journal::open(single.path()).unwrap());
        journal.append(entry).await.unwrap();
        journal.replay(store).await.unwrap();
    }
    assert_eq!(store.count_cases().await.unwrap(), 2);
    std::fs::write(
        dir.path().join("current.jsonl"),
        r#"{"entry":"report","call_sid":"CA"#,
    )
    .unwrap();

    // Act: the service starts again (the journal opens), one more report is kept, and the
    // replay runs.
    let journal = std::sync::Arc::new(Journal::open(dir.path()).unwrap());
    assert!(journal.has_pending());
    let (last_call, last) = report_entry(&app);
    journal.append(&last).await.unwrap();
    let done = journal.replay(store).await.unwrap();

    // Assert: every report is a case, once; the torn line was skipped; nothing is left.
    assert_eq!(store.count_cases().await.unwrap(), 4, "{done:?}");
    assert_eq!(
        (done.cases, done.rejected, done.interrupted),
        (2, 0, false),
        "{done:?}"
    );
    for call in entries.iter().map(|(c, _)| c).chain([&last_call]) {
        let sid = CallSid::parse(call).unwrap();
        assert!(store.case_of_call(&sid).await.unwrap().is_some(), "{call}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    app.stop().await;
}
