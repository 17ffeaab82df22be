//! A downloaded recording: any bytes are a checked WAV or an error, never a panic (the job
//! would read a panic as an invalid file, but it should not need to).
#![no_main]

use atiende::recordings::{PEAKS, check_wav_from};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(info) = check_wav_from(bytes) {
        assert!(info.peaks.len() <= PEAKS);
        assert!(info.sample_rate > 0 && info.channels > 0);
    }
});
