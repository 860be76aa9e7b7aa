//! The API against its own schema: Schemathesis (`scripts/schemathesis.sh`, path in
//! `MEDSHARE_SCHEMATHESIS`) generates requests from `/openapi.json` of a real sandbox hub,
//! once unauthenticated and once with the bearer token of each role (doctor, institution
//! administrator, privacy officer), a bounded number of examples per operation, and fails on
//! any server error (5xx) or any response that does not match the documented schema.

mod common;

use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};

use std::process::Command;

/// Examples per operation and phase: bounded for CI; `MEDSHARE_SCHEMATHESIS_EXAMPLES` raises it
/// for a longer run by hand.
fn examples() -> String {
    std::env::var("MEDSHARE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "4".into())
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
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--seed", "16"])
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
#[ignore = "not yet passing and too slow for CI: a first run (12 examples per operation, four \
            identities) took 12.5 min on 2 cores and reported schema mismatches (ST108 on one \
            response and on the event stream's SSE events) and a network error on the event \
            stream; run it with `cargo test -p medshare-sandbox --test api_schema -- --ignored`"]
async fn every_role_gets_no_server_error_and_only_documented_responses() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = sandbox_config(dir.path());
    // Generated requests come fast from one address.
    c.auth.auth_requests_per_minute = 100_000;
    let hub = TestHub::start(c).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let mut failed = Vec::new();
    let (ok, text) = run(&hub.url, "unauthenticated", None).await?;
    eprintln!("{text}");
    if !ok {
        failed.push("unauthenticated");
    }
    for (role, handle) in [
        ("doctor", "dr.chan"),
        ("institution administrator", "admin.kph"),
        ("privacy officer", "privacy.kph"),
    ] {
        let client = world.login(handle).await?;
        let token = common::token(&client);
        let (ok, text) = run(&hub.url, role, Some(token)).await?;
        eprintln!("{text}");
        if !ok {
            failed.push(role);
        }
    }
    assert!(failed.is_empty(), "schemathesis failed for: {failed:?}");
    hub.stop().await
}
