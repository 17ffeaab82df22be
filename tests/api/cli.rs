//! The `atiende` binary as an operator runs it: configuration errors, `migrate`, `user add`,
//! `--help`, a graceful stop on SIGTERM, and `simulate` against a running `serve`.
//!
//! Every child gets a cleared environment (only `PATH` kept), a temporary working directory and
//! a SQLite database inside it, so nothing from the developer's shell or checkout leaks in.

use crate::helpers::{CALLER, HANG_GUARD, became_healthy, free_port, sqlite_url};
use atiende::domain::{MessageStatus, RecordingStatus, Role};
use atiende::store::Store;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary, with an empty environment but `PATH`, run in `dir`, its output captured.
fn atiende(dir: &Path) -> Command {
    let mut cmd = crate::helpers::atiende_command(dir);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// What a finished child left.
#[derive(Debug)]
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Reads a child's output on threads (so a chatty child never blocks on a full pipe).
struct Running {
    child: Child,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    fn spawn(mut cmd: Command, stdin: Option<&str>) -> Running {
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("the binary starts");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input.as_bytes()).unwrap();
            // Dropping the pipe closes standard input: the child reads end of file after it.
        }
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        Running {
            child,
            stdout: Some(std::thread::spawn(move || {
                let mut s = String::new();
                let _ = out.read_to_string(&mut s);
                s
            })),
            stderr: Some(std::thread::spawn(move || {
                let mut s = String::new();
                let _ = err.read_to_string(&mut s);
                s
            })),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child has already exited.
    fn has_exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Kills the child and returns what it wrote on standard error.
    fn kill(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// Waits for the child to exit (killing it past the hang guard, and failing).
    fn wait(mut self) -> Finished {
        let deadline = Instant::now() + HANG_GUARD;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let stderr = self.kill();
                panic!("the child did not exit; stderr:\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let join = |h: Option<std::thread::JoinHandle<String>>| {
            h.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        Finished {
            status,
            stdout: join(self.stdout.take()),
            stderr: join(self.stderr.take()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that failed half-way must not leave a server running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn run(cmd: Command, stdin: Option<&str>) -> Finished {
    Running::spawn(cmd, stdin).wait()
}

/// Waits until the server answers `GET /healthz` (bounded); fails with the child's stderr if
/// it exits or never answers.
async fn wait_until_healthy(server: &mut Running, port: u16) {
    if !became_healthy(port, || server.has_exited()).await {
        let stderr = server.kill();
        panic!("the server never became healthy on port {port}; stderr:\n{stderr}");
    }
}

/// `atiende serve` on a free port, with a SQLite database in `dir`, in demo mode.
fn serve(dir: &Path, port: u16, db: &Path) -> Running {
    let mut cmd = atiende(dir);
    cmd.arg("serve")
        .env("ATIENDE_LISTEN", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", sqlite_url(db))
        .env("ATIENDE_DATA_DIR", dir.join("data"));
    Running::spawn(cmd, None)
}

fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM {pid}");
}

/// Asserts a start-up stopped on a configuration error: exit code 2, one line naming `key`.
fn assert_config_error(out: &Finished, key: &str) {
    assert_eq!(out.status.code(), Some(2), "{key}: {out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{key}: exactly one line: {:?}", out.stderr);
    assert!(lines[0].contains(key), "{key}: {:?}", out.stderr);
}

#[test]
fn a_malformed_value_stops_start_up_naming_the_key() {
    let long_notice = "Aviso de privacidad. ".repeat(200);
    for (key, settings) in [
        ("ATIENDE_LISTEN", vec![("ATIENDE_LISTEN", "nope")]),
        // A voice of another language (US Spanish), and a notice too long for one <Say>.
        (
            "ATIENDE_VOICE",
            vec![("ATIENDE_VOICE", "Polly.Lupe-Neural")],
        ),
        (
            "ATIENDE_PRIVACY_NOTICE",
            vec![("ATIENDE_PRIVACY_NOTICE", long_notice.as_str())],
        ),
        (
            "ATIENDE_OFFICE_HOURS",
            vec![("ATIENDE_OFFICE_HOURS", "whenever")],
        ),
        (
            "TWILIO_ACCOUNT_SID",
            vec![("TWILIO_AUTH_TOKEN", "0123456789abcdef0123456789abcdef")],
        ),
        // A Twilio account with no sender for SMS: neither a Messaging Service nor a number.
        (
            "TWILIO_MESSAGING_SERVICE_SID",
            vec![
                ("TWILIO_AUTH_TOKEN", "0123456789abcdef0123456789abcdef"),
                ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ],
        ),
        // A SID that is not a Messaging Service's (a phone number's).
        (
            "TWILIO_MESSAGING_SERVICE_SID",
            vec![
                ("TWILIO_AUTH_TOKEN", "0123456789abcdef0123456789abcdef"),
                ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
                ("TWILIO_PHONE_NUMBER", "+525500000000"),
                (
                    "TWILIO_MESSAGING_SERVICE_SID",
                    "PN0123456789abcdef0123456789abcdef",
                ),
            ],
        ),
        (
            "DATABASE_URL",
            vec![("DATABASE_URL", "mysql://localhost/x")],
        ),
        // No token beyond loopback: demo mode is never turned on by a missing token.
        ("TWILIO_AUTH_TOKEN", vec![("ATIENDE_LISTEN", "0.0.0.0:0")]),
        // No token, with a Twilio setting present: a half-done configuration, not a demo.
        (
            "TWILIO_AUTH_TOKEN",
            vec![("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef")],
        ),
        // Asked not to be a demo, and no token.
        ("TWILIO_AUTH_TOKEN", vec![("ATIENDE_DEMO", "false")]),
        // A demo cannot carry a token.
        (
            "ATIENDE_DEMO",
            vec![
                ("ATIENDE_DEMO", "true"),
                ("TWILIO_AUTH_TOKEN", "0123456789abcdef0123456789abcdef"),
            ],
        ),
        ("ATIENDE_DEMO", vec![("ATIENDE_DEMO", "maybe")]),
    ] {
        // Arrange: an otherwise complete configuration, in a folder of its own.
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("atiende.db");
        let mut cmd = atiende(dir.path());
        cmd.arg("serve")
            .env("ATIENDE_LISTEN", "127.0.0.1:0")
            .env("DATABASE_URL", sqlite_url(&db));
        for (k, v) in settings {
            cmd.env(k, v);
        }

        // Act
        let out = run(cmd, None);

        // Assert: exit code 2, one line naming the key, nothing created.
        assert_config_error(&out, key);
        assert!(!db.exists(), "{key}: no database was created");
    }
}

#[test]
fn a_stereo_prompt_recording_stops_start_up_naming_the_file() {
    // Arrange: a prompts folder whose greeting is stereo.
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(prompts.join("greeting.wav"), spec).unwrap();
    for i in 0..16000i32 {
        w.write_sample((i % 200 * 100) as i16).unwrap();
    }
    w.finalize().unwrap();
    let mut cmd = atiende(dir.path());
    cmd.arg("serve")
        .env("ATIENDE_LISTEN", "127.0.0.1:0")
        .env("ATIENDE_PROMPTS_DIR", &prompts)
        .env("DATABASE_URL", sqlite_url(&dir.path().join("atiende.db")));

    // Act
    let out = run(cmd, None);

    // Assert
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("greeting.wav"), "{out:?}");
    assert!(out.stderr.contains("mono"), "{out:?}");
}

#[tokio::test]
async fn migrate_creates_the_database_and_its_folders() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub/dir/a.db");
    let mut cmd = atiende(dir.path());
    cmd.arg("migrate").env("DATABASE_URL", sqlite_url(&db));

    let out = run(cmd, None);

    assert!(out.status.success(), "{out:?}");
    assert!(db.is_file(), "{} was created", db.display());
    // The schema is there, with the default menu.
    let store = Store::connect(&sqlite_url(&db)).await.unwrap();
    assert_eq!(store.phone_menu_categories().await.unwrap().len(), 5);
    assert_eq!(store.count_cases().await.unwrap(), 0);
    store.close().await;
}

#[tokio::test]
async fn user_add_reads_the_password_from_stdin_and_stores_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("atiende.db"));
    let user = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = atiende(dir.path());
        cmd.arg("user").args(args).env("DATABASE_URL", &url);
        run(cmd, stdin.map(|p| format!("{p}\n")).as_deref())
    };
    let first = "una contraseña bastante larga";
    let second = "otra contraseña bastante larga";

    // Created; adding the same name again is refused and changes nothing.
    let out = user(&["add", "ana", "--role", "operador"], Some(first));
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("created"), "{out:?}");
    let out = user(&["add", "ana", "--role", "admin"], Some(second));
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains("already an account named ana"),
        "{out:?}"
    );

    // An area user needs a department.
    let out = user(&["add", "beto", "--role", "area"], Some(first));
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("--department"), "{out:?}");
    let out = user(
        &["add", "beto", "--role", "area", "--department", "agua"],
        Some(first),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("created"), "{out:?}");

    // A short password is refused, and changes nothing.
    let out = user(&["add", "carla", "--role", "admin"], Some("corta"));
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("password"), "{out:?}");

    // What is stored: an Argon2id hash, never the password.
    let store = Store::connect(&url).await.unwrap();
    let ana = store.user_by_name("ana").await.unwrap().expect("ana");
    assert!(ana.password_hash.starts_with("$argon2id$"), "{ana:?}");
    assert!(!ana.password_hash.contains(first));
    assert!(atiende::staff::password::verify(first, &ana.password_hash));
    assert!(!atiende::staff::password::verify(
        second,
        &ana.password_hash
    ));
    assert_eq!(ana.role, Role::Operador, "the second add changed nothing");
    let beto = store.user_by_name("beto").await.unwrap().expect("beto");
    assert_eq!(beto.role, Role::Area);
    assert_eq!(
        beto.department_name.as_deref(),
        Some("Dirección de Agua Potable")
    );
    assert_eq!(store.user_by_name("carla").await.unwrap(), None);

    // Changing an account is explicit: password, role, deactivate, reactivate.
    let out = user(&["password", "ana"], Some(second));
    assert!(out.status.success(), "{out:?}");
    let out = user(&["role", "ana", "--role", "admin"], None);
    assert!(out.status.success(), "{out:?}");
    let out = user(&["role", "ana", "--role", "area"], None);
    assert!(
        !out.status.success(),
        "an area role needs a department: {out:?}"
    );
    let out = user(&["deactivate", "beto"], None);
    assert!(out.status.success(), "{out:?}");
    let out = user(&["password", "nadie"], Some(second));
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("no account named nadie"), "{out:?}");
    let ana = store.user_by_name("ana").await.unwrap().expect("ana");
    assert!(atiende::staff::password::verify(second, &ana.password_hash));
    assert_eq!(ana.role, Role::Admin);
    assert!(!store.user_by_name("beto").await.unwrap().unwrap().active);
    let out = user(&["reactivate", "beto"], None);
    assert!(out.status.success(), "{out:?}");
    assert!(store.user_by_name("beto").await.unwrap().unwrap().active);
    store.close().await;
}

