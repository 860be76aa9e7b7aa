//! The access policy, in one place, as pure functions of facts: who is asking (certified or
//! not, roles, institution), what holds for the patient (consents, care relationship, an open
//! break-glass window), for the document (uploader, a live grant) and the target of an
//! administrative act. Each returns the basis the audit log records when it allows, or the
//! refusal code it records when it does not. Services gather the facts (`*_facts`, the only
//! functions here that read the store) and ask; they decide nothing themselves.
//!
//! Cryptography bounds who could ever read a record; this decides who may read it now: a
//! certified clinician may read a document if they uploaded it, hold an unexpired and
//! unrevoked grant on it, or belong to an institution holding the patient's consent (for that
//! institution or the whole alliance) and have a declared care relationship or an open
//! break-glass window for the patient. Administrators and privacy officers never read records.

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;
use medshare_model::api::ConsentHolder;
use medshare_model::registration::Role;
use medshare_model::{InstitutionId, PatientId, PractitionerId};
use medshare_store::{DocumentRow, GrantRow, PractitionerRow, PractitionerStatus};
use std::sync::Arc;

/// Why access was allowed or denied (recorded in the access log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    Uploader,
    Grant,
    Care,
    BreakGlass,
    /// Denied: the practitioner is not certified.
    NotCertified,
    /// Denied: nothing in the policy allows it.
    NoBasis,
}

impl Basis {
    pub fn allowed(self) -> bool {
        matches!(
            self,
            Self::Uploader | Self::Grant | Self::Care | Self::BreakGlass
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploader => "uploader",
            Self::Grant => "grant",
            Self::Care => "care-relationship",
            Self::BreakGlass => "break-glass",
            Self::NotCertified => "not-certified",
            Self::NoBasis => "no-basis",
        }
    }
}

/// A refusal: the code the audit log records.
pub type Refusal = &'static str;

/// Someone the policy judges: the caller, or the target of a share or an administrative act.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Who {
    pub id: PractitionerId,
    pub institution: InstitutionId,
    /// Certified by their institution (keys signed, not removed).
    pub certified: bool,
    pub roles: Vec<Role>,
    /// A service identity (an institution gateway), not a person: it files records and reads
    /// what they allow, and never takes a person's decisions (consent, care, break-glass).
    pub service: bool,
}

impl Who {
    fn has(&self, r: Role) -> bool {
        self.roles.contains(&r)
    }
    fn clinician(&self) -> bool {
        self.certified && self.has(Role::Clinician)
    }
}

impl From<&PractitionerRow> for Who {
    fn from(p: &PractitionerRow) -> Self {
        Self {
            id: p.id,
            institution: p.institution_id,
            certified: p.status == PractitionerStatus::Certified && p.cert.is_some(),
            roles: p.details.roles.clone(),
            service: p.details.profession.is_service(),
        }
    }
}

impl From<&Caller> for Who {
    fn from(c: &Caller) -> Self {
        Self::from(&c.practitioner)
    }
}

/// What holds between one practitioner and one patient.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatientFacts {
    pub consents: Vec<ConsentHolder>,
    /// A declared care relationship.
    pub care: bool,
    /// An open break-glass window.
    pub break_glass: bool,
}

impl PatientFacts {
    /// The consent reaches `institution` (itself, or through the whole alliance).
    fn reaches(&self, institution: InstitutionId) -> bool {
        self.consents.iter().any(|c| match c {
            ConsentHolder::Alliance => true,
            ConsentHolder::Institution { id } => *id == institution,
        })
    }

    /// `institution` itself holds the consent (not through the alliance).
    fn names(&self, institution: InstitutionId) -> bool {
        self.consents
            .iter()
            .any(|c| matches!(c, ConsentHolder::Institution { id } if *id == institution))
    }
}

/// What holds for one document and the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentFacts {
    pub uploader: PractitionerId,
    /// The caller holds an unexpired, unrevoked grant.
    pub grant_live: bool,
}

impl DocumentFacts {
    pub fn of(doc: &DocumentRow, grant: Option<&GrantRow>, now: i64) -> Self {
        Self {
            uploader: doc.uploader,
            grant_live: grant.is_some_and(|g| g.is_live(now)),
        }
    }
}

