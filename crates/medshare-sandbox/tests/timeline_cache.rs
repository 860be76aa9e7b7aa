//! The client's cache of verified timeline entries against a real hub behind the hostile proxy:
//! a re-opened timeline asks only for what changed (`since`), a revoked share disappears from
//! the cached view at once, a hub that serves a cached entry changed is refused, and the cache
//! files are 0600 in a 0700 folder with nothing readable about the patient in them.

mod common;

use common::*;
use medshare_client::{Client, FolderCache};
use medshare_hostile::{HostileHub, Method};
use medshare_model::DocumentId;
use medshare_model::records::PatientCard;
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

struct Scene {
    dir: tempfile::TempDir,
    hub: TestHub,
    world: World,
    evil: HostileHub,
}

async fn scene() -> anyhow::Result<Scene> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(sandbox_config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let evil = HostileHub::start(&hub.url).await?;
    Ok(Scene {
        dir,
        hub,
        world,
        evil,
    })
}

impl Scene {
    fn cache_dir(&self, handle: &str) -> std::path::PathBuf {
        self.dir.path().join("cache").join(handle)
    }

    /// A cast member talking through the hostile hub, caching timelines in its own folder.
    async fn victim(&self, handle: &str) -> anyhow::Result<Client> {
        Ok(self
            .world
            .login_at(&self.evil.url, handle)
            .await?
            .cache_timelines_in(Arc::new(FolderCache::new(self.cache_dir(handle)))))
    }
}

const MARKER: &str = "marker-5c1e";

async fn upload(c: &Client, p: &medshare_client::Patient, n: usize) -> anyhow::Result<DocumentId> {
    let title = format!("Echocardiogram {MARKER} {n}");
    Ok(c.upload(
        Cursor::new(format!("%PDF-1.7 {MARKER} {n}").into_bytes()),
        p,
        meta(&title, "echo.pdf"),
        &[],
        |_| {},
    )
    .await?
    .document_id)
}

fn card() -> PatientCard {
    PatientCard {
        name: Some(format!("CHEUNG {MARKER}")),
        birth_date: Some("1961-04-02".into()),
        sex: Some("male".into()),
    }
}

