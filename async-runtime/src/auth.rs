//! Admission by shared token, mutual. The token never travels. The worker's hello carries a
//! fresh nonce; the driver answers with its own nonce and its proof, HMAC-SHA256 of the token
//! over the [`Transcript`] (run id, name, build fingerprint, both nonces, encryption); the
//! worker checks it (a fake driver gets nothing) and answers with its own proof over the same
//! transcript. Both then derive the session key from the token and the transcript, and every
//! later frame carries a MAC under it (see [`crate::transport::session`]).
//!
//! A refusal the driver means as final (another build) carries a MAC of its own over the
//! worker's hello ([`Refusal`]): a worker holding the token can tell it from a fake driver's
//! and stop at once, where an unproven refusal is tried again.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::RuntimeError;
use crate::regular_file::OpenError;

/// Shortest token accepted, in bytes.
const MIN_TOKEN_BYTES: usize = 16;
/// The longest token file read.
const MAX_TOKEN_FILE: usize = 4096;

/// Whether users other than the owner and its group may read the file (the group is trusted,
/// as for checkpoint folders).
#[cfg(unix)]
fn others_can_read(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o004 != 0
}

#[cfg(not(unix))]
fn others_can_read(_: &std::fs::Metadata) -> bool {
    false
}

/// Why a token file was refused ([`Token::read_file`]); its words name neither the file nor a
/// flag, which the caller adds.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// Missing, not allowed: the error of the look, the open or the read.
    #[error("cannot read it: {0}")]
    Unreadable(std::io::Error),
    /// A folder, a named pipe, a device: no token file. A named pipe with no writer blocked
    /// the open for good, a device such as `/dev/zero` was read for nothing.
    #[error("is a {0}, not a file")]
    NotAFile(&'static str),
    /// Over 4 KiB: no token, but a file given by mistake.
    #[error("longer than {MAX_TOKEN_FILE} bytes: it holds one token")]
    TooLong,
    /// Fewer bytes than a token needs, said with the least it takes.
    #[error("{0}")]
    TooShort(String),
    /// More than one line that is not blank: taken whole, copies differing on a later line
    /// only were told apart by the handshake alone, as "different tokens".
    #[error("holds {0} lines that are not blank: a token file holds one line, its token")]
    SeveralLines(usize),
}

