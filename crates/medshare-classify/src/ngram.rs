//! A small character n-gram model behind the text rules: multinomial naive Bayes over hashed
//! features (1-3-grams of CJK characters, lower-cased Latin words and word pairs), each counted
//! once per document, uniform class prior, Laplace-style smoothing. Trained on the development
//! data of the labelled free-text sets (`examples/train_ngram.rs` writes `ngram.bin`, committed;
//! the same inputs give the same bytes). It reads texts with Chinese in them only and never
//! raises confidence: where the rules' answer is low confidence it decides the class (still low
//! confidence), and where the rules are sure and it disagrees, the answer is marked low
//! confidence. On by default ([`crate::Options::default`] holds [`builtin`]) since 2026-11-30:
//! measured leaving each author's set out, it beat the rules alone on the Chinese sets and
//! leaves English untouched (docs/classification.md).
//!
//! The weights file: `MSNG`, version 1, the hash width in bits, the number of classes, each
//! class's category (length-prefixed), then per class one byte per bucket: the negative log
//! probability of the bucket given the class in sixteenths of a nat (255 = at most).

use crate::rules::fold_width;
use crate::{DocumentClass, Evidence};

/// Buckets are `1 << BITS` hashed features.
pub const BITS: u8 = 14;
/// Sixteenths of a nat per quantisation step.
const SCALE: f64 = 16.0;
/// Smoothing added to every bucket's count.
const ALPHA: f64 = 0.5;
/// The model reads at most this many characters of a text.
const MAX_CHARS: usize = 50_000;
const MAGIC: &[u8; 4] = b"MSNG";

/// A trained model: per class, one quantised weight per bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct Model {
    bits: u8,
    classes: Vec<DocumentClass>,
    /// `classes.len() << bits` bytes, class-major.
    weights: Vec<u8>,
}

/// The model's answer for one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub class: DocumentClass,
    pub runner_up: DocumentClass,
    /// Log-likelihood of the winner over the runner-up, in nats.
    pub margin: f32,
    /// Distinct features the text gave.
    pub features: usize,
}

/// A weights file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("n-gram weights: {0}")]
    Format(&'static str),
}

