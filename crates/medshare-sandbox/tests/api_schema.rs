//! The API against its own schema: Schemathesis (`scripts/schemathesis.sh`, path in
//! `MEDSHARE_SCHEMATHESIS`) generates requests from `/openapi.json` of a real sandbox hub,
//! once unauthenticated and once with the bearer token of each role (doctor, institution
//! administrator, privacy officer), a bounded number of examples per operation, and fails on
//! any server error (5xx) or any response that does not match the documented schema.

mod common;

use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};

use std::process::Command;

/// Examples per operation: bounded for CI; `MEDSHARE_SCHEMATHESIS_EXAMPLES` raises it for a
/// longer run by hand.
fn examples() -> String {
    std::env::var("MEDSHARE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "4".into())
}

/// Phases: CI runs the fuzzing phase (a few minutes on 2 cores for the four identities); the
/// coverage phase (every boundary value of every parameter, ~2,700 requests per identity,
/// about 3 minutes each) runs by hand with
/// `MEDSHARE_SCHEMATHESIS_PHASES=examples,coverage,fuzzing`.
fn phases() -> String {
    std::env::var("MEDSHARE_SCHEMATHESIS_PHASES").unwrap_or_else(|_| "fuzzing".into())
}

fn st() -> String {
    std::env::var("MEDSHARE_SCHEMATHESIS").expect(
        "MEDSHARE_SCHEMATHESIS is not set: run `export MEDSHARE_SCHEMATHESIS=\"$(bash scripts/schemathesis.sh)\"` \
         (scripts/test.sh does)",
    )
}

/// One run as `who` (off the runtime's threads: the hub answers on them meanwhile).
async fn run(url: &str, who: &str, token: Option<String>) -> anyhow::Result<(bool, String)> {
    let (url, who) = (url.to_string(), who.to_string());
    Ok(tokio::task::spawn_blocking(move || run_blocking(&url, &who, token.as_deref())).await?)
}

fn run_blocking(url: &str, who: &str, token: Option<&str>) -> (bool, String) {
    let mut c = Command::new(st());
    c.arg("run")
        .arg(format!("{url}/openapi.json"))
        .args(["--url", url])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--max-examples", &examples()])
        .args(["--phases", &phases()])
        .args(["--seed", "16"])
        // Each identity's run keeps its examples to itself: the four run at once, and a shared
        // on-disk database would feed one run's examples to another (and differ between machines).
        .args(["--generation-database", ":memory:"])
        .args(["--workers", "2"])
        .args(["--request-timeout", "20"])
        .args(["--suppress-health-check", "all"])
        // Logging out would end the session the rest of the run uses.
        .args(["--exclude-path", "/v1/auth/logout"])
        .env("NO_COLOR", "1");
    if let Some(t) = token {
        c.args(["--header", &format!("Authorization: Bearer {t}")]);
    }
    let out = c.output().expect("run schemathesis");
    let text = format!(
        "== {who}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_gets_no_server_error_and_only_documented_responses() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = sandbox_config(dir.path());
    // Generated requests come fast from one address.
    c.auth.auth_requests_per_minute = 100_000;
    // Heads signed once a second, as in production, not after every batch as other tests
    // want: thousands of generated requests each write an audit entry.
    c.audit.head_interval_ms = 1000;
    let hub = TestHub::start(c).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let mut identities = vec![("unauthenticated", None)];
    for (role, handle) in [
        ("doctor", "dr.chan"),
        ("institution administrator", "admin.kph"),
        ("privacy officer", "privacy.kph"),
    ] {
        let client = world.login(handle).await?;
        identities.push((role, Some(common::token(&client))));
    }
    // The four identities run side by side: each Schemathesis process is mostly one Python
    // thread, so one after another they left a core idle for minutes of CI.
    let results = futures::future::join_all(identities.into_iter().map(|(who, token)| {
        let url = hub.url.clone();
        async move { (who, run(&url, who, token).await) }
    }))
    .await;
    let mut failed = Vec::new();
    for (who, result) in results {
        let (ok, text) = result?;
        eprintln!("{text}");
        if !ok {
            failed.push(who);
        }
    }
    assert!(failed.is_empty(), "schemathesis failed for: {failed:?}");
    hub.stop().await
}