#[test]
fn help_lists_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = atiende(dir.path());
    cmd.arg("--help");

    let out = run(cmd, None);

    assert!(out.status.success(), "{out:?}");
    for command in ["serve", "migrate", "user", "simulate", "prompts"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(command)),
            "{command}: {}",
            out.stdout
        );
    }
}

#[test]
fn prompts_checklist_lists_what_a_language_must_record() {
    // Arrange: a fresh data folder (the default phone menu) and an empty prompts folder.
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    std::fs::create_dir_all(prompts.join("mix")).unwrap();
    let env = |cmd: &mut Command| {
        cmd.env("ATIENDE_PROMPTS_DIR", &prompts)
            .env("DATABASE_URL", sqlite_url(&dir.path().join("atiende.db")));
    };
    let mut cmd = atiende(dir.path());
    cmd.args(["prompts", "checklist"]);
    env(&mut cmd);

    // Act
    let out = run(cmd, None);

    // Assert: every piece with the Spanish it stands for, tab-separated.
    assert!(out.status.success(), "{out:?}");
    for line in [
        "choose.wav\t",
        "folio_created.wav\tSu reporte quedó registrado con el folio: {folio}.",
        "digits/7.wav\t7",
        "status/routed.wav\tcanalizado al área responsable",
        "weekdays/3.wav\tmiércoles",
        "months/12.wav\tdiciembre",
        "days/31.wav\t31",
        "categories/agua.wav\tAgua potable",
    ] {
        assert!(
            out.stdout.lines().any(|l| l.starts_with(line)),
            "{line}: {}",
            out.stdout
        );
    }

    // Act: a language folder with its description but no recordings, checked.
    std::fs::write(
        prompts.join("mix/language.toml"),
        "name = \"Mixteco\"\nkey = \"8\"\n",
    )
    .unwrap();
    let mut cmd = atiende(dir.path());
    cmd.args(["prompts", "check"]);
    env(&mut cmd);
    let out = run(cmd, None);

    // Assert: refused, with the list.
    assert!(!out.status.success(), "{out:?}");
    assert!(
        out.stderr.contains("Mixteco") && out.stderr.contains("choose.wav, "),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_every_case_and_file() {
    // Arrange: a service on SQLite with a report whose recording is stored.
    let app = crate::helpers::spawn_app_with(crate::helpers::Db::Sqlite, Default::default())
        .await
        .unwrap();
    let case = app
        .report_and_hang_up(Some(CALLER), crate::helpers::WATER)
        .await;
    let sid = case.recording_sid.clone().unwrap();
    app.job_done(&format!("recording:{sid}")).await;
    let recording = format!("{sid}.wav");
    let original = app
        .state
        .files
        .get(&atiende::files::FileKey::stored(&recording).unwrap())
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let backup_dir = work.path().join("copia");

    // Act: a backup while the service runs.
    let mut cmd = atiende(work.path());
    cmd.args(["backup", backup_dir.to_str().unwrap()])
        .env("DATABASE_URL", app.state.config.database_url.as_str())
        .env("ATIENDE_STORAGE_URL", &app.state.config.storage_url);
    let out = run(cmd, None);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("1 cases, 1 files"), "{out:?}");

    // A second backup into the same folder is refused.
    let mut cmd = atiende(work.path());
    cmd.args(["backup", backup_dir.to_str().unwrap()])
        .env("DATABASE_URL", app.state.config.database_url.as_str())
        .env("ATIENDE_STORAGE_URL", &app.state.config.storage_url);
    assert!(!run(cmd, None).status.success());
    app.stop().await;

    // Act: restored into a fresh folder.
    let fresh = work.path().join("nuevo");
    let restore = |fresh: &Path| {
        let mut cmd = atiende(work.path());
        cmd.args(["restore", backup_dir.to_str().unwrap()])
            .env("DATABASE_URL", sqlite_url(&fresh.join("atiende.db")))
            .env("ATIENDE_STORAGE_URL", fresh.join("recordings"));
        run(cmd, None)
    };
    let out = restore(&fresh);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("1 cases, 1 files"), "{out:?}");

    // Assert: the case and its recording, byte for byte.
    let store = Store::connect(&sqlite_url(&fresh.join("atiende.db")))
        .await
        .unwrap();
    let folio = atiende::domain::Folio::parse(&case.folio).unwrap();
    let restored = store.case_by_folio(&folio).await.unwrap().unwrap();
    assert_eq!(restored.recording_sid, case.recording_sid);
    assert_eq!(
        std::fs::read(fresh.join("recordings").join(&recording)).unwrap(),
        original
    );
    store.close().await;

    // Restoring over an existing database is refused.
    let out = restore(&fresh);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("exists"), "{out:?}");
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm() {
    // Arrange: the service running and healthy.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("atiende.db");
    let port = free_port();
    let mut server = serve(dir.path(), port, &db);
    wait_until_healthy(&mut server, port).await;

    // Act
    sigterm(server.pid());

    // Assert: a clean exit.
    let out = server.wait();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(db.is_file());
}

