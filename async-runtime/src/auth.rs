//! Admission by shared token. The token never travels: the driver sends a fresh random nonce,
//! the worker answers with HMAC-SHA256(token, run id, nonce, name, build fingerprint), and the
//! driver checks it in constant time.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::RuntimeError;

/// Shortest token accepted, in bytes.
const MIN_TOKEN_BYTES: usize = 16;

/// A run's shared secret.
///
/// ```
/// use async_runtime::Token;
///
/// let token = Token::random();
/// let proof = token.prove(7, b"nonce from the driver", "w3", 42);
/// assert!(token.verify(7, b"nonce from the driver", "w3", 42, &proof));
/// assert!(!Token::random().verify(7, b"nonce from the driver", "w3", 42, &proof));
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

    /// The token in a file: its contents without surrounding white space, at least 16 bytes.
    pub fn from_file(path: &Path) -> Result<Token, RuntimeError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            RuntimeError::Config(format!("cannot read token file {}: {e}", path.display()))
        })?;
        Token::new(text.trim().as_bytes())
            .map_err(|e| RuntimeError::Config(format!("token file {}: {e}", path.display())))
    }

    /// A token of these bytes, if long enough.
    pub fn new(bytes: &[u8]) -> Result<Token, String> {
        if bytes.len() < MIN_TOKEN_BYTES {
            return Err(format!(
                "a token needs at least {MIN_TOKEN_BYTES} bytes, this one has {}",
                bytes.len()
            ));
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

    fn mac(&self, run_id: u64, nonce: &[u8], name: &str, fingerprint: u64) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        mac.update(b"async-opt admission v1");
        mac.update(&run_id.to_le_bytes());
        mac.update(nonce);
        mac.update(&(name.len() as u64).to_le_bytes());
        mac.update(name.as_bytes());
        mac.update(&fingerprint.to_le_bytes());
        mac
    }

    /// The worker's answer to a challenge.
    pub fn prove(&self, run_id: u64, nonce: &[u8], name: &str, fingerprint: u64) -> Vec<u8> {
        self.mac(run_id, nonce, name, fingerprint)
            .finalize()
            .into_bytes()
            .to_vec()
    }

    /// Whether `proof` answers the challenge, checked in constant time.
    pub fn verify(
        &self,
        run_id: u64,
        nonce: &[u8],
        name: &str,
        fingerprint: u64,
        proof: &[u8],
    ) -> bool {
        self.mac(run_id, nonce, name, fingerprint)
            .verify_slice(proof)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_token_for_this_challenge_verifies() {
        let token = Token::random();
        let proof = token.prove(7, b"nonce", "w1", 42);
        assert!(token.verify(7, b"nonce", "w1", 42, &proof));
        assert!(
            !Token::random().verify(7, b"nonce", "w1", 42, &proof),
            "another token"
        );
        assert!(
            !token.verify(7, b"other", "w1", 42, &proof),
            "another nonce"
        );
        assert!(!token.verify(8, b"nonce", "w1", 42, &proof), "another run");
        assert!(!token.verify(7, b"nonce", "w2", 42, &proof), "another name");
        assert!(
            !token.verify(7, b"nonce", "w1", 42, &proof[..31]),
            "a truncated proof"
        );
    }

    #[test]
    fn tokens_round_trip_through_hex_and_must_be_long() {
        let token = Token::random();
        assert_eq!(Token::from_hex(&token.to_hex()).unwrap(), token);
        assert!(Token::new(b"short").is_err());
        assert!(Token::from_hex("zz").is_err());
    }
}
