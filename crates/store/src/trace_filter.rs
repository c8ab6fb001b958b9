//! An in-memory Bloom filter over the IDs of every stored trace.
//!
//! The writer must know whether an appended event starts a new trace (to give
//! it a first-seen entry and count it). Asking RocksDB for every trace it has
//! not seen lately cost a read per new trace on the single writer thread, half
//! its time with small traces. The filter answers "certainly new" for almost
//! every new trace from memory; only "maybe stored" (a trace that really is
//! stored, or a false positive, about 1%) still reads.
//!
//! 10 bits and 7 probes per trace in 512-bit blocks: 1.25 MB per million traces. The filter
//! grows by adding layers twice the size of the last, so it needs no rebuild;
//! deletes are not removed from it (a deleted trace only costs a read).

const BITS_PER_TRACE: usize = 10;
const PROBES: u64 = 7;
/// Capacity of the first layer, in traces.
const MIN_CAPACITY: usize = 1 << 20;

/// One fixed-size blocked Bloom filter: all of a trace's bits fall in one
/// 64-byte block, so a lookup touches one cache line instead of seven.
struct Layer {
    blocks: Vec<[u64; 8]>,
    capacity: usize,
    len: usize,
}

impl Layer {
    fn with_capacity(capacity: usize) -> Layer {
        let blocks = (capacity * BITS_PER_TRACE).div_ceil(512).max(1);
        Layer {
            blocks: vec![[0; 8]; blocks],
            capacity,
            len: 0,
        }
    }

    /// The block of `hash`, and the `probe`th bit in it (word, mask): the
    /// high half picks the block, the low half the bits (double hashing).
    /// The block is the high half scaled to the number of blocks (a multiply
    /// and a shift) rather than its remainder: a 64-bit division per layer
    /// per new trace was most of the filter's time on the writer thread.
    fn block(&self, hash: u64) -> usize {
        let scaled = (u128::from(hash >> 32) * self.blocks.len() as u128) >> 32;
        usize::try_from(scaled).unwrap_or_default()
    }

    fn bit(hash: u64, probe: u64) -> (usize, u64) {
        let (low, step) = (hash & 0xFFFF, ((hash >> 16) & 0xFFFF) | 1);
        let bit = low.wrapping_add(probe.wrapping_mul(step)) % 512;
        ((bit / 64) as usize, 1 << (bit % 64))
    }

    /// Sets the bits of `hash`; returns whether they were all set already.
    fn insert(&mut self, hash: u64) -> bool {
        let index = self.block(hash);
        let mut held = true;
        if let Some(block) = self.blocks.get_mut(index) {
            for probe in 0..PROBES {
                let (word, mask) = Self::bit(hash, probe);
                held &= block[word] & mask != 0;
                block[word] |= mask;
            }
        }
        self.len += 1;
        held
    }

    fn may_contain(&self, hash: u64) -> bool {
        let Some(block) = self.blocks.get(self.block(hash)) else {
            return true;
        };
        (0..PROBES).all(|probe| {
            let (word, mask) = Self::bit(hash, probe);
            block[word] & mask != 0
        })
    }
}

/// The trace IDs a store holds, approximately: no false negatives.
pub(crate) struct TraceFilter {
    layers: Vec<Layer>,
}

impl TraceFilter {
    /// An empty filter sized for about `expected` traces.
    pub(crate) fn with_capacity(expected: usize) -> TraceFilter {
        TraceFilter {
            layers: vec![Layer::with_capacity(expected.max(MIN_CAPACITY))],
        }
    }

    /// Adds a trace by its [`trace_hash`](crate::trace_set::trace_hash).
    pub(crate) fn insert(&mut self, hash: u64) {
        self.insert_checked(hash);
    }

    /// Adds a trace by its [`trace_hash`](crate::trace_set::trace_hash);
    /// returns what [`TraceFilter::may_contain`] answered just before. One
    /// pass over the trace's block instead of two (the writer asks, then adds
    /// every trace it was asked about, and the block is a cache miss).
    pub(crate) fn insert_checked(&mut self, hash: u64) -> bool {
        let full = self.layers.last().is_none_or(|layer| layer.len >= layer.capacity);
        if full {
            let capacity = self.layers.last().map_or(MIN_CAPACITY, |layer| layer.capacity * 2);
            self.layers.push(Layer::with_capacity(capacity));
        }
        let Some((newest, older)) = self.layers.split_last_mut() else {
            return true;
        };
        let held = newest.insert(hash);
        held || older.iter().any(|layer| layer.may_contain(hash))
    }

    /// `false` only if no trace with this [`trace_hash`](crate::trace_set::trace_hash) was inserted.
    /// (The writer asks through [`TraceFilter::insert_checked`].)
    #[cfg(test)]
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        self.layers.iter().any(|layer| layer.may_contain(hash))
    }

    /// Takes every trace of `other` in (both keep answering for their own).
    pub(crate) fn absorb(&mut self, other: TraceFilter) {
        self.layers.extend(other.layers);
    }

    /// Bytes the filter holds.
    pub(crate) fn size_bytes(&self) -> usize {
        self.layers.iter().map(|layer| layer.blocks.len() * 64).sum()
    }
}

#[cfg(test)]
#[path = "trace_filter_tests.rs"]
mod tests;
