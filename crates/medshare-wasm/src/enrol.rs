//! Enrolment in the browser: a practitioner's first login on a new device with the one-time code
//! their administrator gave them, as `medshare enroll` does it (`medshare_client::enrol`). The
//! keys are generated in the core, sealed under a key derived from the new passphrase
//! (Argon2id, production parameters) and sent sealed; the passphrase and the keys never leave
//! the worker.

use crate::{Core, invalid, js_error, ts, zeroize_string};
use medshare_client::enrol;
use medshare_model::api::EnrolmentInfo;
use serde::{Deserialize, Serialize};
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

/// The CLI's rule for a new passphrase (`medshare enroll`).
const MIN_PASSPHRASE_CHARS: usize = 12;

/// Whom an enrolment code is for, as the hub states it: shown before a passphrase is chosen.
/// It becomes verified only when the institution's administrator certifies the new key.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct EnrolmentView {
    pub handle: String,
    pub name: String,
    pub profession: String,
    pub registration: String,
    #[tsify(optional)]
    pub specialty: Option<String>,
    pub institution: String,
    /// An institution's first administrator also creates the institution's keys.
    pub creates_institution_keys: bool,
}

impl From<&EnrolmentInfo> for EnrolmentView {
    fn from(i: &EnrolmentInfo) -> Self {
        Self {
            handle: i.details.handle.to_string(),
            name: i.details.name.clone(),
            profession: i.details.profession.to_string(),
            registration: i.details.registration.clone(),
            specialty: i.details.specialty.clone(),
            institution: i.institution.name.clone(),
            creates_institution_keys: i.creates_institution_keys,
        }
    }
}

/// What enrolment produced, to show once.
#[derive(Clone, Debug, Serialize, Deserialize, Tsify)]
pub struct EnrolledView {
    /// The new signing key's fingerprint, read out to the administrator who certifies it.
    pub key_fingerprint: String,
    /// For an institution's first administrator: the institution key's fingerprint.
    #[tsify(optional)]
    pub institution_fingerprint: Option<String>,
    /// `otpauth://` URI for an authenticator app (absent on a sandbox hub without one-time codes).
    #[tsify(optional)]
    pub totp_uri: Option<String>,
}

#[wasm_bindgen]
impl Core {
    /// Whom the enrolment code `code` is for (the hub's statement, shown for the user to check).
    pub async fn enrolment(&self, code: String) -> Result<Ts<EnrolmentView>, JsValue> {
        let info = enrol::lookup(&self.hub, code.trim())
            .await
            .map_err(js_error)?;
        ts(&EnrolmentView::from(&info))
    }

    /// Redeem `code` with keys generated here, protected by `passphrase` (Argon2id with
    /// production parameters). The alliance root is pinned on this first contact (or checked
    /// against the one this device pinned). The user then logs in once their administrator has
    /// certified the key whose fingerprint this returns.
    pub async fn enrol(
        &self,
        code: String,
        passphrase: String,
    ) -> Result<Ts<EnrolledView>, JsValue> {
        let mut passphrase = passphrase;
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            zeroize_string(&mut passphrase);
            return Err(invalid("choose a passphrase of at least 12 characters"));
        }
        let pinned = self.state.borrow().root;
        let result = enrol::enrol(&self.hub, pinned, code.trim(), &passphrase, None).await;
        zeroize_string(&mut passphrase);
        let e = result.map_err(js_error)?;
        self.state.borrow_mut().root.get_or_insert(e.root_public);
        ts(&EnrolledView {
            key_fingerprint: e.key_fingerprint,
            institution_fingerprint: e.institution_fingerprint,
            totp_uri: e.totp_uri,
        })
    }
}
