//! TwiML: the XML documents that tell Twilio what the caller hears next.
//!
//! A small typed model of exactly the verbs and attributes the phone line uses (Twilio's TwiML
//! reference for `<Say>`, `<Play>`, `<Pause>`, `<Gather>`, `<Record>`, `<Dial>`, `<Redirect>`,
//! `<Hangup>` and `<Message>`), a builder over it that writes XML through quick-xml (so text and attributes
//! are always escaped), and a parser that reads a document back into the same model. The parser
//! serves the call simulator and the tests, which walk a call the way Twilio does; it rejects any
//! verb or attribute outside the model, so a test fails if the service ever emits one.
//!
//! Every `<Say>` carries `language="es-MX"` and the configured voice: [`Response::new`] takes
//! the voice once and the builder applies it, so no handler can forget. Every `<Say>` is written
//! with at most [`SAY_MAX_CHARS`] characters, cut at a word, whatever text it was given.

use axum::http::header;
use axum::response::IntoResponse;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};
use std::str::FromStr;

/// The language of everything the line says.
pub const LANGUAGE: &str = "es-MX";

/// The media type of every TwiML answer.
pub const CONTENT_TYPE: &str = "application/xml";

/// The most characters a `<Say>` with an Amazon Polly voice may hold; Twilio fails a longer one.
/// Texts from data (a department's summary, the configured privacy notice) could exceed it.
pub const SAY_MAX_CHARS: usize = 3_000;

/// `text` cut to [`SAY_MAX_CHARS`] characters, at the last white space before the limit (or at
/// the limit, for a text without any), without trailing white space.
pub fn say_text(text: &str) -> std::borrow::Cow<'_, str> {
    let Some((limit, _)) = text.char_indices().nth(SAY_MAX_CHARS) else {
        return std::borrow::Cow::Borrowed(text);
    };
    let head = &text[..limit];
    // Cut at a word when the text goes on mid-word; keep the whole head when a word ends there.
    let head = if text[limit..].starts_with(char::is_whitespace) {
        head
    } else {
        head.rfind(char::is_whitespace)
            .map_or(head, |at| &head[..at])
    };
    std::borrow::Cow::Borrowed(head.trim_end())
}

/// A TwiML document as an HTTP answer (`application/xml`).
#[derive(Debug)]
pub struct Twiml(pub String);

impl Twiml {
    /// `<Response/>`: nothing to do (the answer to a status callback).
    pub fn empty() -> Twiml {
        Twiml(Response::new("").to_xml())
    }
}

impl IntoResponse for Twiml {
    fn into_response(self) -> axum::response::Response {
        ([(header::CONTENT_TYPE, CONTENT_TYPE)], self.0).into_response()
    }
}

/// Declares a verb's attributes: an `Option` field each, written in declaration order under
/// Twilio's attribute name, and read back from it.
macro_rules! attributes {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty = $attr:literal),* $(,)? } $(+ $extra:ident : $extra_ty:ty)*) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $(pub $field: Option<$ty>,)*
            $(pub $extra: $extra_ty,)*
        }

        #[allow(unused_variables)]
        impl $name {
            fn write_attrs(&self, start: &mut BytesStart<'_>) {
                $(if let Some(v) = &self.$field {
                    start.push_attribute(($attr, xml_safe(&v.to_string()).as_ref()));
                })*
            }

            fn read_attr(&mut self, name: &str, value: &str) -> Result<(), ParseError> {
                match name {
                    $($attr => {
                        self.$field = Some(value.parse::<$ty>().map_err(|_| ParseError::Attribute {
                            verb: stringify!($name),
                            attribute: name.to_owned(),
                        })?);
                    })*
                    _ => return Err(ParseError::Attribute { verb: stringify!($name), attribute: name.to_owned() }),
                }
                #[allow(unreachable_code)]
                Ok(())
            }
        }
    };
}

