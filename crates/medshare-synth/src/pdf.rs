//! A hand-written, minimal PDF 1.4 text document (A4, Helvetica, WinAnsiEncoding).

use std::fmt::Write as _;

const PAGE_WIDTH: u32 = 595;
const PAGE_HEIGHT: u32 = 842;
const MARGIN: u32 = 50;
const TEXT_WIDTH: f64 = (PAGE_WIDTH - 2 * MARGIN) as f64;
const TITLE_SIZE: f64 = 14.0;
const TITLE_LEADING: u32 = 18;
const BODY_SIZE: f64 = 10.0;
const BODY_LEADING: u32 = 13;
const TOP: u32 = PAGE_HEIGHT - MARGIN - 10;
const BOTTOM: u32 = MARGIN + 10;
const FOOTER_Y: u32 = 30;

/// Helvetica advance widths (1/1000 em) for ASCII 32..=126.
const HELVETICA_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
];

/// A valid PDF 1.4 whose text is `title` (bold, first page) followed by `lines` (one per text
/// line; long lines are word-wrapped, further pages are added as needed, each with a page-number
/// footer). Text is encoded as WinAnsi: Latin-1 and typographic dashes/quotes survive, other
/// characters become `?`. Deterministic: no dates or ids are embedded.
pub fn pdf_report(title: &str, lines: &[String]) -> Vec<u8> {
    let title_lines = wrap(title, TEXT_WIDTH, TITLE_SIZE * 1.08);
    let body: Vec<String> = lines
        .iter()
        .flat_map(|l| wrap(l, TEXT_WIDTH, BODY_SIZE))
        .collect();

    // Paginate.
    let title_height = TITLE_LEADING * title_lines.len() as u32 + 8;
    let per_page = |first: bool| {
        let top = if first {
            TOP.saturating_sub(title_height)
        } else {
            TOP
        };
        (top.saturating_sub(BOTTOM) / BODY_LEADING + 1) as usize
    };
    let mut pages: Vec<&[String]> = Vec::new();
    let mut rest = &body[..];
    loop {
        let take = per_page(pages.is_empty()).min(rest.len());
        let (page, tail) = rest.split_at(take);
        pages.push(page);
        rest = tail;
        if rest.is_empty() {
            break;
        }
    }

    let mut w = Writer::new();
    let page_count = pages.len();
    let first_page_obj = 6;
    let kids: Vec<String> = (0..page_count)
        .map(|i| format!("{} 0 R", first_page_obj + 2 * i))
        .collect();
    w.object(1, b"<< /Type /Catalog /Pages 2 0 R >>");
    w.object(
        2,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {page_count} /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] >>",
            kids.join(" ")
        )
        .as_bytes(),
    );
    w.object(
        3,
        b"<< /Type /Font /Subtype /Type1 /Name /F1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    );
    w.object(
        4,
        b"<< /Type /Font /Subtype /Type1 /Name /F2 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    );
    let mut info = b"<< /Title (".to_vec();
    info.extend(pdf_string(&ascii_only(title)));
    info.extend_from_slice(
        b") /Subject (Synthetic demo record - not a real patient) /Producer (medshare-synth) >>",
    );
    w.object(5, &info);

    for (i, page_lines) in pages.iter().enumerate() {
        let page_obj = first_page_obj + 2 * i;
        let content_obj = page_obj + 1;
        w.object(
            page_obj,
            format!(
                "<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {content_obj} 0 R >>"
            )
            .as_bytes(),
        );
        let content = page_content(
            if i == 0 { &title_lines[..] } else { &[] },
            page_lines,
            i == 0,
            i + 1,
            page_count,
        );
        let mut obj = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        obj.extend_from_slice(&content);
        obj.extend_from_slice(b"\nendstream");
        w.object(content_obj, &obj);
    }
    w.finish(5)
}

fn page_content(
    title_lines: &[String],
    lines: &[String],
    first: bool,
    page: usize,
    pages: usize,
) -> Vec<u8> {
    let mut c = Vec::new();
    let mut y = TOP;
    if first {
        c.extend_from_slice(
            format!("BT\n/F2 {TITLE_SIZE} Tf\n{TITLE_LEADING} TL\n{MARGIN} {y} Td\n").as_bytes(),
        );
        for (i, line) in title_lines.iter().enumerate() {
            if i > 0 {
                c.extend_from_slice(b"T*\n");
            }
            show(&mut c, line);
        }
        c.extend_from_slice(b"ET\n");
        y = y.saturating_sub(TITLE_LEADING * title_lines.len() as u32 + 8);
    }
    if !lines.is_empty() {
        c.extend_from_slice(
            format!("BT\n/F1 {BODY_SIZE} Tf\n{BODY_LEADING} TL\n{MARGIN} {y} Td\n").as_bytes(),
        );
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                c.extend_from_slice(b"T*\n");
            }
            if !line.trim().is_empty() {
                show(&mut c, line);
            }
        }
        c.extend_from_slice(b"ET\n");
    }
    c.extend_from_slice(format!("BT\n/F1 8 Tf\n{MARGIN} {FOOTER_Y} Td\n").as_bytes());
    show(
        &mut c,
        &format!("Synthetic demo record - not a real patient. Page {page} of {pages}"),
    );
    c.extend_from_slice(b"ET");
    c
}

