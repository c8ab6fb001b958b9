//! Deliberate damage, for tests that prove damage is detected (feature `fault-injection`).

use rocksdb::WriteOptions;

use crate::error::{Result, StoreError};
use crate::keys;
use crate::store::Store;

impl Store {
    fn raw_put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db()
            .put_opt(key, value, &options)
            .map_err(|error| StoreError::engine("injecting a fault", error))
    }

    fn nth_event_key(&self, trace_id: &str, index: usize) -> Result<Vec<u8>> {
        let events = self.query(trace_id)?;
        let event = events.get(index).ok_or_else(|| StoreError::TraceNotFound {
            trace_id: format!("{trace_id} (event {index})"),
        })?;
        Ok(keys::event_key(trace_id, event.seq))
    }

    /// Flips every bit of byte `byte` of the stored value of the trace's
    /// `index`-th event, bypassing all checks.
    pub fn inject_flipped_byte(&self, trace_id: &str, index: usize, byte: usize) -> Result<()> {
        let key = self.nth_event_key(trace_id, index)?;
        let mut value = self
            .db()
            .get(&key)
            .map_err(|error| StoreError::engine("injecting a fault", error))?
            .unwrap_or_default();
        if let Some(target) = value.get_mut(byte) {
            *target ^= 0xFF;
        }
        self.raw_put(&key, &value)
    }

    /// Removes a trace's summary record but leaves its events and order entry:
    /// the dangling-index and orphan-event damage verify must report.
    pub fn inject_lost_summary(&self, trace_id: &str) -> Result<()> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db()
            .delete_opt(keys::trace_key(trace_id), &options)
            .map_err(|error| StoreError::engine("injecting a fault", error))
    }
}

impl Store {
    /// Rewrites the format record as if tracekeep format `version` had written it.
    pub fn inject_format_version(&self, version: u8) -> Result<()> {
        let info = crate::records::FormatInfo {
            version: u32::from(version),
            created_unix_nanos: 0,
        };
        let mut value = crate::records::encode_message(keys::META_FORMAT, crate::records::KIND_FORMAT, &info);
        value[2] = version;
        self.raw_put(keys::META_FORMAT, &value)
    }
}