attributes!(
    /// `<Say>`: text spoken by Twilio's text-to-speech.
    Say { voice: String = "voice", language: String = "language", loop_count: u32 = "loop" } + text: String
);
attributes!(
    /// `<Play>`: a recorded audio file, by absolute URL.
    Play { loop_count: u32 = "loop" } + url: String
);
attributes!(
    /// `<Pause>`: silence.
    Pause { length: u32 = "length" }
);
attributes!(
    /// `<Gather>`: collects keypad digits (or speech), then requests `action`.
    Gather {
        input: String = "input",
        action: String = "action",
        method: String = "method",
        num_digits: u32 = "numDigits",
        timeout: u32 = "timeout",
        finish_on_key: String = "finishOnKey",
        language: String = "language",
        hints: String = "hints",
        speech_timeout: String = "speechTimeout",
        action_on_empty_result: bool = "actionOnEmptyResult",
    } + children: Vec<Prompt>
);
attributes!(
    /// `<Record>`: records the caller after a beep.
    Record {
        action: String = "action",
        method: String = "method",
        timeout: u32 = "timeout",
        finish_on_key: String = "finishOnKey",
        max_length: u32 = "maxLength",
        play_beep: bool = "playBeep",
        trim: String = "trim",
        recording_status_callback: String = "recordingStatusCallback",
        recording_status_callback_event: String = "recordingStatusCallbackEvent",
        recording_status_callback_method: String = "recordingStatusCallbackMethod",
    }
);
attributes!(
    /// `<Redirect>`: continue with the TwiML at another URL.
    Redirect { method: String = "method" } + url: String
);
attributes!(
    /// `<Dial>` with one `<Number>`: transfer the call.
    Dial { action: String = "action", method: String = "method", timeout: u32 = "timeout", caller_id: String = "callerId" } + number: Number
);
attributes!(
    /// `<Number>` in a `<Dial>`: the number to call and, in `url`, the TwiML the called party
    /// hears when they answer, before the two are connected (the screening).
    Number { url: String = "url", method: String = "method" } + phone: String
);
attributes!(
    /// `<Hangup/>`.
    Hangup {}
);
attributes!(
    /// `<Reject/>`.
    Reject {}
);
attributes!(
    /// `<Message>`: the reply to an incoming SMS.
    Message {} + body: String
);

/// What may be nested in a `<Gather>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Say(Say),
    Play(Play),
    Pause(Pause),
}

/// A top-level verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Say(Say),
    Play(Play),
    Pause(Pause),
    Gather(Gather),
    Record(Record),
    Redirect(Redirect),
    Dial(Dial),
    Hangup(Hangup),
    Reject(Reject),
    Message(Message),
}

/// A TwiML document under construction (or parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    voice: String,
    pub verbs: Vec<Verb>,
}

impl Response {
    /// An empty document whose `<Say>`s will use this voice.
    pub fn new(voice: &str) -> Response {
        Response {
            voice: voice.to_owned(),
            verbs: Vec::new(),
        }
    }

    /// A `<Say>` in the line's voice and language.
    pub fn say_verb(&self, text: &str) -> Say {
        Say {
            voice: Some(self.voice.clone()),
            language: Some(LANGUAGE.to_owned()),
            loop_count: None,
            text: text.to_owned(),
        }
    }

    pub fn say(&mut self, text: &str) -> &mut Self {
        let say = self.say_verb(text);
        self.verbs.push(Verb::Say(say));
        self
    }

    pub fn play(&mut self, url: &str) -> &mut Self {
        self.verbs.push(Verb::Play(Play {
            loop_count: None,
            url: url.to_owned(),
        }));
        self
    }

    pub fn pause(&mut self, seconds: u32) -> &mut Self {
        self.verbs.push(Verb::Pause(Pause {
            length: Some(seconds),
        }));
        self
    }

    /// A `<Gather>`, its prompts already in its `children`.
    pub fn gather(&mut self, gather: Gather) -> &mut Self {
        self.verbs.push(Verb::Gather(gather));
        self
    }

