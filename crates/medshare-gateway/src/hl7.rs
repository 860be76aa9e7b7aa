//! HL7 v2 as real senders write it: any segment terminator (`\r`, `\n`, `\r\n`), UTF-8 or the
//! charset MSH-18 names (Latin-1, Big5, GB 18030 ...), broken MSH-2 encoding characters
//! (the standard ones are assumed), batches (`FHS`/`BHS` ... `BTS`/`FTS`) and several messages
//! in one frame. Segments are parsed with `hl7-parser`; this module finds what the gateway
//! needs (MSH, the patient's identifiers and card, ordering providers, embedded documents) and
//! writes acknowledgements. Nothing here logs content.

use hl7_parser::message::{Segment, Separators};
use medshare_model::records::PatientCard;

/// Acknowledgement codes (original mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckCode {
    /// Accepted: durable in the gateway's queue.
    Aa,
    /// Error: the message is understood but cannot be taken (e.g. no usable patient
    /// identifier, the queue is full); the sender may correct it or retry later.
    Ae,
    /// Reject: the message is not something the gateway takes (type, version, processing id,
    /// malformed header).
    Ar,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aa => "AA",
            Self::Ae => "AE",
            Self::Ar => "AR",
        }
    }
}

/// Why a message is refused: the ACK code, an HL7 table 0357 error code and a fixed text (never
/// content).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub ack: AckCode,
    /// HL7 table 0357: 100 segment sequence, 101 required field missing, 102 data type error,
    /// 200 unsupported message type, 201 unsupported event, 202 unsupported processing id,
    /// 203 unsupported version, 207 application internal error.
    pub code: &'static str,
    pub text: &'static str,
    /// Metric label.
    pub reason: &'static str,
}

impl Refusal {
    pub const fn new(
        ack: AckCode,
        code: &'static str,
        reason: &'static str,
        text: &'static str,
    ) -> Self {
        Self {
            ack,
            code,
            text,
            reason,
        }
    }
}

pub const NOT_HL7: Refusal = Refusal::new(
    AckCode::Ar,
    "100",
    "not-hl7",
    "no MSH segment: not an HL7 v2 message",
);
pub const BAD_MSH: Refusal = Refusal::new(
    AckCode::Ar,
    "102",
    "bad-msh",
    "MSH is malformed (field separator or message type)",
);
pub const UNSUPPORTED_TYPE: Refusal = Refusal::new(
    AckCode::Ar,
    "200",
    "unsupported-type",
    "message type not accepted by this gateway (ORU^R01, MDM^T02, ADT^A01/A04/A08)",
);
pub const UNSUPPORTED_EVENT: Refusal = Refusal::new(
    AckCode::Ar,
    "201",
    "unsupported-event",
    "trigger event not accepted by this gateway",
);
pub const UNSUPPORTED_PROCESSING: Refusal = Refusal::new(
    AckCode::Ar,
    "202",
    "unsupported-processing-id",
    "processing id (MSH-11) not accepted by this gateway",
);
pub const UNSUPPORTED_VERSION: Refusal = Refusal::new(
    AckCode::Ar,
    "203",
    "unsupported-version",
    "HL7 version (MSH-12) not supported: 2.1 to 2.8 only",
);
pub const NO_PATIENT: Refusal = Refusal::new(
    AckCode::Ae,
    "101",
    "no-patient-identifier",
    "no usable patient identifier in PID-3 (HKID, passport or a record number the rules map)",
);
pub const NO_CONTENT: Refusal = Refusal::new(
    AckCode::Ae,
    "101",
    "no-document",
    "MDM without document content (OBX-5 ED or TX)",
);
pub const QUEUE_FULL: Refusal = Refusal::new(
    AckCode::Ae,
    "207",
    "queue-full",
    "the gateway's queue is full: retry later",
);
pub const INTERNAL: Refusal = Refusal::new(
    AckCode::Ae,
    "207",
    "internal",
    "the gateway could not store the message: retry later",
);
pub const TOO_LARGE: Refusal = Refusal::new(
    AckCode::Ar,
    "207",
    "too-large",
    "the message is larger than this gateway accepts",
);

/// What a message is for the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// ORU^R01: a result to file as a document (the message itself).
    Result,
    /// MDM^T02/T04/T06/T08/T10: a document carried in OBX.
    Document,
    /// ADT^A01/A04/A08/A28/A31: demographics for the sealed patient card.
    Demographics,
}

