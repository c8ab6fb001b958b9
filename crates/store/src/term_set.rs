//! Term sets: the values of the span index's time and service entries, the
//! sorted hashes of their spans' search terms (`crate::span_index`), and
//! their merge, which every engine applies to merged keys. The encoding and
//! the merge's name are part of the on-disk format.

/// The first byte of a term set value: its encoding (sorted little-endian u32s).
const TERM_SET_V1: u8 = 1;

/// The merge's name, which RocksDB records in the store; never change it.
pub(crate) const MERGE_NAME: &str = "tracekeep.term-set-union.v1";

/// A term set as stored: the version byte, then the hashes in ascending
/// order, each once (`terms` must be sorted and free of repeats).
pub(crate) fn encode(terms: &[u32]) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + 4 * terms.len());
    value.push(TERM_SET_V1);
    for term in terms {
        value.extend_from_slice(&term.to_le_bytes());
    }
    value
}

/// The hash bytes of a stored term set (4 little-endian bytes each); `None`
/// if it is not one.
fn term_set_hashes(value: &[u8]) -> Option<&[u8]> {
    let (&version, hashes) = value.split_first()?;
    (version == TERM_SET_V1 && hashes.len() % 4 == 0).then_some(hashes)
}

/// The hash at `index` of a term set's hash bytes.
fn hash_at(hashes: &[u8], index: usize) -> u32 {
    let bytes = &hashes[index * 4..index * 4 + 4];
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The hashes of a stored term set; `None` if it is not one.
fn decode(value: &[u8]) -> Option<impl Iterator<Item = u32> + '_> {
    let hashes = term_set_hashes(value)?;
    Some((0..hashes.len() / 4).map(|index| hash_at(hashes, index)))
}

/// Whether a stored term set holds every one of `wanted`.
pub(crate) fn holds(value: &[u8], wanted: &[u32]) -> bool {
    let Some(hashes) = term_set_hashes(value) else {
        return false;
    };
    let count = hashes.len() / 4;
    let at = |index: usize| hash_at(hashes, index);
    wanted.iter().all(|want| {
        // The set is sorted: a binary search over its hashes.
        let (mut low, mut high) = (0, count);
        while low < high {
            let middle = low + (high - low) / 2;
            match at(middle).cmp(want) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    })
}

/// The merge of term sets: the union of the stored set and every operand,
/// in whatever order the engine applies them. An operand that is not a term
/// set (damage) is skipped, never a panic; verify reports the entry.
pub(crate) fn union<'a>(existing: Option<&'a [u8]>, operands: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut union = Vec::new();
    for value in existing.into_iter().chain(operands) {
        if let Some(hashes) = decode(value) {
            union.extend(hashes);
        }
    }
    union.sort_unstable();
    union.dedup();
    encode(&union)
}