// --- Records -------------------------------------------------------------------------------

/// Patient-wide access: consent reaching the caller's institution plus care or break-glass.
pub fn patient_access(who: &Who, p: &PatientFacts) -> Basis {
    if !who.certified {
        return Basis::NotCertified;
    }
    if !who.has(Role::Clinician) || !p.reaches(who.institution) {
        return Basis::NoBasis;
    }
    if p.care {
        Basis::Care
    } else if p.break_glass {
        Basis::BreakGlass
    } else {
        Basis::NoBasis
    }
}

/// Access to one document, given the caller's patient-wide basis.
pub fn document_access(who: &Who, d: &DocumentFacts, patient_basis: Basis) -> Basis {
    if !who.certified {
        return Basis::NotCertified;
    }
    if !who.has(Role::Clinician) {
        return Basis::NoBasis;
    }
    if d.uploader == who.id {
        return Basis::Uploader;
    }
    if d.grant_live {
        return Basis::Grant;
    }
    patient_basis
}

/// Who may share or revoke a document: its uploader, or a clinician with patient-wide access.
pub fn manage_document(who: &Who, d: &DocumentFacts, patient_basis: Basis) -> Basis {
    if !who.clinician() {
        return if who.certified {
            Basis::NoBasis
        } else {
            Basis::NotCertified
        };
    }
    if d.uploader == who.id {
        Basis::Uploader
    } else {
        patient_basis
    }
}

/// Who may receive a share: a certified clinician (of any institution of the alliance).
pub fn receive_share(grantee: &Who) -> Result<(), Refusal> {
    if grantee.clinician() {
        Ok(())
    } else {
        Err("grantee-not-a-certified-clinician")
    }
}

/// Clinical work that reads no one's records yet (staging and committing an upload, registering
/// a patient, searching): a certified clinician.
pub fn clinical(who: &Who) -> Result<(), Refusal> {
    if !who.certified {
        Err("not-certified")
    } else if !who.has(Role::Clinician) {
        Err("not-a-certified-clinician")
    } else {
        Ok(())
    }
}

/// Finding a patient by reference: clinicians, and privacy officers (for access histories;
/// they get no keys).
pub fn lookup_patient(who: &Who) -> Result<(), Refusal> {
    if !who.certified {
        Err("not-certified")
    } else if who.has(Role::Clinician) || who.has(Role::PrivacyOfficer) {
        Ok(())
    } else {
        Err("not-a-clinician-or-privacy-officer")
    }
}

// --- Consent, care, break-glass ------------------------------------------------------------

/// Who may change a patient's consent (and so sign the patient key's next epoch): a clinician
/// with a declared care relationship (never break-glass) at an institution that itself holds
/// the consent (alliance-wide consent lets an institution read, not decide).
pub fn consent_change(who: &Who, p: &PatientFacts) -> Result<(), Refusal> {
    if !who.certified {
        return Err("not-certified");
    }
    if !who.has(Role::Clinician) {
        return Err("not-a-clinician");
    }
    if who.service {
        return Err("service-identity");
    }
    if !p.names(who.institution) {
        return Err("institution-not-a-consent-holder");
    }
    match patient_access(who, p) {
        Basis::Care => Ok(()),
        Basis::BreakGlass => Err("break-glass-cannot-change-consent"),
        _ => Err("no-care-relationship"),
    }
}

/// Who may register or clear where a patient is told of reads of their records: a privacy
/// officer of an institution that itself holds the consent, or a clinician who may change it.
/// Alliance-wide consent does not let every privacy officer of the alliance redirect notices.
pub fn contact_change(who: &Who, p: &PatientFacts) -> Result<&'static str, Refusal> {
    if !who.certified {
        return Err("not-certified");
    }
    if !p.names(who.institution) {
        return Err("institution-not-a-consent-holder");
    }
    if who.has(Role::PrivacyOfficer) {
        return Ok("privacy-officer");
    }
    consent_change(who, p).map(|()| "care-relationship")
}

