//! [`EngineFigures`]: what RocksDB itself reports about a store, for
//! operators and benchmarks, without exposing RocksDB.

use rocksdb::properties;

use crate::store::Store;

/// RocksDB's own figures for a store at one moment. A figure RocksDB does not
/// report reads as 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineFigures {
    /// Bytes in the memtables (not yet in table files).
    pub memtable_bytes: u64,
    /// Bytes the block cache holds (data, index and filter blocks).
    pub block_cache_bytes: u64,
    /// RocksDB's estimate of the bytes compaction still has to rewrite.
    pub pending_compaction_bytes: u64,
    /// Compactions running now.
    pub running_compactions: u64,
    /// Table files in level 0 (each one a query may have to look into).
    pub level0_files: u64,
    /// Writes are stopped now (too many L0 files or pending bytes).
    pub write_stopped: bool,
    /// Times writes were slowed down since the store opened.
    pub write_delays: u64,
    /// Times writes were stopped since the store opened.
    pub write_stops: u64,
    /// Milliseconds spent compacting since the store opened (the sum of
    /// every compaction job's duration; jobs run in parallel, so it can grow
    /// faster than the clock).
    pub compaction_millis: u64,
    /// RocksDB's estimate of the keys stored (every record: events, index
    /// entries, metadata); a total for progress reports, not a count.
    pub estimated_keys: u64,
}

impl Store {
    /// RocksDB's figures for this store now (cheap: no data is read).
    pub fn engine_figures(&self) -> EngineFigures {
        let db = self.db();
        // These three are the database's, whichever family is asked.
        let int = |name: &properties::PropName| db.property_int_value(name).ok().flatten().unwrap_or(0);
        let mut figures = EngineFigures {
            block_cache_bytes: int(properties::BLOCK_CACHE_USAGE),
            running_compactions: int(properties::NUM_RUNNING_COMPACTIONS),
            write_stopped: int(properties::IS_WRITE_STOPPED) != 0,
            ..EngineFigures::default()
        };
        // The rest is per column family: summed over both.
        for family in crate::families::all(db) {
            let int = |name: &properties::PropName| db.property_int_value_cf(family, name).ok().flatten().unwrap_or(0);
            let text = |name: &str| db.property_value_cf(family, name).ok().flatten().unwrap_or_default();
            let stalls = text("rocksdb.cf-write-stall-stats");
            figures.memtable_bytes += int(properties::CUR_SIZE_ALL_MEM_TABLES);
            figures.pending_compaction_bytes += int(properties::ESTIMATE_PENDING_COMPACTION_BYTES);
            figures.level0_files += int(&properties::num_files_at_level(0));
            figures.write_delays += stall_count(&stalls, "total-delays");
            figures.write_stops += stall_count(&stalls, "total-stops");
            figures.compaction_millis += compaction_millis(&text("rocksdb.cfstats")).unwrap_or(0);
        }
        figures.estimated_keys = estimated_keys(db);
        figures
    }
}

/// RocksDB's estimate of the keys in every column family: a total for
/// progress reports (verify, format upgrades), not a count.
pub(crate) fn estimated_keys(db: &rocksdb::DB) -> u64 {
    crate::families::all(db)
        .into_iter()
        .map(|family| {
            db.property_int_value_cf(family, properties::ESTIMATE_NUM_KEYS)
                .ok()
                .flatten()
                .unwrap_or(0)
        })
        .sum()
}

/// The count after `name: ` in RocksDB's write-stall statistics text.
fn stall_count(text: &str, name: &str) -> u64 {
    let Some(at) = text.find(&format!("{name}: ")) else {
        return 0;
    };
    text.get(at + name.len() + 2..)
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

/// The seconds at the end of the `Cumulative compaction: ...` line of
/// RocksDB's column family statistics, in milliseconds.
fn compaction_millis(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("Cumulative compaction:"))?;
    let seconds: f64 = line
        .trim_end()
        .strip_suffix("seconds")?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()?;
    Some((seconds * 1000.0).round() as u64)
}

#[cfg(test)]
#[path = "figures_tests.rs"]
mod tests;
