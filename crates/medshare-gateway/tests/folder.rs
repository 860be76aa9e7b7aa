//! The watched folder into a real hub: files taken only once they stopped changing, filed for
//! the patient their folder names (or the one HKID they name), moved to `done/`; what cannot be
//! taken goes to `rejected/` with the reason beside it.

mod common;

use common::{Harness, RULES};
use medshare_gateway::config::FolderConfig;
use std::path::Path;
use std::time::Duration;

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scanned_files_are_filed_and_moved() -> anyhow::Result<()> {
    let mut folder = FolderConfig::default();
    let h = Harness::start(RULES, |c| {
        let base = c.data_dir.parent().unwrap().join("scans");
        folder = FolderConfig {
            inbox: base.join("inbox"),
            done: base.join("done"),
            rejected: base.join("rejected"),
            poll_ms: 50,
            settle_ms: 400,
        };
        c.folder = Some(folder.clone());
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let p = medshare_synth::patients(51, 2);
    let (a, b) = (&p[0], &p[1]);

    // A scan in the patient's folder, written slowly: never taken half-written.
    let dir = folder.inbox.join(&a.hkid);
    std::fs::create_dir_all(&dir)?;
    let pdf = &a.documents[0].bytes;
    let path = dir.join("scan-0001.pdf");
    std::fs::write(&path, &pdf[..pdf.len() / 2])?;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(path.exists(), "a file still being written stays");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&path)?;
        f.write_all(&pdf[pdf.len() / 2..])?;
    }
    // A partial name is ignored until renamed.
    let part = folder.inbox.join("result.hl7.part");
    let oru = medshare_synth::oru_r01(b, time::macros::date!(2026 - 02 - 01), 9);
    std::fs::write(&part, &oru)?;
    // A photo naming nobody, outside a patient folder: rejected with the reason.
    std::fs::write(
        folder.inbox.join("photo.png"),
        medshare_synth::png_image(16, 16, 3),
    )?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(part.exists());
    std::fs::rename(&part, folder.inbox.join("result.hl7"))?;

    let s = h.wait_done(2).await?;
    assert_eq!(s.dead, 0);
    assert!(
        files(&folder.inbox)
            .iter()
            .all(|f| !f.ends_with(".hl7") && !f.ends_with(".png"))
    );
    assert!(files(&dir).is_empty());
    let done = files(&folder.done);
    assert_eq!(done.len(), 2, "{done:?}");
    let rejected = files(&folder.rejected);
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    let reason = rejected.iter().find(|f| f.ends_with(".reason")).unwrap();
    let text = std::fs::read_to_string(folder.rejected.join(reason))?;
    assert!(text.contains("exactly one HKID"), "{text}");

    let ho = h.world.login("dr.ho").await?;
    let t = ho.timeline(&a.hkid.parse()?).await?;
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.entries[0].manifest.file_name, "scan-0001.pdf");
    assert_eq!(t.entries[0].manifest.media_type, "application/pdf");
    let t = ho.timeline(&b.hkid.parse()?).await?;
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.entries[0].manifest.category, "lab-report");

    // The same file dropped again is recognised, not filed twice.
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("scan-0001-again.pdf"), pdf)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while files(&folder.done).len() < 3 {
        assert!(std::time::Instant::now() < deadline, "not taken");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ho.timeline(&a.hkid.parse()?).await?.entries.len(), 1);
    assert!(
        h.metrics()
            .await?
            .contains("medshare_gateway_duplicates_total{source=\"folder\"} 1")
    );
    h.stop().await
}
