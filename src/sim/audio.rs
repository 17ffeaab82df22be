//! Recordings the simulator can make without a microphone: a generated tone in the format of
//! Twilio's recordings, and the duration of a WAV file given with `atiende simulate --wav`.

/// The sample rate of Twilio's recordings (and of the tone): 8 kHz, phone quality.
const SAMPLE_RATE: u32 = 8000;

/// A tone as a recording: `seconds` of 440 Hz at 8 kHz, 16-bit mono PCM, like Twilio's files.
pub fn tone_wav(seconds: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut cursor, spec).expect("in-memory WAV");
        for i in 0..(SAMPLE_RATE * seconds) {
            let t = i as f32 / SAMPLE_RATE as f32;
            let sample = (t * 440.0 * std::f32::consts::TAU).sin() * 0.3 * f32::from(i16::MAX);
            w.write_sample(sample as i16).expect("in-memory WAV");
        }
        w.finalize().expect("in-memory WAV");
    }
    cursor.into_inner()
}

/// The duration of a WAV file in whole seconds (at least 1), checking it is one.
pub fn wav_seconds(bytes: &[u8]) -> anyhow::Result<u32> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes))?;
    let spec = reader.spec();
    let seconds = reader.duration() / spec.sample_rate.max(1);
    Ok(seconds.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_is_a_phone_quality_wav() {
        let wav = tone_wav(3);
        let reader = hound::WavReader::new(std::io::Cursor::new(&wav)).unwrap();
        assert_eq!(reader.spec().sample_rate, 8000);
        assert_eq!(reader.spec().channels, 1);
        assert_eq!(wav_seconds(&wav).unwrap(), 3);
    }
}
