//! Connection ids: 16 ASCII characters, `Copy`, cheap to hash.

use std::fmt;
use std::str::FromStr;

use rand::Rng;

/// Length in bytes of every [`Sid`].
const SID_LEN: usize = 16;

/// The id of one client connection, unique within a gateway process.
///
/// socket.io connections reuse the id socketioxide gives them (the
/// `socket.id` the client sees); raw WebSocket connections get a fresh
/// random one in the same 16-character URL-safe alphabet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; SID_LEN]);

/// The URL-safe base64 alphabet used for generated ids.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl Sid {
    /// A new random id (96 bits of entropy).
    pub fn random() -> Self {
        let mut rng = rand::rng();
        let mut bytes = [0u8; SID_LEN];
        for byte in &mut bytes {
            *byte = ALPHABET[rng.random_range(0..ALPHABET.len())];
        }
        Sid(bytes)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Every constructor only admits ASCII, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// Why a string is not a valid [`Sid`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a sid is exactly {SID_LEN} ASCII letters, digits, '-' or '_'")]
pub struct InvalidSid;

impl FromStr for Sid {
    type Err = InvalidSid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes: [u8; SID_LEN] = s.as_bytes().try_into().map_err(|_| InvalidSid)?;
        if bytes.iter().all(|b| ALPHABET.contains(b)) {
            Ok(Sid(bytes))
        } else {
            Err(InvalidSid)
        }
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_round_trip_through_text() {
        let sid = Sid::random();
        assert_eq!(sid.as_str().parse::<Sid>(), Ok(sid));
        assert_ne!(Sid::random(), sid);
    }

    #[test]
    fn rejects_wrong_length_and_alphabet() {
        assert_eq!("short".parse::<Sid>(), Err(InvalidSid));
        assert_eq!("aaaaaaaaaaaaaaa!".parse::<Sid>(), Err(InvalidSid));
        assert!("AbCdEfGh12-_xyz0".parse::<Sid>().is_ok());
    }
}