/// A run's shared secret.
///
/// ```
/// use asyncopt_runtime::Token;
///
/// use asyncopt_runtime::auth::Transcript;
///
/// let token = Token::random();
/// let transcript = Transcript {
///     run_id: 7, name: "w3", fingerprint: 42,
///     worker_nonce: b"worker's nonce", driver_nonce: b"driver's nonce", encrypt: false,
/// };
/// let proof = token.worker_proof(&transcript);
/// assert!(token.verify_worker(&transcript, &proof));
/// assert!(!token.verify_driver(&transcript, &proof), "proofs of one side do not pass for the other");
/// assert!(!Token::random().verify_worker(&transcript, &proof));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Vec<u8>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// A fresh random token (what a local cluster uses).
    pub fn random() -> Token {
        Token(rand::random::<[u8; 32]>().to_vec())
    }

    /// The token both sides use when none is given, on loopback only
    /// ([`ClusterConfig::validate`](crate::ClusterConfig) refuses more): public, so it
    /// authenticates nothing; it keeps one code path for every run.
    pub fn loopback() -> Token {
        Token(b"async-opt: no token given, loopback only".to_vec())
    }

    /// The token in a file: its one line without surrounding white space (blank lines
    /// aside), at least 16 bytes and at most 4 KiB in all (so that a large file given by
    /// mistake is refused, not read whole). A regular file only, or a link to one: a named
    /// pipe or a device is refused before it is opened. [`Token::read_file`], its refusal
    /// naming the file.
    pub fn from_file(path: &Path) -> Result<Token, RuntimeError> {
        Token::read_file(path)
            .map_err(|e| RuntimeError::Config(format!("token file {}: {e}", path.display())))
    }

    /// [`Token::from_file`], refused in words that name no file, for a caller that names it
    /// its own way (a command line, by its flag).
    pub fn read_file(path: &Path) -> Result<Token, TokenFileError> {
        use std::io::Read;
        let file = crate::regular_file::open(path).map_err(|e| match e {
            OpenError::Unreadable(e) => TokenFileError::Unreadable(e),
            OpenError::NotAFile(kind) => TokenFileError::NotAFile(kind),
        })?;
        let opened = file.metadata().map_err(TokenFileError::Unreadable)?;
        let shared = others_can_read(&opened);
        let mut bytes = Vec::new();
        file.take(MAX_TOKEN_FILE as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(TokenFileError::Unreadable)?;
        if bytes.len() > MAX_TOKEN_FILE {
            return Err(TokenFileError::TooLong);
        }
        let lines = (bytes.split(|&b| b == b'\n'))
            .filter(|line| !line.trim_ascii().is_empty())
            .count();
        if lines > 1 {
            return Err(TokenFileError::SeveralLines(lines));
        }
        let token = Token::new(bytes.trim_ascii()).map_err(TokenFileError::TooShort)?;
        if shared {
            // Taken all the same, as ssh does not: the run's own files are made 0600, and a
            // token copied with cp keeps the umask's mode (0644) on many hosts. Said of a token
            // taken only, not of a folder or a file refused.
            tracing::warn!(
                "token file {} can be read by other users of this host, any of whom can then \
                 join the run or pose as its driver: chmod 600 it",
                path.display()
            );
        }
        Ok(token)
    }

    /// A token of these bytes, if long enough and no longer than a token file may be (a token
    /// given another way, as in an environment variable, is bound as one in a file is).
    pub fn new(bytes: &[u8]) -> Result<Token, String> {
        if bytes.len() < MIN_TOKEN_BYTES {
            return Err(format!(
                "a token needs at least {MIN_TOKEN_BYTES} bytes, this one has {}",
                bytes.len()
            ));
        }
        if bytes.len() > MAX_TOKEN_FILE {
            return Err(TokenFileError::TooLong.to_string());
        }
        Ok(Token(bytes.to_vec()))
    }

    /// The token as hex, to hand it to spawned workers.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// The token from its hex form.
    pub fn from_hex(text: &str) -> Result<Token, String> {
        let bytes = hex::decode(text.trim()).map_err(|e| format!("not a hex token: {e}"))?;
        Token::new(&bytes)
    }

    fn keyed(&self, label: &[u8], transcript: &Transcript<'_>) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        mac.update(label);
        mac.update(&transcript.run_id.to_le_bytes());
        mac.update(&(transcript.name.len() as u64).to_le_bytes());
        mac.update(transcript.name.as_bytes());
        mac.update(&transcript.fingerprint.to_le_bytes());
        mac.update(&(transcript.worker_nonce.len() as u64).to_le_bytes());
        mac.update(transcript.worker_nonce);
        mac.update(&(transcript.driver_nonce.len() as u64).to_le_bytes());
        mac.update(transcript.driver_nonce);
        mac.update(&[u8::from(transcript.encrypt)]);
        mac
    }

    /// The driver's proof that it holds the token, sent with its challenge.
    pub fn driver_proof(&self, transcript: &Transcript<'_>) -> Vec<u8> {
        self.prove(b"async-opt driver proof v2", transcript)
    }

    /// The worker's answer to the challenge.
    pub fn worker_proof(&self, transcript: &Transcript<'_>) -> Vec<u8> {
        self.prove(b"async-opt worker proof v2", transcript)
    }

    /// Whether `proof` is the driver's proof of this handshake (constant time).
    pub fn verify_driver(&self, transcript: &Transcript<'_>, proof: &[u8]) -> bool {
        self.keyed(b"async-opt driver proof v2", transcript)
            .verify_slice(proof)
            .is_ok()
    }

    /// Whether `proof` is the worker's proof of this handshake (constant time).
    pub fn verify_worker(&self, transcript: &Transcript<'_>, proof: &[u8]) -> bool {
        self.keyed(b"async-opt worker proof v2", transcript)
            .verify_slice(proof)
            .is_ok()
    }

    /// The key of the session this handshake opens: a PRF of the token over the transcript,
    /// so fresh nonces on both sides make every session's key new.
    pub fn session_key(&self, transcript: &Transcript<'_>) -> [u8; 32] {
        self.keyed(b"async-opt session key v2", transcript)
            .finalize()
            .into_bytes()
            .into()
    }

    /// The driver's MAC of a final refusal, bound to the hello it answers (see [`Refusal`]).
    pub fn refusal_mac(&self, refusal: &Refusal<'_>) -> Vec<u8> {
        self.refusal_keyed(refusal).finalize().into_bytes().to_vec()
    }

    /// Whether `mac` is the driver's MAC of this refusal of this hello (constant time).
    pub fn verify_refusal(&self, refusal: &Refusal<'_>, mac: &[u8]) -> bool {
        self.refusal_keyed(refusal).verify_slice(mac).is_ok()
    }

    fn refusal_keyed(&self, refusal: &Refusal<'_>) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        // A label of its own: no refusal's MAC passes for a proof or a session key.
        mac.update(b"async-opt final refusal v1");
        mac.update(&refusal.run_id.to_le_bytes());
        mac.update(&(refusal.name.len() as u64).to_le_bytes());
        mac.update(refusal.name.as_bytes());
        mac.update(&refusal.fingerprint.to_le_bytes());
        mac.update(&(refusal.worker_nonce.len() as u64).to_le_bytes());
        mac.update(refusal.worker_nonce);
        mac.update(&(refusal.reason.len() as u64).to_le_bytes());
        mac.update(refusal.reason.as_bytes());
        mac
    }

    fn prove(&self, label: &[u8], transcript: &Transcript<'_>) -> Vec<u8> {
        self.keyed(label, transcript)
            .finalize()
            .into_bytes()
            .to_vec()
    }
}

