//! Voice notes in case rooms. The audio (any format a browser plays: WebM/Opus, Ogg, MP4/AAC,
//! MP3, WAV, FLAC; recognised by its content, never its name) is sealed with a fresh age key
//! and stored on the hub as a room attachment (`POST /v1/rooms/{id}/blobs`), which the hub
//! serves to current members only. The key, the hashes, the type and the duration travel in
//! the room's MLS application message ([`Content::Voice`]), so only members who could read that
//! message can open the note: a removed member holding every ciphertext still cannot.

use crate::error::{ClientError, Result};
use crate::hub::Hub;
use crate::rooms::{Content, RoomKeys};
use crate::session::Client;
use medshare_crypto::EncryptionKey;
use medshare_crypto::seal::{open_bytes, seal_bytes};
use medshare_model::api::RoomBlobStored;
use medshare_model::{RoomBlobId, RoomId};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Largest voice note (a quarter of an hour of Opus or AAC fits many times over).
pub const MAX_VOICE_BYTES: usize = 16 * 1024 * 1024;
/// Longest duration a sender may state (one hour).
pub const MAX_VOICE_MS: u64 = 60 * 60 * 1000;

/// What a voice note is, from its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioInfo {
    /// Media type a browser plays (`audio/webm`, `audio/ogg`, `audio/mp4`, `audio/mpeg`,
    /// `audio/wav`, `audio/aac`, `audio/flac`).
    pub media_type: &'static str,
    /// Duration, when the format states it in its header (WAV); otherwise the recorder's.
    pub duration_ms: Option<u64>,
}

/// Recognise audio by its content. Refuses anything else with a clear error.
pub fn sniff_audio(bytes: &[u8]) -> Result<AudioInfo> {
    let not_audio = || {
        ClientError::Invalid(
            "this file is not audio a browser can play (WebM/Opus, Ogg, M4A/AAC, MP3, WAV or FLAC)"
                .into(),
        )
    };
    let t = infer::get(bytes).ok_or_else(not_audio)?;
    let media_type = match t.mime_type() {
        // MediaRecorder's WebM carries audio only; a WebM with video would still play.
        "video/webm" => "audio/webm",
        "audio/ogg" | "audio/opus" => "audio/ogg",
        // Safari's MediaRecorder writes MP4 (brands isom/iso5/mp42) with AAC.
        "audio/m4a" | "video/mp4" => "audio/mp4",
        "audio/mpeg" => "audio/mpeg",
        "audio/x-wav" => "audio/wav",
        "audio/aac" => "audio/aac",
        "audio/x-flac" => "audio/flac",
        _ => return Err(not_audio()),
    };
    let duration_ms = (media_type == "audio/wav")
        .then(|| wav_duration_ms(bytes))
        .flatten();
    Ok(AudioInfo {
        media_type,
        duration_ms,
    })
}

/// A RIFF/WAVE file's duration from its `fmt ` byte rate and `data` size.
fn wav_duration_ms(b: &[u8]) -> Option<u64> {
    let u32_at =
        |i: usize| -> Option<u32> { Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?)) };
    let mut i = 12;
    let mut byte_rate = None;
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let size = u32_at(i + 4)? as usize;
        if id == b"fmt " {
            byte_rate = u32_at(i + 16).filter(|r| *r > 0);
        } else if id == b"data" {
            let data = size.min(b.len().saturating_sub(i + 8)) as u64;
            return Some(data * 1000 / u64::from(byte_rate?));
        }
        i = i.checked_add(8 + size + (size & 1))?;
    }
    None
}

/// A voice note opened: the audio, checked against the hashes its sender put in the room.
pub struct OpenedVoice {
    /// The audio bytes.
    pub audio: Zeroizing<Vec<u8>>,
    /// Its media type, as sniffed by the sender and checked again here.
    pub media_type: String,
    /// The duration the sender stated.
    pub duration_ms: Option<u64>,
}

impl std::fmt::Debug for OpenedVoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedVoice")
            .field("media_type", &self.media_type)
            .field("size", &self.audio.len())
            .finish_non_exhaustive()
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