    pub fn record(&mut self, record: Record) -> &mut Self {
        self.verbs.push(Verb::Record(record));
        self
    }

    /// A POST `<Redirect>` to an absolute URL.
    pub fn redirect(&mut self, url: &str) -> &mut Self {
        self.verbs.push(Verb::Redirect(Redirect {
            method: Some("POST".to_owned()),
            url: url.to_owned(),
        }));
        self
    }

    pub fn dial(&mut self, dial: Dial) -> &mut Self {
        self.verbs.push(Verb::Dial(dial));
        self
    }

    pub fn hangup(&mut self) -> &mut Self {
        self.verbs.push(Verb::Hangup(Hangup {}));
        self
    }

    pub fn message(&mut self, body: &str) -> &mut Self {
        self.verbs.push(Verb::Message(Message {
            body: body.to_owned(),
        }));
        self
    }

    /// The document as UTF-8 XML.
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new(Vec::new());
        let write = |w: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
            w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
            if self.verbs.is_empty() {
                return w.write_event(Event::Empty(BytesStart::new("Response")));
            }
            w.write_event(Event::Start(BytesStart::new("Response")))?;
            for verb in &self.verbs {
                write_verb(w, verb)?;
            }
            w.write_event(Event::End(BytesEnd::new("Response")))
        };
        write(&mut w).expect("writing to a Vec cannot fail");
        String::from_utf8(w.into_inner()).expect("quick-xml writes UTF-8")
    }

    /// Reads a TwiML document made of the verbs and attributes this module knows.
    pub fn parse(xml: &str) -> Result<Response, ParseError> {
        parse(xml)
    }

    /// Every text the caller would hear from `<Say>`s, top-level and inside `<Gather>`s.
    pub fn spoken_text(&self) -> String {
        let mut parts = Vec::new();
        for verb in &self.verbs {
            match verb {
                Verb::Say(s) => parts.push(s.text.as_str()),
                Verb::Gather(g) => parts.extend(g.children.iter().filter_map(|c| match c {
                    Prompt::Say(s) => Some(s.text.as_str()),
                    _ => None,
                })),
                _ => {}
            }
        }
        parts.join(" ")
    }
}

impl Gather {
    /// A keypad gather in Spanish that POSTs to `action`.
    pub fn digits(action: &str) -> Gather {
        Gather {
            action: Some(action.to_owned()),
            ..Gather::keypad()
        }
    }

    /// A keypad gather in Spanish whose action is set later.
    pub fn keypad() -> Gather {
        Gather {
            input: Some("dtmf".to_owned()),
            method: Some("POST".to_owned()),
            language: Some(LANGUAGE.to_owned()),
            ..Gather::default()
        }
    }

    pub fn num_digits(mut self, n: u32) -> Gather {
        self.num_digits = Some(n);
        self
    }

    pub fn timeout(mut self, seconds: u32) -> Gather {
        self.timeout = Some(seconds);
        self
    }

    pub fn finish_on_key(mut self, key: &str) -> Gather {
        self.finish_on_key = Some(key.to_owned());
        self
    }

    pub fn prompt(mut self, prompt: Prompt) -> Gather {
        self.children.push(prompt);
        self
    }
}

/// Why a TwiML document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("the root element must be <Response>")]
    Root,
    #[error("unknown or misplaced element <{0}>")]
    Element(String),
    #[error("<{verb}> has an unknown or malformed attribute {attribute:?}")]
    Attribute {
        verb: &'static str,
        attribute: String,
    },
}

