//! The server key: seals customers' S3 secrets in the database (AES-256-GCM) and signs the
//! embedded store's presigned upload URLs. It comes from `DATAPROCESSOR_SERVER_KEY` (64 hex
//! digits), else the file `DATAPROCESSOR_SERVER_KEY_FILE` names, else `<paths.root>/server.key`,
//! which is made on first use (mode 0600). It is never logged and never in `config.json`;
//! every node must have the same one.

use super::credentials::random_bytes;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const SERVER_KEY_ENV: &str = "DATAPROCESSOR_SERVER_KEY";
pub const SERVER_KEY_FILE_ENV: &str = "DATAPROCESSOR_SERVER_KEY_FILE";

#[derive(Debug, thiserror::Error)]
pub enum ServerKeyError {
    #[error("{0} must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`")]
    Malformed(String),
    #[error("cannot read the server key {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make the server key {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "a customer's S3 secret cannot be opened with this server key: every node needs the key the credentials were made with"
    )]
    WrongKey,
}

#[derive(Clone)]
pub struct ServerKey {
    bytes: [u8; 32],
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

/// Where the key came from, for the one line that says so at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File(PathBuf),
    Made(PathBuf),
}

impl ServerKey {
    /// The configured key, or the one under `root` (made now when there is none).
    pub fn load(root: &Path) -> Result<(Self, KeySource), ServerKeyError> {
        if let Ok(hex_key) = std::env::var(SERVER_KEY_ENV) {
            return Ok((
                Self::parse(&hex_key, SERVER_KEY_ENV)?,
                KeySource::Environment,
            ));
        }
        let (path, may_make) = match std::env::var_os(SERVER_KEY_FILE_ENV) {
            Some(path) => (PathBuf::from(path), false),
            None => (root.join("server.key"), true),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((
                Self::parse(text.trim(), &path.display().to_string())?,
                KeySource::File(path),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_make => {
                let key = Self::make(&path)?;
                Ok((key, KeySource::Made(path)))
            }
            Err(source) => Err(ServerKeyError::Read { path, source }),
        }
    }

    /// A new random key held only in memory (tests, one-off tools).
    pub fn random() -> Self {
        Self {
            bytes: random_bytes(),
        }
    }

    fn parse(hex_key: &str, what: &str) -> Result<Self, ServerKeyError> {
        let bytes = hex::decode(hex_key.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| ServerKeyError::Malformed(what.to_string()))?;
        Ok(Self { bytes })
    }

    /// A new key, written whole to a temporary file and fsynced, then linked into place
    /// (two nodes starting at once: one link wins, the other reads the winner's key; a
    /// reader never sees a half-written file).
    fn make(path: &Path) -> Result<Self, ServerKeyError> {
        use std::os::unix::fs::OpenOptionsExt;
        let create = |source| ServerKeyError::Create {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(create)?;
        }
        let key = Self {
            bytes: random_bytes(),
        };
        let temporary = path.with_extension(format!("new-{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(create)?;
        file.write_all(format!("{}\n", hex::encode(key.bytes)).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(create)?;
        let linked = std::fs::hard_link(&temporary, path);
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ServerKeyError::Read {
                        path: path.to_path_buf(),
                        source,
                    })?;
                Self::parse(text.trim(), &path.display().to_string())
            }
            Err(e) => Err(create(e)),
        }
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.bytes).expect("a 32-byte key"))
    }

    /// `secret` sealed: a random nonce, then the ciphertext and its tag.
    pub fn seal(&self, secret: &str) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = random_bytes();
        let mut sealed = secret.as_bytes().to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::empty(),
                &mut sealed,
            )
            .expect("sealing a short secret");
        [nonce_bytes.as_slice(), &sealed].concat()
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, ServerKeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(ServerKeyError::WrongKey);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| ServerKeyError::WrongKey)?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::empty(), &mut buffer)
            .map_err(|_| ServerKeyError::WrongKey)?;
        String::from_utf8(plain.to_vec()).map_err(|_| ServerKeyError::WrongKey)
    }

    /// The embedded store's own S3 key (the whole bucket), which signs the upload URLs the
    /// upload API hands out: derived from the server key, so every node knows it and it is
    /// never stored or shown.
    pub fn presigning_credentials(&self) -> (String, String) {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &self.bytes),
            b"embedded S3 presigning key",
        );
        let derived = hex::encode(tag.as_ref());
        (
            format!("HVS{}", derived[..17].to_ascii_uppercase()),
            derived[17..57].to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only() {
        let key = ServerKey {
            bytes: random_bytes(),
        };
        let other = ServerKey {
            bytes: random_bytes(),
        };
        let sealed = key.seal("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert!(!sealed.windows(8).any(|w| w == b"wJalrXUt"));
        assert_eq!(
            key.open(&sealed).unwrap(),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        );
        assert!(matches!(other.open(&sealed), Err(ServerKeyError::WrongKey)));
        assert!(matches!(
            key.open(&sealed[..5]),
            Err(ServerKeyError::WrongKey)
        ));
    }

    #[test]
    fn the_key_is_made_once_under_the_root_and_read_back() {
        let root = tempfile::tempdir().unwrap();
        let (made, source) = ServerKey::make(&root.path().join("server.key"))
            .map(|k| (k, KeySource::Made(root.path().join("server.key"))))
            .unwrap();
        assert!(matches!(source, KeySource::Made(_)));
        let again = ServerKey::make(&root.path().join("server.key")).unwrap();
        assert_eq!(made.bytes, again.bytes);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root.path().join("server.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(ServerKey::parse("abcd", "x").is_err());
        let (id, secret) = made.presigning_credentials();
        assert_eq!((id.len(), secret.len()), (20, 40));
    }
}
