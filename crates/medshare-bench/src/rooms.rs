//! Message fan-out in a case room (issue 13): one member sends, every other member's client
//! receives the live notice, fetches the MLS message and decrypts it; timed from the send to
//! each member holding the plaintext.
//!
//! The hub runs as its own process (SQLite and a folder); every member is a real client with its
//! own MLS state and its own event stream, all in this process (so the figure includes the
//! clients' own decryption on the same two cores, as a ward full of phones would not).

use crate::hub::HubProcess;
use crate::report::{Latency, Machine, Out};
use anyhow::Context;
use futures::StreamExt;
use medshare_client::rooms::{Content, RoomEvent};
use medshare_client::{Client, RoomKeys};
use medshare_model::api::EventKind;
use medshare_model::registration::{Profession, Role};
use medshare_sandbox::{Person, World, story_cast};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Members of the room (the sender included).
    #[arg(long, default_value_t = 50)]
    members: usize,
    /// Messages sent, one at a time.
    #[arg(long, default_value_t = 20)]
    messages: usize,
    /// 5 members, 3 messages: checks the benchmark itself.
    #[arg(long)]
    quick: bool,
    /// Print the summary on stderr and a JSON record on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Record {
    machine: Machine,
    members: usize,
    messages: usize,
    /// From the send to each other member holding the plaintext.
    delivery: Latency,
    /// From the send to the last member holding it.
    last_member: Latency,
    /// The send itself (seal + post).
    send: Latency,
    missed: usize,
}

type Arrivals = Arc<Mutex<HashMap<usize, Vec<Instant>>>>;

/// The story's clinicians plus enough fictional ones, spread over the three institutions.
fn cast(members: usize) -> (medshare_sandbox::Cast, Vec<String>) {
    let mut cast = story_cast();
    let mut handles: Vec<String> = cast
        .people
        .iter()
        .filter(|p| p.roles.contains(&Role::Clinician))
        .map(|p| p.handle.clone())
        .collect();
    let codes: Vec<String> = cast.institutions.iter().map(|i| i.code.clone()).collect();
    let mut i = 0;
    while handles.len() < members {
        let handle = format!("dr.bench{i}");
        cast.people.push(Person {
            handle: handle.clone(),
            name: format!("BENCH Member {i}"),
            profession: Profession::Doctor,
            registration: format!("M{}", 70_000 + i),
            specialty: None,
            roles: vec![Role::Clinician],
            institution: codes[i % codes.len()].clone(),
        });
        handles.push(handle);
        i += 1;
    }
    handles.truncate(members);
    (cast, handles)
}

pub async fn run(mut a: Args) -> anyhow::Result<()> {
    if a.quick {
        a.members = a.members.min(5);
        a.messages = a.messages.min(3);
    }
    anyhow::ensure!(a.members >= 2, "a room needs at least two members");
    let out = Out::new(a.json);
    let machine = Machine::describe();
    machine.announce(out);
    let work = tempfile::tempdir()?;
    let dir = work.path().join("hub");
    std::fs::create_dir_all(&dir)?;
    // The sandbox hub's own configuration (`HubProcess::start`).
    let mut hub = HubProcess::start(&dir).await?;
    let token = std::fs::read_to_string(dir.join("bootstrap-token"))?;
    let (cast, handles) = cast(a.members);
    let set_up = Instant::now();
    let world = World::build_at(&hub.url, token.trim(), &cast)
        .await
        .context("enrol the cast")?;
    let mut members: Vec<(Client, RoomKeys)> = Vec::new();
    for h in &handles {
        let client = world.login_at(&hub.url, h).await.context("log in")?;
        let mut keys = RoomKeys::new();
        client
            .publish_key_packages(&mut keys, 2)
            .await
            .context("publish key packages")?;
        members.push((client, keys));
    }
    let ids: Vec<_> = handles.iter().map(|h| world.id(h)).collect();
    let (sender, mut sender_keys) = members.remove(0);
    let room = sender
        .create_room(&mut sender_keys, "bench room", None)
        .await
        .context("create the room")?;
    sender
        .invite_to_room(&mut sender_keys, room, &ids[1..])
        .await
        .context("invite the members")?;
    for (client, keys) in members.iter_mut() {
        client.sync_room(keys, room).await.context("join")?;
    }
    out.say(format!(
        "{} members in one room across {} institutions, set up in {:.0} s",
        a.members,
        cast.institutions.len(),
        set_up.elapsed().as_secs_f64()
    ));

    // Every other member follows its stream; a notice about the room makes it fetch and decrypt.
    let arrivals: Arrivals = Arc::default();
    let mut tasks = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<anyhow::Result<()>>(a.members);
    for (client, mut keys) in members {
        let (arrivals, ready) = (arrivals.clone(), ready_tx.clone());
        tasks.push(tokio::spawn(async move {
            let since = client
                .inbox(0)
                .await
                .ok()
                .and_then(|e| e.last().map(|e| e.seq));
            let stream = match client.follow(since.unwrap_or(0)).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready.send(Err(e.into())).await;
                    return;
                }
            };
            let _ = ready.send(Ok(())).await;
            let mut stream = Box::pin(stream);
            while let Some(Ok(e)) = stream.next().await {
                if !matches!(e.event, EventKind::RoomActivity { room_id, .. } if room_id == room) {
                    continue;
                }
                let Ok(new) = client.sync_room(&mut keys, room).await else {
                    continue;
                };
                let now = Instant::now();
                for m in new {
                    if let RoomEvent::Message {
                        content: Content::Text { text, .. },
                    } = &m.event
                        && let Some(k) = text
                            .strip_prefix("bench message ")
                            .and_then(|k| k.parse().ok())
                    {
                        arrivals.lock().unwrap().entry(k).or_default().push(now);
                    }
                }
            }
        }));
    }
    drop(ready_tx);
    for _ in 1..a.members {
        ready_rx
            .recv()
            .await
            .ok_or_else(|| anyhow::anyhow!("a member's task ended"))??;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let others = a.members - 1;
    let (mut delivery, mut last, mut sends) = (Vec::new(), Vec::new(), Vec::new());
    let mut missed = 0;
    for k in 0..a.messages {
        let t0 = Instant::now();
        sender
            .send_text(&mut sender_keys, room, &format!("bench message {k}"), None)
            .await?;
        sends.push(t0.elapsed());
        let deadline = Instant::now() + Duration::from_secs(30);
        let got = loop {
            let n = arrivals.lock().unwrap().get(&k).map_or(0, Vec::len);
            if n >= others || Instant::now() > deadline {
                break n;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        missed += others - got.min(others);
        if let Some(times) = arrivals.lock().unwrap().remove(&k) {
            delivery.extend(times.iter().map(|t| t.duration_since(t0)));
            if let Some(max) = times.iter().max() {
                last.push(max.duration_since(t0));
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for t in &tasks {
        t.abort();
    }
    let (delivery, last_member, send) = (
        Latency::of(&delivery),
        Latency::of(&last),
        Latency::of(&sends),
    );
    out.say(format!("delivery, every member: {}", delivery.line()));
    out.say(format!("delivery, last member:  {}", last_member.line()));
    out.say(format!("send (seal + post):     {}", send.line()));
    if missed > 0 {
        out.say(format!("{missed} deliveries did not arrive within 30 s"));
    }
    hub.stop().await?;
    out.record(&Record {
        machine,
        members: a.members,
        messages: a.messages,
        delivery,
        last_member,
        send,
        missed,
    })?;
    anyhow::ensure!(missed == 0, "{missed} deliveries were lost");
    Ok(())
}