impl Client {
    /// Post a voice note: check it is audio and within bounds, seal it with a fresh key,
    /// store the ciphertext as a room attachment, then send the key and hashes to the room in
    /// an MLS message. `duration_ms` is the recorder's (the header's, for WAV, wins).
    pub async fn post_voice(
        &self,
        keys: &mut RoomKeys,
        room: RoomId,
        audio: &[u8],
        duration_ms: Option<u64>,
    ) -> Result<i64> {
        if audio.len() > MAX_VOICE_BYTES {
            return Err(ClientError::Invalid(format!(
                "a voice note holds at most {} MiB",
                MAX_VOICE_BYTES / (1024 * 1024)
            )));
        }
        let info = sniff_audio(audio)?;
        let duration_ms = info
            .duration_ms
            .or(duration_ms)
            .filter(|d| *d <= MAX_VOICE_MS);
        // Be a member of the room now, before anything is stored.
        self.sync_room(keys, room).await?;
        keys.group_exists(room)?;
        let key = EncryptionKey::generate();
        let sealed = seal_bytes(&[key.recipient()], audio)?;
        let res = self
            .hub
            .request(reqwest::Method::POST, &format!("/v1/rooms/{room}/blobs"))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(sealed.clone())
            .send()
            .await?;
        let stored: RoomBlobStored = Hub::check(res).await?.json().await?;
        let ciphertext_sha256 = sha256_hex(&sealed);
        if stored.room_id != room
            || stored.size != sealed.len() as u64
            || stored.sha256 != ciphertext_sha256
        {
            return Err(ClientError::Trust(
                "the hub received different bytes than were sent",
            ));
        }
        self.post_content(
            keys,
            room,
            Content::Voice {
                blob_id: stored.blob_id,
                key: key.to_secret_string().to_string(),
                ciphertext_sha256,
                sha256: sha256_hex(audio),
                size: audio.len() as u64,
                media_type: info.media_type.to_string(),
                duration_ms,
            },
        )
        .await
    }

    /// Open the voice note posted at `seq` in `room` (from this device's room history): fetch
    /// its ciphertext, check it against the hash in the MLS message, open it with the key
    /// from that message and check the audio's hash, size and type.
    pub async fn open_voice(&self, keys: &RoomKeys, room: RoomId, seq: i64) -> Result<OpenedVoice> {
        let content = keys
            .room(room)
            .and_then(|l| {
                l.history.iter().find_map(|m| match &m.event {
                    crate::rooms::RoomEvent::Message { content } if m.seq == seq => {
                        Some(content.clone())
                    }
                    _ => None,
                })
            })
            .ok_or_else(|| {
                ClientError::Invalid("no message with that number in this room".into())
            })?;
        let Content::Voice {
            blob_id,
            key,
            ciphertext_sha256,
            ..
        } = &content
        else {
            return Err(ClientError::Invalid(
                "that message is not a voice note".into(),
            ));
        };
        let cipher = self.fetch_voice(room, *blob_id).await?;
        if sha256_hex(&cipher) != *ciphertext_sha256 {
            return Err(ClientError::Trust(
                "the hub served other bytes than the voice note's sender stored",
            ));
        }
        open_voice_bytes(&content, &cipher, key)
    }

    /// The ciphertext of a room attachment, as the hub serves it (members only).
    pub async fn fetch_voice(&self, room: RoomId, blob: RoomBlobId) -> Result<Vec<u8>> {
        let res = self
            .hub
            .request(
                reqwest::Method::GET,
                &format!("/v1/rooms/{room}/blobs/{blob}"),
            )
            .send()
            .await?;
        let bytes = Hub::check(res).await?.bytes().await?;
        if bytes.len() > MAX_VOICE_BYTES + 64 * 1024 {
            return Err(ClientError::Trust("the hub served an oversized attachment"));
        }
        Ok(bytes.to_vec())
    }
}

