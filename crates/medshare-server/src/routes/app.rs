//! The doctors' web app, served from the hub binary: files embedded at build time (`build.rs`),
//! a strict Content-Security-Policy (no inline script, WebAssembly compilation allowed, nothing
//! loaded from another origin), hashed asset names cached for a year, the shell revalidated on
//! every visit, and brotli or gzip copies made at build time sent to browsers that accept them
//! (the module of the client core is a third of its size in brotli). The hub only serves these
//! bytes; it never runs or reads what the app does.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    pub path: &'static str,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
    /// The same bytes brotli-compressed at build time, if smaller.
    pub br: Option<&'static [u8]>,
    /// The same bytes gzip-compressed at build time, if smaller.
    pub gzip: Option<&'static [u8]>,
}

/// How a response body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Br,
    Gzip,
}

/// The weight (`q`) `accept` (an `Accept-Encoding` value) gives to any of `names`: the listed
/// weight, else that of `*`, else 0 (RFC 9110 section 12.5.3).
fn weight(accept: &str, names: &[&str]) -> f32 {
    let mut star = 0.0;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| v.trim().parse::<f32>().unwrap_or(0.0))
            })
            .unwrap_or(1.0);
        if names.iter().any(|n| name.eq_ignore_ascii_case(n)) {
            return q;
        }
        if name == "*" {
            star = q;
        }
    }
    star
}

/// The coding to send, given the request's `Accept-Encoding` and which copies exist: the one
/// the client weighs highest, brotli on a tie; identity when it accepts neither.
pub fn negotiate(accept: Option<&str>, has_br: bool, has_gzip: bool) -> Coding {
    let Some(accept) = accept else {
        return Coding::Identity;
    };
    let br = if has_br { weight(accept, &["br"]) } else { 0.0 };
    let gzip = if has_gzip {
        weight(accept, &["gzip", "x-gzip"])
    } else {
        0.0
    };
    if br > 0.0 && br >= gzip {
        Coding::Br
    } else if gzip > 0.0 {
        Coding::Gzip
    } else {
        Coding::Identity
    }
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

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.path == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let accept = request
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let (body, coding) = match (
        negotiate(accept, a.br.is_some(), a.gzip.is_some()),
        a.br,
        a.gzip,
    ) {
        (Coding::Br, Some(b), _) => (b, Some("br")),
        (Coding::Gzip, _, Some(g)) => (g, Some("gzip")),
        _ => (a.bytes, None),
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    if let Some(c) = coding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(c));
    }
    if a.br.is_some() || a.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
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
pub async fn index(headers: HeaderMap) -> Response {
    if ASSETS.is_empty() {
        let mut res = axum::response::Html(NOT_BUILT).into_response();
        secure(res.headers_mut());
        return res;
    }
    serve("/index.html", &headers)
}

/// `GET /assets/{file}`: hashed, immutable assets (scripts, styles, the WebAssembly core).
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("/assets/{file}"), &headers)
}

/// Files at the root that must keep their names (service worker, manifest, icons).
pub async fn root_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    // Only names the build emitted at the top level; `index.html` has its own route.
    if file.contains('/') || file == "index.html" {
        return StatusCode::NOT_FOUND.into_response();
    }
    serve(&format!("/{file}"), &headers)
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

    #[test]
    fn encoding_follows_accept_encoding_and_the_copies_built() {
        use Coding::*;
        let cases: &[(Option<&str>, bool, bool, Coding)] = &[
            (None, true, true, Identity),
            (Some(""), true, true, Identity),
            (Some("identity"), true, true, Identity),
            (Some("gzip, deflate, br, zstd"), true, true, Br),
            (Some("gzip, deflate, br"), false, true, Gzip),
            (Some("gzip, deflate, br"), false, false, Identity),
            (Some("gzip"), true, true, Gzip),
            (Some("x-gzip"), true, true, Gzip),
            (Some("br;q=0, gzip"), true, true, Gzip),
            (Some("BR;Q=0.0, GZIP;q=0.5"), true, true, Gzip),
            (Some("br;q=0.4, gzip;q=0.9"), true, true, Gzip),
            (Some("br;q=0.9, gzip;q=0.9"), true, true, Br),
            (Some("*"), true, true, Br),
            (Some("*;q=0, gzip"), true, true, Gzip),
            (Some("gzip;q=0, *"), true, true, Br),
            (Some("gzip;q=0, *"), false, true, Identity),
            (Some("deflate"), true, true, Identity),
            (Some("br;q=bogus, gzip"), true, true, Gzip),
        ];
        for (accept, br, gz, want) in cases {
            assert_eq!(
                negotiate(*accept, *br, *gz),
                *want,
                "{accept:?} br={br} gz={gz}"
            );
        }
    }
}
