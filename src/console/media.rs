//! Files staff open from a case: its recording, served with HTTP Range so the player can seek
//! (and every listen is noted in the case's history), and the attachments of action reports,
//! which departments upload with their report.
//!
//! Both are served only to a signed-in person who may see the case: anyone else gets the
//! sign-in page or a 404, never a byte of audio. An upload is checked by its content, not its
//! name: a JPEG, PNG or PDF of at most 10 MB, or it is refused and nothing is kept.

use super::case::load;
use super::{ConsoleError, Staff};
use crate::domain::{CaseStatus, Folio, Move, RecordingStatus, Timestamp};
use crate::files::FileKey;
use crate::state::AppState;
use crate::store::{NewActionReport, NewAttachment, StatusChange};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::TimeZone;
use sha2::{Digest, Sha256};

/// The largest attachment accepted.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// How many files one report may carry.
pub const MAX_ATTACHMENTS: usize = 5;
/// The largest action report form: its files at their largest, and room for the text fields
/// and the multipart framing.
pub const MAX_REPORT_BYTES: usize = MAX_ATTACHMENTS * MAX_ATTACHMENT_BYTES + 64 * 1024;

/// What a file's first bytes say it is: its media type and extension, if we accept it.
pub fn sniff(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("image/jpeg", "jpg"))
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(("image/png", "png"))
    } else if bytes.starts_with(b"%PDF-") {
        Some(("application/pdf", "pdf"))
    } else {
        None
    }
}

/// Whether `c` changes how text around it is shown rather than being text: controls, and the
/// bidirectional marks, embeddings, overrides and isolates (with U+202E, `gpj.exe` is shown
/// as `exe.jpg`).
fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
        )
}

/// A kept attachment's media type and extension, from the type checked at upload.
pub fn checked_type(kept: &str) -> (&'static str, &'static str) {
    match kept {
        "image/jpeg" => ("image/jpeg", "jpg"),
        "image/png" => ("image/png", "png"),
        "application/pdf" => ("application/pdf", "pdf"),
        _ => ("application/octet-stream", "bin"),
    }
}

/// The name an attachment is kept and listed under: what the uploader typed, without controls
/// or bidirectional characters, at most 120 characters before the extension of its checked
/// type (`informe.html` of a JPEG is `informe.jpg`).
pub fn shown_name(typed: &str, extension: &str) -> String {
    let clean: String = typed.chars().filter(|c| !is_hidden_control(*c)).collect();
    let clean = clean.trim();
    let stem = clean
        .rsplit_once('.')
        .map_or(clean, |(stem, _)| stem)
        .trim();
    let stem: String = stem.chars().take(120).collect();
    let stem = if stem.is_empty() { "adjunto" } else { &stem };
    format!("{stem}.{extension}")
}

/// The name a file is served under (`Content-Disposition`): the kept name's stem in plain ASCII
/// letters, digits, `-` and `_`, then the extension of its checked type.
pub fn served_name(kept: &str, extension: &str) -> String {
    let stem = kept.rsplit_once('.').map_or(kept, |(stem, _)| stem);
    let mut safe: String = stem
        .chars()
        .filter(|c| !is_hidden_control(*c))
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if safe.trim_matches('_').is_empty() {
        safe = "adjunto".to_owned();
    }
    format!("{safe}.{extension}")
}

/// A byte range a player asked for, within a file of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

/// Reads a `Range` header (one range; several are answered whole, as the RFC allows).
pub fn wanted(range: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((start, end)) = spec.split_once('-') else {
        return Wanted::Unsatisfiable;
    };
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => match suffix.parse::<u64>() {
            Ok(n) if n > 0 => (size.saturating_sub(n), size.saturating_sub(1)),
            _ => return Wanted::Unsatisfiable,
        },
        (start, "") => match start.parse::<u64>() {
            Ok(s) => (s, size.saturating_sub(1)),
            Err(_) => return Wanted::Unsatisfiable,
        },
        (start, end) => match (start.parse::<u64>(), end.parse::<u64>()) {
            (Ok(s), Ok(e)) if s <= e => (s, e.min(size.saturating_sub(1))),
            _ => return Wanted::Unsatisfiable,
        },
    };
    if size == 0 || start >= size {
        return Wanted::Unsatisfiable;
    }
    Wanted::Part(start, end)
}