#[tokio::test]
async fn simulate_makes_a_report_against_a_running_service() {
    // Arrange: `atiende serve` in demo mode.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("atiende.db");
    let port = free_port();
    // Where the service expects Twilio's API, and so where the simulator serves its
    // recordings (a free port rather than demo mode's default 8089, so tests can run anywhere).
    let api = format!("http://127.0.0.1:{}", free_port());
    let mut cmd = atiende(dir.path());
    cmd.arg("serve")
        .env("ATIENDE_LISTEN", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", sqlite_url(&db))
        .env("ATIENDE_DATA_DIR", dir.path().join("data"))
        .env("TWILIO_API_BASE", &api);
    let mut server = Running::spawn(cmd, None);
    wait_until_healthy(&mut server, port).await;

    // Act: report, alumbrado, the tone as the recording, silence at "hear it again".
    let sim_dir = tempfile::tempdir().unwrap();
    let mut cmd = atiende(sim_dir.path());
    cmd.args(["simulate", "--from", CALLER])
        .env("ATIENDE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("TWILIO_API_BASE", &api);
    let out = Running::spawn(cmd, Some("1\n1\n\n\n")).wait();

    // Assert: the caller heard the greeting and the folio; the call ended normally.
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stdout
            .contains("Gracias por llamar a la Dirección de Participación Ciudadana."),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Su reporte quedó registrado con el folio"),
        "{}",
        out.stdout
    );
    // The service finishes the report in the background: wait (bounded) for its jobs.
    let store = Store::connect(&sqlite_url(&db)).await.unwrap();
    crate::helpers::eventually("the recording is stored and the SMS kept", || async {
        let Ok(Some(case)) = store
            .case_by_folio(&atiende::domain::Folio::from_sequence(1))
            .await
        else {
            return false;
        };
        let messages = store.messages(Some(case.id)).await.unwrap_or_default();
        case.recording_status == Some(RecordingStatus::Stored)
            && messages.iter().all(|m| m.status != MessageStatus::Pending)
    })
    .await;
    store.close().await;
    sigterm(server.pid());
    let served = server.wait();
    assert_eq!(served.status.code(), Some(0), "{served:?}");
    assert!(
        out.stdout.contains("El servicio descargó la grabación"),
        "{}",
        out.stdout
    );
    let store = Store::connect(&sqlite_url(&db)).await.unwrap();
    assert_eq!(store.count_cases().await.unwrap(), 1);
    // The report is complete, as with Twilio: the recording copied and checked, the folio SMS
    // kept in the outbox (demo mode sends none).
    let case = store
        .case_by_folio(&atiende::domain::Folio::from_sequence(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        case.recording_status,
        Some(RecordingStatus::Stored),
        "{case:?}"
    );
    let messages = store.messages(Some(case.id)).await.unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].status, MessageStatus::NotSent, "{messages:?}");
    store.close().await;
}
