//! The doctors' web app, served from the hub binary: files embedded at build time (`build.rs`),
//! a strict Content-Security-Policy (no inline script, WebAssembly compilation allowed, nothing
//! loaded from another origin), hashed asset names cached for a year, and the shell revalidated
//! on every visit. The hub only serves these bytes; it never runs or reads what the app does.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    pub path: &'static str,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The policy every page of the app is served with. `wasm-unsafe-eval` lets the page compile
/// the client core's WebAssembly and nothing else; `blob:` frames, images and audio (voice
/// notes) show decrypted content the app made itself.
pub const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     worker-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
     media-src blob:; frame-src blob:; object-src 'none'; manifest-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Shown when the hub was built without the app (no Node.js on the build machine).
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>medshare</title></head>\
<body><main><h1>medshare hub</h1><p>This hub was built without the web app.</p>\
<p>Build it with <code>bash scripts/build-web.sh</code>, then build the hub again \
(<code>cargo build --release</code>). The API is served under <code>/v1</code>; \
its description is at <a href=\"/openapi.json\">/openapi.json</a>.</p></main></body></html>";

fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(self), microphone=(self), geolocation=()"),
    );
}

fn serve(path: &str) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.path == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut res = a.bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    // Vite names every asset by its content hash: it can be cached for good. The shell, the
    // service worker and the manifest keep their names, so they are revalidated.
    let cache = if path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    secure(h);
    res
}

/// `GET /`: the app's shell, or the page that says how to build it.
pub async fn index() -> Response {
    if ASSETS.is_empty() {
        let mut res = axum::response::Html(NOT_BUILT).into_response();
        secure(res.headers_mut());
        return res;
    }
    serve("/index.html")
}

/// `GET /assets/{file}`: hashed, immutable assets (scripts, styles, the WebAssembly core).
pub async fn asset(Path(file): Path<String>) -> Response {
    serve(&format!("/assets/{file}"))
}

/// Files at the root that must keep their names (service worker, manifest, icons).
pub async fn root_file(Path(file): Path<String>) -> Response {
    // Only names the build emitted at the top level; `index.html` has its own route.
    if file.contains('/') || file == "index.html" {
        return StatusCode::NOT_FOUND.into_response();
    }
    serve(&format!("/{file}"))
}

/// Whether the app is built into this binary.
pub fn built() -> bool {
    !ASSETS.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_allows_no_inline_script_and_no_other_origin() {
        let script = CSP
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .unwrap();
        assert_eq!(script, "script-src 'self' 'wasm-unsafe-eval'");
        assert!(!CSP.contains("unsafe-inline"));
        assert!(!CSP.contains("http"));
    }
}