/// The MSH facts the gateway uses. Identifiers of systems, never of patients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Msh {
    pub sending_application: String,
    pub sending_facility: String,
    pub receiving_application: String,
    pub receiving_facility: String,
    /// MSH-9.1, e.g. `ORU`.
    pub message_code: String,
    /// MSH-9.2, e.g. `R01`.
    pub trigger: String,
    pub control_id: String,
    pub processing_id: String,
    pub version: String,
    /// The MSH-2 encoding characters were unusable and the standard ones were assumed.
    pub repaired_encoding: bool,
}

impl Msh {
    /// `ORU^R01`.
    pub fn message_type(&self) -> String {
        format!("{}^{}", self.message_code, self.trigger)
    }
}

/// One message, as UTF-8 text with `\r` between segments.
#[derive(Clone, Debug)]
pub struct Message {
    text: String,
    seps: Separators,
    pub msh: Msh,
}

/// What one MLLP frame (or file) held: its messages, and the batch header when it was a batch.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    pub messages: Vec<Result<Message, (Refusal, Box<Msh>)>>,
    /// The frame was a batch (`FHS`/`BHS`): the answer is a batch of acknowledgements.
    pub batch: bool,
}

/// A patient identifier as the message writes it (PID-3 CX, or PID-2/PID-4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    /// CX.4 assigning authority (namespace), e.g. `HKID`, `KPH`.
    pub authority: String,
    /// CX.5 identifier type, e.g. `NI`, `MR`, `PPN`, `PI`.
    pub kind: String,
}

/// An ordering provider (OBR-16 / ORC-12, XCN): the hospital's id for them and their name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    pub id: String,
    pub family: String,
    pub given: String,
}

/// A document carried in a message (MDM OBX-5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Embedded {
    pub bytes: Vec<u8>,
    /// MIME type from OBX-5 ED (type/subtype), when given.
    pub media_type: Option<String>,
}

/// Decode a frame to text: UTF-8 when it is valid (the usual case), else the charset MSH-18
/// names, else Windows-1252 (which never fails and is what "8859/1" senders mostly mean).
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let charset = msh18(bytes).unwrap_or_default();
    let enc = charset_encoding(&charset).unwrap_or(encoding_rs::WINDOWS_1252);
    let (text, _, _) = enc.decode(bytes);
    text.into_owned()
}

/// MSH-18 read from the raw bytes (the header itself is ASCII).
fn msh18(bytes: &[u8]) -> Option<String> {
    let start = bytes.windows(3).position(|w| w == b"MSH")?;
    let line = &bytes[start..];
    let end = line
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n')
        .unwrap_or(line.len());
    let line = &line[..end];
    let sep = *line.get(3)?;
    let field = line.split(|b| *b == sep).nth(17)?;
    let first = field.split(|b| *b == b'~' || *b == b'^').next()?;
    Some(String::from_utf8_lossy(first).trim().to_string())
}

/// HL7 table 0211 names to encodings.
fn charset_encoding(name: &str) -> Option<&'static encoding_rs::Encoding> {
    let n = name.trim().to_ascii_uppercase();
    let label = match n.as_str() {
        "" | "ASCII" => return None,
        "8859/1" | "ISO IR100" => "windows-1252",
        "8859/2" | "ISO IR101" => "iso-8859-2",
        "8859/5" | "ISO IR144" => "iso-8859-5",
        "8859/7" | "ISO IR126" => "iso-8859-7",
        "8859/15" => "iso-8859-15",
        "UNICODE UTF-8" | "UTF-8" => "utf-8",
        "UNICODE UTF-16" | "UTF-16" => "utf-16le",
        "BIG-5" | "BIG5" | "CNS 11643-1992" => "big5",
        "GB 18030-2000" | "GB18030" | "ISO IR58" | "GB 2312" => "gb18030",
        "ISO IR87" | "ISO IR159" | "SHIFT_JIS" => "shift_jis",
        "KS X 1001" | "ISO IR149" => "euc-kr",
        other => other,
    };
    encoding_rs::Encoding::for_label(label.as_bytes())
}

fn is_segment_start(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() >= 4
        && b[0].is_ascii_uppercase()
        && b[1..3]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && !b[3].is_ascii_alphanumeric()
        && !b[3].is_ascii_whitespace()
}