/// Declaring a care relationship for `target` (oneself or a colleague): a clinician whose
/// institution the consent reaches, for a certified clinician of the same institution.
pub fn declare_care(who: &Who, p: &PatientFacts, target: &Who) -> Result<(), Refusal> {
    clinical(who)?;
    if who.service {
        return Err("service-identity");
    }
    if !p.reaches(who.institution) {
        return Err("no-consent");
    }
    if target.institution != who.institution || !target.clinician() {
        return Err("care-target-not-a-clinician-of-this-institution");
    }
    Ok(())
}

/// Opening a break-glass window: a clinician whose institution the consent reaches.
pub fn break_glass(who: &Who, p: &PatientFacts) -> Result<(), Refusal> {
    clinical(who)?;
    if who.service {
        return Err("service-identity");
    }
    if p.reaches(who.institution) {
        Ok(())
    } else {
        Err("no-consent")
    }
}

// --- Administration and audit --------------------------------------------------------------

/// Administering an institution (enrolment codes, certification, removal): its own certified
/// administrators only. An administrator cannot remove themselves.
pub fn administer(who: &Who, institution: InstitutionId) -> Result<(), Refusal> {
    if !who.certified {
        Err("not-certified")
    } else if !who.has(Role::InstitutionAdmin) {
        Err("not-an-administrator")
    } else if who.institution != institution {
        Err("administrator-of-another-institution")
    } else {
        Ok(())
    }
}

/// Removing a member: administering their institution, and not oneself.
pub fn remove_member(who: &Who, member: &Who) -> Result<(), Refusal> {
    administer(who, member.institution)?;
    if member.id == who.id {
        Err("administrator-removes-themselves")
    } else {
        Ok(())
    }
}

/// Rebuilding the log (scoped entries, heads, proofs): privacy officers and administrators.
pub fn audit_rebuild(who: &Who) -> Result<(), Refusal> {
    if who.certified && (who.has(Role::PrivacyOfficer) || who.has(Role::InstitutionAdmin)) {
        Ok(())
    } else {
        Err("not-an-auditor")
    }
}

/// Reviewing the log, exporting a patient's access history: privacy officers.
pub fn audit_review(who: &Who) -> Result<(), Refusal> {
    if who.certified && who.has(Role::PrivacyOfficer) {
        Ok(())
    } else {
        Err("not-a-privacy-officer")
    }
}

/// Reading a break-glass reason: privacy officers of the institution whose member broke the glass.
pub fn break_glass_review(who: &Who, by: &Who) -> Result<&'static str, Refusal> {
    audit_review(who)?;
    if who.institution == by.institution {
        Ok("privacy-officer")
    } else {
        Err("other-institution")
    }
}

// --- Case rooms ----------------------------------------------------------------------------

/// What holds between the caller and one room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomFacts {
    /// The caller opened the room (only the owner invites and removes).
    pub owner: bool,
    /// The caller is a member now.
    pub member: bool,
    /// The caller was a member and was removed (may still read up to the removal).
    pub former: bool,
}

/// Taking part in rooms at all (opening one, publishing key packages, being invited): a
/// certified clinician who is a person, not a service identity.
pub fn room_participant(who: &Who) -> Result<(), Refusal> {
    if who.service {
        Err("service-identity")
    } else {
        clinical(who)
    }
}

/// Reading a room's log: its members, and former members up to their removal.
pub fn room_read(who: &Who, r: &RoomFacts) -> Result<(), Refusal> {
    if !who.certified {
        Err("not-certified")
    } else if r.member || r.former {
        Ok(())
    } else {
        Err("not-a-room-member")
    }
}

/// Posting a message: a current member who is still a certified clinician.
pub fn room_post(who: &Who, r: &RoomFacts) -> Result<(), Refusal> {
    room_participant(who)?;
    if r.member {
        Ok(())
    } else {
        Err("not-a-room-member")
    }
}

/// Committing: any current member may renew their own keys; only the owner changes who is in.
pub fn room_commit(who: &Who, r: &RoomFacts, changes_members: bool) -> Result<(), Refusal> {
    room_post(who, r)?;
    if changes_members && !r.owner {
        Err("not-the-room-owner")
    } else {
        Ok(())
    }
}