fn show(c: &mut Vec<u8>, text: &str) {
    c.push(b'(');
    c.extend(pdf_string(text));
    c.extend_from_slice(b") Tj\n");
}

/// Collects objects and writes the cross-reference table with exact byte offsets.
struct Writer {
    out: Vec<u8>,
    offsets: Vec<usize>,
}

impl Writer {
    fn new() -> Self {
        // The binary comment marks the file as binary for transfer tools.
        Self {
            out: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec(),
            offsets: Vec::new(),
        }
    }

    fn object(&mut self, number: usize, body: &[u8]) {
        debug_assert_eq!(number, self.offsets.len() + 1, "objects written in order");
        self.offsets.push(self.out.len());
        self.out
            .extend_from_slice(format!("{number} 0 obj\n").as_bytes());
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\nendobj\n");
    }

    fn finish(mut self, info: usize) -> Vec<u8> {
        let xref = self.out.len();
        let size = self.offsets.len() + 1;
        // Each entry is exactly 20 bytes including the two-byte end-of-line " \n".
        let mut table = format!("xref\n0 {size}\n0000000000 65535 f \n");
        for offset in &self.offsets {
            let _ = writeln!(table, "{offset:010} 00000 n ");
        }
        let _ = write!(
            table,
            "trailer\n<< /Size {size} /Root 1 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        );
        self.out.extend_from_slice(table.as_bytes());
        self.out
    }
}

/// WinAnsi bytes for `c`, if representable.
fn win_ansi(c: char) -> Option<u8> {
    Some(match c {
        ' '..='~' => c as u8,
        '\t' => b' ',
        '€' => 0x80,
        '‚' => 0x82,
        '„' => 0x84,
        '…' => 0x85,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '™' => 0x99,
        '\u{a0}'..='\u{ff}' => c as u32 as u8,
        _ => return None,
    })
}

/// The escaped body of a PDF literal string (without the surrounding parentheses).
fn pdf_string(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match win_ansi(c).unwrap_or(b'?') {
            b @ (b'(' | b')' | b'\\') => out.extend_from_slice(&[b'\\', b]),
            b @ 0x20..=0x7e => out.push(b),
            b => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
        }
    }
    out
}

/// Document-information strings use PDFDocEncoding; keep them to plain ASCII.
fn ascii_only(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c,
            '–' | '—' => '-',
            _ => '?',
        })
        .collect()
}

fn char_width(c: char) -> f64 {
    let units = match c {
        ' '..='~' => HELVETICA_WIDTHS[(c as usize) - 32],
        '—' | '…' | '‰' => 1000,
        _ => 556,
    };
    f64::from(units) / 1000.0
}

fn text_width(text: &str, size: f64) -> f64 {
    text.chars().map(char_width).sum::<f64>() * size
}

