//! The hub serves the web app at `/` with a strict Content-Security-Policy, Subresource
//! Integrity that matches the bytes it serves, long-cache hashed assets (brotli or gzip as the
//! browser accepts, decoding to the same bytes), and the API unchanged under `/v1`. Without a built app (no Node.js) it serves a page that says how to build it.

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
        // The script and the wasm modules (the client core and the classification module the
        // worker loads on the first upload), precompressed at build time, are sent brotli or
        // gzip as the browser accepts, decoding to exactly the bytes SRI and the hashes name.
        let mut urls: Vec<String> = medshare_server::routes::app::ASSETS
            .iter()
            .filter(|a| a.path.ends_with(".wasm"))
            .map(|a| a.path.to_string())
            .collect();
        for module in ["medshare_wasm_bg", "medshare_wasm_classify_bg"] {
            assert!(
                urls.iter().any(|u| u.contains(&format!("/{module}-"))),
                "{module} in {urls:?}"
            );
        }
        let script = html
            .split("src=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("the shell's script")
            .to_string();
        urls.push(script);
        for url in urls {
            let get = |accept: Option<&'static str>| {
                let mut req = http.get(format!("{}{url}", hub.url));
                if let Some(a) = accept {
                    req = req.header("accept-encoding", a);
                }
                req.send()
            };
            let plain = get(None).await?;
            assert!(plain.headers().get("content-encoding").is_none(), "{url}");
            assert_eq!(plain.headers()["vary"], "accept-encoding", "{url}");
            let plain = plain.bytes().await?;
            for (accept, coding) in [
                ("gzip, deflate, br, zstd", Some("br")),
                ("br;q=0, gzip", Some("gzip")),
                ("identity", None),
            ] {
                let res = get(Some(accept)).await?;
                assert_eq!(res.status(), 200);
                let got = res
                    .headers()
                    .get("content-encoding")
                    .map(|v| v.to_str().unwrap().to_string());
                assert_eq!(got.as_deref(), coding, "{url} for {accept}");
                assert_eq!(res.headers()["vary"], "accept-encoding");
                assert_eq!(
                    res.headers()["cache-control"],
                    "public, max-age=31536000, immutable"
                );
                let body = res.bytes().await?;
                let mut decoded = Vec::new();
                match coding {
                    Some("br") => {
                        assert!(body.len() < plain.len() / 2, "{url}: brotli halves it");
                        std::io::Read::read_to_end(
                            &mut brotli_decompressor::Decompressor::new(&body[..], 4096),
                            &mut decoded,
                        )?;
                    }
                    Some("gzip") => {
                        std::io::Read::read_to_end(
                            &mut flate2::read::GzDecoder::new(&body[..]),
                            &mut decoded,
                        )?;
                    }
                    _ => decoded = body.to_vec(),
                }
                assert!(decoded == plain, "{url} for {accept}: decodes to the file");
            }
        }
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
