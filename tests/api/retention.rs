//! The retention policy: the recordings and attachments of cases closed more than N days ago
//! are deleted, each deletion noted in the case's history; newer cases keep theirs.

use crate::helpers::{CALLER, Db, TestApp, WATER, office_hours_now};
use crate::{app_or_skip, on_both_databases};
use atiende::domain::{
    CaseEventKind, CaseStatus, ClosureReason, Folio, RecordingStatus, Role, Timestamp,
};
use atiende::files::FileKey;
use atiende::store::{CaseRecord, NewActionReport, NewAttachment, StatusChange};
use chrono::Duration;

on_both_databases!(files_of_cases_closed_long_ago_are_deleted_and_noted);

fn day(n: i64) -> Timestamp {
    Timestamp::from_utc(office_hours_now() + Duration::days(n))
}

/// A phone report with its recording stored, attended with a photo and closed on `closed`.
async fn closed_case(app: &TestApp, from: &str, closed: i64, user: i64) -> (CaseRecord, FileKey) {
    let case = app.report_and_hang_up(Some(from), WATER).await;
    let sid = case.recording_sid.clone().unwrap();
    app.job_done(&format!("recording:{sid}")).await;
    let store = &app.state.store;
    let folio = Folio::parse(&case.folio).unwrap();
    let photo = FileKey::attachment(&folio, "png");
    app.state
        .files
        .put_bytes(&photo, b"\\x89PNG fake")
        .await
        .unwrap();
    for to in [CaseStatus::Routed, CaseStatus::InProgress] {
        store
            .change_case_status(&StatusChange {
                case_id: case.id,
                expected: None,
                department_id: Some(3),
                duplicate_of: None,
                to,
                closure_reason: None,
                action_summary: None,
                actor: "ana",
                note: None,
                at: day(closed - 1),
            })
            .await
            .unwrap();
    }
    store
        .file_action_report(
            &NewActionReport {
                case_id: case.id,
                summary: "Se reparó la fuga",
                done_on: day(closed - 1),
                done_by: "Cuadrilla 3",
                user_id: user,
                attachments: &[NewAttachment {
                    storage_key: photo.as_str().to_owned(),
                    content_type: "image/png".into(),
                    size_bytes: 10,
                    sha256: "0".repeat(64),
                    file_name: "fuga.png".into(),
                }],
                at: day(closed - 1),
            },
            &StatusChange {
                case_id: case.id,
                expected: None,
                department_id: None,
                duplicate_of: None,
                to: CaseStatus::Attended,
                closure_reason: None,
                action_summary: Some("Se reparó la fuga"),
                actor: "pepe",
                note: None,
                at: day(closed - 1),
            },
        )
        .await
        .unwrap();
    store
        .change_case_status(&StatusChange {
            case_id: case.id,
            expected: None,
            department_id: None,
            duplicate_of: None,
            to: CaseStatus::Closed,
            closure_reason: Some(ClosureReason::Resolved),
            action_summary: None,
            actor: "ana",
            note: None,
            at: day(closed),
        })
        .await
        .unwrap();
    (case, photo)
}

async fn files_of_cases_closed_long_ago_are_deleted_and_noted(db: Db) {
    // Arrange: a case closed on day 1, another closed on day 20.
    let app = app_or_skip!(db);
    let user = app.add_staff("pepe", Role::Area, Some("agua")).await;
    let (old, old_photo) = closed_case(&app, CALLER, 1, user).await;
    let (new, new_photo) = closed_case(&app, "+525587654321", 20, user).await;
    let recording = |c: &CaseRecord| {
        FileKey::stored(&format!("{}.wav", c.recording_sid.as_deref().unwrap())).unwrap()
    };

    // Act: on day 31, a 15-day policy.
    let report = atiende::retention::run(&app.state, 15, day(31))
        .await
        .unwrap();

    // Assert: the old case's recording and photo are gone and noted; the newer one keeps them.
    assert_eq!((report.recordings, report.attachments), (1, 1));
    let files = &app.state.files;
    assert!(!files.exists(&recording(&old)).await.unwrap());
    assert!(!files.exists(&old_photo).await.unwrap());
    assert!(files.exists(&recording(&new)).await.unwrap());
    assert!(files.exists(&new_photo).await.unwrap());
    let store = &app.state.store;
    let old_now = store
        .case_by_folio(&Folio::parse(&old.folio).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old_now.recording_status, Some(RecordingStatus::Expired));
    assert!(store.attachments(old.id).await.unwrap().is_empty());
    assert_eq!(store.attachments(new.id).await.unwrap().len(), 1);
    let noted: Vec<_> = store
        .case_history(old.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == CaseEventKind::Retention)
        .collect();
    assert_eq!(noted.len(), 2, "{noted:?}");
    // The case and its records stay.
    assert_eq!(old_now.action_summary.as_deref(), Some("Se reparó la fuga"));

    // Run again: nothing more to do.
    let again = atiende::retention::run(&app.state, 15, day(31))
        .await
        .unwrap();
    assert_eq!((again.recordings, again.attachments), (0, 0));
    app.stop().await;
}