/// The distinct hashed features of `text` (buckets below `1 << bits`), sorted.
pub fn features(text: &str, bits: u8) -> Vec<u32> {
    let folded = fold_width(text);
    let lower = folded.to_lowercase();
    let mask = (1u32 << bits) - 1;
    let mut out = Vec::new();
    let mut cjk: Vec<char> = Vec::new();
    let mut word = String::new();
    let mut prev_word: Option<String> = None;
    let mut push = |kind: u8, s: &str| out.push(hash(kind, s) & mask);
    let chars = lower.chars().take(MAX_CHARS).chain(std::iter::once(' '));
    for ch in chars {
        if ideograph(ch) {
            cjk.push(ch);
        } else if !cjk.is_empty() {
            emit_cjk(&cjk, &mut push);
            cjk.clear();
        }
        if ch.is_ascii_alphanumeric() {
            word.push(ch);
            continue;
        }
        if word.len() >= 2 && word.chars().any(|c| c.is_ascii_alphabetic()) {
            push(b'w', &word);
            if let Some(p) = &prev_word {
                push(b'p', &format!("{p} {word}"));
            }
            prev_word = Some(std::mem::take(&mut word));
        }
        word.clear();
        if ideograph(ch) || ch == '\n' {
            prev_word = None;
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// A CJK ideograph (punctuation such as `。` separates runs).
fn ideograph(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

fn emit_cjk(run: &[char], push: &mut impl FnMut(u8, &str)) {
    let mut s = String::new();
    for n in 1..=3usize {
        for w in run.windows(n) {
            s.clear();
            s.extend(w);
            push(b'0' + n as u8, &s);
        }
    }
}

/// FNV-1a over the kind byte and the text, folded to 32 bits.
fn hash(kind: u8, s: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::iter::once(kind).chain(s.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h ^ (h >> 32)) as u32
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("bits", &self.bits)
            .field("classes", &self.classes)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Train on labelled texts: per class, how many documents hold each bucket, smoothed and
    /// normalised to a distribution over buckets, quantised. Classes without documents are left
    /// out. Deterministic: the same documents in the same order give the same model.
    pub fn train<'a>(docs: impl IntoIterator<Item = (DocumentClass, &'a str)>, bits: u8) -> Self {
        let buckets = 1usize << bits;
        let mut counts: Vec<(DocumentClass, Vec<u32>)> = Vec::new();
        for (class, text) in docs {
            let i = match counts.iter().position(|(c, _)| *c == class) {
                Some(i) => i,
                None => {
                    counts.push((class, vec![0; buckets]));
                    counts.len() - 1
                }
            };
            for f in features(text, bits) {
                counts[i].1[f as usize] += 1;
            }
        }
        counts.sort_by_key(|(c, _)| DocumentClass::ALL.iter().position(|a| a == c));
        let mut weights = Vec::with_capacity(counts.len() * buckets);
        for (_, row) in &counts {
            let total: f64 =
                row.iter().map(|&n| f64::from(n)).sum::<f64>() + ALPHA * buckets as f64;
            weights.extend(row.iter().map(|&n| {
                let nll = -((f64::from(n) + ALPHA) / total).ln();
                (nll * SCALE).round().clamp(0.0, 255.0) as u8
            }));
        }
        Self {
            bits,
            classes: counts.into_iter().map(|(c, _)| c).collect(),
            weights,
        }
    }

    /// The weights file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend([1, self.bits, self.classes.len() as u8]);
        for c in &self.classes {
            out.push(c.category().len() as u8);
            out.extend(c.category().as_bytes());
        }
        out.extend(&self.weights);
        out
    }

    /// Read a weights file.
    pub fn from_bytes(b: &[u8]) -> Result<Self, ModelError> {
        let rest = b
            .strip_prefix(MAGIC)
            .ok_or(ModelError::Format("not MSNG"))?;
        let [1, bits, n, rest @ ..] = rest else {
            return Err(ModelError::Format("unknown version or short header"));
        };
        if !(8..=20).contains(bits) || *n < 2 {
            return Err(ModelError::Format("bad header"));
        }
        let mut rest = rest;
        let mut classes = Vec::new();
        for _ in 0..*n {
            let (&len, r) = rest.split_first().ok_or(ModelError::Format("short"))?;
            let name = r.get(..len as usize).ok_or(ModelError::Format("short"))?;
            let class = std::str::from_utf8(name)
                .ok()
                .and_then(DocumentClass::from_category)
                .ok_or(ModelError::Format("unknown class"))?;
            classes.push(class);
            rest = &r[len as usize..];
        }
        if rest.len() != classes.len() << bits {
            return Err(ModelError::Format("weights of the wrong length"));
        }
        Ok(Self {
            bits: *bits,
            classes,
            weights: rest.to_vec(),
        })
    }

    /// The classes the model knows.
    pub fn classes(&self) -> &[DocumentClass] {
        &self.classes
    }

    /// The most likely class of `text` and its margin over the runner-up; `None` when the text
    /// gives no features.
    pub fn predict(&self, text: &str) -> Option<Prediction> {
        let fs = features(text, self.bits);
        if fs.is_empty() {
            return None;
        }
        let buckets = 1usize << self.bits;
        let mut cost: Vec<(u64, DocumentClass)> = self
            .classes
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let row = &self.weights[i * buckets..(i + 1) * buckets];
                (fs.iter().map(|&f| u64::from(row[f as usize])).sum(), c)
            })
            .collect();
        // Lowest cost first; ties by class order, so the answer is deterministic.
        cost.sort_by_key(|&(s, c)| (s, DocumentClass::ALL.iter().position(|a| *a == c)));
        Some(Prediction {
            class: cost[0].1,
            runner_up: cost[1].1,
            margin: ((cost[1].0 - cost[0].0) as f64 / SCALE) as f32,
            features: fs.len(),
        })
    }
}

/// The model the library ships (`ngram.bin`, trained by `examples/train_ngram.rs`), loaded
/// once; [`crate::Options::default`] uses it.
pub fn builtin() -> std::sync::Arc<Model> {
    static MODEL: std::sync::LazyLock<std::sync::Arc<Model>> = std::sync::LazyLock::new(|| {
        std::sync::Arc::new(Model::from_bytes(include_bytes!("ngram.bin")).expect("ngram.bin"))
    });
    MODEL.clone()
}

