//! Native OCR time per page, in release, beside Debian's `tesseract` CLI on the same images in
//! the same run (docs/benchmarks.md §7, docs/classification.md "Time per page"). Not a test:
//! nothing here passes or fails but a page not read at all.
//!
//!     node web/bench/ocr.mjs --runs 5 --save /tmp/ocr-pages    # the browser's figures, and its pages
//!     cargo bench -p medshare-ocr --bench page_time -- /tmp/ocr-pages [--runs 5]
//!
//! For each image (JPEG, PNG or TIFF) of the folder, interleaved run by run so load changes hit both
//! alike: `medshare_ocr::ocr_with` with eng+chi_tra+chi_sim (decoding, the upright/straighten
//! preparation, Tesseract through libtesseract with the models loaded for the page, the
//! 180/90/270 retry when read poorly: what `medshare classify` does for a photo), and
//! `tesseract IMAGE - -l eng+chi_tra+chi_sim -c thresholding_method=2 tsv` (loads the models,
//! reads the page as it is). Both single-threaded (`OMP_THREAD_LIMIT=1`). Prints the median and
//! the minimum of each, words read, and the ratio library / CLI.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(5)
        .max(1);
    let Some(dir) = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--runs"))
        .map(|(_, a)| PathBuf::from(a))
    else {
        eprintln!("usage: cargo bench -p medshare-ocr --bench page_time -- DIR [--runs N]");
        eprintln!("  DIR: page images, e.g. saved by `node web/bench/ocr.mjs --save DIR`");
        std::process::exit(2);
    };
    // One thread for libtesseract (OpenMP reads the limit from the environment when it starts)
    // and the CLI alike, so the two figures compare engines, not thread counts.
    let one_thread = std::env::var("OMP_THREAD_LIMIT").as_deref() == Ok("1");
    if !one_thread {
        eprintln!("page_time: run with OMP_THREAD_LIMIT=1 (both engines single-threaded)");
        std::process::exit(2);
    }
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("jpg" | "jpeg" | "png" | "tif" | "tiff")
            )
        })
        .collect();
    pages.sort();
    assert!(!pages.is_empty(), "no JPEG or PNG in {}", dir.display());
    let cli = String::from_utf8_lossy(
        &Command::new("tesseract")
            .arg("--version")
            .output()
            .expect("tesseract CLI (apt-get install tesseract-ocr)")
            .stdout,
    )
    .lines()
    .next()
    .unwrap_or("")
    .to_string();
    let options = medshare_ocr::OcrOptions::default();
    println!(
        "page_time: {runs} runs, languages {}, CLI {cli}",
        options.languages
    );
    println!(
        "{:<40} {:>14} {:>14} {:>14} {:>8} {:>8} {:>7} {:>7}",
        "page", "lib cold s", "lib warm s", "CLI s", "cold/CLI", "warm/CLI", "words", "cli w"
    );
    for page in &pages {
        let bytes = std::fs::read(page).expect("page");
        let (mut lib, mut warm, mut cmd) = (Vec::new(), Vec::new(), Vec::new());
        let (mut words, mut cli_words) = (0, 0);
        for _ in 0..runs {
            medshare_ocr::engine::release_all();
            let t = Instant::now();
            let text = medshare_ocr::ocr_with(&bytes, &options).expect("read");
            lib.push(t.elapsed().as_secs_f64());
            words = text.word_count();
            let t = Instant::now();
            medshare_ocr::ocr_with(&bytes, &options).expect("read");
            warm.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let out = Command::new("tesseract")
                .arg(page)
                .arg("-")
                .args([
                    "-l",
                    &options.languages,
                    "-c",
                    "thresholding_method=2",
                    "tsv",
                ])
                .output()
                .expect("tesseract");
            cmd.push(t.elapsed().as_secs_f64());
            assert!(
                out.status.success(),
                "tesseract failed on {}",
                page.display()
            );
            cli_words = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| {
                    l.starts_with("5\t") && !l.rsplit('\t').next().unwrap_or("").trim().is_empty()
                })
                .count();
        }
        assert!(words > 0, "{}: nothing read", page.display());
        let min = |xs: &[f64]| xs.iter().copied().fold(f64::INFINITY, f64::min);
        let (min_l, min_w, min_c) = (min(&lib), min(&warm), min(&cmd));
        let (l, w, c) = (median(&mut lib), median(&mut warm), median(&mut cmd));
        println!(
            "{:<40} {:>6.2} ({:>4.2}) {:>6.2} ({:>4.2}) {:>6.2} ({:>4.2}) {:>8.2} {:>8.2} {:>7} {:>7}",
            page.file_name().unwrap_or_default().to_string_lossy(),
            l,
            min_l,
            w,
            min_w,
            c,
            min_c,
            l / c,
            w / c,
            words,
            cli_words
        );
    }
}