/// Split a frame into its messages, tolerating any line ending, MLLP bytes left in, a BOM,
/// and text broken over lines (joined to the segment before).
pub fn split(text: &str) -> Frame {
    let mut frame = Frame::default();
    let mut current: Option<Vec<String>> = None;
    let mut done: Vec<Vec<String>> = Vec::new();
    let mut field_sep = '|';
    for raw in text.split(['\r', '\n']) {
        let line = raw.trim_matches(['\u{0b}', '\u{1c}', '\u{feff}', '\0']);
        if line.trim().is_empty() {
            continue;
        }
        let starts = is_segment_start(line);
        let name = if starts { &line[..3] } else { "" };
        match name {
            "FHS" | "BHS" => {
                frame.batch = true;
                field_sep = line.as_bytes()[3] as char;
                if let Some(m) = current.take() {
                    done.push(m);
                }
            }
            "FTS" | "BTS" => {
                if let Some(m) = current.take() {
                    done.push(m);
                }
            }
            "MSH" => {
                field_sep = line.as_bytes()[3] as char;
                if let Some(m) = current.take() {
                    done.push(m);
                }
                current = Some(vec![line.to_string()]);
            }
            _ if starts && line.as_bytes()[3] as char == field_sep => {
                if let Some(m) = current.as_mut() {
                    m.push(line.to_string());
                }
                // A segment outside any message is dropped (it has no MSH to answer to).
            }
            _ => {
                // A line break inside a field: keep the text with the segment it belongs to.
                if let Some(last) = current.as_mut().and_then(|m| m.last_mut()) {
                    last.push(' ');
                    last.push_str(line.trim());
                }
            }
        }
    }
    if let Some(m) = current.take() {
        done.push(m);
    }
    for segs in done {
        frame.messages.push(Message::from_segments(segs));
    }
    frame
}

/// Separators from MSH-1/MSH-2; `None` when the field separator is unusable. Unusable
/// encoding characters are replaced by the standard ones (`repaired`).
fn separators(msh: &str) -> Option<(Separators, bool)> {
    let chars: Vec<char> = msh.chars().collect();
    let field = *chars.get(3)?;
    if field.is_alphanumeric() || field.is_whitespace() {
        return None;
    }
    let mut s = Separators {
        field,
        ..Separators::default()
    };
    let enc: Vec<char> = chars[4..]
        .iter()
        .take_while(|&&ch| ch != field)
        .copied()
        .collect();
    let usable = enc.len() >= 3
        && enc.len() <= 5
        && enc
            .iter()
            .all(|ch| !ch.is_alphanumeric() && !ch.is_whitespace())
        && enc.iter().collect::<std::collections::HashSet<_>>().len() == enc.len();
    if usable {
        s.component = enc[0];
        s.repetition = enc[1];
        s.escape = enc[2];
        if let Some(&sub) = enc.get(3) {
            s.subcomponent = sub;
        }
        Some((s, false))
    } else {
        Some((s, true))
    }
}

/// MSH-n (1-based; MSH-1 is the separator itself), raw.
fn msh_field(msh: &str, sep: char, n: usize) -> &str {
    if n < 2 {
        return "";
    }
    msh.split(sep).nth(n - 1).unwrap_or("")
}