/// Being added to a room: a certified clinician, any institution of the alliance.
pub fn room_invitee(target: &Who) -> Result<(), Refusal> {
    room_participant(target).map_err(|_| "invitee-not-a-certified-clinician")
}

// --- Urgent consults ------------------------------------------------------------------------

/// Asking a consult, or being on its chain (a named colleague, an on-call list's members and
/// owner): a certified clinician who is a person.
pub fn consult_participant(who: &Who) -> Result<(), Refusal> {
    room_participant(who)
}

/// Asking a consult about a patient: a consult participant who may act for the patient by the
/// rule that governs reading their records ([`patient_access`]: consent reaching the caller's
/// institution and a care relationship or an open break-glass window). The basis is what the
/// audit log records.
pub fn consult_request(who: &Who, p: &PatientFacts) -> Result<Basis, Refusal> {
    consult_participant(who)?;
    let basis = patient_access(who, p);
    if basis.allowed() {
        Ok(basis)
    } else {
        Err("no-basis-for-patient")
    }
}

/// Seeing a consult: its requester, and the recipients it has reached.
pub fn consult_read(who: &Who, requester: bool, reached: bool) -> Result<(), Refusal> {
    if !who.certified {
        Err("not-certified")
    } else if requester || reached {
        Ok(())
    } else {
        Err("not-a-consult-party")
    }
}

/// Acknowledging a consult: a recipient it has reached (not the requester, unless they are
/// on the chain themselves).
pub fn consult_ack(who: &Who, reached: bool) -> Result<(), Refusal> {
    consult_participant(who)?;
    if reached {
        Ok(())
    } else {
        Err("not-a-consult-recipient")
    }
}

/// Setting an institution's on-call lists: its own certified administrators.
pub fn oncall_admin(who: &Who, institution: InstitutionId) -> Result<(), Refusal> {
    administer(who, institution)
}

// --- Facts (the only part that reads the store) --------------------------------------------

/// The facts between `who` and a patient.
///
/// Through the policy cache ([`crate::policy_cache`]): unchanged facts cost no database read;
/// an open break-glass window is read again on every use.
pub async fn patient_facts(
    state: &AppState,
    who: &Who,
    patient: PatientId,
) -> ApiResult<PatientFacts> {
    let cache = &state.policy_cache;
    if let Some(mut facts) = cache.facts(patient, who.id) {
        if facts.break_glass {
            // Judged by the clock now: the window may have closed since it was read.
            facts.break_glass = state
                .store
                .break_glass_active(patient, who.id, state.now())
                .await?;
        }
        return Ok(facts);
    }
    let ticket = cache.ticket(patient);
    let facts = PatientFacts {
        consents: state.store.consents(patient).await?,
        care: state.store.has_care(patient, who.id).await?,
        break_glass: state
            .store
            .break_glass_active(patient, who.id, state.now())
            .await?,
    };
    cache.put_facts(ticket, patient, who.id, facts.clone());
    Ok(facts)
}

/// The grants `grantee` holds on documents of `patient` (every row: judge liveness with
/// [`GrantRow::is_live`] at use), through the policy cache.
pub async fn grants_on_patient(
    state: &AppState,
    patient: PatientId,
    grantee: PractitionerId,
) -> ApiResult<Arc<Vec<GrantRow>>> {
    let cache = &state.policy_cache;
    if let Some(grants) = cache.grants(patient, grantee) {
        return Ok(grants);
    }
    let ticket = cache.ticket(patient);
    let grants = Arc::new(state.store.grants_on_patient(patient, grantee).await?);
    cache.put_grants(ticket, patient, grantee, grants.clone());
    Ok(grants)
}

/// The grant `grantee` holds on `doc`, if any (revoked or expired rows included), read with
/// the rest of their grants on the document's patient ([`grants_on_patient`]).
pub async fn grant(
    state: &AppState,
    doc: &DocumentRow,
    grantee: PractitionerId,
) -> ApiResult<Option<GrantRow>> {
    Ok(grants_on_patient(state, doc.patient_id, grantee)
        .await?
        .iter()
        .find(|g| g.document_id == doc.id)
        .cloned())
}