/// `GET /casos/{folio}/grabacion`: the recording, whole or in part.
pub async fn recording(
    State(app): State<AppState>,
    staff: Staff,
    Path(folio): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    let case = load(&app, &staff, &folio).await?;
    let key = match (case.recording_status, case.storage_key.as_deref()) {
        (Some(RecordingStatus::Stored), Some(key)) => FileKey::stored(key),
        _ => None,
    };
    let Some(key) = key else {
        return Err(ConsoleError::NotFound);
    };
    let size = app.files.size(&key).await?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let wanted = wanted(range, size);
    // A listen starts at the beginning; the player's later pieces are the same listen, and a
    // HEAD request (the headers alone) is no listen at all.
    if method != Method::HEAD && matches!(wanted, Wanted::Whole | Wanted::Part(0, _)) {
        app.store
            .note_listen(case.id, &staff.name, app.clock.now())
            .await?;
    }
    let common = [
        (header::CONTENT_TYPE, HeaderValue::from_static("audio/wav")),
        (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        ),
    ];
    Ok(match wanted {
        Wanted::Whole => (common, app.files.get(&key).await?).into_response(),
        Wanted::Part(start, end) => {
            let bytes = app.files.get_range(&key, start..end + 1).await?;
            let content_range = format!("bytes {start}-{end}/{size}");
            (
                StatusCode::PARTIAL_CONTENT,
                common,
                [(header::CONTENT_RANGE, content_range)],
                bytes,
            )
                .into_response()
        }
        Wanted::Unsatisfiable => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{size}"))],
        )
            .into_response(),
    })
}

