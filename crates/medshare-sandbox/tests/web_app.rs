//! The hub serves the web app at `/` with a strict Content-Security-Policy, Subresource
//! Integrity that matches the bytes it serves, long-cache hashed assets, and the API unchanged
//! under `/v1`. Without a built app (no Node.js) it serves a page that says how to build it.

use base64::Engine;
use medshare_sandbox::{TestHub, sandbox_config};
use sha2::{Digest, Sha384};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_shell_assets_and_api_are_served_with_their_policies() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(sandbox_config(dir.path())).await?;
    let http = reqwest::Client::new();

    let res = http.get(format!("{}/", hub.url)).send().await?;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    let csp = h["content-security-policy"].to_str()?;
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval';"),
        "{csp}"
    );
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let html = res.text().await?;

    if medshare_server::routes::app::built() {
        assert_eq!(h["cache-control"], "no-cache");
        assert!(html.contains("<div id=\"root\">"));
        assert!(!html.contains("<script>"), "no inline script");
        // Every script and stylesheet the shell loads carries an integrity hash that matches
        // what the hub serves, and is cached for good under its hashed name.
        let mut checked = 0;
        for tag in html.split('<').filter(|t| t.contains("integrity=\"")) {
            let attr = |name: &str| {
                tag.split(&format!("{name}=\""))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .map(str::to_string)
            };
            let url = attr("src").or_else(|| attr("href")).expect("a source");
            let integrity = attr("integrity").expect("integrity");
            assert!(url.starts_with("/assets/"), "{url}");
            let res = http.get(format!("{}{url}", hub.url)).send().await?;
            assert_eq!(res.status(), 200);
            assert_eq!(
                res.headers()["cache-control"],
                "public, max-age=31536000, immutable"
            );
            let bytes = res.bytes().await?;
            let want = format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(Sha384::digest(&bytes))
            );
            assert_eq!(integrity, want, "{url}");
            checked += 1;
        }
        assert!(checked >= 2, "the shell's script and stylesheet");
        for (path, ty) in [
            ("/manifest.webmanifest", "application/manifest+json"),
            ("/sw.js", "text/javascript; charset=utf-8"),
            ("/icon-192.png", "image/png"),
        ] {
            let res = http.get(format!("{}{path}", hub.url)).send().await?;
            assert_eq!(res.status(), 200, "{path}");
            assert_eq!(res.headers()["content-type"], ty, "{path}");
        }
    } else {
        assert!(
            html.contains("scripts/build-web.sh"),
            "says how to build the app"
        );
    }

    // Unknown files are refused as problems; the API is where it was.
    let res = http
        .get(format!("{}/assets/nope.js", hub.url))
        .send()
        .await?;
    assert_eq!(res.status(), 404);
    let res = http.get(format!("{}/v1/alliance", hub.url)).send().await?;
    assert!(
        res.headers()["content-type"]
            .to_str()?
            .starts_with("application/"),
        "the API answers JSON, not the app"
    );
    assert!(res.headers().get("content-security-policy").is_none());
    let res = http.get(format!("{}/health", hub.url)).send().await?;
    assert_eq!(res.status(), 200);
    hub.stop().await
}
