//! Embeds the built web app (`web/dist`, or `MEDSHARE_WEB_DIST`) into the hub binary. Without a
//! build (no Node.js on this machine) the hub still builds and serves a page that says how to
//! build the app. Nothing here runs Node: `scripts/build-web.sh` builds the app first, with a
//! brotli (`NAME.br`) and a gzip (`NAME.gz`) copy beside each text and wasm file, embedded with
//! the file they encode.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, base, out);
        } else if p.extension().is_some_and(|e| e == "br" || e == "gz") {
            // Precompressed copies (web/precompress.mjs) are served in place of their file.
            continue;
        } else if let Ok(rel) = p.strip_prefix(base) {
            let url = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
            out.push((url, p.clone()));
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=MEDSHARE_WEB_DIST");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = manifest.join("../../web");
    let dist = std::env::var_os("MEDSHARE_WEB_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| web.join("dist"));
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        println!("cargo:rerun-if-changed={}", dist.display());
        walk(&dist, &dist, &mut files);
    } else if web.is_dir() {
        // Rerun when `web/dist` appears.
        println!("cargo:rerun-if-changed={}", web.display());
    }
    let mut code = String::from(
        "/// The built web app's files, embedded at build time.\npub static ASSETS: &[Asset] = &[\n",
    );
    let include = |p: &Path| {
        format!(
            "include_bytes!({:?})",
            p.canonicalize().expect("listed file").display().to_string()
        )
    };
    let variant = |path: &Path, ext: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(ext);
        let p = PathBuf::from(p);
        if p.is_file() {
            format!("Some({})", include(&p))
        } else {
            "None".into()
        }
    };
    for (url, path) in &files {
        writeln!(
            code,
            "    Asset {{ path: {url:?}, bytes: {}, content_type: {:?}, br: {}, gzip: {} }},",
            include(path),
            content_type(url),
            variant(path, ".br"),
            variant(path, ".gz"),
        )
        .expect("string");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("web_assets.rs");
    std::fs::write(out, code).expect("write web_assets.rs");
}
