//! First-seen order records: which traces each commit saw first.
//!
//! Format 2 writes one [`OrderBatch`] per commit that saw new traces, under
//! the first-seen number of its first trace; format 1 wrote one
//! [`OrderEntry`] per trace. Readers take both, as a list of
//! `(trace ID, first-seen number)` items in ascending order.

use crate::error::{Result, StoreError};
use crate::keys;
use crate::records::{self, OrderBatch, OrderEntry};

/// One trace's place in first-seen order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OrderItem {
    pub trace_id: String,
    /// The arrival number just before the trace's first event.
    pub first_seq: u64,
}

/// The items of the order record `value` under `key`, whose number is read
/// from the key itself.
pub(crate) fn decode_record(key: &[u8], value: &[u8]) -> Result<Vec<OrderItem>> {
    match keys::decode_key(key) {
        Ok(keys::Key::Order { first_seq }) => decode(key, first_seq, value),
        _ => Err(StoreError::corrupted(key, "malformed first-seen order key")),
    }
}

/// The items of the order record `value` stored under the order key `key`
/// (whose number is `key_seq`).
pub(crate) fn decode(key: &[u8], key_seq: u64, value: &[u8]) -> Result<Vec<OrderItem>> {
    let (kind, payload) = records::decode(key, value)?;
    match kind {
        records::KIND_ORDER => {
            let entry: OrderEntry = prost::Message::decode(payload)
                .map_err(|error| StoreError::corrupted(key, format!("payload does not decode: {error}")))?;
            Ok(vec![OrderItem {
                trace_id: entry.trace_id,
                first_seq: key_seq,
            }])
        }
        records::KIND_ORDER_BATCH => {
            let batch: OrderBatch = prost::Message::decode(payload)
                .map_err(|error| StoreError::corrupted(key, format!("payload does not decode: {error}")))?;
            check_batch(key, key_seq, &batch)?;
            Ok(batch
                .trace_ids
                .into_iter()
                .zip(batch.first_seqs)
                .map(|(trace_id, first_seq)| OrderItem { trace_id, first_seq })
                .collect())
        }
        other => Err(StoreError::corrupted(
            key,
            format!("record kind {other} where a first-seen order record belongs"),
        )),
    }
}

fn check_batch(key: &[u8], key_seq: u64, batch: &OrderBatch) -> Result<()> {
    if batch.trace_ids.len() != batch.first_seqs.len() {
        return Err(StoreError::corrupted(
            key,
            format!(
                "{} trace IDs but {} first-seen numbers",
                batch.trace_ids.len(),
                batch.first_seqs.len()
            ),
        ));
    }
    if batch.first_seqs.first() != Some(&key_seq) {
        return Err(StoreError::corrupted(
            key,
            "the first item is not the one the key names",
        ));
    }
    if batch.first_seqs.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(StoreError::corrupted(key, "first-seen numbers do not ascend"));
    }
    Ok(())
}

/// The key and record of `batch` (first-seen numbers ascending); `None`
/// when it is empty.
pub(crate) fn encode(batch: &OrderBatch) -> Option<(Vec<u8>, Vec<u8>)> {
    let first = batch.first_seqs.first()?;
    let key = keys::order_key(*first);
    let value = records::encode_message(&key, records::KIND_ORDER_BATCH, batch);
    Some((key, value))
}

/// `items` as a batch record's payload.
pub(crate) fn to_batch(items: Vec<OrderItem>) -> OrderBatch {
    let mut batch = OrderBatch::default();
    for item in items {
        batch.trace_ids.push(item.trace_id);
        batch.first_seqs.push(item.first_seq);
    }
    batch
}

#[cfg(test)]
#[path = "order_tests.rs"]
mod tests;
