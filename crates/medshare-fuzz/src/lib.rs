//! The bodies of the fuzz targets, one function per parser of outside input, shared by
//! cargo-fuzz (`fuzz/fuzz_targets/*.rs`, nightly, coverage-guided) and by `tests/replay.rs`,
//! which runs every kept crash input (`fuzz/regressions/<target>/`) and corpus entry
//! (`fuzz/corpus/<target>/`) through the same function on stable in CI.
//!
//! A target returns normally on any input; a panic, an abort or an allocation past the
//! fuzzer's limit is a bug to fix at its root (never to catch). Targets also check the
//! invariants a parser promises (a parsed value re-parses to itself, a resolved range lies
//! inside the blob), so wrong answers are found too, not only crashes.
//!
//! ```
//! for (name, target) in medshare_fuzz::TARGETS {
//!     target(b"");
//!     assert!(!name.is_empty());
//! }
//! ```
#![forbid(unsafe_code)]

mod api_json;
mod audit;
mod statements;

pub use api_json::{BODIES, api_json};
pub use audit::{AuditInput, audit, audit_seed, consistency_seed};
pub use statements::{CHAIN_SEEDS, chain_seed, statements};

use medshare_blob::ByteRange;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::registration::Profession;

/// A fuzz target's body: any input, no panic.
pub type Target = fn(&[u8]);

/// Every target by the name of its directory under `fuzz/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("classify", classify),
    ("identifiers", identifiers),
    ("statements", statements),
    ("sealed", sealed),
    ("audit", audit),
    ("range", range),
    ("api_json", api_json),
    ("scan", scan),
];

/// Every input of `medshare-classify` (DICOM, HL7 v2, FHIR JSON/XML, PDF, DOCX, CSV, images
/// with EXIF, text): classification never panics, and its result always serialises into the
/// sealed manifest and reads back unchanged.
pub fn classify(data: &[u8]) {
    let c = medshare_classify::classify(data);
    assert!(c.skipped.len() <= 200, "the skipped list is bounded");
    assert!((0.0..=1.0).contains(&c.confidence));
    let json = serde_json::to_vec(&c).expect("a classification serialises");
    let back: medshare_classify::Classification =
        serde_json::from_slice(&json).expect("a classification reads back");
    assert_eq!(
        serde_json::to_value(&back).ok(),
        serde_json::to_value(&c).ok()
    );
}

/// The page images of a scanned PDF (`medshare_classify::scan`, used by the CLI's and the
/// browser's OCR): never a panic, and every decoded page within the pixel bound, its pixel
/// buffer exactly the size its width and height say.
pub fn scan(data: &[u8]) {
    use medshare_classify::scan::{MAX_PAGE_PIXELS, MAX_PAGES, PagePixels, ScannedPdf};
    let Ok(pdf) = ScannedPdf::parse(data) else {
        return;
    };
    assert!(pdf.pages_to_read() <= MAX_PAGES);
    for i in 0..pdf.pages_to_read() {
        let Some(page) = pdf.page_image(i) else {
            continue;
        };
        let pixels = u64::from(page.width) * u64::from(page.height);
        assert!(
            pixels > 0 && pixels <= MAX_PAGE_PIXELS,
            "page within the bound"
        );
        match page.pixels {
            PagePixels::Gray(p) => assert_eq!(p.len() as u64, pixels),
            PagePixels::Rgb(p) => assert_eq!(p.len() as u64, pixels * 3),
            PagePixels::Jpeg(j) => assert!(!j.is_empty()),
        }
    }
}

/// Patient identifiers (HKID with check digit, any `scheme:value`) and professional
/// registration numbers: a value that parses normalises to a form that parses to itself.
pub fn identifiers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = PatientIdentifier::hkid(text) {
        let n = id.normalized();
        let again = n
            .parse::<PatientIdentifier>()
            .expect("a normalised HKID parses");
        assert_eq!(again.normalized(), n);
    }
    if let Ok(id) = text.parse::<PatientIdentifier>() {
        let n = id.normalized();
        let again = n
            .parse::<PatientIdentifier>()
            .expect("a normalised identifier parses");
        assert_eq!(again.normalized(), n, "normalisation is idempotent");
    }
    for p in Profession::ALL {
        if let Ok(n) = p.validate_registration(text) {
            assert_eq!(p.validate_registration(&n).as_deref(), Ok(n.as_str()));
        }
    }
    let _ = text.parse::<Profession>();
    let _ = text.parse::<medshare_model::registration::Role>();
}

/// A fixed test identity (never used outside tests) that the sealed-file seeds are sealed to,
/// so mutated headers reach the stanza matching and the payload's chunks.
pub const SEALED_IDENTITY: &str =
    "AGE-SECRET-KEY-1AUXAT0H2TZR4SU73TUF0QEW2U2FEKD4TKDRWRH5R8238C279SZNQV8W93C";

/// Sealed files (age) on open: the header, the stanzas and the payload chunks. Opening never
/// panics and never yields more plaintext than the ciphertext holds.
pub fn sealed(data: &[u8]) {
    let key = medshare_crypto::EncryptionKey::from_secret_str(SEALED_IDENTITY)
        .expect("the fixed identity parses");
    if let Ok(plain) = medshare_crypto::seal::open_bytes(&key, data) {
        assert!(plain.len() <= data.len());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = medshare_crypto::seal::unwrap_key(&key, text);
        let _ = medshare_crypto::EncryptionKey::from_secret_str(text);
        let _ = medshare_crypto::parse_recipient(text);
    }
}

/// The `Range` header of ciphertext downloads, parsed then resolved against a blob size taken
/// from the input: a satisfiable range always lies inside the blob and is never empty.
pub fn range(data: &[u8]) {
    let (size, text) = match data.split_first_chunk::<8>() {
        Some((s, rest)) => (u64::from_le_bytes(*s), rest),
        None => (0, data),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    if let Ok(Some(r)) = ByteRange::parse_header(text)
        && let Ok((start, len)) = r.resolve(size)
    {
        assert!(len >= 1);
        assert!(start.checked_add(len).is_some_and(|end| end <= size));
    }
}
