//! `medshare consult ...` (urgent consults) and `medshare oncall ...` (on-call lists). The
//! question is sealed here to everyone the consult may reach; the hub sees who asks whom, that
//! it is urgent and the acknowledgement window, never why.

use crate::commands::records::{PatientArg, who};
use crate::display::clean;
use crate::profile;
use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use medshare_client::Client;
use medshare_client::consults::{ConsultRequest, Recipient};
use medshare_model::consults::{ConsultState, ConsultView};
use medshare_model::records::PatientCard;
use medshare_model::{ConsultId, DocumentId, Handle};

/// Default acknowledgement window.
pub const DEFAULT_WITHIN: &str = "10m";

#[derive(Subcommand)]
pub enum ConsultCmd {
    /// Ask a colleague (`HANDLE`) or an on-call list (`oncall:NAME`, `oncall:CODE/NAME`).
    Request(RequestArgs),
    /// Consults you asked or were reached by, newest first.
    List(JsonFlag),
    /// One consult: the question (decrypted and checked), the chain and every step.
    Show(ShowArgs),
    /// Acknowledge a consult that reached you: it stops escalating.
    Ack(IdArg),
    /// Answer a consult you acknowledged, in a new room with the requester.
    Answer(AnswerArgs),
}

#[derive(Subcommand, Debug)]
pub enum OncallCmd {
    /// Set or replace one of your institution's on-call lists (administrators).
    Set(OncallSetArgs),
    /// An institution's on-call lists (yours by default).
    List(OncallListArgs),
}

#[derive(Subcommand, Debug)]
pub enum NotifyCmd {
    /// Your notification channels, with deliveries and failures.
    Channels(JsonFlag),
    /// Add a channel: `--kind webhook --url https://...` (a signing secret is made and shown
    /// once) or `--kind dingtalk --url ROBOT_WEBHOOK --secret SEC...`.
    Add(AddChannelArgs),
    /// Remove a channel.
    Remove(ChannelArg),
    /// Send a test notification ("You have an urgent consult in medshare" and a link).
    Test(ChannelArg),
}

#[derive(Args, Debug)]
pub struct AddChannelArgs {
    /// `webhook` or `dingtalk`.
    #[arg(long)]
    pub kind: String,
    #[arg(long)]
    pub url: String,
    /// DingTalk: the robot's signing secret; webhook: your own (default: made by the hub).
    #[arg(long)]
    pub secret: Option<String>,
}

#[derive(Args, Debug)]
pub struct ChannelArg {
    pub channel: medshare_model::consults::ChannelId,
}

