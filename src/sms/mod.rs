//! Text messages to citizens: templates, the GSM-7 discipline, and sending from the outbox.
//!
//! A message is written to the outbox (the `messages` table) together with its send job, in
//! the same transaction as the change that calls for it: a new case with a number, a confirmed
//! number, a status change the citizen cares about (routed, attended, closed). The job renders
//! the template when it runs, from the case as it is then, and posts it to Twilio. Each
//! template is GSM-7 and one segment long (checked by a test with the longest values).

pub mod gsm7;

use crate::app::AppState;
use crate::domain::phone::mask_numbers;
use crate::domain::{CaseStatus, Timestamp};
use crate::jobs::Outcome;
use crate::store::OutboundMessage;
use crate::twilio::rest::{self, BAD_CREDENTIALS};
use crate::voice::{Key, Prompts};

/// The outbound messages the office sends on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsTemplate {
    /// The folio of a new case.
    FolioCreated,
    /// The case was routed to a department.
    Routed,
    /// The department attended it (with its summary).
    Attended,
    /// Closed (with the reason when it was closed without action).
    Closed,
}

impl SmsTemplate {
    pub fn code(self) -> &'static str {
        match self {
            SmsTemplate::FolioCreated => "folio_created",
            SmsTemplate::Routed => "routed",
            SmsTemplate::Attended => "attended",
            SmsTemplate::Closed => "closed",
        }
    }

    pub fn from_code(code: &str) -> Option<SmsTemplate> {
        [
            SmsTemplate::FolioCreated,
            SmsTemplate::Routed,
            SmsTemplate::Attended,
            SmsTemplate::Closed,
        ]
        .into_iter()
        .find(|t| t.code() == code)
    }

    /// The message a change of status sends, if the citizen cares about it.
    pub fn for_status(status: CaseStatus) -> Option<SmsTemplate> {
        match status {
            CaseStatus::Routed => Some(SmsTemplate::Routed),
            CaseStatus::Attended => Some(SmsTemplate::Attended),
            CaseStatus::Closed => Some(SmsTemplate::Closed),
            _ => None,
        }
    }
}

/// Renders a catalogue template into one GSM-7 segment: every value is folded to GSM-7, and the
/// value named `stretch` (a free-text summary) is shortened, if needed, so the whole fits.
pub fn render(prompts: &Prompts, key: Key, args: &[(&str, &str)], stretch: Option<&str>) -> String {
    let folded: Vec<(&str, String)> = args.iter().map(|(k, v)| (*k, gsm7::fold(v))).collect();
    let fill = |values: &[(&str, String)]| {
        let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        gsm7::fold(&prompts.text(key, &pairs))
    };
    let text = fill(&folded);
    if gsm7::septets(&text) <= gsm7::SEGMENT_SEPTETS {
        return text;
    }
    if let Some(name) = stretch {
        let without: Vec<(&str, String)> = folded
            .iter()
            .map(|(k, v)| (*k, if *k == name { String::new() } else { v.clone() }))
            .collect();
        let room = gsm7::SEGMENT_SEPTETS.saturating_sub(gsm7::septets(&fill(&without)));
        let shortened: Vec<(&str, String)> = folded
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == name {
                        gsm7::truncate(v, room)
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        return gsm7::truncate(&fill(&shortened), gsm7::SEGMENT_SEPTETS);
    }
    gsm7::truncate(&text, gsm7::SEGMENT_SEPTETS)
}

/// A case's department as a message names it: the office's own when it has none yet.
pub fn department_name(name: Option<&str>) -> &str {
    name.unwrap_or("Participacion Ciudadana")
}

/// A case's category as a message names it (lower case, mid-sentence).
pub fn category_name(name: Option<&str>) -> String {
    name.unwrap_or("atencion ciudadana").to_lowercase()
}

/// The body of an outbound message from its template and its case.
pub fn render_outbound(prompts: &Prompts, m: &OutboundMessage) -> Option<String> {
    let template = SmsTemplate::from_code(m.template.as_deref()?)?;
    let folio = m.folio.as_deref()?;
    let category = category_name(m.category_name.as_deref());
    let department = department_name(m.department_name.as_deref());
    Some(match template {
        // A long category name an admin added is shortened; the folio and BAJA never are.
        SmsTemplate::FolioCreated => render(
            prompts,
            Key::SmsFolioCreated,
            &[("category", &category), ("folio", folio)],
            Some("category"),
        ),
        SmsTemplate::Routed => render(
            prompts,
            Key::SmsRouted,
            &[("folio", folio), ("department", department)],
            None,
        ),
        SmsTemplate::Attended => render(
            prompts,
            Key::SmsAttended,
            &[
                ("folio", folio),
                ("department", department),
                (
                    "summary",
                    m.action_summary
                        .as_deref()
                        .unwrap_or("gracias por su reporte."),
                ),
            ],
            Some("summary"),
        ),
        SmsTemplate::Closed => {
            let key = match Key::sms_status(CaseStatus::Closed, m.closure_reason) {
                Key::SmsStatusClosedDuplicate => Key::SmsClosedDuplicate,
                Key::SmsStatusClosedNotApplicable => Key::SmsClosedNotApplicable,
                Key::SmsStatusClosedNotMunicipal => Key::SmsClosedNotMunicipal,
                _ => Key::SmsClosed,
            };
            render(prompts, key, &[("folio", folio)], None)
        }
    })
}

/// Runs a `send_sms` job: the message's outcome is recorded on it, whatever happens.
pub async fn send(app: &AppState, message_id: i64) -> Outcome {
    match try_send(app, message_id).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Retry(format!("store: {e}")),
    }
}

