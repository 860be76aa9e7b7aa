//! The OpenAPI document describes every route the hub serves, and health/readiness answer.

use medshare_sandbox::{TestHub, sandbox_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_the_api_and_health_answers() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(sandbox_config(dir.path())).await?;
    let http = reqwest::Client::new();
    let doc: serde_json::Value = http
        .get(format!("{}/openapi.json", hub.url))
        .send()
        .await?
        .json()
        .await?;
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.")
    );
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/v1/alliance",
        "/v1/enrolments/redeem",
        "/v1/auth/login",
        "/v1/search",
        "/v1/uploads/{id}",
        "/v1/uploads/{id}/parts/{offset}",
        "/v1/uploads/{id}/complete",
        "/v1/documents",
        "/v1/documents/{id}/content",
        "/v1/documents/{id}/grants/{grantee}",
        "/v1/patients/{id}/break-glass",
        "/v1/events/stream",
        "/v1/rooms/{id}/blobs",
        "/v1/rooms/{id}/blobs/{blob}",
        "/health",
        "/ready",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // The document and the router are one registration: every documented operation is served.
    // Without a session, each operation that declares the bearer scheme answers 401 (routed, and
    // its authentication ran); no documented operation answers 405 (method not routed) and none
    // without path parameters answers 404.
    let mut checked = 0;
    for (path, item) in paths {
        let url = format!(
            "{}{}",
            hub.url,
            path.replace("{seq}", "1")
                .replace("{offset}", "0")
                .replace("{handle}", "nobody")
                .replace("{grantee}", "00000000-0000-4000-8000-000000000001")
                // Any other parameter is an id (`{id}`, `{blob}`, ...); literal segments such
                // as `vapid` stay as they are.
                .split('/')
                .map(|seg| if seg.starts_with('{') {
                    "00000000-0000-4000-8000-000000000000"
                } else {
                    seg
                })
                .collect::<Vec<_>>()
                .join("/")
        );
        for (method, op) in item.as_object().expect("path item") {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
            let status = http
                .request(method.clone(), &url)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await?
                .status()
                .as_u16();
            let bearer = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            if bearer {
                assert_eq!(
                    status, 401,
                    "{method} {path} is documented but not routed with auth"
                );
            } else {
                assert_ne!(status, 405, "{method} {path} is documented but not routed");
                if !path.contains('{') {
                    assert_ne!(status, 404, "{method} {path} is documented but not routed");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} operations documented");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    for p in ["/health", "/ready"] {
        assert_eq!(
            http.get(format!("{}{p}", hub.url)).send().await?.status(),
            200
        );
    }
    hub.stop().await
}