fn write_verb(w: &mut Writer<Vec<u8>>, verb: &Verb) -> std::io::Result<()> {
    match verb {
        Verb::Say(v) => text_element(w, "Say", |s| v.write_attrs(s), &say_text(&v.text)),
        Verb::Play(v) => text_element(w, "Play", |s| v.write_attrs(s), &v.url),
        Verb::Pause(v) => empty_element(w, "Pause", |s| v.write_attrs(s)),
        Verb::Gather(v) => {
            let mut start = BytesStart::new("Gather");
            v.write_attrs(&mut start);
            if v.children.is_empty() {
                return w.write_event(Event::Empty(start));
            }
            w.write_event(Event::Start(start))?;
            for child in &v.children {
                match child {
                    Prompt::Say(c) => {
                        text_element(w, "Say", |s| c.write_attrs(s), &say_text(&c.text))?
                    }
                    Prompt::Play(c) => text_element(w, "Play", |s| c.write_attrs(s), &c.url)?,
                    Prompt::Pause(c) => empty_element(w, "Pause", |s| c.write_attrs(s))?,
                }
            }
            w.write_event(Event::End(BytesEnd::new("Gather")))
        }
        Verb::Record(v) => empty_element(w, "Record", |s| v.write_attrs(s)),
        Verb::Redirect(v) => text_element(w, "Redirect", |s| v.write_attrs(s), &v.url),
        Verb::Dial(v) => {
            let mut start = BytesStart::new("Dial");
            v.write_attrs(&mut start);
            w.write_event(Event::Start(start))?;
            text_element(w, "Number", |s| v.number.write_attrs(s), &v.number.phone)?;
            w.write_event(Event::End(BytesEnd::new("Dial")))
        }
        Verb::Hangup(v) => empty_element(w, "Hangup", |s| v.write_attrs(s)),
        Verb::Reject(v) => empty_element(w, "Reject", |s| v.write_attrs(s)),
        Verb::Message(v) => text_element(w, "Message", |s| v.write_attrs(s), &v.body),
    }
}

/// The text without the characters XML 1.0 cannot carry (most control characters), which would
/// make Twilio reject the whole document mid-call. Staff-typed text can hold them.
fn xml_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    };
    if text.chars().all(allowed) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(text.chars().filter(|c| allowed(*c)).collect())
    }
}