async fn try_send(app: &AppState, message_id: i64) -> Result<Outcome, crate::store::StoreError> {
    let store = &app.store;
    let now = || app.clock.now();
    let Some(m) = store.outbound_message(message_id).await? else {
        return Ok(Outcome::Dead(format!(
            "message {message_id} does not exist"
        )));
    };
    // Sent, refused or kept already: a repeated job does nothing twice.
    if m.status != "pending" {
        return Ok(Outcome::Done);
    }
    let Some(to) = m.to_number.clone() else {
        return Ok(Outcome::Dead("the message has no recipient".into()));
    };
    let Some(body) = render_outbound(&app.prompts, &m) else {
        return Ok(Outcome::Dead(format!(
            "cannot render template {:?}",
            m.template
        )));
    };
    if store.is_opted_out(&to).await? {
        store
            .update_message(
                m.id,
                "opted_out",
                Some(&body),
                None,
                None,
                None,
                None,
                now(),
            )
            .await?;
        return Ok(Outcome::Done);
    }
    if app.config.demo_mode() {
        tracing::info!(message_id, "demo mode: SMS kept in the outbox, not sent");
        store
            .update_message(
                m.id,
                "not_sent",
                Some(&body),
                None,
                None,
                None,
                Some("demo mode"),
                now(),
            )
            .await?;
        return Ok(Outcome::Done);
    }
    let callback = app
        .config
        .public_url(&format!("/twilio/messaging/status?m={}", m.id));
    match rest::send_sms(app, &to, &body, &callback).await {
        Ok(sent) => {
            store
                .update_message(
                    m.id,
                    &sent.status,
                    Some(&body),
                    Some(&sent.sid),
                    sent.segments(),
                    None,
                    None,
                    now(),
                )
                .await?;
            Ok(Outcome::Done)
        }
        Err(e) => Ok(failed(app, &m, &body, &e).await?),
    }
}

