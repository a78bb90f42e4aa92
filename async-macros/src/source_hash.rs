//! A hash of an optimizer as written, which each of its tasks registers beside its id: the
//! build fingerprint then tells apart two builds whose closures (or what the driver does with
//! their results) differ on the same lines, which the ids alone do not.

use std::hash::Hasher;

use fnv::FnvHasher;
use quote::quote;
use syn::ItemFn;

/// FNV-1a of the function's signature and body, as tokens: the same for the same source in
/// every process and build (comments and whitespace aside, which are no tokens), different
/// when a token changes. Attributes (doc comments) are left out: they compute nothing.
pub fn source_hash(function: &ItemFn) -> u64 {
    let (sig, block) = (&function.sig, &function.block);
    fnv1a(quote!(#sig #block).to_string().as_bytes())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hasher = FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(source: &str) -> u64 {
        source_hash(&syn::parse_str(source).expect("a function"))
    }

    #[test]
    fn the_same_source_hashes_alike_and_a_changed_closure_differently() {
        let original = "fn gd(cx: &mut Driver, data: &Dataset) -> f64 {
            reduce!(data, |part| part.data().label(0) - 1.0)
        }";
        // Another layout and a comment: the same tokens.
        let relaid = "fn gd(cx: &mut Driver, data: &Dataset) -> f64 {
            reduce!(data, |part| part.data().label(0) - 1.0) // the mean label, less one
        }";
        let doubled = "fn gd(cx: &mut Driver, data: &Dataset) -> f64 {
            reduce!(data, |part| 2.0 * part.data().label(0) - 1.0)
        }";
        let documented = format!("/// The mean label, less one.\n{original}");
        assert_eq!(hash(original), hash(original));
        assert_eq!(hash(original), hash(relaid));
        assert_eq!(hash(original), hash(&documented));
        assert_ne!(hash(original), hash(doubled));
    }

    #[test]
    fn fnv1a_matches_its_reference_values() {
        // The published FNV-1a 64 test vectors: the hash is no artefact of this build.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