/// [`patient_access`] with the facts read from the store.
pub async fn patient_basis(
    state: &AppState,
    caller: &Caller,
    patient: PatientId,
) -> ApiResult<Basis> {
    let who = Who::from(caller);
    Ok(patient_access(
        &who,
        &patient_facts(state, &who, patient).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    fn who(inst: InstitutionId, certified: bool, roles: &[Role]) -> Who {
        Who {
            id: PractitionerId::new(),
            institution: inst,
            certified,
            roles: roles.to_vec(),
            service: false,
        }
    }

    /// Rooms: who may read, post, commit and be invited, cell by cell.
    #[test]
    fn room_matrix() {
        let a = InstitutionId::new();
        let clinician = who(a, true, &[Clinician]);
        let uncertified = who(a, false, &[Clinician]);
        let admin = who(a, true, &[InstitutionAdmin]);
        let gateway = Who {
            service: true,
            ..who(a, true, &[Clinician])
        };
        let owner = RoomFacts {
            owner: true,
            member: true,
            former: false,
        };
        let member = RoomFacts {
            owner: false,
            member: true,
            former: false,
        };
        let former = RoomFacts {
            owner: false,
            member: false,
            former: true,
        };
        let outsider = RoomFacts {
            owner: false,
            member: false,
            former: false,
        };
        let mut failures = Vec::new();
        let mut cell = |name: &str, got: Result<(), Refusal>, want: Result<(), Refusal>| {
            if got != want {
                failures.push(format!("{name}: got {got:?}, want {want:?}"));
            }
        };
        cell(
            "participant clinician",
            room_participant(&clinician),
            Ok(()),
        );
        cell(
            "participant uncertified",
            room_participant(&uncertified),
            Err("not-certified"),
        );
        cell(
            "participant admin",
            room_participant(&admin),
            Err("not-a-certified-clinician"),
        );
        cell(
            "participant gateway",
            room_participant(&gateway),
            Err("service-identity"),
        );
        cell(
            "invitee admin",
            room_invitee(&admin),
            Err("invitee-not-a-certified-clinician"),
        );
        cell(
            "invitee gateway",
            room_invitee(&gateway),
            Err("invitee-not-a-certified-clinician"),
        );
        cell("invitee clinician", room_invitee(&clinician), Ok(()));
        cell("read member", room_read(&clinician, &member), Ok(()));
        cell("read former", room_read(&clinician, &former), Ok(()));
        cell(
            "read outsider",
            room_read(&clinician, &outsider),
            Err("not-a-room-member"),
        );
        cell(
            "read uncertified member",
            room_read(&uncertified, &member),
            Err("not-certified"),
        );
        cell("post member", room_post(&clinician, &member), Ok(()));
        cell(
            "post former",
            room_post(&clinician, &former),
            Err("not-a-room-member"),
        );
        cell(
            "post outsider",
            room_post(&clinician, &outsider),
            Err("not-a-room-member"),
        );
        cell(
            "post uncertified",
            room_post(&uncertified, &member),
            Err("not-certified"),
        );
        cell(
            "commit owner adds",
            room_commit(&clinician, &owner, true),
            Ok(()),
        );
        cell(
            "commit member adds",
            room_commit(&clinician, &member, true),
            Err("not-the-room-owner"),
        );
        cell(
            "commit member renews keys",
            room_commit(&clinician, &member, false),
            Ok(()),
        );
        cell(
            "commit former renews",
            room_commit(&clinician, &former, false),
            Err("not-a-room-member"),
        );
        cell(
            "commit outsider",
            room_commit(&clinician, &outsider, true),
            Err("not-a-room-member"),
        );
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// A service identity (an institution gateway) files and reads; it never takes a
    /// person's decisions, even where a clinician of its institution could.
    #[test]
    fn a_service_never_takes_a_persons_decisions() {
        let a = InstitutionId::new();
        let gw = Who {
            service: true,
            ..who(a, true, &[Clinician])
        };
        let person = who(a, true, &[Clinician]);
        let f = PatientFacts {
            consents: vec![ConsentHolder::Institution { id: a }],
            care: true,
            break_glass: false,
        };
        assert_eq!(patient_access(&gw, &f), Basis::Care);
        assert_eq!(clinical(&gw), Ok(()));
        for (what, got) in [
            ("consent", consent_change(&gw, &f)),
            ("contact", contact_change(&gw, &f).map(|_| ())),
            ("care", declare_care(&gw, &f, &person)),
            ("break-glass", break_glass(&gw, &f)),
        ] {
            assert_eq!(got, Err("service-identity"), "{what}");
        }
        // A person may declare care for the gateway (so it may read a patient's records).
        assert_eq!(declare_care(&person, &f, &gw), Ok(()));
        assert_eq!(consent_change(&person, &f), Ok(()));
    }

    /// The role x state matrix of patient-wide access, cell by cell; every failing cell is
    /// reported, not only the first.
    #[test]
    fn patient_access_matrix() {
        let (a, b) = (InstitutionId::new(), InstitutionId::new());
        let consents = [
            ("own", vec![ConsentHolder::Institution { id: a }]),
            ("alliance", vec![ConsentHolder::Alliance]),
            ("other", vec![ConsentHolder::Institution { id: b }]),
            ("none", vec![]),
        ];
        let people = [
            ("clinician", who(a, true, &[Clinician])),
            ("uncertified clinician", who(a, false, &[Clinician])),
            ("admin", who(a, true, &[InstitutionAdmin])),
            ("privacy officer", who(a, true, &[PrivacyOfficer])),
        ];
        let mut failures = Vec::new();
        for (pname, p) in &people {
            for (cname, c) in &consents {
                for (care, bg) in [(false, false), (true, false), (false, true), (true, true)] {
                    let facts = PatientFacts {
                        consents: c.clone(),
                        care,
                        break_glass: bg,
                    };
                    let expected = match (*pname, *cname) {
                        ("uncertified clinician", _) => Basis::NotCertified,
                        ("clinician", "own" | "alliance") if care => Basis::Care,
                        ("clinician", "own" | "alliance") if bg => Basis::BreakGlass,
                        _ => Basis::NoBasis,
                    };
                    let got = patient_access(p, &facts);
                    if got != expected {
                        failures.push(format!(
                            "{pname} / consent {cname} / care {care} / break-glass {bg}: {got:?}, expected {expected:?}"
                        ));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Who may ask a consult about a patient, cell by cell: exactly those with patient-wide
    /// access, and never a service identity.
    #[test]
    fn consult_request_matrix() {
        let (a, b) = (InstitutionId::new(), InstitutionId::new());
        let people = [
            ("clinician", who(a, true, &[Clinician])),
            ("uncertified clinician", who(a, false, &[Clinician])),
            ("admin", who(a, true, &[InstitutionAdmin])),
            (
                "gateway",
                Who {
                    service: true,
                    ..who(a, true, &[Clinician])
                },
            ),
        ];
        let consents = [
            ("own", vec![ConsentHolder::Institution { id: a }]),
            ("alliance", vec![ConsentHolder::Alliance]),
            ("other", vec![ConsentHolder::Institution { id: b }]),
            ("none", vec![]),
        ];
        let mut failures = Vec::new();
        for (pname, p) in &people {
            for (cname, c) in &consents {
                for (care, bg) in [(false, false), (true, false), (false, true)] {
                    let facts = PatientFacts {
                        consents: c.clone(),
                        care,
                        break_glass: bg,
                    };
                    let expected = match (*pname, *cname) {
                        ("clinician", "own" | "alliance") if care => Ok(Basis::Care),
                        ("clinician", "own" | "alliance") if bg => Ok(Basis::BreakGlass),
                        ("clinician", _) => Err("no-basis-for-patient"),
                        _ => Err("refused"),
                    };
                    let got = consult_request(p, &facts);
                    let same = match (&got, &expected) {
                        (Ok(x), Ok(y)) => x == y,
                        (Err(x), Err("refused")) => *x != "no-basis-for-patient",
                        (Err(x), Err(y)) => x == y,
                        _ => false,
                    };
                    if !same {
                        failures.push(format!(
                            "{pname} / consent {cname} / care {care} / break-glass {bg}: {got:?}, expected {expected:?}"
                        ));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn document_access_and_management() {
        let a = InstitutionId::new();
        let me = who(a, true, &[Clinician]);
        let other = PractitionerId::new();
        let cases = [
            // (uploader is me, live grant, patient basis) -> (read, manage)
            (
                true,
                false,
                Basis::NoBasis,
                Basis::Uploader,
                Basis::Uploader,
            ),
            (false, true, Basis::NoBasis, Basis::Grant, Basis::NoBasis),
            (false, false, Basis::Care, Basis::Care, Basis::Care),
            (
                false,
                false,
                Basis::BreakGlass,
                Basis::BreakGlass,
                Basis::BreakGlass,
            ),
            (false, false, Basis::NoBasis, Basis::NoBasis, Basis::NoBasis),
        ];
        let mut failures = Vec::new();
        for (mine, grant, pb, read, manage) in cases {
            let d = DocumentFacts {
                uploader: if mine { me.id } else { other },
                grant_live: grant,
            };
            let (r, m) = (document_access(&me, &d, pb), manage_document(&me, &d, pb));
            if (r, m) != (read, manage) {
                failures.push(format!("{mine} {grant} {pb:?}: ({r:?}, {m:?})"));
            }
        }
        // Non-clinicians read nothing, whatever they hold.
        let admin = who(a, true, &[InstitutionAdmin]);
        let d = DocumentFacts {
            uploader: admin.id,
            grant_live: true,
        };
        if document_access(&admin, &d, Basis::Care) != Basis::NoBasis {
            failures.push("an administrator reads a record".into());
        }
        let uncertified = who(a, false, &[Clinician]);
        if document_access(&uncertified, &d, Basis::Care) != Basis::NotCertified {
            failures.push("an uncertified clinician reads a record".into());
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn consent_and_contact_changes() {
        let (a, b) = (InstitutionId::new(), InstitutionId::new());
        let clin = who(a, true, &[Clinician]);
        let po = who(a, true, &[PrivacyOfficer]);
        let f = |consents: Vec<ConsentHolder>, care: bool, bg: bool| PatientFacts {
            consents,
            care,
            break_glass: bg,
        };
        let own = vec![ConsentHolder::Institution { id: a }];
        let alliance = vec![
            ConsentHolder::Institution { id: b },
            ConsentHolder::Alliance,
        ];
        type Case = (&'static str, Result<(), Refusal>, Result<(), Refusal>);
        let table: Vec<Case> = vec![
            (
                "care at a holder",
                consent_change(&clin, &f(own.clone(), true, false)),
                Ok(()),
            ),
            (
                "break-glass at a holder",
                consent_change(&clin, &f(own.clone(), false, true)),
                Err("break-glass-cannot-change-consent"),
            ),
            (
                "care through alliance consent",
                consent_change(&clin, &f(alliance.clone(), true, false)),
                Err("institution-not-a-consent-holder"),
            ),
            (
                "no care",
                consent_change(&clin, &f(own.clone(), false, false)),
                Err("no-care-relationship"),
            ),
            (
                "privacy officer sets a contact",
                contact_change(&po, &f(own.clone(), false, false)).map(|_| ()),
                Ok(()),
            ),
            (
                "privacy officer through alliance consent",
                contact_change(&po, &f(alliance.clone(), false, false)).map(|_| ()),
                Err("institution-not-a-consent-holder"),
            ),
            (
                "clinician under break-glass sets a contact",
                contact_change(&clin, &f(own.clone(), false, true)).map(|_| ()),
                Err("break-glass-cannot-change-consent"),
            ),
        ];
        let failures: Vec<String> = table
            .into_iter()
            .filter(|(_, got, want)| got != want)
            .map(|(what, got, want)| format!("{what}: {got:?}, expected {want:?}"))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn care_break_glass_administration_and_audit() {
        let (a, b) = (InstitutionId::new(), InstitutionId::new());
        let clin = who(a, true, &[Clinician]);
        let colleague = who(a, true, &[Clinician]);
        let foreign = who(b, true, &[Clinician]);
        let admin = who(a, true, &[InstitutionAdmin]);
        let admin_b = who(b, true, &[InstitutionAdmin]);
        let po = who(a, true, &[PrivacyOfficer]);
        let po_b = who(b, true, &[PrivacyOfficer]);
        let alliance = PatientFacts {
            consents: vec![ConsentHolder::Alliance],
            ..Default::default()
        };
        let none = PatientFacts::default();
        let checks: Vec<(&str, bool, bool)> = vec![
            (
                "care for a colleague",
                declare_care(&clin, &alliance, &colleague).is_ok(),
                true,
            ),
            (
                "care for another institution's clinician",
                declare_care(&clin, &alliance, &foreign).is_ok(),
                false,
            ),
            (
                "care for an administrator",
                declare_care(&clin, &alliance, &admin).is_ok(),
                false,
            ),
            (
                "care without consent",
                declare_care(&clin, &none, &clin).is_ok(),
                false,
            ),
            (
                "break-glass with consent",
                break_glass(&clin, &alliance).is_ok(),
                true,
            ),
            (
                "break-glass without consent",
                break_glass(&clin, &none).is_ok(),
                false,
            ),
            (
                "break-glass by an administrator",
                break_glass(&admin, &alliance).is_ok(),
                false,
            ),
            (
                "admin of own institution",
                administer(&admin, a).is_ok(),
                true,
            ),
            (
                "admin of another institution",
                administer(&admin_b, a).is_ok(),
                false,
            ),
            ("clinician administers", administer(&clin, a).is_ok(), false),
            (
                "admin removes a member",
                remove_member(&admin, &clin).is_ok(),
                true,
            ),
            (
                "admin removes themselves",
                remove_member(&admin, &admin).is_ok(),
                false,
            ),
            (
                "admin removes another institution's member",
                remove_member(&admin, &foreign).is_ok(),
                false,
            ),
            ("privacy officer rebuilds", audit_rebuild(&po).is_ok(), true),
            (
                "administrator rebuilds",
                audit_rebuild(&admin).is_ok(),
                true,
            ),
            ("clinician rebuilds", audit_rebuild(&clin).is_ok(), false),
            ("administrator reviews", audit_review(&admin).is_ok(), false),
            (
                "own officer reads a break-glass reason",
                break_glass_review(&po, &clin).is_ok(),
                true,
            ),
            (
                "other officer reads a break-glass reason",
                break_glass_review(&po_b, &clin).is_ok(),
                false,
            ),
            (
                "share to a clinician",
                receive_share(&foreign).is_ok(),
                true,
            ),
            (
                "share to an administrator",
                receive_share(&admin).is_ok(),
                false,
            ),
            (
                "share to an uncertified clinician",
                receive_share(&who(a, false, &[Clinician])).is_ok(),
                false,
            ),
            (
                "privacy officer looks a patient up",
                lookup_patient(&po).is_ok(),
                true,
            ),
            (
                "administrator looks a patient up",
                lookup_patient(&admin).is_ok(),
                false,
            ),
            ("administrator uploads", clinical(&admin).is_ok(), false),
        ];
        let failures: Vec<String> = checks
            .into_iter()
            .filter(|(_, got, want)| got != want)
            .map(|(what, got, want)| format!("{what}: {got}, expected {want}"))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn consults_reach_only_their_parties() {
        let a = InstitutionId::new();
        let doc = who(a, true, &[Clinician]);
        assert_eq!(consult_read(&doc, false, false), Err("not-a-consult-party"));
        assert_eq!(consult_read(&doc, true, false), Ok(()));
        assert_eq!(consult_read(&doc, false, true), Ok(()));
        assert_eq!(consult_ack(&doc, false), Err("not-a-consult-recipient"));
        assert_eq!(consult_ack(&doc, true), Ok(()));
        let uncertified = who(a, false, &[Clinician]);
        assert!(consult_ack(&uncertified, true).is_err());
        assert!(consult_read(&uncertified, true, true).is_err());
        let admin = who(a, true, &[InstitutionAdmin]);
        assert_eq!(oncall_admin(&admin, a), Ok(()));
        assert!(oncall_admin(&admin, InstitutionId::new()).is_err());
        assert!(oncall_admin(&doc, a).is_err());
        assert!(consult_participant(&admin).is_err());
    }
}