/// Records why Twilio did not take a message, and what the job does next.
async fn failed(
    app: &AppState,
    m: &OutboundMessage,
    body: &str,
    e: &rest::RestError,
) -> Result<Outcome, crate::store::StoreError> {
    let store = &app.store;
    let now = || app.clock.now();
    // Twilio's error texts quote the number: keep it out of logs and tables.
    let error = mask_numbers(&e.to_string());
    if e.twilio_code() == Some(BAD_CREDENTIALS) {
        tracing::error!(
            error,
            "TWILIO CREDENTIALS REJECTED (error 20003): no SMS can be sent until TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are fixed"
        );
        store
            .raise_alert(
                "twilio_credentials",
                "Twilio rechazó las credenciales (error 20003): no se pueden enviar mensajes. Revise TWILIO_ACCOUNT_SID y TWILIO_AUTH_TOKEN.",
                now(),
            )
            .await?;
        // Trying again cannot help until someone fixes the credentials; then
        // `atiende jobs retry ID` sends it: the message stays pending.
        store
            .update_message(
                m.id,
                "pending",
                Some(body),
                None,
                None,
                Some("20003"),
                Some(&error),
                now(),
            )
            .await?;
        return Ok(Outcome::Dead(error));
    }
    if e.is_retryable() {
        return Ok(Outcome::Retry(error));
    }
    let code = e.twilio_code().map(|c| c.to_string());
    tracing::warn!(
        message_id = m.id,
        error,
        "SMS refused by Twilio; not retried"
    );
    store
        .update_message(
            m.id,
            "rejected",
            Some(body),
            None,
            None,
            code.as_deref(),
            Some(&error),
            now(),
        )
        .await?;
    Ok(Outcome::Done)
}