/// The rules' answer for a text, refined by the model, for texts with Chinese in them only (on
/// English outside free text the rules are better than the model, docs/classification.md):
/// where the rules are low confidence (or found no class phrase) the model's class, still low
/// confidence; where the rules are sure and the model names another class, the rules' class
/// marked low confidence (two readers disagree: the doctor is asked). The rules' evidence is
/// kept and a line names the model's top classes and margin.
pub(crate) fn refine(
    model: &Model,
    text: &str,
    (class, conf, mut why): (DocumentClass, f32, Vec<Evidence>),
) -> (DocumentClass, f32, Vec<Evidence>) {
    if !text.chars().take(MAX_CHARS).any(ideograph) {
        return (class, conf, why);
    }
    let Some(p) = model.predict(text) else {
        return (class, conf, why);
    };
    let line = format!(
        "{} over {} by {:.1} nats",
        p.class.category(),
        p.runner_up.category(),
        p.margin
    );
    if p.class == class {
        why.push(ev("n-gram model", format!("{line} (agrees)")));
        return (class, conf, why);
    }
    if conf > crate::LOW_CONFIDENCE {
        why.push(ev("n-gram model", format!("{line} (differs)")));
        why.push(ev(
            "low confidence",
            "the n-gram model reads another kind of document",
        ));
        return (class, crate::LOW_CONFIDENCE, why);
    }
    why.push(ev(
        "n-gram model",
        format!(
            "{line}: decides over the rules' low-confidence {}",
            class.category()
        ),
    ));
    (p.class, conf.min(crate::LOW_CONFIDENCE), why)
}

fn ev(source: &str, found: impl Into<String>) -> Evidence {
    Evidence {
        source: source.into(),
        found: found.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_weights_load_and_classify() {
        let weights = include_bytes!("ngram.bin");
        assert!(
            weights.len() < 1 << 20,
            "weights grew to {} bytes",
            weights.len()
        );
        let m = Model::from_bytes(weights).expect("ngram.bin loads");
        assert!(m.classes().len() >= 5, "{:?}", m.classes());
        let p = m
            .predict("出院摘要\n入院日期：2026年3月1日\n出院日期：2026年3月5日\n出院診斷：社區性肺炎\n出院醫囑：按時服藥，兩星期後覆診")
            .expect("features");
        assert_eq!(p.class, DocumentClass::DischargeSummary, "{p:?}");
        assert!(p.margin > 0.0);
        let p = m
            .predict("CHEST X-RAY PA VIEW\nFINDINGS: The lungs are clear. No pleural effusion.\nIMPRESSION: No acute cardiopulmonary disease.")
            .expect("features");
        assert_eq!(p.class, DocumentClass::ImagingReport, "{p:?}");
    }

    #[test]
    fn training_is_deterministic_and_round_trips() {
        let docs = [
            (DocumentClass::LabReport, "血紅蛋白 135 g/L 白血球 6.2"),
            (
                DocumentClass::DischargeSummary,
                "出院摘要 discharge summary",
            ),
            (DocumentClass::LabReport, "haemoglobin 135 g/L"),
        ];
        let a = Model::train(docs, 10);
        let b = Model::train(docs, 10);
        assert_eq!(a.to_bytes(), b.to_bytes());
        assert_eq!(Model::from_bytes(&a.to_bytes()).unwrap(), a);
        assert_eq!(
            a.classes(),
            [DocumentClass::LabReport, DocumentClass::DischargeSummary]
        );
        assert_eq!(
            a.predict("白血球 haemoglobin").unwrap().class,
            DocumentClass::LabReport
        );
        assert!(Model::from_bytes(b"MSNG\x02").is_err());
        assert!(Model::from_bytes(&a.to_bytes()[..40]).is_err());
    }

    #[test]
    fn features_cover_cjk_grams_and_latin_words() {
        // 3 unigrams + 2 bigrams + 1 trigram + 2 words + 1 pair, barring hash collisions.
        assert_eq!(features("出院摘 Discharge Summary", 20).len(), 9);
        assert!(features("  12 , 。", 20).is_empty());
    }
}