#[derive(Args, Debug)]
pub struct JsonFlag {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct IdArg {
    pub consult: ConsultId,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    pub consult: ConsultId,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct AnswerArgs {
    pub consult: ConsultId,
    pub text: String,
}

#[derive(Args)]
pub struct RequestArgs {
    /// `HANDLE`, `oncall:NAME` (your institution) or `oncall:CODE/NAME`.
    #[arg(long)]
    pub to: String,
    #[command(flatten)]
    pub patient: PatientArg,
    /// The question (sealed: only the people it may reach can read it).
    #[arg(long)]
    pub question: String,
    /// Documents to attach (shared with everyone the consult may reach). Repeatable.
    #[arg(long = "doc")]
    pub docs: Vec<DocumentId>,
    /// Acknowledgement window before it escalates (e.g. 10m, 1h).
    #[arg(long, default_value = DEFAULT_WITHIN)]
    pub within: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct OncallSetArgs {
    /// The list's name, e.g. `cardiology` (a-z, 0-9, -).
    pub name: String,
    /// Who is reached when every member let their window pass.
    #[arg(long)]
    pub owner: Handle,
    /// Members in the order they are tried. Repeatable.
    #[arg(long = "member", required = true)]
    pub members: Vec<Handle>,
    /// Days the list is valid (1 to 90): clients refuse it afterwards, so set it again
    /// before then.
    #[arg(long = "valid-days", default_value_t = 14, value_parser = clap::value_parser!(u16).range(1..=90))]
    pub valid_days: u16,
}

#[derive(Args, Debug)]
pub struct OncallListArgs {
    /// Institution code (default: yours).
    #[arg(long)]
    pub institution: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// `10m`, `1h`, `2d` or plain seconds.
pub fn parse_within(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let bad = || anyhow!("the window must look like 90s, 10m, 1h or 2d");
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        Some('d') => (&s[..s.len() - 1], 86_400),
        _ => (s, 1),
    };
    let n: i64 = num.parse().map_err(|_| bad())?;
    if n <= 0 {
        anyhow::bail!("the window must be in the future");
    }
    n.checked_mul(mult).ok_or_else(bad)
}

pub async fn run(cmd: ConsultCmd) -> anyhow::Result<()> {
    let c = profile::session().await?;
    match cmd {
        ConsultCmd::Request(a) => {
            let to: Recipient = a.to.parse()?;
            let patient = c
                .ensure_patient(&a.patient.patient, &PatientCard::default())
                .await?;
            let view = c
                .request_consult(
                    &patient,
                    &ConsultRequest {
                        to,
                        question: a.question,
                        documents: a.docs,
                        ack_within_secs: parse_within(&a.within)?,
                        urgent: true,
                    },
                )
                .await?;
            if a.json {
                crate::say!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                crate::say!(
                    "Consult {} asked of {} ({} on the chain); acknowledge within {} s",
                    view.consult_id,
                    who(&c, view.chain[0]).await,
                    view.chain.len(),
                    view.ack_within_secs
                );
            }
        }
        ConsultCmd::List(a) => {
            let all = c.consults().await?;
            if a.json {
                crate::say!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(());
            }
            if all.is_empty() {
                crate::say!("No consults.");
            }
            crate::say!(
                "{:<36}  {:<12}  {:<28}  {:<28}  DUE",
                "CONSULT",
                "STATE",
                "FROM",
                "WITH"
            );
            for v in &all {
                crate::say!(
                    "{:<36}  {:<12}  {:<28}  {:<28}  {}",
                    v.consult_id,
                    v.state.as_str(),
                    who(&c, v.requester).await,
                    match v.current() {
                        Some(p) => who(&c, p).await,
                        None => "-".into(),
                    },
                    v.due_at.map(rfc3339).unwrap_or_else(|| "-".into())
                );
            }
        }
        ConsultCmd::Show(a) => {
            let o = c.open_consult(a.consult).await?;
            if a.json {
                crate::say!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "consult": o.view,
                        "question": o.question.as_str(),
                        "documents": o.documents,
                    }))?
                );
            } else {
                print_consult(&c, &o.view).await;
                crate::say!("Question: {}", clean(&o.question));
                for d in &o.documents {
                    crate::say!("Attached: {d} (`medshare get {d}`)");
                }
            }
        }
        ConsultCmd::Ack(a) => {
            let o = c.ack_consult(a.consult).await?;
            crate::say!(
                "Acknowledged consult {} from {}",
                o.view.consult_id,
                who(&c, o.view.requester).await
            );
            crate::say!("Question: {}", clean(&o.question));
        }
        ConsultCmd::Answer(a) => {
            let mut keys = crate::commands::rooms::load(&c)?;
            let room = c.answer_consult(&mut keys, a.consult, &a.text).await;
            // Keep the room state whatever happened: a created room must not be forgotten.
            crate::commands::rooms::save(&c, &keys)?;
            let room = room?;
            crate::commands::rooms::top_up(&c, &mut keys).await?;
            crate::commands::rooms::save(&c, &keys)?;
            crate::say!("Answered in room {room} (`medshare room history {room}`)");
        }
    }
    Ok(())
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn print_consult(c: &Client, v: &ConsultView) {
    crate::say!("Consult {}  {}", v.consult_id, v.state.as_str());
    crate::say!(
        "Asked by {} at {}",
        who(c, v.requester).await,
        rfc3339(v.created_at)
    );
    if v.state == ConsultState::Open
        && let Some(due) = v.due_at
    {
        crate::say!(
            "Waiting for {} until {}",
            match v.current() {
                Some(p) => who(c, p).await,
                None => "-".into(),
            },
            rfc3339(due)
        );
    }
    for s in &v.history {
        crate::say!(
            "  {}  {:<12}  {}",
            rfc3339(s.at),
            s.kind.as_str(),
            who(c, s.practitioner_id).await
        );
    }
    if let Some(r) = v.room_id {
        crate::say!("Answer in room {r} (`medshare room history {r}`)");
    }
}

