//! Audio for speech models: WAV files in (through `hound`) and log-mel
//! spectrograms out (through `rustfft`), the features a speech recogniser
//! reads, one frame per hop:
//!
//! ```text
//! frame_k   = samples[k hop .. k hop + win] * hann           (zero-padded to n_fft)
//! power_k   = |FFT(frame_k)|^2                               (n_fft / 2 + 1 bins)
//! logmel_k  = ln(max(mel_filters . power_k, floor))          (n_mels values)
//! ```
//!
//! The mel scale and the triangular filters are the HTK ones (torchaudio's
//! `MelSpectrogram` defaults, `norm=None`, without centring the frames).

use std::path::Path;
use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::{Error, Result};

/// A sound: mono samples in `[-1, 1]` and their rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Samples per second.
    pub sample_rate: u32,
    /// The samples, channels averaged.
    pub samples: Vec<f32>,
}

/// Reads a WAV file (integer PCM of 8 to 32 bits or 32-bit float, any
/// number of channels, averaged to mono). Errors name the file.
pub fn read_wav(path: &Path) -> Result<Audio> {
    let fail = |message: String| Error::Core(seq_core::Error::file(path, message));
    let reader = hound::WavReader::open(path).map_err(|e| fail(format!("not a WAV file: {e}")))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 || spec.sample_rate == 0 {
        return Err(fail(format!(
            "{channels} channels at {} Hz",
            spec.sample_rate
        )));
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<std::result::Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|s| s as f32 * scale))
                .collect()
        }
    }
    .map_err(|e| fail(format!("bad samples: {e}")))?;
    let samples = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect::<Vec<f32>>();
    if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
        return Err(fail(format!("sample {i} is not finite")));
    }
    Ok(Audio {
        sample_rate: spec.sample_rate,
        samples,
    })
}

/// The settings of [`LogMel`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogMelConfig {
    /// Samples per second of the audio it reads (required).
    pub sample_rate: u32,
    /// Samples per frame (default 25 ms).
    pub win_length: usize,
    /// Samples between frames (default 10 ms).
    pub hop_length: usize,
    /// FFT size, at least `win_length` (default the next power of two).
    pub n_fft: usize,
    /// Mel bands (default 40).
    pub n_mels: usize,
    /// Lowest frequency of the filters in Hz (default 0).
    pub f_min: f64,
    /// Highest frequency in Hz (default the Nyquist frequency, `sample_rate / 2`).
    pub f_max: f64,
    /// The smallest power taken before the log (default 1e-10).
    pub floor: f64,
}

impl LogMelConfig {
    /// 25 ms frames every 10 ms, 40 mel bands from 0 Hz to the Nyquist
    /// frequency, for audio at `sample_rate`.
    pub fn new(sample_rate: u32) -> Self {
        let sr = f64::from(sample_rate);
        let win_length = ((0.025 * sr).round() as usize).max(1);
        LogMelConfig {
            sample_rate,
            win_length,
            hop_length: ((0.010 * sr).round() as usize).max(1),
            n_fft: win_length.next_power_of_two(),
            n_mels: 40,
            f_min: 0.0,
            f_max: sr / 2.0,
            floor: 1e-10,
        }
    }

    /// Samples per frame; the FFT grows to the next power of two if needed.
    pub fn with_win_length(mut self, n: usize) -> Self {
        self.win_length = n;
        self.n_fft = self.n_fft.max(n.next_power_of_two());
        self
    }

    /// Samples between frames.
    pub fn with_hop_length(mut self, n: usize) -> Self {
        self.hop_length = n;
        self
    }

    /// The FFT size (at least `win_length`).
    pub fn with_n_fft(mut self, n: usize) -> Self {
        self.n_fft = n;
        self
    }

    /// Mel bands.
    pub fn with_n_mels(mut self, n: usize) -> Self {
        self.n_mels = n;
        self
    }

    /// The filters' frequency range in Hz.
    pub fn with_range(mut self, f_min: f64, f_max: f64) -> Self {
        (self.f_min, self.f_max) = (f_min, f_max);
        self
    }
}

/// Log-mel spectrograms (see the module's docs).
pub struct LogMel {
    config: LogMelConfig,
    window: Vec<f32>,
    /// Per mel band: the first FFT bin it covers and its weights from there.
    filters: Vec<(usize, Vec<f32>)>,
    fft: Arc<dyn Fft<f32>>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel")
            .field("config", &self.config)
            .finish()
    }
}

/// Hz to mel, HTK's formula.
fn mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

