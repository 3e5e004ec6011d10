//! What a row was written from, in 128 bits: the digest of a bpdbjobs record's text (so an
//! unchanged record can be recognised before it is parsed) or, for the other formats, of the
//! row's values. Two rows with the same digest were written from the same thing; 128 bits
//! of SHA-256 make a changed record taken for unchanged by chance not a risk worth a thought.

use sha2::{Digest as _, Sha256};

pub type Digest = [u8; 16];

/// How a bpdbjobs record becomes rows. Changing the parser's output for a record that did not
/// change must change this, so that every stored record is written again once.
const RECORD_READING: &[u8] = b"bpdbjobs record, reading 1\0";

/// The digest of one bpdbjobs record's text (its lines joined with `\n`, CR removed).
pub fn of_record(text: &str) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(RECORD_READING);
    hasher.update(text.as_bytes());
    first_half(hasher)
}

/// The digest of a row's values (its key included).
pub fn of_values<'a>(cells: impl Iterator<Item = Option<&'a str>>) -> Digest {
    let mut hasher = Sha256::new();
    for cell in cells {
        match cell {
            // The length first: the cells `ab`,`c` and `a`,`bc` must differ.
            Some(text) => {
                hasher.update([1]);
                hasher.update((text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
            None => hasher.update([0]),
        }
    }
    first_half(hasher)
}

fn first_half(hasher: Sha256) -> Digest {
    let mut digest = Digest::default();
    digest.copy_from_slice(&hasher.finalize()[..16]);
    digest
}

/// As Postgres' `decode(…, 'hex')` reads it.
pub fn hex(digest: &Digest, out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in digest {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_values_digest_changes_with_any_value_and_only_then() {
        let d = |cells: &[Option<&str>]| of_values(cells.iter().copied());
        let base = d(&[Some("ab"), Some("c"), None]);
        assert_eq!(base, d(&[Some("ab"), Some("c"), None]));
        assert_ne!(
            base,
            d(&[Some("a"), Some("bc"), None]),
            "cells are not run together"
        );
        assert_ne!(
            base,
            d(&[Some("ab"), Some("c"), Some("")]),
            "NULL is not empty"
        );
        assert_ne!(base, d(&[Some("ab"), Some("d"), None]));
    }

    #[test]
    fn a_record_digest_is_its_text_s_and_differs_from_a_values_digest() {
        assert_eq!(of_record("1,0,3"), of_record("1,0,3"));
        assert_ne!(of_record("1,0,3"), of_record("1,0,4"));
        assert_ne!(of_record(""), of_values(std::iter::empty()));
    }

    #[test]
    fn hex_is_lowercase_and_two_digits_a_byte() {
        let mut digest = Digest::default();
        digest[0] = 0x0f;
        digest[15] = 0xa0;
        let mut out = String::new();
        hex(&digest, &mut out);
        assert_eq!(out, format!("0f{}a0", "0".repeat(28)));
    }
}
