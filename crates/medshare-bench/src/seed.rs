//! Seeding an alliance on a hub that runs in another process (`medshare_sandbox::World::build`
//! needs an in-process `TestHub`): the same sequence through the same public client functions,
//! giving a `World` whose `login` works as usual.

use anyhow::anyhow;
use medshare_client::admin;
use medshare_client::{Hub, enrol};
use medshare_crypto::passphrase::test_kdf_params;
use medshare_model::Handle;
use medshare_model::api::NewEnrolment;
use medshare_sandbox::{Cast, Credentials, Person, World, sandbox_passphrase, totp_secret_of};
use std::collections::BTreeMap;

fn enrolment(p: &Person) -> anyhow::Result<NewEnrolment> {
    Ok(NewEnrolment {
        handle: p.handle.parse::<Handle>().map_err(|e| anyhow!("{e}"))?,
        name: p.name.clone(),
        profession: p.profession,
        registration: p.registration.clone(),
        specialty: p.specialty.clone(),
        roles: p.roles.clone(),
    })
}

/// Enrol one person; returns the institution key fingerprint for a first administrator.
async fn enrol_person(
    world: &mut World,
    h: &Hub,
    p: &Person,
    code: &str,
) -> anyhow::Result<Option<String>> {
    let pass = sandbox_passphrase(&p.handle);
    let e = enrol::enrol(
        h,
        Some(world.root_public),
        code,
        &pass,
        Some(test_kdf_params()),
    )
    .await?;
    let totp_secret = e.totp_uri.as_deref().map(totp_secret_of).transpose()?;
    world.people.insert(
        p.handle.clone(),
        Credentials {
            practitioner_id: e.practitioner_id,
            institution_id: e.institution_id,
            handle: p.handle.clone(),
            passphrase: pass,
            totp_secret,
            key_fingerprint: e.key_fingerprint,
        },
    );
    Ok(e.institution_fingerprint)
}

/// Initialise the alliance on a fresh hub at `url` and enrol, certify and verify the cast.
pub async fn build_world(url: &str, bootstrap_token: &str, cast: &Cast) -> anyhow::Result<World> {
    let h = Hub::new(url, None)?;
    let root = admin::init_alliance(&h, bootstrap_token).await?;
    let root_public = root.root()?.public();
    let mut world = World {
        hub_url: url.to_string(),
        root,
        root_public,
        institutions: BTreeMap::new(),
        people: BTreeMap::new(),
    };
    for inst in &cast.institutions {
        let mut people = cast.people.iter().filter(|p| p.institution == inst.code);
        let first = people
            .next()
            .ok_or(anyhow!("institution {} has nobody", inst.code))?;
        let (id, code) =
            admin::add_institution(&h, &world.root, &inst.name, &inst.code, enrolment(first)?)
                .await?;
        world.institutions.insert(inst.code.clone(), id);
        let inst_fp = enrol_person(&mut world, &h, first, &code.code).await?;
        admin::certify_institution(&h, &world.root, id, inst_fp.as_deref()).await?;
        let admin_client = world.login(&first.handle).await?;
        for p in people {
            let code = admin_client.invite(enrolment(p)?).await?;
            enrol_person(&mut world, &h, p, &code.code).await?;
            let fp = world.people[&p.handle].key_fingerprint.clone();
            admin_client
                .certify(code.practitioner_id, Some(&fp))
                .await?;
        }
    }
    Ok(world)
}