/// `GET /adjuntos/{id}`: an attachment, to someone who may see its case.
pub async fn attachment(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let file = app
        .store
        .attachment(id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let folio = app
        .store
        .folio_of(file.case_id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    load(&app, &staff, &folio).await?;
    let key = FileKey::stored(&file.storage_key).ok_or(ConsoleError::NotFound)?;
    let bytes = app.files.get(&key).await?;
    // The type was checked at upload by content; the name served follows it, whatever the
    // uploader typed (`evil.html` is served as `evil.jpg`).
    let (content_type, extension) = checked_type(&file.content_type);
    let name = served_name(&file.file_name, extension);
    let content_type = HeaderValue::from_static(content_type);
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("inline; filename=\"{name}\""))
                    .unwrap_or(HeaderValue::from_static("inline")),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
            // A PDF opened in the browser runs no script of its own.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
                ),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// What the report form sent.
#[derive(Debug, Default)]
struct ReportForm {
    csrf: String,
    summary: String,
    done_on: String,
    done_by: String,
    files: Vec<(String, Vec<u8>)>,
}

/// The largest text field of the report form (the summary is cut to 1000 characters anyway).
const MAX_TEXT_FIELD_BYTES: usize = 16 * 1024;

/// Reads the multipart form; a file over the limit or too many files are refused as they come,
/// without reading more of a field than its limit.
async fn read_form(mut multipart: Multipart) -> Result<ReportForm, String> {
    let incomplete = |_| "El formulario llegó incompleto; intente de nuevo.".to_owned();
    let mut form = ReportForm::default();
    while let Some(mut field) = multipart.next_field().await.map_err(incomplete)? {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let is_file = name == "archivo";
        let limit = if is_file {
            MAX_ATTACHMENT_BYTES
        } else {
            MAX_TEXT_FIELD_BYTES
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|_| {
            "El formulario llegó incompleto o es demasiado grande (máximo 10 MB por archivo)."
                .to_owned()
        })? {
            if bytes.len() + chunk.len() > limit {
                return Err(match file_name {
                    Some(file) if is_file => format!("El archivo «{file}» pasa de 10 MB."),
                    _ => "Un campo del formulario es demasiado largo.".to_owned(),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "csrf" => form.csrf = text(),
            "resumen" => form.summary = text(),
            "fecha" => form.done_on = text(),
            "responsable" => form.done_by = text(),
            // A file input left empty sends an empty part.
            "archivo" if !bytes.is_empty() => {
                if form.files.len() == MAX_ATTACHMENTS {
                    return Err(format!("Se aceptan hasta {MAX_ATTACHMENTS} archivos."));
                }
                form.files
                    .push((file_name.unwrap_or_else(|| "archivo".into()), bytes));
            }
            _ => {}
        }
    }
    Ok(form)
}

/// `POST /casos/{folio}/informe`: the department's action report, with its photos or PDFs;
/// the case becomes "atendido" and the citizen's SMS is queued with the summary.
pub async fn action_report(
    State(app): State<AppState>,
    staff: Staff,
    Path(folio): Path<String>,
    multipart: Multipart,
) -> Result<Response, ConsoleError> {
    let form = read_form(multipart).await.map_err(ConsoleError::Refused)?;
    staff.check_csrf(&form.csrf)?;
    let case = load(&app, &staff, &folio).await?;
    Move::Attend
        .check_case(case.status, staff.role, case.routed_at.is_some())
        .map_err(|why| ConsoleError::Refused(why.into()))?;
    let summary = form.summary.trim();
    let done_by = form.done_by.trim();
    if summary.is_empty() || done_by.is_empty() {
        return Err(ConsoleError::Refused(
            "Escriba qué se hizo y quién lo atendió.".into(),
        ));
    }
    let summary: String = summary.chars().take(1000).collect();
    let done_by: String = done_by.chars().take(200).collect();
    let done_on = chrono::NaiveDate::parse_from_str(form.done_on.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .and_then(|d| {
            chrono_tz::America::Mexico_City
                .from_local_datetime(&d)
                .earliest()
        })
        .map(|d| Timestamp::from_utc(d.with_timezone(&chrono::Utc)))
        .ok_or_else(|| ConsoleError::Refused("La fecha de atención no es válida.".into()))?;
    // Every file is checked before any is kept.
    let mut checked = Vec::new();
    for (name, bytes) in &form.files {
        let Some((content_type, extension)) = sniff(bytes) else {
            return Err(ConsoleError::Refused(format!(
                "«{name}» no es una foto JPEG o PNG ni un PDF; no se guardó nada."
            )));
        };
        checked.push((name, bytes, content_type, extension));
    }
    let folio_value = Folio::parse(&case.folio).map_err(|_| ConsoleError::NotFound)?;
    let mut attachments = Vec::new();
    for (name, bytes, content_type, extension) in checked {
        let key = FileKey::attachment(&folio_value, extension);
        app.files.put_bytes(&key, bytes).await?;
        let sha256 = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        attachments.push(NewAttachment {
            storage_key: key.as_str().to_owned(),
            content_type: content_type.to_owned(),
            size_bytes: bytes.len() as i64,
            sha256,
            file_name: shown_name(name, extension),
        });
    }
    let now = app.clock.now();
    let filed = app
        .store
        .file_action_report(
            &NewActionReport {
                case_id: case.id,
                summary: &summary,
                done_on,
                done_by: &done_by,
                user_id: staff.id,
                attachments: &attachments,
                at: now,
            },
            &StatusChange {
                case_id: case.id,
                expected: Some(case.status),
                to: CaseStatus::Attended,
                closure_reason: None,
                department_id: None,
                duplicate_of: None,
                action_summary: Some(&summary),
                actor: &staff.name,
                note: Some("Informe de atención del área"),
                at: now,
            },
        )
        .await;
    if let Err(e) = filed {
        // Nothing of the report was written: the files stored for it go too.
        for file in &attachments {
            if let Some(key) = FileKey::stored(&file.storage_key)
                && let Err(gone) = app.files.delete(&key).await
            {
                tracing::warn!(key = key.as_str(), error = %gone, "could not remove an attachment of a report that was not filed");
            }
        }
        return Err(e.into());
    }
    app.wake_workers();
    Ok(Redirect::to(&format!("/casos/{}?hecho=informe", case.folio)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_known_by_their_content() {
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0]),
            Some(("image/jpeg", "jpg"))
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(("image/png", "png")));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(("application/pdf", "pdf")));
        assert_eq!(sniff(b"MZ\x90\x00 a Windows program"), None);
        assert_eq!(sniff(b"\x7fELF"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn names_follow_the_checked_type_and_hide_nothing() {
        assert_eq!(shown_name("evil.html", "jpg"), "evil.jpg");
        assert_eq!(served_name("evil.jpg", "jpg"), "evil.jpg");
        // A right-to-left override would show `foto\u{202E}gpj.exe` as `fotoexe.jpg`.
        assert_eq!(shown_name("foto\u{202E}gpj.exe", "jpg"), "fotogpj.jpg");
        assert_eq!(shown_name("a\u{2066}b\u{2069}\r\n.pdf", "pdf"), "ab.pdf");
        assert_eq!(
            shown_name("Informe de poda.JPG", "jpg"),
            "Informe de poda.jpg"
        );
        assert_eq!(shown_name("", "png"), "adjunto.png");
        assert_eq!(shown_name("\u{202E}", "png"), "adjunto.png");
        assert_eq!(served_name("Poda árboles.jpg", "jpg"), "Poda__rboles.jpg");
        assert_eq!(served_name("\"; x=y.jpg", "jpg"), "___x_y.jpg");
        assert_eq!(served_name("..", "pdf"), "adjunto.pdf");
    }

    #[test]
    fn ranges_as_players_send_them() {
        assert_eq!(wanted(None, 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-"), 100), Wanted::Part(0, 99));
        assert_eq!(wanted(Some("bytes=10-19"), 100), Wanted::Part(10, 19));
        assert_eq!(wanted(Some("bytes=90-500"), 100), Wanted::Part(90, 99));
        assert_eq!(wanted(Some("bytes=-10"), 100), Wanted::Part(90, 99));
        assert_eq!(wanted(Some("bytes=100-"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=5-1"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-1,5-6"), 100), Wanted::Whole);
        assert_eq!(wanted(Some("items=0-1"), 100), Wanted::Whole);
    }
}