fn empty_element(
    w: &mut Writer<Vec<u8>>,
    name: &str,
    attrs: impl FnOnce(&mut BytesStart<'_>),
) -> std::io::Result<()> {
    let mut start = BytesStart::new(name);
    attrs(&mut start);
    w.write_event(Event::Empty(start))
}

fn text_element(
    w: &mut Writer<Vec<u8>>,
    name: &str,
    attrs: impl FnOnce(&mut BytesStart<'_>),
    text: &str,
) -> std::io::Result<()> {
    let mut start = BytesStart::new(name);
    attrs(&mut start);
    w.write_event(Event::Start(start))?;
    w.write_event(Event::Text(BytesText::new(&xml_safe(text))))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

/// One element as read: its name, attributes and text (children are handled by the caller).
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
}

fn read_start(e: &BytesStart<'_>) -> Result<Element, ParseError> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| ParseError::Xml(err.to_string()))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| ParseError::Xml(err.to_string()))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element { name, attrs })
}

fn apply<T: Default>(
    attrs: &[(String, String)],
    read: impl Fn(&mut T, &str, &str) -> Result<(), ParseError>,
) -> Result<T, ParseError> {
    let mut v = T::default();
    for (k, val) in attrs {
        read(&mut v, k, val)?;
    }
    Ok(v)
}

/// A small pull parser over the document. Whitespace between elements is ignored.
struct Parser<'a> {
    reader: Reader<&'a [u8]>,
}

enum Item {
    Start(Element),
    Empty(Element),
    Text(String),
    End,
    Eof,
}

impl Parser<'_> {
    fn next(&mut self) -> Result<Item, ParseError> {
        loop {
            let event = self
                .reader
                .read_event()
                .map_err(|e| ParseError::Xml(e.to_string()))?;
            return Ok(match event {
                Event::Start(e) => Item::Start(read_start(&e)?),
                Event::Empty(e) => Item::Empty(read_start(&e)?),
                Event::End(_) => Item::End,
                Event::Text(t) => {
                    let text = t
                        .decode()
                        .map_err(|e| ParseError::Xml(e.to_string()))?
                        .into_owned();
                    let text = quick_xml::escape::unescape(&text)
                        .map_err(|e| ParseError::Xml(e.to_string()))?
                        .into_owned();
                    Item::Text(text)
                }
                Event::GeneralRef(r) => {
                    // quick-xml reports entity references apart from the text around them.
                    let name = r.decode().map_err(|e| ParseError::Xml(e.to_string()))?;
                    let text = quick_xml::escape::unescape(&format!("&{name};"))
                        .map_err(|e| ParseError::Xml(e.to_string()))?
                        .into_owned();
                    Item::Text(text)
                }
                Event::Eof => Item::Eof,
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => continue,
                Event::CData(c) => Item::Text(String::from_utf8_lossy(&c).into_owned()),
            });
        }
    }

    /// The text content of an element whose start was just read, up to its end.
    fn text_until_end(&mut self) -> Result<String, ParseError> {
        let mut text = String::new();
        loop {
            match self.next()? {
                Item::Text(t) => text.push_str(&t),
                Item::End => return Ok(text),
                Item::Start(e) | Item::Empty(e) => return Err(ParseError::Element(e.name)),
                Item::Eof => return Err(ParseError::Xml("unexpected end of document".into())),
            }
        }
    }

    fn prompt(&mut self, e: Element, empty: bool) -> Result<Prompt, ParseError> {
        Ok(match e.name.as_str() {
            "Say" => {
                let mut v: Say = apply(&e.attrs, Say::read_attr)?;
                v.text = if empty {
                    String::new()
                } else {
                    self.text_until_end()?
                };
                Prompt::Say(v)
            }
            "Play" => {
                let mut v: Play = apply(&e.attrs, Play::read_attr)?;
                v.url = if empty {
                    String::new()
                } else {
                    self.text_until_end()?
                };
                Prompt::Play(v)
            }
            "Pause" => {
                let v: Pause = apply(&e.attrs, Pause::read_attr)?;
                if !empty {
                    self.expect_end()?;
                }
                Prompt::Pause(v)
            }
            other => return Err(ParseError::Element(other.to_owned())),
        })
    }

    /// The next item that is not white space between elements.
    fn next_element(&mut self) -> Result<Item, ParseError> {
        loop {
            match self.next()? {
                Item::Text(t) if t.trim().is_empty() => continue,
                item => return Ok(item),
            }
        }
    }

    fn expect_end(&mut self) -> Result<(), ParseError> {
        match self.next_element()? {
            Item::End => Ok(()),
            Item::Start(e) | Item::Empty(e) => Err(ParseError::Element(e.name)),
            Item::Text(_) => Err(ParseError::Xml("unexpected text".into())),
            Item::Eof => Err(ParseError::Xml("unexpected end of document".into())),
        }
    }

    fn verb(&mut self, e: Element, empty: bool) -> Result<Verb, ParseError> {
        Ok(match e.name.as_str() {
            "Say" | "Play" | "Pause" => match self.prompt(e, empty)? {
                Prompt::Say(v) => Verb::Say(v),
                Prompt::Play(v) => Verb::Play(v),
                Prompt::Pause(v) => Verb::Pause(v),
            },
            "Gather" => {
                let mut v: Gather = apply(&e.attrs, Gather::read_attr)?;
                if !empty {
                    loop {
                        match self.next_element()? {
                            Item::Start(c) => v.children.push(self.prompt(c, false)?),
                            Item::Empty(c) => v.children.push(self.prompt(c, true)?),
                            Item::End => break,
                            Item::Text(_) => {
                                return Err(ParseError::Xml("text directly in <Gather>".into()));
                            }
                            Item::Eof => {
                                return Err(ParseError::Xml("unexpected end of document".into()));
                            }
                        }
                    }
                }
                Verb::Gather(v)
            }
            "Record" => {
                let v: Record = apply(&e.attrs, Record::read_attr)?;
                if !empty {
                    self.expect_end()?;
                }
                Verb::Record(v)
            }
            "Redirect" => {
                let mut v: Redirect = apply(&e.attrs, Redirect::read_attr)?;
                v.url = if empty {
                    String::new()
                } else {
                    self.text_until_end()?
                };
                Verb::Redirect(v)
            }
            "Dial" => {
                let mut v: Dial = apply(&e.attrs, Dial::read_attr)?;
                if empty {
                    return Err(ParseError::Element("Dial".into()));
                }
                match self.next_element()? {
                    Item::Start(n) if n.name == "Number" => {
                        v.number = apply(&n.attrs, Number::read_attr)?;
                        v.number.phone = self.text_until_end()?;
                    }
                    Item::Text(t) => v.number.phone = t,
                    _ => return Err(ParseError::Element("Dial".into())),
                }
                self.expect_end()?;
                Verb::Dial(v)
            }
            "Hangup" | "Reject" => {
                let verb = if e.name == "Hangup" {
                    Verb::Hangup(apply(&e.attrs, Hangup::read_attr)?)
                } else {
                    Verb::Reject(apply(&e.attrs, Reject::read_attr)?)
                };
                if !empty {
                    self.expect_end()?;
                }
                verb
            }
            "Message" => {
                let mut v: Message = apply(&e.attrs, Message::read_attr)?;
                v.body = if empty {
                    String::new()
                } else {
                    self.text_until_end()?
                };
                Verb::Message(v)
            }
            other => return Err(ParseError::Element(other.to_owned())),
        })
    }
}