/// A unix time as an RFC 3339 UTC date.
fn until(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

pub async fn oncall(cmd: OncallCmd) -> anyhow::Result<()> {
    let c = profile::session().await?;
    match cmd {
        OncallCmd::Set(a) => {
            let v = c
                .set_oncall_list_valid_for(
                    &a.name,
                    &a.owner,
                    &a.members,
                    i64::from(a.valid_days) * 24 * 3600,
                )
                .await
                .context("could not set the on-call list")?;
            crate::say!(
                "On-call list {} (version {}, signed by your institution): {} members, then {}; \
                 valid until {} (set it again before then)",
                v.list.name,
                v.list.version,
                v.list.members.len(),
                who(&c, v.list.owner).await,
                until(v.list.expires_at())
            );
        }
        OncallCmd::List(a) => {
            let lists = c.oncall_lists(a.institution.as_deref()).await?;
            if a.json {
                crate::say!("{}", serde_json::to_string_pretty(&lists)?);
                return Ok(());
            }
            if lists.verified.is_empty() && lists.unsigned.is_empty() {
                crate::say!("No on-call lists.");
            }
            for v in &lists.verified {
                let l = &v.list;
                let mut names = Vec::new();
                for m in &l.members {
                    names.push(who(&c, *m).await);
                }
                crate::say!(
                    "{:<20}  v{}  {}  -> owner {}  (valid until {})",
                    l.name,
                    l.version,
                    names.join(", "),
                    who(&c, l.owner).await,
                    until(l.expires_at())
                );
            }
            for v in &lists.expired {
                let name = &v.list.name;
                crate::say!(
                    "{name:<20}  EXPIRED on {}: unusable until an administrator sets it again \
                     (`medshare oncall set {name} ...`)",
                    until(v.list.expires_at())
                );
            }
            for name in &lists.unsigned {
                crate::say!(
                    "{name:<20}  UNSIGNED: unusable until an administrator sets it again \
                     (`medshare oncall set {name} ...`)"
                );
            }
        }
    }
    Ok(())
}

pub async fn notify(cmd: NotifyCmd) -> anyhow::Result<()> {
    let c = profile::session().await?;
    match cmd {
        NotifyCmd::Channels(a) => {
            let all = c.notify_channels().await?;
            if a.json {
                crate::say!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(());
            }
            if all.is_empty() {
                crate::say!("No notification channels: add one with `medshare notify add`.");
            }
            for ch in &all {
                crate::say!(
                    "{}  {:<9}  {}  delivered {}  pending {}  failed {}{}",
                    ch.channel_id,
                    ch.kind.as_str(),
                    clean(&ch.address),
                    ch.last_delivered_at
                        .map(rfc3339)
                        .unwrap_or_else(|| "never".into()),
                    ch.pending,
                    ch.failed,
                    ch.last_error
                        .as_deref()
                        .map(|e| format!("  last error: {}", clean(e)))
                        .unwrap_or_default()
                );
            }
        }
        NotifyCmd::Add(a) => {
            let kind = medshare_model::consults::ChannelKind::parse(&a.kind)
                .ok_or_else(|| anyhow!("--kind is webhook or dingtalk"))?;
            let made = c.add_notify_channel(kind, &a.url, a.secret).await?;
            crate::say!("Channel {} added", made.channel.channel_id);
            if let Some(s) = made.secret {
                crate::say!(
                    "Signing secret (shown once; the receiver checks X-Medshare-Signature with it): {s}"
                );
            }
        }
        NotifyCmd::Remove(a) => {
            c.remove_notify_channel(a.channel).await?;
            crate::say!("Channel {} removed", a.channel);
        }
        NotifyCmd::Test(a) => {
            c.test_notify_channel(a.channel).await?;
            crate::say!("Test notification queued: see `medshare notify channels` for the result");
        }
    }
    Ok(())
}
