//! `atiende simulate`: a phone call in the terminal.
//!
//! Prints what the caller hears, reads keys from standard input (an empty line is silence),
//! "records" a WAV file or a generated tone, and at the end sends the call status callback, so
//! the service logs the call exactly as it would a real one. Reading lines from standard input
//! also makes it scriptable: `printf '1\n1\n\n' | atiende simulate`.

use super::audio::{tone_wav, wav_seconds};
use super::fake_api::{FakeTwilioApi, RecordingReply};
use super::{CallSimulator, RecordingEnd, Waiting};
use crate::config::Config;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Options of `atiende simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// The caller's number (E.164); without it the caller ID is withheld.
    #[arg(long)]
    pub from: Option<String>,
    /// A WAV file to send as the recording; without it a 3-second tone is sent.
    #[arg(long)]
    pub wav: Option<PathBuf>,
    /// The service's base URL, if it is not ATIENDE_PUBLIC_URL.
    #[arg(long)]
    pub url: Option<String>,
}

/// The recording the caller "says": a WAV file, or a generated tone.
struct Recorded {
    wav: Vec<u8>,
    seconds: u32,
    what: String,
}

/// Runs one call against the service: the recording to send, a stand-in for Twilio's API that
/// serves it, the call itself, then what the service did with the recording and the SMS.
pub async fn run(config: &Config, args: SimulateArgs) -> anyhow::Result<()> {
    let recorded = recording(&args)?;
    let (fake_api, local_api) = stand_in(config).await?;
    let base = args
        .url
        .clone()
        .unwrap_or_else(|| config.public_url.as_str().trim_end_matches('/').to_owned());
    let mut twilio = CallSimulator::new(&base, config.auth_token());
    if let Some(t) = &config.twilio {
        twilio.account_sid = t.account_sid.clone();
    }
    twilio.recordings_base = fake_api.base().to_owned();
    let signed = if config.auth_token().is_some() {
        " (con firma)"
    } else {
        ""
    };
    println!("Llamando a {base}/twilio/voice{signed}");
    if !local_api {
        println!(
            "(Las grabaciones se sirven en {}; el servicio solo las descargará si TWILIO_API_BASE apunta ahí.)",
            fake_api.base()
        );
    }
    let sent_recording = converse(&twilio, &args, &recorded, &fake_api).await?;
    if local_api && sent_recording {
        report_follow_up(config, &fake_api).await;
    }
    Ok(())
}

/// The WAV file of `--wav`, or a 3-second tone.
fn recording(args: &SimulateArgs) -> anyhow::Result<Recorded> {
    let wav: Vec<u8> = match &args.wav {
        Some(path) => {
            std::fs::read(path).map_err(|e| anyhow::anyhow!("--wav {}: {e}", path.display()))?
        }
        None => tone_wav(3),
    };
    let seconds = wav_seconds(&wav).map_err(|e| anyhow::anyhow!("--wav: not a WAV file: {e}"))?;
    let what = args
        .wav
        .as_ref()
        .map_or("un tono de 3 segundos".to_owned(), |p| {
            p.display().to_string()
        });
    Ok(Recorded { wav, seconds, what })
}

/// Serves the recordings where the service expects Twilio's API: at TWILIO_API_BASE when it is
/// a local address, otherwise on a free local port. No credentials are checked: in demo mode
/// the service sends none. Returns the stand-in and whether it sits where the service looks.
async fn stand_in(config: &Config) -> anyhow::Result<(FakeTwilioApi, bool)> {
    let api = &config.twilio_api_base;
    let local_api = api.scheme() == "http"
        && matches!(api.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let addr = match (local_api, api.socket_addrs(|| Some(80))) {
        (true, Ok(addrs)) if !addrs.is_empty() => addrs[0],
        _ => "127.0.0.1:0".parse()?,
    };
    match FakeTwilioApi::start(addr, None).await {
        Ok(fake_api) => Ok((fake_api, local_api)),
        Err(e) if local_api => {
            // Another simulator holds the port: this call's recording will not be fetched.
            println!("(No se pudo usar {addr} para las grabaciones: {e}.)");
            Ok((FakeTwilioApi::start_on_loopback(None).await?, false))
        }
        Err(e) => Err(e),
    }
}

/// The call: prints what the caller hears and reads what they do from standard input, until
/// the call ends or the input does; then hangs up. Returns whether a recording was sent.
async fn converse(
    twilio: &CallSimulator,
    args: &SimulateArgs,
    recorded: &Recorded,
    fake_api: &FakeTwilioApi,
) -> anyhow::Result<bool> {
    let started = Instant::now();
    let mut sent_recording = false;
    let mut call = twilio.call(args.from.as_deref()).await?;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        let heard = call.heard();
        if !heard.is_empty() {
            println!("\n🔊 {heard}");
        }
        let mut ask = |prompt: &str| -> Option<String> {
            print!("{prompt}");
            let _ = std::io::stdout().flush();
            lines
                .next()
                .and_then(Result::ok)
                .map(|l| l.trim().to_owned())
        };
        match call.waiting() {
            Waiting::Keys { speech: false, .. } => match ask("☎  Marque (Enter = silencio): ") {
                None => break,
                Some(keys) if keys.is_empty() => call.silence().await?,
                Some(keys) => call.press(&keys).await?,
            },
            Waiting::Keys { speech: true, .. } => {
                match ask("☎  Marque o diga algo (Enter = silencio): ") {
                    None => break,
                    Some(keys) if keys.is_empty() => call.silence().await?,
                    Some(keys)
                        if keys
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == '#' || c == '*') =>
                    {
                        call.press(&keys).await?
                    }
                    // Words, as if Twilio's recogniser had heard them clearly.
                    Some(words) => call.speak(&words, 0.9).await?,
                }
            }
            Waiting::Recording => {
                let what = &recorded.what;
                match ask(&format!(
                    "🎙  Enter envía {what}; «c» cuelga al terminar; «n» no dice nada: "
                )) {
                    None => break,
                    Some(a) if a == "n" => call.record_nothing().await?,
                    Some(a) => {
                        let end = if a == "c" {
                            RecordingEnd::Hangup
                        } else {
                            RecordingEnd::Key
                        };
                        let recording = call.new_recording(recorded.seconds);
                        fake_api.set_recording_replies(
                            &recording.sid,
                            vec![RecordingReply::Wav(recorded.wav.clone())],
                        );
                        sent_recording = true;
                        call.send_record_action(&recording, end).await?;
                        call.send_recording_status(&recording, "completed").await?;
                        println!(
                            "   (grabación {} enviada, {} s)",
                            recording.sid, recorded.seconds
                        );
                    }
                }
            }
            Waiting::Transfer(number) => {
                let question = format!(
                    "📞 Transfiriendo a {number}. ¿Contesta personal (s), un buzón de voz (b) o nadie (n)? "
                );
                match ask(&question) {
                    None => break,
                    Some(a) if a.starts_with('s') => {
                        let heard = call.answer_transfer(Some("1")).await?;
                        println!("   (el personal escuchó: «{heard}» y marcó 1)");
                    }
                    Some(a) if a.starts_with('b') => {
                        let heard = call.answer_transfer(None).await?;
                        println!("   (el buzón escuchó: «{heard}»)");
                    }
                    Some(_) => call.transfer_result("no-answer").await?,
                }
            }
            Waiting::Ended => break,
        }
    }
    let duration = started.elapsed().as_secs() as u32;
    call.hang_up(duration).await?;
    println!("\n📴 Llamada terminada ({}).", call.call_sid());
    Ok(sent_recording)
}

/// The service copies the recording and sends the SMS from its job queue, a moment after the
/// call: stay until it has (at most a few seconds), since we serve the file, and say so.
async fn report_follow_up(config: &Config, fake_api: &FakeTwilioApi) {
    let wait = std::time::Duration::from_millis(100);
    for _ in 0..50 {
        if fake_api.recordings_served() > 0 {
            println!("🎧 El servicio descargó la grabación.");
            break;
        }
        tokio::time::sleep(wait).await;
    }
    if config.auth_token().is_some() {
        for _ in 0..30 {
            if !fake_api.sms().is_empty() {
                break;
            }
            tokio::time::sleep(wait).await;
        }
    }
    for sms in fake_api.sms() {
        let to = sms.get("To").unwrap_or_default();
        let body = sms.get("Body").unwrap_or_default();
        println!("📱 SMS a {to}: {body}");
    }
}