/// The short date an SMS gives: "27/11/2026", Mexico City time.
pub fn short_date(at: Timestamp) -> String {
    at.as_utc()
        .with_timezone(&chrono_tz::America::Mexico_City)
        .format("%d/%m/%Y")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClosureReason, Folio};

    /// The default menu (migrations/*/0001): its longest category and department names.
    const CATEGORIES: &[&str] = &[
        "Alumbrado público",
        "Seguridad pública",
        "Agua potable",
        "Protección civil",
        "Otro reporte",
    ];
    const DEPARTMENTS: &[&str] = &[
        "Dirección de Alumbrado Público",
        "Dirección de Seguridad Pública",
        "Dirección de Agua Potable",
        "Coordinación de Protección Civil",
        "Dirección de Participación Ciudadana",
    ];

    fn longest(names: &[&str]) -> String {
        names
            .iter()
            .max_by_key(|n| n.chars().count())
            .unwrap()
            .to_string()
    }

    fn message(
        template: SmsTemplate,
        status: CaseStatus,
        reason: Option<ClosureReason>,
    ) -> OutboundMessage {
        OutboundMessage {
            id: 1,
            case_id: Some(1),
            to_number: Some("+525512345678".into()),
            template: Some(template.code().into()),
            body: None,
            status: "pending".into(),
            twilio_sid: None,
            folio: Some(Folio::from_sequence(999_989_998).to_string()),
            category_name: Some(longest(CATEGORIES)),
            department_name: Some(longest(DEPARTMENTS)),
            case_status: Some(status),
            closure_reason: reason,
            action_summary: Some("Se cambió la luminaria de la calle Álvaro Obregón esquina con Niños Héroes, frente a la primaria; también se podó el árbol que la tapaba y se revisó el cableado de toda la cuadra.".into()),
        }
    }

    /// The template filled with folded values and nothing cut: what must fit in one segment.
    fn full(prompts: &Prompts, key: Key, args: &[(&str, &str)]) -> String {
        let folded: Vec<(&str, String)> = args.iter().map(|(k, v)| (*k, gsm7::fold(v))).collect();
        let pairs: Vec<(&str, &str)> = folded.iter().map(|(k, v)| (*k, v.as_str())).collect();
        gsm7::fold(&prompts.text(key, &pairs))
    }

    #[test]
    fn every_template_is_one_gsm7_segment_with_the_longest_values() {
        let prompts = Prompts::built_in();
        let folio = Folio::from_sequence(999_989_998);
        assert_eq!(folio.as_str().len(), 10, "the longest folio");
        let category = longest(CATEGORIES).to_lowercase();
        let department = longest(DEPARTMENTS);
        let longest_status = Key::ALL
            .iter()
            .filter(|k| k.section() == "sms_status")
            .map(|k| prompts.text(*k, &[("department", &department)]))
            .max_by_key(|t| t.chars().count())
            .unwrap();
        for key in Key::ALL
            .iter()
            .filter(|k| k.section() == "sms" || k.section() == "sms_status")
        {
            let raw = prompts.text(*key, &[]);
            assert!(
                gsm7::is_gsm7(&raw),
                "{}.{} is not written in GSM-7: {raw}",
                key.section(),
                key.name()
            );
            // The summary is the one free text, shortened to fit; measure the rest without it.
            let args = [
                ("folio", folio.as_str()),
                ("category", category.as_str()),
                ("department", department.as_str()),
                ("status", longest_status.as_str()),
                ("date", "30/11/2026"),
                ("summary", ""),
            ];
            let text = full(&prompts, *key, &args);
            assert!(gsm7::is_gsm7(&text), "not GSM-7: {text}");
            let room = if key.placeholders().contains(&"summary") {
                30
            } else {
                0
            };
            assert!(
                gsm7::septets(&text) + room <= gsm7::SEGMENT_SEPTETS,
                "{}.{}: {} septets (+{room} for a summary): {text}",
                key.section(),
                key.name(),
                gsm7::septets(&text)
            );
        }
        // And what is actually sent, summary included.
        let mut sent = Vec::new();
        for (template, status) in [
            (SmsTemplate::FolioCreated, CaseStatus::Received),
            (SmsTemplate::Routed, CaseStatus::Routed),
            (SmsTemplate::Attended, CaseStatus::Attended),
        ] {
            sent.push(render_outbound(&prompts, &message(template, status, None)).unwrap());
        }
        for reason in [
            None,
            Some(ClosureReason::Resolved),
            Some(ClosureReason::Duplicate),
            Some(ClosureReason::NotApplicable),
            Some(ClosureReason::NotMunicipal),
        ] {
            sent.push(
                render_outbound(
                    &prompts,
                    &message(SmsTemplate::Closed, CaseStatus::Closed, reason),
                )
                .unwrap(),
            );
        }
        for text in sent {
            assert!(gsm7::is_gsm7(&text), "not GSM-7: {text}");
            assert!(
                gsm7::septets(&text) <= gsm7::SEGMENT_SEPTETS,
                "{} septets: {text}",
                gsm7::septets(&text)
            );
            assert!(text.contains(folio.as_str()), "{text}");
        }
    }

    #[test]
    fn a_long_category_an_admin_added_is_shortened_not_the_folio() {
        let prompts = Prompts::built_in();
        let mut m = message(SmsTemplate::FolioCreated, CaseStatus::Received, None);
        m.category_name = Some("Bacheo, banquetas y mantenimiento de vialidades primarias".into());
        let text = render_outbound(&prompts, &m).unwrap();
        assert!(gsm7::septets(&text) <= gsm7::SEGMENT_SEPTETS, "{text}");
        assert!(
            text.contains(m.folio.as_deref().unwrap()) && text.ends_with("responda BAJA."),
            "{text}"
        );
    }

    #[test]
    fn the_summary_is_shortened_to_fit_but_the_folio_never() {
        let prompts = Prompts::built_in();
        let m = message(SmsTemplate::Attended, CaseStatus::Attended, None);
        let text = render_outbound(&prompts, &m).unwrap();
        assert!(text.contains(m.folio.as_deref().unwrap()), "{text}");
        assert!(text.ends_with("..."), "{text}");
        assert!(
            text.contains("Alvaro Obregon esquina con Niños Héroes"),
            "folded, é and ñ kept: {text}"
        );
    }

    #[test]
    fn dates_are_mexico_city_days() {
        use chrono::TimeZone;
        let at = Timestamp::from_utc(chrono::Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap());
        assert_eq!(short_date(at), "30/11/2026");
    }
}