/// Greedy word wrap to `width` points; words longer than a line are broken. Leading
/// indentation of the first segment is kept. An empty input gives one empty line.
fn wrap(text: &str, width: f64, size: f64) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for (i, word) in text.split(' ').enumerate() {
        if i == 0 {
            line = word.to_owned();
        } else {
            let candidate = format!("{line} {word}");
            if text_width(&candidate, size) <= width || line.trim().is_empty() {
                line = candidate;
            } else {
                out.push(std::mem::replace(&mut line, word.to_owned()));
            }
        }
        // A single word wider than the line is broken where it overflows.
        while text_width(&line, size) > width {
            let mut cut = 0;
            let mut acc = 0.0;
            for (idx, c) in line.char_indices() {
                acc += char_width(c) * size;
                if acc > width {
                    break;
                }
                cut = idx + c.len_utf8();
            }
            let cut = cut.max(line.chars().next().map_or(1, char::len_utf8));
            let tail = line.split_off(cut);
            out.push(std::mem::replace(&mut line, tail));
        }
    }
    out.push(line);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::process::Command;

    fn lines(n: usize) -> Vec<String> {
        (1..=n)
            .map(|i| {
                format!("Line {i}: the quick brown fox (synthetic) jumps over 70% \\ stenosis.")
            })
            .collect()
    }

    /// Every xref entry points at `N 0 obj`, and startxref points at `xref`.
    fn check_xref(pdf: &[u8]) {
        // Same byte offsets as `pdf`: non-ASCII bytes become '?'.
        let text: String = pdf
            .iter()
            .map(|&b| if b.is_ascii() { char::from(b) } else { '?' })
            .collect();
        let startxref = text.rfind("startxref\n").expect("startxref");
        let xref: usize = text[startxref + 10..]
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(pdf[xref..].starts_with(b"xref\n0 "));
        let table = &text[xref..];
        let mut it = table.lines().skip(1);
        let header = it.next().unwrap();
        let size: usize = header.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(it.next().unwrap().ends_with(" f "));
        for n in 1..size {
            let entry = it.next().unwrap();
            assert_eq!(entry.len(), 19, "entry {n} is 20 bytes with its EOL");
            let offset: usize = entry[..10].parse().unwrap();
            assert!(
                pdf[offset..].starts_with(format!("{n} 0 obj\n").as_bytes()),
                "object {n} at {offset}"
            );
        }
        assert!(it.next().unwrap().starts_with("trailer"));
        // Stream lengths are exact.
        let mut from = 0;
        while let Some(pos) = text[from..].find("/Length ") {
            let at = from + pos + 8;
            let len: usize = text[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let start = at + text[at..].find("stream\n").unwrap() + 7;
            assert!(pdf[start + len..].starts_with(b"\nendstream"));
            from = start + len;
        }
    }

    #[test]
    fn structure() {
        let pdf = pdf_report("Coronary angiography report", &lines(5));
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        check_xref(&pdf);
        assert_eq!(pdf, pdf_report("Coronary angiography report", &lines(5)));
    }

    #[test]
    fn paginates() {
        let pdf = pdf_report("Long", &lines(300));
        let text = String::from_utf8_lossy(&pdf);
        let pages = text.matches("/Type /Page ").count();
        assert!(pages >= 5, "{pages} pages");
        assert!(text.contains(&format!("/Count {pages}")));
        check_xref(&pdf);
        check_xref(&pdf_report("Empty", &[]));
    }

    #[test]
    fn escapes_and_encodes() {
        assert_eq!(pdf_string("a(b)c\\"), b"a\\(b\\)c\\\\".to_vec());
        assert_eq!(pdf_string("—é漢"), b"\\227\\351?".to_vec());
    }

    #[test]
    fn wraps() {
        let long = "word ".repeat(200);
        let wrapped = wrap(long.trim(), TEXT_WIDTH, BODY_SIZE);
        assert!(wrapped.len() > 5);
        assert!(
            wrapped
                .iter()
                .all(|l| text_width(l, BODY_SIZE) <= TEXT_WIDTH)
        );
        assert_eq!(wrapped.join(" "), long.trim());
        let word = "X".repeat(500);
        let broken = wrap(&word, TEXT_WIDTH, BODY_SIZE);
        assert!(broken.len() > 3);
        assert_eq!(broken.concat(), word);
        assert_eq!(wrap("", TEXT_WIDTH, BODY_SIZE), vec![String::new()]);
        assert_eq!(
            wrap("  indented", TEXT_WIDTH, BODY_SIZE),
            vec!["  indented"]
        );
    }

    /// Runs `pdftotext` on `pdf` and returns the text, or `None` (with a note) if it is absent.
    pub(crate) fn pdftotext(pdf: &[u8]) -> Option<String> {
        if Command::new("pdftotext").arg("-v").output().is_err() {
            eprintln!("note: pdftotext not installed (apt-get install poppler-utils); skipping");
            return None;
        }
        let path = std::env::temp_dir().join(format!(
            "medshare-synth-{}-{:?}.pdf",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, pdf).unwrap();
        let out = Command::new("pdftotext")
            .arg("-enc")
            .arg("UTF-8")
            .arg(&path)
            .arg("-")
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(out.status.success(), "pdftotext failed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.trim().is_empty(), "pdftotext complained: {stderr}");
        Some(String::from_utf8(out.stdout).unwrap())
    }

    #[test]
    fn pdftotext_extracts_text() {
        let mut body = vec![
            "SYNTHETIC DEMO RECORD — NOT A REAL PATIENT".to_owned(),
            "Findings: 70% stenosis of the proximal LAD (pre-PCI).".to_owned(),
        ];
        body.extend(lines(120));
        let pdf = pdf_report("Coronary angiography report", &body);
        let Some(text) = pdftotext(&pdf) else { return };
        assert!(text.contains("Coronary angiography report"));
        assert!(text.contains("SYNTHETIC DEMO RECORD — NOT A REAL PATIENT"));
        assert!(text.contains("70% stenosis of the proximal LAD (pre-PCI)."));
        assert!(text.contains("Line 120: the quick brown fox"));
        assert!(text.contains("Page 3 of 3"));
    }
}
