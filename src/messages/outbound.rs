//! The text of the messages we send: catalogue templates rendered into one GSM-7 segment.
//!
//! A message is written to the outbox (the `messages` table) together with its send job, in
//! the same transaction as the change that calls for it: a new case with a number, a confirmed
//! number, a status change the citizen cares about (routed, attended, closed). The job
//! (`jobs::send_sms`) renders the template here when it runs, from the case as it is then. Each
//! template is GSM-7 and one segment long (checked by a test with the longest values).

use super::gsm7;
use crate::domain::{CaseStatus, MessageTemplate, Promise, Timestamp, promise};
use crate::prompts::{Key, Prompts};
use crate::store::OutboundMessage;

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

/// The promised date of a case in `status` as an SMS says it ("Respuesta a mas tardar:
/// 07/12/2026."), or nothing once the case has its answer or has no date.
pub fn promise_sentence(
    prompts: &Prompts,
    status: CaseStatus,
    answer_by: Option<chrono::NaiveDate>,
    now: Timestamp,
) -> String {
    match Promise::of(status, answer_by, now) {
        Some(Promise::Pending(date)) => {
            prompts.text(Key::SmsPromisePending, &[("date", &promise::written(date))])
        }
        Some(Promise::Overdue(date)) => {
            prompts.text(Key::SmsPromiseOverdue, &[("date", &promise::written(date))])
        }
        None => String::new(),
    }
}

/// The body of an outbound message of the outbox from its template and its case.
pub fn render_outbound(prompts: &Prompts, m: &OutboundMessage) -> Option<String> {
    let template = m.template?;
    let folio = m.folio.as_deref()?;
    let category = category_name(m.category_name.as_deref());
    let department = department_name(m.department_name.as_deref());
    Some(match template {
        // A long category name an admin added is shortened; the folio, the date and BAJA
        // never are.
        MessageTemplate::FolioCreated => render(
            prompts,
            Key::SmsFolioCreated,
            &[
                ("category", &category),
                ("folio", folio),
                // The date as promised, even if the message goes out late.
                (
                    "promise",
                    &m.answer_by.map_or_else(String::new, |date| {
                        prompts.text(Key::SmsPromisePending, &[("date", &promise::written(date))])
                    }),
                ),
            ],
            Some("category"),
        ),
        MessageTemplate::Routed => render(
            prompts,
            Key::SmsRouted,
            &[("folio", folio), ("department", department)],
            None,
        ),
        MessageTemplate::Attended => render(
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
        MessageTemplate::Closed => {
            let key = match Key::sms_status(CaseStatus::Closed, m.closure_reason) {
                Key::SmsStatusClosedDuplicate => Key::SmsClosedDuplicate,
                Key::SmsStatusClosedNotApplicable => Key::SmsClosedNotApplicable,
                Key::SmsStatusClosedNotMunicipal => Key::SmsClosedNotMunicipal,
                _ => Key::SmsClosed,
            };
            render(prompts, key, &[("folio", folio)], None)
        }
        // The address is the free text a crew needs most: shortened to fit, never the folio.
        MessageTemplate::DepartmentRouted => render(
            prompts,
            Key::SmsDepartmentRouted,
            &[
                ("folio", folio),
                ("category", &category),
                ("address", &m.address.one_line()),
            ],
            Some("address"),
        ),
        // Answers to a citizen's message are rendered when they are given, never queued.
        _ => return None,
    })
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
    use crate::domain::{Address, ClosureReason, Folio, MessageStatus};

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
        template: MessageTemplate,
        status: CaseStatus,
        reason: Option<ClosureReason>,
    ) -> OutboundMessage {
        OutboundMessage {
            id: 1,
            case_id: Some(1),
            to_number: Some("+525512345678".into()),
            template: Some(template),
            body: None,
            status: MessageStatus::Pending,
            twilio_sid: None,
            folio: Some(Folio::from_sequence(999_989_998).to_string()),
            category_name: Some(longest(CATEGORIES)),
            department_name: Some(longest(DEPARTMENTS)),
            case_status: Some(status),
            closure_reason: reason,
            answer_by: chrono::NaiveDate::from_ymd_opt(2026, 12, 30),
            action_summary: Some("Se cambió la luminaria de la calle Álvaro Obregón esquina con Niños Héroes, frente a la primaria; también se podó el árbol que la tapaba y se revisó el cableado de toda la cuadra.".into()),
            address: Address {
                street: Some("Avenida Ignacio Zaragoza 1234 interior 5".into()),
                colonia: Some("Ampliación Lomas de San Lorenzo".into()),
                between: Some("Calzada Ermita Iztapalapa y Eje 6 Sur".into()),
                references: Some("frente a la primaria, casa azul con portón negro".into()),
            },
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
        let longest_promise = [Key::SmsPromisePending, Key::SmsPromiseOverdue]
            .iter()
            .map(|k| prompts.text(*k, &[("date", "30/11/2026")]))
            .max_by_key(|t| t.chars().count())
            .unwrap();
        for key in Key::ALL.iter().filter(|k| {
            k.section() == "sms" || k.section() == "sms_status" || k.section() == "sms_promise"
        }) {
            let raw = prompts.text(*key, &[]);
            assert!(
                gsm7::is_gsm7(&raw),
                "{}.{} is not written in GSM-7: {raw}",
                key.section(),
                key.name()
            );
            // The summary is the one free text, shortened to fit; measure the rest without it.
            // The folio SMS always says the date as ahead (see render_outbound).
            let promise = if *key == Key::SmsFolioCreated {
                prompts.text(Key::SmsPromisePending, &[("date", "30/11/2026")])
            } else {
                longest_promise.clone()
            };
            let args = [
                ("folio", folio.as_str()),
                ("category", category.as_str()),
                ("department", department.as_str()),
                ("status", longest_status.as_str()),
                ("date", "30/11/2026"),
                ("promise", promise.as_str()),
                ("summary", ""),
                ("address", ""),
            ];
            let text = full(&prompts, *key, &args);
            assert!(gsm7::is_gsm7(&text), "not GSM-7: {text}");
            let room = if key.placeholders().contains(&"summary")
                || key.placeholders().contains(&"address")
            {
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
            (MessageTemplate::FolioCreated, CaseStatus::Received),
            (MessageTemplate::Routed, CaseStatus::Routed),
            (MessageTemplate::Attended, CaseStatus::Attended),
            (MessageTemplate::DepartmentRouted, CaseStatus::Routed),
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
                    &message(MessageTemplate::Closed, CaseStatus::Closed, reason),
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
        let mut m = message(MessageTemplate::FolioCreated, CaseStatus::Received, None);
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
        let m = message(MessageTemplate::Attended, CaseStatus::Attended, None);
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