/// Open a voice note's ciphertext with the key from its message and check what comes out.
pub fn open_voice_bytes(content: &Content, cipher: &[u8], key: &str) -> Result<OpenedVoice> {
    let Content::Voice {
        sha256,
        size,
        media_type,
        duration_ms,
        ..
    } = content
    else {
        return Err(ClientError::Invalid(
            "that message is not a voice note".into(),
        ));
    };
    let key = Zeroizing::new(key.to_string());
    let key = EncryptionKey::from_secret_str(&key)
        .map_err(|_| ClientError::Trust("a voice note's key is malformed"))?;
    let audio = open_bytes(&key, cipher)
        .map_err(|_| ClientError::Trust("the voice note does not open with its key"))?;
    if audio.len() as u64 != *size || sha256_hex(&audio) != *sha256 {
        return Err(ClientError::Trust(
            "the voice note does not match what its sender sent",
        ));
    }
    if sniff_audio(&audio)?.media_type != media_type {
        return Err(ClientError::Trust(
            "the voice note is not of the type its sender stated",
        ));
    }
    Ok(OpenedVoice {
        audio,
        media_type: media_type.clone(),
        duration_ms: *duration_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real PCM WAV file: `ms` milliseconds of a 440 Hz tone, 8 kHz mono 16-bit.
    pub(crate) fn wav(ms: u32) -> Vec<u8> {
        let rate = 8000u32;
        let n = rate * ms / 1000;
        let mut data = Vec::new();
        for i in 0..n {
            let s =
                ((i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 8000.0) as i16;
            data.extend_from_slice(&s.to_le_bytes());
        }
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&rate.to_le_bytes());
        w.extend_from_slice(&(rate * 2).to_le_bytes());
        w.extend_from_slice(&2u16.to_le_bytes());
        w.extend_from_slice(&16u16.to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&(data.len() as u32).to_le_bytes());
        w.extend_from_slice(&data);
        w
    }

    #[test]
    fn audio_is_recognised_by_content() {
        let w = sniff_audio(&wav(1500)).unwrap();
        assert_eq!(w.media_type, "audio/wav");
        assert_eq!(w.duration_ms, Some(1500));
        let mut ogg = b"OggS\x00\x02".to_vec();
        ogg.resize(64, 0);
        assert_eq!(sniff_audio(&ogg).unwrap().media_type, "audio/ogg");
        let mut m4a = b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00".to_vec();
        m4a.resize(64, 0);
        assert_eq!(sniff_audio(&m4a).unwrap().media_type, "audio/mp4");
        let mut webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm".to_vec();
        webm.resize(300, 0);
        assert_eq!(sniff_audio(&webm).unwrap().media_type, "audio/webm");
        let mut mp3 = b"ID3\x04\x00".to_vec();
        mp3.resize(64, 0);
        assert_eq!(sniff_audio(&mp3).unwrap().media_type, "audio/mpeg");
        // A PDF named .ogg is still a PDF.
        assert!(sniff_audio(b"%PDF-1.7\n%....").is_err());
        assert!(sniff_audio(b"hello").is_err());
    }

    #[test]
    fn a_note_opens_only_with_its_key_and_hash() {
        let audio = wav(200);
        let key = EncryptionKey::generate();
        let cipher = seal_bytes(&[key.recipient()], &audio).unwrap();
        let content = Content::Voice {
            blob_id: RoomBlobId::new(),
            key: key.to_secret_string().to_string(),
            ciphertext_sha256: sha256_hex(&cipher),
            sha256: sha256_hex(&audio),
            size: audio.len() as u64,
            media_type: "audio/wav".into(),
            duration_ms: Some(200),
        };
        let Content::Voice { key: k, .. } = &content else {
            unreachable!()
        };
        assert_eq!(
            *open_voice_bytes(&content, &cipher, k).unwrap().audio,
            audio
        );
        let other = EncryptionKey::generate().to_secret_string();
        assert!(open_voice_bytes(&content, &cipher, &other).is_err());
        // Another note sealed under the same key but with other audio does not pass.
        let forged = seal_bytes(&[key.recipient()], &wav(300)).unwrap();
        assert!(open_voice_bytes(&content, &forged, k).is_err());
    }
}
