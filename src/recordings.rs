//! What makes a recording acceptable: a RIFF/WAVE file of PCM integer samples, read through with
//! hound. Its sample rate, channels and duration are kept, and a waveform summary (the peak level
//! of each of [`PEAKS`] slices) is computed for the console to draw under the player.
//!
//! The download itself is a job: `jobs::download_recording`.

use std::path::Path;

/// How many peak levels the waveform summary has.
pub const PEAKS: usize = 400;

/// What a verified WAV tells us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavInfo {
    pub sample_rate: u32,
    pub channels: u16,
    pub bits_per_sample: u16,
    pub duration_ms: u64,
    pub peaks: Vec<u8>,
}

/// Reads a WAV file through: PCM integer samples, at least one; the waveform summary is the
/// peak level (0-255) of each of [`PEAKS`] equal slices.
pub fn check_wav(path: &Path) -> Result<WavInfo, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    check_wav_from(std::io::BufReader::new(file))
}

/// [`check_wav`] of bytes from any reader (the fuzz target reads from memory).
pub fn check_wav_from(input: impl std::io::Read) -> Result<WavInfo, String> {
    let mut reader = hound::WavReader::new(input).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int {
        return Err("not PCM integer samples".into());
    }
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err("no channels or no sample rate".into());
    }
    let frames = u64::from(reader.duration());
    let duration_ms = frames * 1000 / u64::from(spec.sample_rate);
    let full_scale = (1i64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f64;
    let total_samples = frames * u64::from(spec.channels);
    let per_slice = total_samples.div_ceil(PEAKS as u64).max(1);
    let mut peaks = Vec::with_capacity(PEAKS);
    let mut current: i64 = 0;
    let mut count: u64 = 0;
    for sample in reader.samples::<i32>() {
        let sample = sample.map_err(|e| format!("truncated or corrupt samples: {e}"))?;
        current = current.max(i64::from(sample).abs());
        count += 1;
        if count == per_slice {
            peaks.push(((current as f64 / full_scale).min(1.0) * 255.0).round() as u8);
            current = 0;
            count = 0;
        }
    }
    if count > 0 {
        peaks.push(((current as f64 / full_scale).min(1.0) * 255.0).round() as u8);
    }
    if frames == 0 {
        return Err("no samples".into());
    }
    Ok(WavInfo {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        bits_per_sample: spec.bits_per_sample,
        duration_ms,
        peaks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_is_measured_and_summarised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        std::fs::write(&path, crate::sim::audio::tone_wav(3)).unwrap();
        let info = check_wav(&path).unwrap();
        assert_eq!(info.sample_rate, 8000);
        assert_eq!(info.channels, 1);
        assert_eq!(info.duration_ms, 3000);
        assert!(
            info.peaks.len() <= PEAKS && info.peaks.len() >= PEAKS - 1,
            "{}",
            info.peaks.len()
        );
        assert!(
            info.peaks.iter().all(|p| (70..=80).contains(p)),
            "a 0.3 full-scale tone"
        );
    }

    #[test]
    fn garbage_and_truncated_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.wav");
        std::fs::write(&path, b"RIFF....WAVEfmt garbage").unwrap();
        assert!(check_wav(&path).is_err());
        let mut wav = crate::sim::audio::tone_wav(1);
        wav.truncate(wav.len() / 2);
        std::fs::write(&path, wav).unwrap();
        assert!(check_wav(&path).is_err());
    }
}
