//! The spoken-digit corpus: strings of three to six digits, read by the
//! espeak-ng speech synthesiser in many voices, accents, speeds, pitches
//! and word gaps, written as WAV files with a manifest (`train.tsv`,
//! `test.tsv`: columns `file`, `text`, `voice`, `speed`, `pitch`, `gap`).
//! The test voices are never heard in training.
//!
//! Recorded speech works the same way: a folder with `train.tsv` and
//! `test.tsv` whose `file` column names WAV files (relative to the folder)
//! and whose `text` column holds their transcripts.

use std::path::{Path, PathBuf};
use std::process::Command;

use seq::core::Rng;

use crate::common::report::write_text;
use crate::common::Error;

/// espeak-ng's voice variants heard in training.
const TRAIN_VOICES: &[&str] = &[
    "m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "f4", "adam", "Alex", "Alicia", "Andy",
    "Annie", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward", "Gene",
    "iven", "john", "linda", "max", "Michael", "paul", "quincy", "rob", "robert", "steph", "zac",
    "grandpa", "klatt", "klatt2", "klatt3", "norbert", "shelby", "travis", "victor",
];

/// Voice variants kept for the test set: held-out speakers.
const TEST_VOICES: &[&str] = &[
    "m7", "m8", "f5", "Mike", "Lee", "grandma", "sandro", "anika", "edward2", "klatt4", "steph2",
];

/// English accents, each voice variant is combined with one per utterance.
const ACCENTS: &[&str] = &[
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
];

/// The words read.
pub const DIGITS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// One utterance of a manifest: its WAV file and transcript.
pub struct Utterance {
    pub file: PathBuf,
    pub text: String,
}

/// The `split` manifest of `dir` (`train` or `test`). A manifest of
/// recorded speech (without the `voice` column the synthesiser writes) is
/// used as it is; a synthesised one is made anew with espeak-ng (in
/// parallel, seeded) when it is missing or holds another number of
/// utterances than `n`.
pub fn corpus(dir: &Path, split: &str, n: usize, seed: u64) -> Result<Vec<Utterance>, Error> {
    let manifest = dir.join(format!("{split}.tsv"));
    if manifest.exists() {
        let header = std::fs::read_to_string(&manifest)
            .map_err(|e| format!("{}: {e}", manifest.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let found = read(&manifest)?;
        let synthesised = header.split('\t').any(|c| c == "voice");
        if !synthesised || (found.len() == n && found.iter().all(|u| u.file.exists())) {
            return Ok(found);
        }
    }
    let voices = if split == "test" {
        TEST_VOICES
    } else {
        TRAIN_VOICES
    };
    synthesise(dir, split, n, voices, seed)?;
    read(&manifest)
}

/// Reads a manifest: `file` (relative to its folder) and `text` columns.
pub fn read(manifest: &Path) -> Result<Vec<Utterance>, Error> {
    let dir = manifest.parent().unwrap_or(Path::new("."));
    Ok(
        seq::data::readers::text::read_pairs(manifest, "file", "text")?
            .into_iter()
            .map(|(file, text)| Utterance {
                file: dir.join(file),
                text,
            })
            .collect(),
    )
}

/// One utterance's script: what is read and how.
struct Script {
    text: String,
    voice: String,
    speed: u32,
    pitch: u32,
    gap: u32,
}

fn script(rng: &mut Rng, voices: &[&str]) -> Script {
    let n = 3 + rng.below(4);
    let words: Vec<&str> = (0..n).map(|_| DIGITS[rng.below(10)]).collect();
    let voice = format!(
        "{}+{}",
        ACCENTS[rng.below(ACCENTS.len())],
        voices[rng.below(voices.len())]
    );
    Script {
        text: words.join(" "),
        voice,
        speed: 130 + rng.below(81) as u32,
        pitch: 20 + rng.below(61) as u32,
        gap: rng.below(6) as u32,
    }
}

fn synthesise(dir: &Path, split: &str, n: usize, voices: &[&str], seed: u64) -> Result<(), Error> {
    let wav_dir = dir.join(split);
    std::fs::create_dir_all(&wav_dir).map_err(|e| format!("{}: {e}", wav_dir.display()))?;
    let mut rng = Rng::new(seed ^ if split == "test" { 0x7e57 } else { 0 });
    let scripts: Vec<Script> = (0..n).map(|_| script(&mut rng, voices)).collect();
    println!(
        "synthesising {n} {split} utterances with espeak-ng into {}",
        wav_dir.display()
    );
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = n.div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let jobs: Vec<_> = scripts
            .chunks(chunk)
            .enumerate()
            .map(|(j, part)| {
                let wav_dir = &wav_dir;
                s.spawn(move || -> Result<(), String> {
                    for (i, sc) in part.iter().enumerate() {
                        speak(sc, &wav_dir.join(format!("{:05}.wav", j * chunk + i)))?;
                    }
                    Ok(())
                })
            })
            .collect();
        jobs.into_iter().try_for_each(|j| {
            j.join()
                .map_err(|_| "a synthesis thread panicked".to_string())?
        })
    })?;
    let mut tsv = String::from("file\ttext\tvoice\tspeed\tpitch\tgap\n");
    for (i, sc) in scripts.iter().enumerate() {
        tsv += &format!(
            "{split}/{i:05}.wav\t{}\t{}\t{}\t{}\t{}\n",
            sc.text, sc.voice, sc.speed, sc.pitch, sc.gap
        );
    }
    write_text(&dir.join(format!("{split}.tsv")), &tsv)
}

/// Runs espeak-ng for one script.
fn speak(sc: &Script, wav: &Path) -> Result<(), String> {
    let status = Command::new("espeak-ng")
        .args(["-v", &sc.voice, "-s", &sc.speed.to_string()])
        .args(["-p", &sc.pitch.to_string(), "-g", &sc.gap.to_string()])
        .arg("-w")
        .arg(wav)
        .arg(&sc.text)
        .status()
        .map_err(|e| {
            format!("cannot run espeak-ng ({e}); install it (Debian: apt-get install espeak-ng) or point --data at recorded speech")
        })?;
    if !status.success() {
        return Err(format!("espeak-ng -v {} failed: {status}", sc.voice));
    }
    Ok(())
}