/// The `since` of the last search the client sent, if any.
fn last_since(evil: &HostileHub) -> Option<String> {
    evil.last(Method::POST, "/v1/search")
        .and_then(|x| x.request_json()["since"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_fetches_only_changes_and_drops_revoked() -> anyhow::Result<()> {
    let s = scene().await?;
    let chan = s.victim("dr.chan").await?;
    let (text, hkid) = random_hkid();
    let patient = chan.ensure_patient(&hkid, &card()).await?;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(upload(&chan, &patient, n).await?);
    }
    // `since` has the hub's one-second resolution: entries filed in the second of the last view
    // come again. The view happens seconds after the filing.
    s.hub.clock.advance(2);
    let first = chan.timeline(&hkid).await?;
    assert_eq!(first.entries.len(), 3);
    assert_eq!(last_since(&s.evil), None, "the first view searches in full");

    // Re-opened: one search with `since`, the same entries, newest first.
    let newer = upload(&chan, &patient, 3).await?;
    let again = chan.timeline(&hkid).await?;
    assert!(
        last_since(&s.evil).is_some(),
        "a re-opened timeline asks only for changes"
    );
    let sent = s.evil.last(Method::POST, "/v1/search").unwrap().json();
    assert_eq!(
        sent["documents"].as_array().unwrap().len(),
        1,
        "only what changed travels"
    );
    assert_eq!(again.entries.len(), 4);
    assert_eq!(again.entries[0].document_id, newer);
    let mut want = ids.clone();
    want.push(newer);
    want.sort();
    let mut got: Vec<_> = again.entries.iter().map(|e| e.document_id).collect();
    got.sort();
    assert_eq!(got, want);
    assert!(again.card.is_some());

    // In the same session the opened record is kept in memory: with the sealed file spoiled,
    // re-opening still asks only for changes; a new session finds the file unusable and
    // searches in full (then writes a good record again).
    for f in std::fs::read_dir(s.cache_dir("dr.chan"))? {
        std::fs::write(f?.path(), b"spoiled")?;
    }
    assert_eq!(chan.timeline(&hkid).await?.entries.len(), 4);
    assert!(
        last_since(&s.evil).is_some(),
        "the in-memory record was not used"
    );
    let chan = s.victim("dr.chan").await?;
    assert_eq!(chan.timeline(&hkid).await?.entries.len(), 4);
    assert_eq!(last_since(&s.evil), None, "a spoiled record was used");

    // A colleague's cached share disappears on the next view once revoked.
    chan.share(ids[0], &share_with("dr.wong", None)).await?;
    let wong = s.victim("dr.wong").await?;
    assert_eq!(wong.timeline(&hkid).await?.entries.len(), 1);
    chan.revoke(ids[0], &share_with("dr.wong", None).with)
        .await?;
    let after = wong.timeline(&hkid).await?;
    assert!(last_since(&s.evil).is_some());
    assert!(after.entries.is_empty(), "the revoked document is gone");

    // The cache: 0600 files in a 0700 folder, nothing about the patient readable.
    let patient_ref = chan.context().await?.patient_ref(&hkid).to_string();
    for handle in ["dr.chan", "dr.wong"] {
        let dir = s.cache_dir(handle);
        check_private(&dir, 0o700)?;
        let files: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        assert!(!files.is_empty());
        for f in files {
            check_private(&f.path(), 0o600)?;
            let bytes = std::fs::read(f.path())?;
            let name = f.file_name().to_string_lossy().into_owned();
            for needle in [
                MARKER,
                text.as_str(),
                &patient_ref,
                &patient.id().to_string(),
                &ids[0].to_string(),
            ] {
                assert!(
                    !contains(&bytes, needle.as_bytes()) && !name.contains(needle),
                    "{handle}'s cache holds {needle:?} in clear"
                );
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_entry_served_changed_is_refused() -> anyhow::Result<()> {
    let s = scene().await?;
    let chan = s.victim("dr.chan").await?;
    let (_, hkid) = random_hkid();
    let patient = chan.ensure_patient(&hkid, &card()).await?;
    upload(&chan, &patient, 0).await?;
    upload(&chan, &patient, 1).await?;
    assert_eq!(chan.timeline(&hkid).await?.entries.len(), 2);

    // The hub answers the re-opened view with every entry again (as if all had changed) and
    // moves one to another filing time: its signature still verifies, the cache knows better.
    s.evil.rewrite_request(Method::POST, "/v1/search", |x| {
        let mut v: serde_json::Value = serde_json::from_slice(&x.request).unwrap();
        v["since"] = "t1.0".into();
        x.request = serde_json::to_vec(&v).unwrap().into();
    });
    s.evil.rewrite_json(Method::POST, "/v1/search", |v| {
        if let Some(e) = v["documents"].get_mut(0) {
            let t = e["created_at"].as_i64().unwrap();
            e["created_at"] = (t - 86_400).into();
        }
    });
    match chan.timeline(&hkid).await {
        Err(medshare_client::ClientError::Trust(why)) => {
            assert!(why.contains("changed a document"), "refused for {why:?}")
        }
        Err(e) => panic!("expected a trust refusal, got {e:?}"),
        Ok(_) => panic!("a cached entry served changed was accepted"),
    }

    // Served unchanged, the same entries come back from a full answer: accepted.
    s.evil.clear();
    assert_eq!(chan.timeline(&hkid).await?.entries.len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_view_needs_no_hub_and_the_next_view_replaces_it() -> anyhow::Result<()> {
    let s = scene().await?;
    let chan = s.victim("dr.chan").await?;
    let (_, hkid) = random_hkid();
    let patient = chan.ensure_patient(&hkid, &card()).await?;
    let kept = upload(&chan, &patient, 0).await?;
    let gone = upload(&chan, &patient, 1).await?;
    for id in [kept, gone] {
        chan.share(id, &share_with("dr.wong", None)).await?;
    }
    s.hub.clock.advance(2);
    let wong = s.victim("dr.wong").await?;
    assert!(
        wong.cached_timeline(&hkid).await?.is_none(),
        "nothing cached yet"
    );
    let seen = wong.timeline(&hkid).await?;
    assert_eq!(seen.entries.len(), 2);

    // A new session on this device (keys unlocked again, nothing verified yet in it): the
    // cached view comes from the sealed record alone, uploader's institution included.
    let wong = s.victim("dr.wong").await?;
    wong.context().await?; // as the app's login does
    s.evil.forget();
    let cached = wong.cached_timeline(&hkid).await?.expect("a cached view");
    assert!(
        s.evil.captured("/v1/").is_empty(),
        "the cached view asks the hub nothing"
    );
    assert_eq!(cached.entries.len(), 2);
    assert_eq!(cached.patient_id, Some(patient.id()));
    assert_eq!(
        cached.card, seen.card,
        "the card as it was readable then (none: shares only)"
    );
    let uploader = &cached.entries[0].uploader;
    assert_eq!(uploader.cert.handle.to_string(), "dr.chan");
    let inst = wong
        .trust()
        .institution_cert_of(uploader)
        .expect("the uploader's institution is known from the cache");
    assert_eq!(inst.cert.institution_id, uploader.cert.institution_id);

    // Revoked meanwhile: the cached view cannot know; the view that follows drops it, and the
    // cache with it.
    chan.revoke(gone, &share_with("dr.wong", None).with).await?;
    assert_eq!(wong.cached_timeline(&hkid).await?.unwrap().entries.len(), 2);
    let now = wong.timeline(&hkid).await?;
    assert_eq!(
        now.entries
            .iter()
            .map(|e| e.document_id)
            .collect::<Vec<_>>(),
        vec![kept]
    );
    // The uploader, with patient-wide access, has the card in the cached view too.
    chan.timeline(&hkid).await?;
    let chan = s.victim("dr.chan").await?;
    assert_eq!(
        chan.cached_timeline(&hkid).await?.unwrap().card,
        Some(card())
    );
    let cached = wong.cached_timeline(&hkid).await?.unwrap();
    assert_eq!(
        cached
            .entries
            .iter()
            .map(|e| e.document_id)
            .collect::<Vec<_>>(),
        vec![kept]
    );
    Ok(())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn check_private(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(path)?.permissions().mode() & 0o777;
    anyhow::ensure!(m == mode, "{} has mode {m:o}, not {mode:o}", path.display());
    Ok(())
}