fn parse(xml: &str) -> Result<Response, ParseError> {
    let mut p = Parser {
        reader: Reader::from_str(xml),
    };
    let mut response = Response::new("");
    match p.next_element()? {
        Item::Empty(e) if e.name == "Response" => return Ok(response),
        Item::Start(e) if e.name == "Response" => {}
        _ => return Err(ParseError::Root),
    }
    loop {
        match p.next_element()? {
            Item::Start(e) => response.verbs.push(p.verb(e, false)?),
            Item::Empty(e) => response.verbs.push(p.verb(e, true)?),
            Item::End => break,
            Item::Text(_) => return Err(ParseError::Xml("text directly in <Response>".into())),
            Item::Eof => return Err(ParseError::Xml("unexpected end of document".into())),
        }
    }
    match p.next_element()? {
        Item::Eof => Ok(response),
        _ => Err(ParseError::Xml("content after </Response>".into())),
    }
}

impl FromStr for Response {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        let mut r = Response::new("Polly.Mia-Neural");
        r.say("Calle 5 de Mayo & Juárez <esquina> \"norte\"");
        r.redirect("https://example.org/twilio/voice/menu?t=1&c=2");
        let xml = r.to_xml();
        assert!(
            xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#),
            "{xml}"
        );
        assert!(
            xml.contains("Calle 5 de Mayo &amp; Juárez &lt;esquina&gt;"),
            "{xml}"
        );
        assert!(xml.contains("menu?t=1&amp;c=2"), "{xml}");
        assert!(
            xml.contains(r#"<Say voice="Polly.Mia-Neural" language="es-MX">"#),
            "{xml}"
        );
        // And it reads back to the same model.
        let back = Response::parse(&xml).unwrap();
        assert_eq!(back.verbs, r.verbs);
    }

    #[test]
    fn control_characters_never_reach_the_document() {
        let mut r = Response::new("v");
        r.say("Se cambió\u{0B} la luminaria\u{0}.\tListo");
        let xml = r.to_xml();
        let back = Response::parse(&xml).unwrap();
        assert_eq!(back.spoken_text(), "Se cambió la luminaria.\tListo");
    }

