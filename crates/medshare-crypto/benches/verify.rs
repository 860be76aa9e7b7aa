//! `cargo bench -p medshare-crypto --bench verify [-- ENTRIES RUNS]`: a timeline page's binding
//! signatures checked the way the client did before (`chain::verify_binding` per entry: the
//! uploader's key decompressed and the signature verified strictly, one by one) and the way it
//! does now (`batch::verify_bindings`: the key decompressed once, one batch verification), on one
//! thread. ENTRIES bindings (default 200) by one uploader; the median of RUNS (default 15) is
//! printed as microseconds of this thread's CPU time per entry (the three interleaved in each run) and as a ratio. No HTTP, no hub, no manifests: see
//! `medshare-bench search` for the whole timeline.

use medshare_crypto::batch::verify_bindings;
use medshare_crypto::chain::{VerifiedPractitioner, verify_binding};
use medshare_crypto::{EncryptionKey, SigningKey, sha256_hex};
use medshare_model::registration::{Profession, Role};
use medshare_model::statements::{DocumentBinding, PractitionerCert, Signed, encode_key};
use medshare_model::{DocumentId, InstitutionId, PatientId, PatientRef, PractitionerId};
use std::hint::black_box;

/// This thread's time on a CPU so far, ns (Linux: `/proc/thread-self/schedstat`): the machine
/// this runs on is shared, and wall time would count the time other work held the core.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("/proc/thread-self/schedstat (Linux)")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let entries: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(15);

    let key = SigningKey::generate();
    let cert = PractitionerCert {
        practitioner_id: PractitionerId::new(),
        institution_id: InstitutionId::new(),
        handle: "dr.chan".parse().unwrap(),
        name: "Chan Tai Man".into(),
        profession: Profession::Doctor,
        registration: "M12345".into(),
        specialty: Some("Cardiology".into()),
        roles: vec![Role::Clinician],
        sign_public: encode_key(&key.public()),
        recipient: EncryptionKey::generate().recipient(),
        issued_at: 1_700_000_100,
    };
    let uploader = VerifiedPractitioner {
        cert,
        sign_public: key.public(),
    };
    let (patient, patient_ref) = (PatientId::new(), PatientRef::from_bytes(&[7; 32]));
    let signed: Vec<Signed> = (0..entries as u64)
        .map(|n| {
            key.sign_statement(&DocumentBinding {
                document_id: DocumentId::new(),
                patient_id: patient,
                patient_ref: patient_ref.clone(),
                ciphertext_sha256: sha256_hex(&n.to_be_bytes()),
                ciphertext_size: 10_000 + n,
                manifest_sha256: sha256_hex(&n.to_le_bytes()),
                uploader: uploader.cert.practitioner_id,
                uploader_key: key.key_id(),
                signed_at: 1_700_000_200,
                service: false,
                document_key_commitment: Some(sha256_hex(b"key")),
                ciphertext_blake3: None,
            })
        })
        .collect();
    let items: Vec<_> = signed.iter().map(|s| (&uploader, s)).collect();

    let half = entries.div_ceil(2).max(1);
    let ways: [&dyn Fn(); 3] = [
        &|| {
            for s in &signed {
                black_box(verify_binding(&uploader, s).unwrap());
            }
        },
        &|| {
            black_box(verify_bindings(&items).unwrap());
        },
        &|| {
            for chunk in items.chunks(half) {
                black_box(verify_bindings(chunk).unwrap());
            }
        },
    ];
    // The three ways interleaved within each run, so that a machine whose load changes affects
    // them alike.
    // The kernel updates a thread's CPU time at ticks (a few ms): each sample is at least 4,000
    // entries' worth, tens of milliseconds.
    let reps = 4000usize.div_ceil(entries);
    let mut samples: [Vec<f64>; 3] = Default::default();
    for _ in 0..runs {
        for (way, f) in ways.iter().enumerate() {
            let t = cpu_ns();
            for _ in 0..reps {
                f();
            }
            samples[way].push((cpu_ns() - t) as f64 / 1e3 / (reps * entries) as f64);
        }
    }
    let [single, batch, halves] = samples.map(median);
    println!(
        "{entries} bindings by one uploader, median of {runs} runs of {reps}, one thread, CPU time:"
    );
    println!("  one by one (verify_binding):        {single:8.1} us/entry");
    println!(
        "  one batch (verify_bindings):        {batch:8.1} us/entry  ({:.2}x)",
        single / batch
    );
    println!(
        "  two batches of {half:<4} (per core):    {halves:8.1} us/entry  ({:.2}x)",
        single / halves
    );
}