fn first_component(v: &str, seps: &Separators) -> String {
    v.split(seps.component)
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

impl Message {
    fn from_segments(segs: Vec<String>) -> Result<Self, (Refusal, Box<Msh>)> {
        let msh_line = segs.first().cloned().unwrap_or_default();
        let Some((seps, repaired)) = separators(&msh_line) else {
            return Err((BAD_MSH, Box::default()));
        };
        let f = |n| msh_field(&msh_line, seps.field, n);
        let mut ty = f(9).split(seps.component);
        let msh = Msh {
            sending_application: first_component(f(3), &seps),
            sending_facility: first_component(f(4), &seps),
            receiving_application: first_component(f(5), &seps),
            receiving_facility: first_component(f(6), &seps),
            message_code: ty.next().unwrap_or("").trim().to_ascii_uppercase(),
            trigger: ty.next().unwrap_or("").trim().to_ascii_uppercase(),
            control_id: f(10).trim().to_string(),
            processing_id: first_component(f(11), &seps).to_ascii_uppercase(),
            version: first_component(f(12), &seps),
            repaired_encoding: repaired,
        };
        if msh.message_code.is_empty() || msh.control_id.is_empty() {
            return Err((BAD_MSH, Box::new(msh)));
        }
        let mut text = segs.join("\r");
        text.push('\r');
        Ok(Self { text, seps, msh })
    }

    /// The message as filed: UTF-8, `\r` after every segment.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn separators(&self) -> &Separators {
        &self.seps
    }

    /// What the gateway does with it, or why it refuses it.
    pub fn purpose(&self, processing_ids: &[String]) -> Result<Purpose, Refusal> {
        let m = &self.msh;
        if !processing_ids
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&m.processing_id))
        {
            return Err(UNSUPPORTED_PROCESSING);
        }
        let major_ok = m.version.is_empty()
            || m.version
                .strip_prefix("2.")
                .and_then(|r| r.split('.').next())
                .and_then(|r| r.parse::<u32>().ok())
                .is_some_and(|minor| (1..=8).contains(&minor));
        if !major_ok {
            return Err(UNSUPPORTED_VERSION);
        }
        match (m.message_code.as_str(), m.trigger.as_str()) {
            ("ORU", "R01") => Ok(Purpose::Result),
            ("MDM", "T02" | "T04" | "T06" | "T08" | "T10") => Ok(Purpose::Document),
            ("ADT", "A01" | "A04" | "A08" | "A28" | "A31") => Ok(Purpose::Demographics),
            ("ORU" | "MDM" | "ADT", _) => Err(UNSUPPORTED_EVENT),
            _ => Err(UNSUPPORTED_TYPE),
        }
    }

    /// Every segment named `name`, parsed.
    pub fn segments<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Segment<'a>> + 'a {
        self.text
            .split('\r')
            .filter(move |l| l.starts_with(name) && l.len() > 3)
            .filter_map(move |l| {
                hl7_parser::parser::parse_segment_with_separators(l, self.seps).ok()
            })
    }

    fn comp(&self, seg: &Segment<'_>, n: usize, r: usize, k: usize) -> Option<String> {
        let v = seg
            .field(n)?
            .repeat(r)?
            .component(k)?
            .display(&self.seps)
            .to_string();
        present(&v)
    }

    /// The patient's identifiers: PID-3 (every repetition), then PID-2 and PID-4 (older
    /// versions).
    pub fn patient_candidates(&self) -> Vec<Candidate> {
        let mut out = Vec::new();
        if let Some(pid) = self.segments("PID").next() {
            for n in [3, 2, 4] {
                let Some(f) = pid.field(n) else { continue };
                for (i, _) in f.repeats().enumerate() {
                    if let Some(id) = self.comp(&pid, n, i + 1, 1) {
                        out.push(Candidate {
                            id,
                            authority: self.comp(&pid, n, i + 1, 4).unwrap_or_default(),
                            kind: self
                                .comp(&pid, n, i + 1, 5)
                                .unwrap_or_default()
                                .to_ascii_uppercase(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Name, birth date and sex from PID, for the sealed patient card.
    pub fn card(&self) -> PatientCard {
        let Some(pid) = self.segments("PID").next() else {
            return PatientCard::default();
        };
        let family = self.comp(&pid, 5, 1, 1);
        let given = self.comp(&pid, 5, 1, 2);
        let name = [family, given]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        PatientCard {
            name: (!name.is_empty()).then_some(name),
            birth_date: self.comp(&pid, 7, 1, 1).and_then(|d| iso_date(&d)),
            sex: self
                .comp(&pid, 8, 1, 1)
                .map(|s| s.to_ascii_uppercase())
                .filter(|s| ["M", "F", "O", "U", "A", "N"].contains(&s.as_str())),
        }
    }

    /// Ordering providers (OBR-16, ORC-12), each once.
    pub fn ordering_providers(&self) -> Vec<Provider> {
        let mut out: Vec<Provider> = Vec::new();
        for (seg, n) in [("OBR", 16), ("ORC", 12)] {
            for s in self.segments(seg) {
                let Some(f) = s.field(n) else { continue };
                for (i, _) in f.repeats().enumerate() {
                    let p = Provider {
                        id: self.comp(&s, n, i + 1, 1).unwrap_or_default(),
                        family: self.comp(&s, n, i + 1, 2).unwrap_or_default(),
                        given: self.comp(&s, n, i + 1, 3).unwrap_or_default(),
                    };
                    let anonymous = p.id.is_empty() && p.family.is_empty();
                    if !anonymous && !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
        }
        out
    }

    /// The document an MDM carries: the first OBX-5 of type ED (base64, hex or ASCII
    /// encoded), else the text of its TX/FT/ST OBX lines.
    pub fn embedded_document(&self) -> Option<Embedded> {
        let mut text = String::new();
        for obx in self.segments("OBX") {
            let ty = self
                .comp(&obx, 2, 1, 1)
                .unwrap_or_default()
                .to_ascii_uppercase();
            match ty.as_str() {
                "ED" => {
                    let f = obx.field(5)?;
                    let r = f.repeat(1)?;
                    let part = |k: usize| r.component(k).map(|c| c.raw_value().trim().to_string());
                    let encoding = part(4).unwrap_or_default().to_ascii_uppercase();
                    // The data may itself hold component separators (ASCII encoding): take the
                    // raw rest of the repeat from component 5 on.
                    let data: String = r
                        .components()
                        .skip(4)
                        .map(|c| c.raw_value())
                        .collect::<Vec<_>>()
                        .join(&self.seps.component.to_string());
                    let bytes = match encoding.as_str() {
                        "BASE64" => {
                            use base64::Engine;
                            let clean: String = data
                                .chars()
                                .filter(|c| !c.is_whitespace() && *c != '\\')
                                .collect();
                            base64::engine::general_purpose::STANDARD
                                .decode(clean.trim_end_matches('='))
                                .or_else(|_| {
                                    base64::engine::general_purpose::STANDARD_NO_PAD
                                        .decode(clean.trim_end_matches('='))
                                })
                                .ok()?
                        }
                        "HEX" => hex::decode(data.trim()).ok()?,
                        _ => self.seps.decode(&data).to_string().into_bytes(),
                    };
                    let media_type = match (part(2), part(3)) {
                        (Some(t), Some(s)) if !t.is_empty() && !s.is_empty() => Some(format!(
                            "{}/{}",
                            t.to_ascii_lowercase(),
                            s.to_ascii_lowercase()
                        )),
                        _ => None,
                    };
                    if !bytes.is_empty() {
                        return Some(Embedded { bytes, media_type });
                    }
                }
                "TX" | "FT" | "ST" => {
                    if let Some(f) = obx.field(5) {
                        for r in f.repeats() {
                            let line = r.display(&self.seps).to_string();
                            text.push_str(line.trim_end());
                            text.push('\n');
                        }
                    }
                }
                _ => {}
            }
        }
        (!text.trim().is_empty()).then(|| Embedded {
            bytes: text.into_bytes(),
            media_type: Some("text/plain".into()),
        })
    }
}

/// A value, unless empty or the HL7 explicit null `""`.
fn present(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty() && v != "\"\"").then(|| v.to_string())
}

/// `YYYYMMDD...` as `YYYY-MM-DD` when it is a real date.
fn iso_date(s: &str) -> Option<String> {
    let d = s.trim().get(..8)?;
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let iso = format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8]);
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(&iso, &fmt).ok().map(|_| iso)
}

/// Who the gateway is in its acknowledgements (MSH-3/4).
#[derive(Clone, Debug)]
pub struct Responder {
    pub application: String,
    pub facility: String,
}

fn hl7_now() -> String {
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]");
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_default()
}

/// An acknowledgement for `msh` (original mode): MSA-1 the code, MSA-2 the control id, MSA-3
/// and ERR-3/ERR-4 the reason of a refusal. Segments end with `\r`.
pub fn ack(
    me: &Responder,
    msh: &Msh,
    seps: &Separators,
    refusal: Option<&Refusal>,
    ack_id: &str,
) -> String {
    let fs = seps.field;
    let enc = |v: &str| seps.encode(v).to_string();
    let cs = seps.component;
    let mut out = format!(
        "MSH{fs}{}{}{}{}{fs}{}{fs}{}{fs}{}{fs}{}{fs}{}{fs}{fs}ACK{cs}{}{cs}ACK{fs}{}{fs}{}{fs}{}\r",
        seps.component,
        seps.repetition,
        seps.escape,
        seps.subcomponent,
        enc(&me.application),
        enc(&me.facility),
        enc(&msh.sending_application),
        enc(&msh.sending_facility),
        hl7_now(),
        enc(&msh.trigger),
        enc(ack_id),
        if msh.processing_id.is_empty() {
            "P".to_string()
        } else {
            enc(&msh.processing_id)
        },
        if msh.version.is_empty() {
            "2.5".to_string()
        } else {
            enc(&msh.version)
        },
    );
    let code = refusal.map(|r| r.ack).unwrap_or(AckCode::Aa);
    out.push_str(&format!(
        "MSA{fs}{}{fs}{}",
        code.as_str(),
        enc(&msh.control_id)
    ));
    if let Some(r) = refusal {
        out.push_str(&format!("{fs}{}\r", enc(r.text)));
        out.push_str(&format!(
            "ERR{fs}{fs}{fs}{}{cs}{}{cs}HL70357{fs}E\r",
            r.code,
            enc(r.text)
        ));
    } else {
        out.push('\r');
    }
    out
}

/// Wrap acknowledgements of a batch in `BHS` ... `BTS`.
pub fn batch_ack(me: &Responder, acks: &[String]) -> String {
    let mut out = format!(
        "BHS|^~\\&|{}|{}|||{}\r",
        Separators::default().encode(&me.application),
        Separators::default().encode(&me.facility),
        hl7_now()
    );
    for a in acks {
        out.push_str(a);
    }
    out.push_str(&format!("BTS|{}\r", acks.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORU: &str = "MSH|^~\\&|LIS|KPH-LAB|MEDSHARE|KPH|20260314093000||ORU^R01^ORU_R01|MSG0001|P|2.5\r\
PID|1||A123456(3)^^^HKID^NI~000123^^^KPH^MR||CHAN^TAI MAN||19610702|M\r\
ORC|RE|||||||||||M12345^WONG^CHI KEUNG\r\
OBR|1|||24331-1^Lipid panel^LN|||20260314080000|||||||||M12345^WONG^CHI KEUNG\r\
OBX|1|NM|2093-3^Cholesterol^LN||6.2|mmol/L|<5.2|H|||F\r";

    #[test]
    fn any_line_ending_and_the_facts_the_gateway_needs() {
        for ending in ["\r", "\n", "\r\n"] {
            let text = ORU.replace('\r', ending);
            let f = split(&text);
            assert!(!f.batch);
            assert_eq!(f.messages.len(), 1);
            let m = f.messages[0].as_ref().unwrap();
            assert_eq!(m.msh.message_type(), "ORU^R01");
            assert_eq!(m.msh.control_id, "MSG0001");
            assert_eq!(m.msh.sending_facility, "KPH-LAB");
            assert_eq!(m.purpose(&["P".into()]), Ok(Purpose::Result));
            assert_eq!(m.text().matches('\r').count(), 5);
            let c = m.patient_candidates();
            assert_eq!(c.len(), 2);
            assert_eq!(c[0].id, "A123456(3)");
            assert_eq!((c[1].authority.as_str(), c[1].kind.as_str()), ("KPH", "MR"));
            let card = m.card();
            assert_eq!(card.name.as_deref(), Some("CHAN TAI MAN"));
            assert_eq!(card.birth_date.as_deref(), Some("1961-07-02"));
            assert_eq!(card.sex.as_deref(), Some("M"));
            let p = m.ordering_providers();
            assert_eq!(p.len(), 1, "OBR-16 and ORC-12 name the same doctor");
            assert_eq!(p[0].id, "M12345");
        }
    }

    #[test]
    fn refusals() {
        let msg = |s: &str| split(s).messages.remove(0);
        let m = msg(&ORU.replace("ORU^R01", "ORM^O01")).unwrap();
        assert_eq!(m.purpose(&["P".into()]), Err(UNSUPPORTED_TYPE));
        let m = msg(&ORU.replace("ORU^R01", "ORU^R30")).unwrap();
        assert_eq!(m.purpose(&["P".into()]), Err(UNSUPPORTED_EVENT));
        let m = msg(ORU).unwrap();
        assert_eq!(m.purpose(&["T".into()]), Err(UNSUPPORTED_PROCESSING));
        let m = msg(&ORU.replace("|P|2.5", "|P|3.0")).unwrap();
        assert_eq!(m.purpose(&["P".into()]), Err(UNSUPPORTED_VERSION));
        // A field separator that cannot be one: no message at all.
        assert!(split("MSHA^~\\&|x\r").messages.is_empty());
        assert_eq!(msg(&ORU.replace("|MSG0001|", "||")).unwrap_err().0, BAD_MSH);
        assert!(split("PID|1||A123456(3)\r").messages.is_empty());
    }

    #[test]
    fn broken_encoding_characters_are_repaired() {
        let f = split(&ORU.replace("^~\\&", "^~ &"));
        let m = f.messages[0].as_ref().unwrap();
        assert!(m.msh.repaired_encoding);
        assert_eq!(m.patient_candidates()[0].id, "A123456(3)");
    }

    #[test]
    fn charsets() {
        // Big5 for 陳大文, declared in MSH-18.
        let mut bytes =
            b"MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.5||||||BIG-5\rPID|1||A123456(3)||".to_vec();
        bytes.extend_from_slice(&[0xB3, 0xAF, 0xA4, 0x6A, 0xA4, 0xE5]);
        bytes.extend_from_slice(b"\r");
        let text = decode(&bytes);
        let m = split(&text).messages.remove(0).unwrap();
        assert_eq!(m.card().name.as_deref(), Some("陳大文"));
        // Latin-1 without a declaration falls back to Windows-1252.
        let text = decode(b"MSH|^~\\&|A|B|C|D|1||ADT^A08|1|P|2.5\rPID|1||X||M\xfcller\r");
        assert!(text.contains("Müller"));
        // UTF-8 with a BOM.
        let text = decode("\u{feff}MSH|^~\\&|A|B|C|D|1||ADT^A08|1|P|2.5\r".as_bytes());
        assert!(text.starts_with("MSH"));
    }

    #[test]
    fn batches_and_several_messages() {
        let batch = format!(
            "FHS|^~\\&|LIS\rBHS|^~\\&|LIS\r{ORU}{}BTS|2\rFTS|1\r",
            ORU.replace("MSG0001", "MSG0002")
        );
        let f = split(&batch);
        assert!(f.batch);
        assert_eq!(f.messages.len(), 2);
        let two = format!("{ORU}{}", ORU.replace("MSG0001", "MSG0003"));
        assert_eq!(split(&two).messages.len(), 2);
    }

    #[test]
    fn embedded_documents() {
        use base64::Engine;
        let pdf = b"%PDF-1.4 fake".to_vec();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&pdf);
        let mdm = format!(
            "MSH|^~\\&|EMR|KPH|||20260101||MDM^T02|9|P|2.5\rPID|1||A123456(3)\rTXA|1|DS|AP\r\
OBX|1|ED|PDF^Report||^application^pdf^Base64^{b64}||||||F\r"
        );
        let m = split(&mdm).messages.remove(0).unwrap();
        assert_eq!(m.purpose(&["P".into()]), Ok(Purpose::Document));
        let e = m.embedded_document().unwrap();
        assert_eq!(e.bytes, pdf);
        assert_eq!(e.media_type.as_deref(), Some("application/pdf"));
        let tx = "MSH|^~\\&|EMR|KPH|||20260101||MDM^T02|9|P|2.5\rPID|1||A123456(3)\r\
OBX|1|TX|||Discharge summary: stable.||||||F\rOBX|2|TX|||Follow up \\T\\ review.||||||F\r";
        let m = split(tx).messages.remove(0).unwrap();
        let e = m.embedded_document().unwrap();
        assert_eq!(
            String::from_utf8(e.bytes).unwrap(),
            "Discharge summary: stable.\nFollow up & review.\n"
        );
    }

    #[test]
    fn acknowledgements_answer_the_message() {
        let m = split(ORU).messages.remove(0).unwrap();
        let me = Responder {
            application: "MEDSHARE".into(),
            facility: "GW".into(),
        };
        let a = ack(&me, &m.msh, m.separators(), None, "A1");
        let f = split(&a);
        let parsed = f.messages[0].as_ref().unwrap();
        assert_eq!(parsed.msh.message_type(), "ACK^R01");
        assert!(a.contains("\rMSA|AA|MSG0001\r"), "{a}");
        assert_eq!(parsed.msh.receiving_facility, "KPH-LAB");
        let a = ack(&me, &m.msh, m.separators(), Some(&NO_PATIENT), "A2");
        assert!(
            a.contains("MSA|AE|MSG0001|no usable patient identifier"),
            "{a}"
        );
        assert!(
            a.contains("\rERR|||101^no usable patient identifier"),
            "{a}"
        );
        let b = batch_ack(&me, &[a.clone(), a]);
        assert!(b.starts_with("BHS|") && b.ends_with("BTS|2\r"));
    }
}