    #[test]
    fn a_whole_menu_round_trips() {
        let mut r = Response::new("Polly.Andres-Neural");
        let hello = r.say_verb("Hola");
        r.say("Bienvenido")
            .gather(
                Gather::digits("https://x.org/a?t=0")
                    .num_digits(1)
                    .timeout(6)
                    .prompt(Prompt::Say(hello))
                    .prompt(Prompt::Pause(Pause { length: Some(1) })),
            )
            .redirect("https://x.org/a?t=1")
            .record(Record {
                action: Some("https://x.org/r".into()),
                max_length: Some(180),
                play_beep: Some(true),
                finish_on_key: Some("#".into()),
                ..Record::default()
            })
            .dial(Dial {
                action: Some("https://x.org/d".into()),
                timeout: Some(20),
                number: Number {
                    url: Some("https://x.org/screen".into()),
                    method: Some("POST".into()),
                    phone: "+525512345678".into(),
                },
                ..Dial::default()
            })
            .hangup();
        let back = Response::parse(&r.to_xml()).unwrap();
        assert_eq!(back.verbs, r.verbs);
        assert_eq!(back.spoken_text(), "Bienvenido Hola");
    }

    #[test]
    fn a_say_is_cut_to_its_limit_at_a_word() {
        // Short texts pass untouched.
        assert_eq!(
            say_text("Se cambió la luminaria."),
            "Se cambió la luminaria."
        );
        // A long summary (multi-byte letters, a word across the limit) is cut before that word.
        let word = "reparación ";
        let long = word.repeat(SAY_MAX_CHARS / word.chars().count() + 5);
        let cut = say_text(&long);
        assert!(
            cut.chars().count() <= SAY_MAX_CHARS,
            "{}",
            cut.chars().count()
        );
        assert!(
            cut.chars().count() > SAY_MAX_CHARS - word.len(),
            "not cut too short"
        );
        assert!(
            cut.ends_with("reparación"),
            "cut at a word: {:?}",
            &cut[cut.len() - 20..]
        );
        // A word ending exactly at the limit is kept; a text without spaces is cut at the limit.
        let exact = format!("{} siguiente", "a".repeat(SAY_MAX_CHARS));
        assert_eq!(say_text(&exact).chars().count(), SAY_MAX_CHARS);
        assert_eq!(
            say_text(&"á".repeat(SAY_MAX_CHARS + 1)).chars().count(),
            SAY_MAX_CHARS
        );

        // The builder applies it to every <Say>, top-level and in a <Gather>.
        let mut r = Response::new("Polly.Mia-Neural");
        let inner = r.say_verb(&long);
        r.say(&long)
            .gather(Gather::digits("https://x.org/a").prompt(Prompt::Say(inner)));
        let back = Response::parse(&r.to_xml()).unwrap();
        let said: Vec<usize> = back
            .verbs
            .iter()
            .flat_map(|v| match v {
                Verb::Say(s) => vec![s.text.chars().count()],
                Verb::Gather(g) => g
                    .children
                    .iter()
                    .filter_map(|c| match c {
                        Prompt::Say(s) => Some(s.text.chars().count()),
                        _ => None,
                    })
                    .collect(),
                _ => vec![],
            })
            .collect();
        assert_eq!(said, vec![cut.chars().count(); 2]);
    }

    #[test]
    fn unknown_verbs_and_attributes_are_refused() {
        assert_eq!(
            Response::parse("<Response><Enqueue>x</Enqueue></Response>"),
            Err(ParseError::Element("Enqueue".into()))
        );
        assert!(matches!(
            Response::parse(r#"<Response><Say foo="1">x</Say></Response>"#),
            Err(ParseError::Attribute { .. })
        ));
        assert!(matches!(
            Response::parse(r#"<Response><Gather numDigits="x"/></Response>"#),
            Err(ParseError::Attribute { .. })
        ));
        assert_eq!(Response::parse("<Other/>"), Err(ParseError::Root));
        assert!(Response::parse("<Response><Say>x</Response>").is_err());
        assert_eq!(
            Response::parse(r#"<?xml version="1.0"?><Response/>"#)
                .unwrap()
                .verbs,
            vec![]
        );
    }
}
