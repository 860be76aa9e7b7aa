//! Room attachment quotas, real hub on both backends: an attachment that would pass the room's
//! stored bytes (`[limits] room_attachment_bytes_per_room`) or the sender's across rooms
//! (`room_attachment_bytes_per_member`) gets 413 with a problem naming the setting, and nothing
//! is stored (no row, no bytes); exactly filling a quota is allowed; a full quota refuses
//! before reading the body.

mod common;

use common::*;
use medshare_client::{Client, RoomKeys};
use medshare_model::{ErrorCode, RoomId};
use medshare_sandbox::{Backend, TestHub, World, story_cast};

async fn post_blob(
    hub: &str,
    c: &Client,
    room: RoomId,
    size: usize,
) -> anyhow::Result<(u16, Option<String>)> {
    let r = http()
        .post(format!("{hub}/v1/rooms/{room}/blobs"))
        .bearer_auth(token(c))
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; size])
        .send()
        .await?;
    let status = r.status().as_u16();
    let body = r.bytes().await?;
    Ok(if status == 201 {
        (status, None)
    } else {
        let p = problem(&body);
        assert_eq!(p.code, ErrorCode::PayloadTooLarge);
        (status, p.detail)
    })
}

#[track_caller]
fn refused(got: (u16, Option<String>), setting: &str) {
    assert_eq!(got.0, 413);
    let detail = got.1.unwrap_or_default();
    assert!(detail.contains(setting), "{detail}");
}

async fn quotas(backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = backend.config(dir.path());
    config.limits.room_attachment_bytes_per_room = 5000;
    config.limits.room_attachment_bytes_per_member = 3000;
    let hub = TestHub::start(config.clone()).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let wong = world.login("dr.wong").await?;
    let (mut chan_keys, mut wong_keys) = (RoomKeys::new(), RoomKeys::new());
    chan.publish_key_packages(&mut chan_keys, 2).await?;
    wong.publish_key_packages(&mut wong_keys, 2).await?;
    let room = chan.create_room(&mut chan_keys, "Ward round", None).await?;
    chan.invite_to_room(&mut chan_keys, room, &[world.id("dr.wong")])
        .await?;
    let other = chan.create_room(&mut chan_keys, "Clinic", None).await?;
    let url = &hub.url;

    // The sender's quota, across rooms.
    assert_eq!(post_blob(url, &chan, room, 2000).await?.0, 201);
    refused(
        post_blob(url, &chan, room, 1500).await?,
        "room_attachment_bytes_per_member",
    );
    assert_eq!(
        post_blob(url, &chan, other, 1000).await?.0,
        201,
        "exactly full"
    );
    refused(
        post_blob(url, &chan, room, 1).await?,
        "room_attachment_bytes_per_member",
    );
    // The room's quota, whoever sends.
    assert_eq!(post_blob(url, &wong, room, 2000).await?.0, 201);
    refused(
        post_blob(url, &wong, room, 1001).await?,
        "room_attachment_bytes_per_room",
    );
    assert_eq!(
        post_blob(url, &wong, room, 1000).await?.0,
        201,
        "exactly full"
    );
    refused(
        post_blob(url, &wong, room, 1).await?,
        "room_attachment_bytes_per_room",
    );

    // Nothing of the refused attachments was kept: four rows, and their bytes only.
    let store = medshare_store::open(&config.database_url()).await?;
    assert_eq!(
        store.room_blob_usage(room, world.id("dr.chan")).await?,
        (5000, 3000)
    );
    assert_eq!(
        store.room_blob_usage(other, world.id("dr.wong")).await?,
        (1000, 3000)
    );
    assert_eq!(store.room_blob_ids().await?.len(), 4);
    if backend == Backend::SqliteFolder {
        let mut files = Vec::new();
        let mut dirs = vec![dir.path().join("blobs")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d)? {
                let e = e?;
                if e.file_type()?.is_dir() {
                    dirs.push(e.path());
                } else {
                    files.push(e.metadata()?.len());
                }
            }
        }
        files.sort_unstable();
        assert_eq!(
            files,
            vec![1000, 1000, 2000, 2000],
            "no refused bytes left behind"
        );
    }
    hub.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_attachment_quotas_sqlite() -> anyhow::Result<()> {
    quotas(Backend::SqliteFolder).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_attachment_quotas_postgres() -> anyhow::Result<()> {
    quotas(Backend::PostgresS3).await
}