/// Mel to Hz.
fn hz(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

impl LogMel {
    /// Plans the FFT and builds the window and the filters; errors name the
    /// setting at fault.
    pub fn new(config: LogMelConfig) -> Result<Self> {
        let c = &config;
        let nyquist = f64::from(c.sample_rate) / 2.0;
        let bad = |m: String| Err(Error::Config(format!("log-mel: {m}")));
        if c.sample_rate == 0 || c.win_length == 0 || c.hop_length == 0 || c.n_mels == 0 {
            return bad(format!(
                "sample_rate {}, win_length {}, hop_length {} and n_mels {} must all be at least 1",
                c.sample_rate, c.win_length, c.hop_length, c.n_mels
            ));
        }
        if c.n_fft < c.win_length || c.n_fft > 1 << 20 {
            return bad(format!(
                "n_fft {} must be at least win_length {} and at most 2^20",
                c.n_fft, c.win_length
            ));
        }
        if !(0.0 <= c.f_min && c.f_min < c.f_max && c.f_max <= nyquist) {
            return bad(format!(
                "the range {} Hz to {} Hz must rise within 0 to {nyquist} Hz",
                c.f_min, c.f_max
            ));
        }
        if !(c.floor > 0.0 && c.floor.is_finite()) {
            return bad(format!("floor {} must be positive", c.floor));
        }
        // The periodic Hann window (torch.hann_window's default).
        let window = (0..c.win_length)
            .map(|i| {
                let x = std::f64::consts::PI * i as f64 / c.win_length as f64;
                x.sin().powi(2) as f32
            })
            .collect();
        let bins = c.n_fft / 2 + 1;
        let (lo, hi) = (mel(c.f_min), mel(c.f_max));
        let edges: Vec<f64> = (0..c.n_mels + 2)
            .map(|i| hz(lo + (hi - lo) * i as f64 / (c.n_mels + 1) as f64))
            .collect();
        let bin_hz = f64::from(c.sample_rate) / c.n_fft as f64;
        let filters = edges
            .windows(3)
            .map(|e| {
                let weight = |k: usize| {
                    let f = k as f64 * bin_hz;
                    let up = (f - e[0]) / (e[1] - e[0]);
                    let down = (e[2] - f) / (e[2] - e[1]);
                    up.min(down).max(0.0) as f32
                };
                let first = (0..bins).find(|&k| weight(k) > 0.0).unwrap_or(bins);
                let last = (first..bins).take_while(|&k| weight(k) > 0.0).last();
                let weights = match last {
                    Some(last) => (first..=last).map(weight).collect(),
                    None => Vec::new(),
                };
                (first, weights)
            })
            .collect();
        let fft = FftPlanner::new().plan_fft_forward(c.n_fft);
        Ok(LogMel {
            config,
            window,
            filters,
            fft,
        })
    }

    /// The settings.
    pub fn config(&self) -> &LogMelConfig {
        &self.config
    }

    /// Frames of `samples`: `1 + (len - win_length) / hop_length`, and one
    /// (zero-padded) for audio shorter than a frame.
    pub fn frames(&self, samples: usize) -> usize {
        let c = &self.config;
        1 + samples.saturating_sub(c.win_length) / c.hop_length
    }

    /// The power spectrum of each frame, row-major `[frames, n_fft / 2 + 1]`.
    pub fn power(&self, samples: &[f32]) -> Vec<f32> {
        let c = &self.config;
        let bins = c.n_fft / 2 + 1;
        let frames = self.frames(samples.len());
        let mut out = Vec::with_capacity(frames * bins);
        let mut buf = vec![Complex::new(0f32, 0.0); c.n_fft];
        let mut scratch = vec![Complex::new(0f32, 0.0); self.fft.get_inplace_scratch_len()];
        for k in 0..frames {
            buf.fill(Complex::new(0.0, 0.0));
            let frame = samples.iter().skip(k * c.hop_length).take(c.win_length);
            for ((b, &s), &w) in buf.iter_mut().zip(frame).zip(&self.window) {
                b.re = s * w;
            }
            self.fft.process_with_scratch(&mut buf, &mut scratch);
            out.extend(buf[..bins].iter().map(|z| z.norm_sqr()));
        }
        out
    }

    /// The log-mel spectrogram of `samples` (at the configured rate),
    /// row-major `[frames, n_mels]`.
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let bins = self.config.n_fft / 2 + 1;
        let floor = self.config.floor;
        let power = self.power(samples);
        let mut out = Vec::with_capacity(power.len() / bins * self.config.n_mels);
        for frame in power.chunks_exact(bins) {
            for (first, weights) in &self.filters {
                let e: f64 = weights
                    .iter()
                    .zip(&frame[*first..])
                    .map(|(&w, &p)| f64::from(w) * f64::from(p))
                    .sum();
                out.push(e.max(floor).ln() as f32);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sine of amplitude `a` with a whole number `k` of cycles per
    /// `n_fft` samples has, under the periodic Hann window (whose sum is
    /// `n / 2`), power `(a n / 4)^2` in bin `k` and `(a n / 8)^2` in each
    /// neighbour: the window's transform is `n/2, -n/4, -n/4` there.
    #[test]
    fn power_of_a_sine_on_a_bin_is_the_closed_form() {
        let n = 256;
        let mel = LogMel::new(LogMelConfig::new(8000).with_win_length(n).with_n_fft(n)).unwrap();
        let (a, k) = (0.5f32, 19usize);
        let samples: Vec<f32> = (0..n)
            .map(|i| a * (2.0 * std::f32::consts::PI * (k * i) as f32 / n as f32).cos())
            .collect();
        let p = mel.power(&samples);
        assert_eq!(p.len(), n / 2 + 1);
        let expect = |v: f32| (v * a * n as f32).powi(2);
        assert!((p[k] / expect(0.25) - 1.0).abs() < 1e-4, "{}", p[k]);
        assert!((p[k + 1] / expect(0.125) - 1.0).abs() < 1e-4);
        assert!((p[k - 1] / expect(0.125) - 1.0).abs() < 1e-4);
        let rest: f32 = p
            .iter()
            .enumerate()
            .filter(|(i, _)| i.abs_diff(k) > 1)
            .map(|(_, v)| v)
            .sum();
        assert!(rest < 1e-6 * p[k], "{rest}");
    }

    /// A tone lands in the band whose centre is nearest to it, and the
    /// frame count follows the hop.
    #[test]
    fn a_tone_peaks_in_its_mel_band() {
        let sr = 16000;
        let mel = LogMel::new(LogMelConfig::new(sr)).unwrap();
        let c = mel.config().clone();
        let lo = super::mel(c.f_min);
        let step = (super::mel(c.f_max) - lo) / (c.n_mels + 1) as f64;
        for f in [300.0f32, 1000.0, 2500.0, 6000.0] {
            let samples: Vec<f32> = (0..sr as usize / 2)
                .map(|i| (2.0 * std::f32::consts::PI * f * i as f32 / sr as f32).sin())
                .collect();
            let spec = mel.compute(&samples);
            assert_eq!(spec.len(), mel.frames(samples.len()) * c.n_mels);
            assert_eq!(mel.frames(samples.len()), 1 + (8000 - 400) / 160);
            let frame = &spec[..c.n_mels];
            let peak = (0..c.n_mels)
                .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
                .unwrap();
            let nearest = ((super::mel(f64::from(f)) - lo) / step - 1.0).round() as usize;
            assert!(
                peak.abs_diff(nearest) <= 1,
                "{f} Hz: band {peak}, nearest centre {nearest}"
            );
        }
        // Shorter than a frame: one frame, zero-padded.
        assert_eq!(mel.compute(&[0.1; 10]).len(), c.n_mels);
    }

    #[test]
    fn settings_that_cannot_work_are_errors() {
        for c in [
            LogMelConfig::new(16000).with_n_mels(0),
            LogMelConfig::new(16000).with_n_fft(64),
            LogMelConfig::new(16000).with_range(0.0, 9000.0),
            LogMelConfig::new(16000).with_range(500.0, 100.0),
            LogMelConfig::new(0),
        ] {
            assert!(LogMel::new(c).is_err());
        }
    }

    #[test]
    fn wav_files_round_trip_and_garbage_names_the_file() {
        let dir = std::env::temp_dir().join(format!("seq-audio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stereo.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 22050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for (l, r) in [(16384i16, 0i16), (-32768, -32768), (100, 300)] {
            w.write_sample(l).unwrap();
            w.write_sample(r).unwrap();
        }
        w.finalize().unwrap();
        let audio = read_wav(&path).unwrap();
        assert_eq!(audio.sample_rate, 22050);
        assert_eq!(audio.samples, vec![0.25, -1.0, 200.0 / 32768.0]);
        let bad = dir.join("bad.wav");
        std::fs::write(&bad, b"RIFF not really").unwrap();
        let e = read_wav(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.wav"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