/// What both proofs and the session key of one admission are computed over: the run, the
/// worker's name and build, both sides' fresh nonces, and whether frames are encrypted (so
/// that a man in the middle cannot turn encryption off).
#[derive(Debug, Clone, Copy)]
pub struct Transcript<'a> {
    /// The run id.
    pub run_id: u64,
    /// The worker's name.
    pub name: &'a str,
    /// The worker's build fingerprint.
    pub fingerprint: u64,
    /// The worker's nonce, from its hello.
    pub worker_nonce: &'a [u8],
    /// The driver's nonce, from its challenge.
    pub driver_nonce: &'a [u8],
    /// Whether the session's frames are encrypted.
    pub encrypt: bool,
}

/// What the MAC of a final refusal is computed over: the run (its frame's), the hello it
/// answers as the driver read it (name, build fingerprint, the worker's fresh nonce) and the
/// reason. The worker checks it against its own hello: a refusal of a hello altered on the
/// way (another fingerprint put in it) does not verify, nor does one recorded for another
/// nonce.
#[derive(Debug, Clone, Copy)]
pub struct Refusal<'a> {
    /// The run id.
    pub run_id: u64,
    /// The worker's name, from its hello.
    pub name: &'a str,
    /// The build fingerprint, from its hello.
    pub fingerprint: u64,
    /// The worker's nonce, from its hello.
    pub worker_nonce: &'a [u8],
    /// Why it is refused, as sent.
    pub reason: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript<'a>(name: &'a str, nonce: &'a [u8]) -> Transcript<'a> {
        Transcript {
            run_id: 7,
            name,
            fingerprint: 42,
            worker_nonce: nonce,
            driver_nonce: b"driver",
            encrypt: false,
        }
    }

    #[test]
    fn only_the_right_token_for_this_handshake_verifies() {
        let token = Token::random();
        let t = transcript("w1", b"nonce");
        let proof = token.worker_proof(&t);
        assert!(token.verify_worker(&t, &proof));
        assert!(!Token::random().verify_worker(&t, &proof), "another token");
        assert!(
            !token.verify_worker(&transcript("w1", b"other"), &proof),
            "another nonce"
        );
        assert!(
            !token.verify_worker(&transcript("w2", b"nonce"), &proof),
            "another name"
        );
        assert!(
            !token.verify_worker(&Transcript { run_id: 8, ..t }, &proof),
            "another run"
        );
        assert!(
            !token.verify_worker(&Transcript { encrypt: true, ..t }, &proof),
            "encryption switched"
        );
        assert!(!token.verify_worker(&t, &proof[..31]), "a truncated proof");
        assert!(
            !token.verify_driver(&t, &proof),
            "a worker's proof is not a driver's"
        );
        assert!(token.verify_driver(&t, &token.driver_proof(&t)));
    }

    #[test]
    fn session_keys_differ_per_handshake_and_token() {
        let token = Token::random();
        let a = token.session_key(&transcript("w1", b"nonce one"));
        let b = token.session_key(&transcript("w1", b"nonce two"));
        assert_ne!(a, b);
        assert_eq!(a, token.session_key(&transcript("w1", b"nonce one")));
        assert_ne!(
            a,
            Token::random().session_key(&transcript("w1", b"nonce one"))
        );
    }

    #[test]
    fn a_refusals_mac_verifies_only_for_its_token_hello_and_reason() {
        let token = Token::random();
        let refusal = Refusal {
            run_id: 7,
            name: "w1",
            fingerprint: 42,
            worker_nonce: b"nonce",
            reason: "it runs another build",
        };
        let mac = token.refusal_mac(&refusal);
        assert!(token.verify_refusal(&refusal, &mac));
        assert!(
            !Token::random().verify_refusal(&refusal, &mac),
            "another token"
        );
        for (other, what) in [
            (
                Refusal {
                    name: "w2",
                    ..refusal
                },
                "another name",
            ),
            (
                Refusal {
                    worker_nonce: b"other",
                    ..refusal
                },
                "another nonce",
            ),
            (
                Refusal {
                    reason: "it runs another buil",
                    ..refusal
                },
                "another reason",
            ),
            (
                Refusal {
                    fingerprint: 43,
                    ..refusal
                },
                "another build",
            ),
            (
                Refusal {
                    run_id: 8,
                    ..refusal
                },
                "another run",
            ),
        ] {
            assert!(!token.verify_refusal(&other, &mac), "{what}");
        }
        assert!(
            !token.verify_refusal(&refusal, &mac[..31]),
            "a truncated MAC"
        );
        assert!(!token.verify_refusal(&refusal, &[]), "no MAC");
        // Its label is its own: a proof over the same fields is no refusal's MAC.
        let t = Transcript {
            driver_nonce: b"",
            encrypt: false,
            ..transcript("w1", b"nonce")
        };
        assert!(!token.verify_refusal(&refusal, &token.driver_proof(&t)));
        assert!(!token.verify_driver(&t, &mac));
    }

    /// A token file as a user leaves it: the owner's alone.
    fn token_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        path
    }

    #[cfg(unix)]
    #[test]
    fn a_named_pipe_as_the_token_file_is_refused_without_waiting_for_a_writer() {
        // Opened as a file, a named pipe with no writer blocked the worker or the driver at
        // its start for good.
        let dir = test_support::scratch("token-fifo");
        let fifo = dir.join("run.token");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
        let (tx, rx) = std::sync::mpsc::channel();
        let reading = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(Token::read_file(&reading).map(|_| ()));
        });
        // A generous bound only to end a test that would otherwise hang: a writer's open
        // lets a blocked open go on, so the thread ends either way.
        let outcome = match rx.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(outcome) => outcome,
            Err(_) => {
                let _writer = std::fs::OpenOptions::new().write(true).open(&fifo);
                panic!("reading a named pipe as the token file waited for a writer");
            }
        };
        let error = outcome.unwrap_err();
        assert!(
            matches!(error, TokenFileError::NotAFile("named pipe")),
            "{error}"
        );
        assert_eq!(error.to_string(), "is a named pipe, not a file");
        let said = Token::from_file(&fifo).unwrap_err().to_string();
        assert!(
            said.contains(&format!("token file {}: is a named pipe", fifo.display())),
            "{said}"
        );
    }

    #[test]
    fn a_token_file_must_be_a_regular_file_of_one_short_line() {
        let dir = test_support::scratch("token-kinds");
        let token = "0123456789abcdef0123456789abcdef";
        let file = token_file(&dir, "run.token", &format!("{token}\n"));
        assert_eq!(
            Token::read_file(&file).unwrap(),
            Token::new(token.as_bytes()).unwrap()
        );
        // A link to a token file is the file.
        #[cfg(unix)]
        {
            let link = dir.join("link.token");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            assert_eq!(
                Token::read_file(&link).unwrap(),
                Token::new(token.as_bytes()).unwrap()
            );
        }
        let folder = Token::read_file(&dir).unwrap_err();
        assert!(
            matches!(folder, TokenFileError::NotAFile("folder")),
            "{folder}"
        );
        // A device is refused by its kind, not read up to the bound.
        #[cfg(unix)]
        for device in ["/dev/zero", "/dev/urandom", "/dev/null"] {
            let refused = Token::read_file(Path::new(device)).unwrap_err();
            assert!(
                matches!(refused, TokenFileError::NotAFile("device")),
                "{device}: {refused}"
            );
        }
        // A regular file is read up to its bound only: megabytes are no token.
        let large = token_file(&dir, "large.token", &"0".repeat(2 << 20));
        let refused = Token::read_file(&large).unwrap_err();
        assert!(matches!(refused, TokenFileError::TooLong), "{refused}");
        let missing = Token::read_file(&dir.join("missing")).unwrap_err();
        assert!(
            matches!(missing, TokenFileError::Unreadable(_)),
            "{missing}"
        );
    }

    #[test]
    fn tokens_round_trip_through_hex_and_must_be_long() {
        let token = Token::random();
        assert_eq!(Token::from_hex(&token.to_hex()).unwrap(), token);
        assert!(Token::new(b"short").is_err());
        // As long as a token file may be, and no longer.
        assert!(Token::new(&[b'x'; MAX_TOKEN_FILE]).is_ok());
        assert_eq!(
            Token::new(&[b'x'; MAX_TOKEN_FILE + 1]).unwrap_err(),
            "longer than 4096 bytes: it holds one token"
        );
        assert!(Token::from_hex("zz").is_err());
    }
}
