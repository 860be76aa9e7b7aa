//! `scale revocation`: how soon a revocation made through one hub replica is refused by
//! another. Two replicas of one PostgreSQL database (and S3 bucket), both caches' age bounds
//! set to ten minutes so that only the cross-replica invalidation feed can explain a refusal.
//! Each round: a share read through B (its decision cached there), revoked through A; from the
//! revoking call's response, B is asked again and again (one request at a time) until it
//! refuses. Likewise a session used on B and ended through A. The figure is the time from the
//! response on A to the first refusal on B; one read on B is measured alongside as the
//! reference (a refusal cannot be seen faster than one request).

use crate::report::{Latency, Machine, Out, Target};
use medshare_client::{DocumentMeta, Share};
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, TestHub, World, story_cast};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct RevocationArgs {
    /// Rounds of each kind (share revoked, session ended).
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    /// A few rounds only (a smoke run).
    #[arg(long)]
    quick: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct RevocationReport {
    machine: Machine,
    cache_bound_ms: u64,
    /// From the revoke's response on A to the first 403 on B.
    share_revoked: Latency,
    /// From the logout's response on A to the first 401 on B.
    session_ended: Latency,
    /// One document read on B (admitted, from its cache): the resolution of the above.
    read_on_b: Latency,
    target: Target,
}

/// Give up on a round after this long (the caches' own bound is ten minutes).
const GIVE_UP: Duration = Duration::from_secs(10);
const CACHE_BOUND_MS: u64 = 600_000;

pub async fn run(a: RevocationArgs) -> anyhow::Result<()> {
    let out = Out::new(a.json);
    let machine = Machine::describe();
    out.say(machine.line());
    let rounds = if a.quick { 5 } else { a.rounds.max(1) };
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut config_a = Backend::PostgresS3.config(dir_a.path());
    config_a.auth.policy_cache_ms = CACHE_BOUND_MS;
    config_a.auth.session_cache_ms = CACHE_BOUND_MS;
    config_a.audit.signing_key_file = Some(dir_a.path().join("audit-log.key"));
    let mut config_b = config_a.clone();
    config_b.data_dir = dir_b.path().to_path_buf();
    config_b.migrate_on_start = false;
    let hub_a = TestHub::start(config_a).await?;
    let hub_b = TestHub::start(config_b).await?;
    let world = World::build(&hub_a, &story_cast()).await?;
    let chan = world.login_at(&hub_a.url, "dr.chan").await?;
    let ho = world.login_at(&hub_b.url, "dr.ho").await?;
    let ho_token = ho.save().token.clone();
    let patient = chan
        .ensure_patient(&"A123456(3)".parse()?, &PatientCard::default())
        .await?;
    let share = Share {
        with: "dr.ho".parse().expect("valid handle"),
        institution: None,
        expires_at: None,
    };
    let doc = chan
        .upload(
            std::io::Cursor::new(b"%PDF-1.7 revocation bench".to_vec()),
            &patient,
            DocumentMeta {
                title: "bench".into(),
                file_name: "bench.pdf".into(),
                media_type: "application/pdf".into(),
                category: "lab-report".into(),
                date_of_service: None,
                classification: None,
                urgent: false,
            },
            &[],
            |_| {},
        )
        .await?
        .document_id;
    let http = reqwest::Client::new();
    let status = async |url: &str, token: &str| -> anyhow::Result<u16> {
        Ok(http
            .get(url)
            .bearer_auth(token)
            .send()
            .await?
            .status()
            .as_u16())
    };
    // Ask until `want`: the time from `since`.
    let until = async |url: &str, token: &str, want: u16, since: Instant| {
        loop {
            let got = status(url, token).await?;
            if got == want {
                return Ok(since.elapsed());
            }
            anyhow::ensure!(got == 200, "unexpected answer {got}");
            anyhow::ensure!(since.elapsed() < GIVE_UP, "not refused after {GIVE_UP:?}");
        }
    };

    let doc_on_b = format!("{}/v1/documents/{doc}", hub_b.url);
    let (mut revoked, mut reads) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        chan.share(doc, &share).await?;
        // Admitted on B (the grant just made was announced too), then read from its cache.
        until(&doc_on_b, &ho_token, 200, Instant::now()).await?;
        let t = Instant::now();
        anyhow::ensure!(status(&doc_on_b, &ho_token).await? == 200);
        reads.push(t.elapsed());
        chan.revoke(doc, &share.with).await?;
        revoked.push(until(&doc_on_b, &ho_token, 403, Instant::now()).await?);
    }

    let me_on_b = format!("{}/v1/me", hub_b.url);
    let logout_on_a = format!("{}/v1/auth/logout", hub_a.url);
    let mut ended = Vec::new();
    for _ in 0..rounds {
        let wong = world.login_at(&hub_b.url, "dr.wong").await?;
        let t = wong.save().token.clone();
        anyhow::ensure!(status(&me_on_b, &t).await? == 200);
        anyhow::ensure!(status(&me_on_b, &t).await? == 200);
        let r = http.post(&logout_on_a).bearer_auth(&t).send().await?;
        anyhow::ensure!(r.status().as_u16() == 204, "logout refused");
        ended.push(until(&me_on_b, &t, 401, Instant::now()).await?);
    }

    let (share_revoked, session_ended, read_on_b) = (
        Latency::of(&revoked),
        Latency::of(&ended),
        Latency::of(&reads),
    );
    out.say(format!(
        "share revoked on A -> refused on B: {}",
        share_revoked.line()
    ));
    out.say(format!(
        "session ended on A -> refused on B: {}",
        session_ended.line()
    ));
    out.say(format!("one read on B (reference): {}", read_on_b.line()));
    let worst = share_revoked.max_ms.max(session_ended.max_ms);
    let target = Target::new(
        "revocation on every replica",
        "max ms from the response on A to the first refusal on B < 100 (was the 1000 ms cache bound)",
        worst,
        worst < 100.0,
    );
    out.say(target.line());
    out.record(&RevocationReport {
        machine,
        cache_bound_ms: CACHE_BOUND_MS,
        share_revoked,
        session_ended,
        read_on_b,
        target,
    })?;
    hub_b.stop().await?;
    hub_a.stop().await?;
    Ok(())
}
