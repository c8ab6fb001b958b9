//! The embedded RocksDB engine: one data directory, two column families.
//!
//! - `events` (format 5): the events, under `0x0A first_seq trace seq`. Keys
//!   grow with the trace's first-seen number, so new events land at the end
//!   of the key space; leveled compaction then has little to merge, and
//!   files of older traces move down the levels without being rewritten.
//! - `default`: everything else (metadata, first-seen order, start entries,
//!   the span index, and the events of stores older than format 5). Start
//!   entries and the span index are keyed by trace ID or by name, spread over
//!   their key space, so this family keeps universal compaction, which merges
//!   whole sorted runs instead of rewriting overlapping ranges level by level.
//!
//! A key's family follows from its first byte, so the keyspace above never
//! names one. One commit is one write batch across both families and one
//! write-ahead log: atomic. docs/design.md, "RocksDB settings", has the
//! figures.

use std::path::Path;

use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, CompactOptions,
    DBCompactionStyle, DBCompressionType, DBRawIteratorWithThreadMode, MergeOperands, Options, ReadOptions,
    SliceTransform, WriteBatch, WriteOptions, properties,
};

use super::{Engine, EngineBatch, EngineError, EngineFigures, EngineIter, EngineRead, KeyRange, Written};
use crate::error::{Result, StoreError};
use crate::keys;
use crate::options::StoreOptions;
use crate::term_set;

const EVENTS: &str = "events";

/// A store's RocksDB database.
pub(crate) struct RocksEngine {
    db: rocksdb::DB,
}

impl RocksEngine {
    /// Opens (creating if needed) the database in `path`, which must be
    /// empty or hold one.
    pub(crate) fn open(path: &Path, options: &StoreOptions) -> Result<RocksEngine> {
        let is_empty = std::fs::read_dir(path)
            .map_err(|source| StoreError::Io {
                action: "read data directory",
                path: path.to_path_buf(),
                source,
            })?
            .next()
            .is_none();
        if !is_empty && !has_current_file(path) {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
                reason: "the directory is not empty and holds no RocksDB database (no CURRENT file)".into(),
            });
        }
        let cache = Cache::new_lru_cache(options.block_cache_size);
        let mut db_options = family_options(options, &cache, false);
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        // A write-ahead log file goes only when every family has flushed what it
        // holds; the default family takes a small share of the bytes and would
        // keep old logs (and restart's replay) growing. Past this total RocksDB
        // flushes the family holding the oldest log.
        db_options.set_max_total_wal_size(wal_bound(options));
        let families = [
            ColumnFamilyDescriptor::new(
                rocksdb::DEFAULT_COLUMN_FAMILY_NAME,
                family_options(options, &cache, false),
            ),
            ColumnFamilyDescriptor::new(EVENTS, family_options(options, &cache, true)),
        ];
        let db =
            rocksdb::DB::open_cf_descriptors(&db_options, path, families).map_err(|error| open_error(path, error))?;
        Ok(RocksEngine { db })
    }

    /// Opens the database in `path` read-only: nothing in the directory
    /// changes, and a server may have it open meanwhile.
    pub(crate) fn open_read_only(path: &Path, options: &StoreOptions) -> Result<RocksEngine> {
        if !path.is_dir() {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
                reason: "no such directory".into(),
            });
        }
        if !has_current_file(path) {
            return Err(StoreError::NotAStore {
                path: path.to_path_buf(),
                reason: "it holds no RocksDB database (no CURRENT file)".into(),
            });
        }
        let cache = Cache::new_lru_cache(options.block_cache_size);
        let db_options = family_options(options, &cache, false);
        let names = rocksdb::DB::list_cf(&db_options, path).map_err(|error| open_error(path, error))?;
        let families = names.into_iter().map(|name| {
            let events = name == EVENTS;
            ColumnFamilyDescriptor::new(name, family_options(options, &cache, events))
        });
        let db = rocksdb::DB::open_cf_descriptors_read_only(&db_options, path, families, false)
            .map_err(|error| open_error(path, error))?;
        Ok(RocksEngine { db })
    }

    /// The family holding `key`. Both exist once opened; a store opened
    /// read-only from before format 5 may lack `events`, and then holds no
    /// such key (its writes cannot happen).
    fn family_of(&self, key: &[u8]) -> Option<&ColumnFamily> {
        if key.first() == Some(&keys::TAG_EVENT) {
            self.db.cf_handle(EVENTS)
        } else {
            self.db.cf_handle(rocksdb::DEFAULT_COLUMN_FAMILY_NAME)
        }
    }

    fn families(&self) -> Vec<&ColumnFamily> {
        [rocksdb::DEFAULT_COLUMN_FAMILY_NAME, EVENTS]
            .into_iter()
            .filter_map(|name| self.db.cf_handle(name))
            .collect()
    }

    fn read_get(&self, key: &[u8], snapshot: Option<&rocksdb::Snapshot<'_>>) -> Result<Option<Vec<u8>>, EngineError> {
        let Some(family) = self.family_of(key) else {
            return Ok(None);
        };
        self.db
            .get_cf_opt(family, key, &read_options(snapshot, false))
            .map_err(EngineError::from)
    }

    fn read_contains(&self, key: &[u8], snapshot: Option<&rocksdb::Snapshot<'_>>) -> Result<bool, EngineError> {
        let Some(family) = self.family_of(key) else {
            return Ok(false);
        };
        self.db
            .get_pinned_cf_opt(family, key, &read_options(snapshot, false))
            .map(|value| value.is_some())
            .map_err(EngineError::from)
    }

    fn read_iter(&self, range: KeyRange, snapshot: Option<&rocksdb::Snapshot<'_>>) -> Box<dyn EngineIter + '_> {
        debug_assert!(
            range.lower.first() == Some(&keys::TAG_EVENT)
                || range
                    .upper
                    .as_deref()
                    .is_none_or(|upper| upper <= [keys::TAG_EVENT].as_slice())
                || range.lower.as_slice() > [keys::TAG_EVENT].as_slice(),
            "a scan spans the event keys and others: {range:?}"
        );
        let Some(family) = self.family_of(&range.lower) else {
            return Box::new(NoKeys);
        };
        let mut options = read_options(snapshot, range.one_trace);
        options.fill_cache(!range.once);
        if !range.lower.is_empty() {
            options.set_iterate_lower_bound(range.lower);
        }
        if let Some(upper) = range.upper {
            options.set_iterate_upper_bound(upper);
        }
        Box::new(RocksIter(self.db.raw_iterator_cf_opt(family, options)))
    }
}

fn has_current_file(path: &Path) -> bool {
    path.join("CURRENT").is_file()
}

/// Read options: a snapshot, and prefix mode (bloom filters skip table files
/// without the trace) for one trace's events, total order otherwise.
fn read_options(snapshot: Option<&rocksdb::Snapshot<'_>>, one_trace: bool) -> ReadOptions {
    let mut options = ReadOptions::default();
    if one_trace {
        options.set_prefix_same_as_start(true);
    } else {
        options.set_total_order_seek(true);
    }
    if let Some(snapshot) = snapshot {
        options.set_snapshot(snapshot);
    }
    options
}

impl From<rocksdb::Error> for EngineError {
    fn from(error: rocksdb::Error) -> EngineError {
        EngineError {
            corruption: error.kind() == rocksdb::ErrorKind::Corruption,
            message: error.into_string(),
        }
    }
}

fn open_error(path: &Path, error: rocksdb::Error) -> StoreError {
    let corrupted = error.kind() == rocksdb::ErrorKind::Corruption;
    let message = error.into_string();
    if is_lock_error(&message) {
        StoreError::DirectoryInUse {
            path: path.to_path_buf(),
        }
    } else if corrupted || message.contains("No such file or directory: While open a file") {
        // A damaged or missing table file: refuse to open rather than serve a
        // store with holes; the message names the file.
        StoreError::Corrupted {
            key: format!("table files of {}", path.display()),
            reason: message,
        }
    } else {
        StoreError::Engine {
            action: "opening the data directory",
            message,
        }
    }
}

fn is_lock_error(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("lock file") || message.contains("lock hold") || message.contains("/lock")
}

impl EngineRead for RocksEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        self.read_get(key, None)
    }

    fn contains(&self, key: &[u8]) -> Result<bool, EngineError> {
        self.read_contains(key, None)
    }

    fn iter(&self, range: KeyRange) -> Box<dyn EngineIter + '_> {
        self.read_iter(range, None)
    }
}

/// A snapshot of a [`RocksEngine`].
struct RocksSnapshot<'db> {
    engine: &'db RocksEngine,
    snapshot: rocksdb::Snapshot<'db>,
}

impl EngineRead for RocksSnapshot<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, EngineError> {
        self.engine.read_get(key, Some(&self.snapshot))
    }

    fn contains(&self, key: &[u8]) -> Result<bool, EngineError> {
        self.engine.read_contains(key, Some(&self.snapshot))
    }

    fn iter(&self, range: KeyRange) -> Box<dyn EngineIter + '_> {
        self.engine.read_iter(range, Some(&self.snapshot))
    }
}

struct RocksIter<'db>(DBRawIteratorWithThreadMode<'db, rocksdb::DB>);

impl EngineIter for RocksIter<'_> {
    fn seek_to_first(&mut self) {
        self.0.seek_to_first();
    }

    fn seek_to_last(&mut self) {
        self.0.seek_to_last();
    }

    fn seek(&mut self, key: &[u8]) {
        self.0.seek(key);
    }

    fn seek_for_prev(&mut self, key: &[u8]) {
        self.0.seek_for_prev(key);
    }

    fn next(&mut self) {
        self.0.next();
    }

    fn prev(&mut self) {
        self.0.prev();
    }

    fn item(&self) -> Option<(&[u8], &[u8])> {
        self.0.item()
    }

    fn key(&self) -> Option<&[u8]> {
        self.0.key()
    }

    fn status(&self) -> Result<(), EngineError> {
        self.0.status().map_err(EngineError::from)
    }
}

/// A cursor over a family the store does not have: nothing.
struct NoKeys;

impl EngineIter for NoKeys {
    fn seek_to_first(&mut self) {}
    fn seek_to_last(&mut self) {}
    fn seek(&mut self, _key: &[u8]) {}
    fn seek_for_prev(&mut self, _key: &[u8]) {}
    fn next(&mut self) {}
    fn prev(&mut self) {}
    fn item(&self) -> Option<(&[u8], &[u8])> {
        None
    }
    fn status(&self) -> Result<(), EngineError> {
        Ok(())
    }
}

/// A RocksDB write batch, bound to its database.
struct RocksBatch<'db> {
    db: &'db rocksdb::DB,
    default: &'db ColumnFamily,
    events: Option<&'db ColumnFamily>,
    batch: WriteBatch,
}

impl<'db> RocksBatch<'db> {
    fn family_of(&self, key: &[u8]) -> &'db ColumnFamily {
        match self.events {
            Some(events) if key.first() == Some(&keys::TAG_EVENT) => events,
            _ => self.default,
        }
    }
}

impl EngineBatch for RocksBatch<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) {
        let family = self.family_of(key);
        self.batch.put_cf(family, key, value);
    }

    fn merge(&mut self, key: &[u8], value: &[u8]) {
        let family = self.family_of(key);
        self.batch.merge_cf(family, key, value);
    }

    fn delete(&mut self, key: &[u8]) {
        let family = self.family_of(key);
        self.batch.delete_cf(family, key);
    }

    fn delete_range(&mut self, from: &[u8], to: &[u8]) {
        // Event keys are [TAG_EVENT, TAG_EVENT + 1) in `events`; the default
        // family holds the keys below and above.
        let (events_start, events_end) = ([keys::TAG_EVENT], [keys::TAG_EVENT + 1]);
        if from < events_start.as_slice() || to > events_end.as_slice() {
            self.batch.delete_range_cf(self.default, from, to);
        }
        if let Some(events) = self.events
            && from < events_end.as_slice()
            && to > events_start.as_slice()
        {
            self.batch.delete_range_cf(events, from, to);
        }
    }

    fn write(self: Box<Self>, sync: bool) -> Result<Written, EngineError> {
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.db.write_opt(self.batch, &options)?;
        Ok(Written::Durable)
    }
}

impl Engine for RocksEngine {
    fn snapshot(&self) -> Box<dyn EngineRead + '_> {
        Box::new(RocksSnapshot {
            engine: self,
            snapshot: self.db.snapshot(),
        })
    }

    fn batch(&self, capacity: usize) -> Result<Box<dyn EngineBatch + '_>, EngineError> {
        let default = self
            .db
            .cf_handle(rocksdb::DEFAULT_COLUMN_FAMILY_NAME)
            .ok_or_else(|| EngineError {
                corruption: false,
                message: "the database has no default column family".into(),
            })?;
        Ok(Box::new(RocksBatch {
            db: &self.db,
            default,
            events: self.db.cf_handle(EVENTS),
            batch: WriteBatch::with_capacity_bytes(capacity),
        }))
    }

    fn is_local(&self) -> bool {
        true
    }

    fn writes_slowing(&self) -> bool {
        let int = |name: &properties::PropName| self.db.property_int_value(name).ok().flatten().unwrap_or(0);
        int(properties::ACTUAL_DELAYED_WRITE_RATE) > 0 || int(properties::IS_WRITE_STOPPED) > 0
    }

    fn figures(&self) -> EngineFigures {
        let db = &self.db;
        // These three are the database's, whichever family is asked.
        let int = |name: &properties::PropName| db.property_int_value(name).ok().flatten().unwrap_or(0);
        let mut figures = EngineFigures {
            block_cache_bytes: int(properties::BLOCK_CACHE_USAGE),
            running_compactions: int(properties::NUM_RUNNING_COMPACTIONS),
            write_stopped: int(properties::IS_WRITE_STOPPED) != 0,
            ..EngineFigures::default()
        };
        // The rest is per column family: summed over both.
        for family in self.families() {
            let int = |name: &properties::PropName| db.property_int_value_cf(family, name).ok().flatten().unwrap_or(0);
            let text = |name: &str| db.property_value_cf(family, name).ok().flatten().unwrap_or_default();
            let stalls = text("rocksdb.cf-write-stall-stats");
            figures.memtable_bytes += int(properties::CUR_SIZE_ALL_MEM_TABLES);
            figures.pending_compaction_bytes += int(properties::ESTIMATE_PENDING_COMPACTION_BYTES);
            figures.level0_files += int(&properties::num_files_at_level(0));
            figures.table_bytes += int(properties::LIVE_SST_FILES_SIZE);
            figures.write_delays += stall_count(&stalls, "total-delays");
            figures.write_stops += stall_count(&stalls, "total-stops");
            figures.compaction_millis += compaction_millis(&text("rocksdb.cfstats")).unwrap_or(0);
        }
        figures.estimated_keys = self.estimated_keys();
        figures
    }

    fn estimated_keys(&self) -> u64 {
        self.families()
            .into_iter()
            .map(|family| {
                self.db
                    .property_int_value_cf(family, properties::ESTIMATE_NUM_KEYS)
                    .ok()
                    .flatten()
                    .unwrap_or(0)
            })
            .sum()
    }

    fn flush(&self) -> Result<(), EngineError> {
        self.db
            .flush_cfs_opt(&self.families(), &rocksdb::FlushOptions::default())
            .map_err(EngineError::from)
    }

    fn compact_all(&self) {
        // Not exclusive, so automatic compactions (which ingest needs) keep
        // running; under the disk bound's leveled layout each job deletes its
        // inputs as it ends, so space returns as it goes.
        let mut options = CompactOptions::default();
        options.set_exclusive_manual_compaction(false);
        for family in self.families() {
            self.db
                .compact_range_cf_opt(family, None::<&[u8]>, None::<&[u8]>, &options);
        }
    }

    fn checkpoint(&self, dir: &Path) -> Result<(), EngineError> {
        rocksdb::checkpoint::Checkpoint::new(&self.db)?.create_checkpoint(dir)?;
        Ok(())
    }

    #[cfg(feature = "fault-injection")]
    fn event_files(&self) -> Result<Vec<std::path::PathBuf>, EngineError> {
        let mut paths: Vec<_> = self
            .db
            .live_files()?
            .into_iter()
            .filter(|file| file.column_family_name == EVENTS)
            .map(|file| self.db.path().join(file.name.trim_start_matches('/')))
            .collect();
        paths.sort();
        Ok(paths)
    }
}

/// A count from RocksDB's write-stall statistics text.
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

/// The time compaction took since start, from RocksDB's `cfstats` text.
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

/// RocksDB's merge operator: [`term_set::union`].
fn merge_term_sets(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    Some(term_set::union(existing, operands.iter()))
}

const EVENTS_MEMTABLES: i32 = 3;

/// Memtables the default family may hold.
const DEFAULT_MEMTABLES: i32 = 2;

/// The write-ahead log's bound: one memtable (half the configured write
/// buffer) more than both families' memtables can hold together, so the
/// bound forces only the default family's flushes, whose memtable holds the
/// oldest log; or (under a disk bound) what [`bounded_layout`] allows. At 1.5
/// times the write buffer (96 MiB by default, below what the memtables hold)
/// it flushed the default family about every 0.6 s at 2 events per trace,
/// and each small flush of start entries and each merge of them in the
/// family's universal compaction is per-key work on the machine's two cores;
/// tighter still (64 MiB, with 8 MiB memtables in the default family) the
/// store alone ingested 2-event traces a fifth slower (docs/design.md). The
/// price is restart's replay of at most this much log (192 MiB by default).
fn wal_bound(options: &StoreOptions) -> u64 {
    if options.max_disk_bytes > 0 {
        2 * bounded_memtable(options)
    } else {
        let memtables = (EVENTS_MEMTABLES + DEFAULT_MEMTABLES + 1).unsigned_abs();
        options.write_buffer_size as u64 * u64::from(memtables) / 2
    }
}

fn table_options(cache: &Cache, events: bool) -> BlockBasedOptions {
    let mut block = BlockBasedOptions::default();
    // One cache for both families: memory stays bounded by the configured size.
    block.set_block_cache(cache);
    // 16 KiB data blocks: a 100-event trace spans two or three, and the index
    // is a quarter of what 4 KiB blocks need.
    block.set_block_size(16 << 10);
    // Charge index and filter blocks to the cache: memory stays bounded by it
    // however much is stored. Partition them: RocksDB splits the cache into
    // shards of about 1 MiB, and a whole table file's index or filter block is
    // larger than that, so it was evicted as soon as it was read and every query
    // read and decompressed it again (a perf profile of /events/query showed
    // 39% in reading index blocks). 4 KiB partitions fit, the small top-level
    // index is pinned, and all of it sits in the cache's high-priority pool,
    // which data blocks cannot evict.
    block.set_cache_index_and_filter_blocks(true);
    block.set_cache_index_and_filter_blocks_with_high_priority(true);
    block.set_pin_l0_filter_and_index_blocks_in_cache(true);
    block.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
    block.set_partition_filters(true);
    block.set_metadata_block_size(4 << 10);
    block.set_pin_top_level_index_and_filter(true);
    // Whole keys as well as trace prefixes (below) in the default family: a
    // search checks each candidate's other conditions with point reads of
    // span index keys, and a query or an append of a trace the writer has
    // not seen lately reads its start entry; a read that misses skips a
    // sorted run on its filter instead of reading a block there. Nothing
    // reads an event by its whole key (queries seek to a trace's prefix), so
    // the events family filters prefixes only: a whole-key filter there cost
    // a hash per event at every flush and compaction and 10 bits per event
    // on disk and in the cache, for no read.
    block.set_bloom_filter(10.0, false);
    block.set_whole_key_filtering(!events);
    block.set_optimize_filters_for_memory(true);
    block
}

/// The options of one family (`events`: the [`EVENTS`] family).
fn family_options(options: &StoreOptions, cache: &Cache, events: bool) -> Options {
    let mut rocks = Options::default();
    rocks.set_block_based_table_factory(&table_options(cache, events));
    // Term sets of the span index are merged (unioned), not overwritten.
    rocks.set_merge_operator_associative(term_set::MERGE_NAME, merge_term_sets);
    // Bloom filters over each trace's event prefix: a query's seek skips
    // table files that do not hold the trace. None in the memtables: adding
    // each event's prefix to a memtable bloom was a cache miss per event on
    // the writer thread (over half of `MemTable::Add`'s own time in a profile
    // of 2-event ingest), to save a query one skiplist seek per memtable.
    rocks.set_prefix_extractor(SliceTransform::create(
        "tracekeep.event-trace",
        keys::event_key_prefix,
        Some(keys::has_event_key_prefix),
    ));
    rocks.set_compression_type(DBCompressionType::Lz4);
    // One thread per merge: a large merge run as two halves took both cores,
    // and queries and the writer waited for CPU. At 100 M events (two runs
    // each, docs/benchmarks.md) one subcompaction kept the fill's average
    // (227 k and 219 k events/s against 222 k and 189 k), cut peak RSS from
    // 379-419 MB to 250 MB and the 10-event query's p99 during compaction
    // from about 3 ms to 0.7 ms. Under a disk bound, two parallel halves of
    // a job would also hold twice the temporary space.
    rocks.set_max_subcompactions(1);
    if options.max_disk_bytes > 0 {
        bounded_layout(&mut rocks, options);
        return rocks;
    }
    rocks.set_keep_log_file_num(4);
    rocks.set_max_log_file_size(16 << 20);
    // Memtables of half the configured write buffer in both families
    // (`wal_bound` counts on it).
    rocks.set_write_buffer_size(options.write_buffer_size / 2);
    if events {
        rocks.set_max_write_buffer_number(EVENTS_MEMTABLES);
        // Leveled compaction: keys arrive nearly in order, so a flushed file
        // overlaps only the newest files of the level below, and most files
        // move down without a rewrite. On a bare-RocksDB fill of 50 M events
        // shaped like the scale run, this family wrote 4.0 GB in compaction
        // against 8.9 GB for universal compaction over trace-ID keys, and held
        // its rate from the first tenth to the last (docs/design.md).
        rocks.set_compaction_style(DBCompactionStyle::Level);
        rocks.set_level_compaction_dynamic_level_bytes(true);
    } else {
        rocks.set_max_write_buffer_number(DEFAULT_MEMTABLES);
        // Universal compaction: start entries and span index keys are spread
        // over the key space by trace ID or name, so leveled compaction would
        // rewrite overlapping ranges level after level (a 100 M-event fill of
        // the format-4 layout, events included, sank to 35% of its first
        // tenth's rate). Universal merges whole sorted runs of similar size;
        // more runs may wait, which the triggers below allow before slowing
        // writes. Queries skip runs without the key by their filters.
        rocks.set_compaction_style(DBCompactionStyle::Universal);
    }
    // Both families slow writes at 40 level-0 files (or sorted runs) and
    // stop them at 60. RocksDB's defaults (20, 36) held the events family's
    // ingest back beside a retention sweep, whose deletions add level-0
    // files as fast as compaction on two cores merges them: append p99
    // 43-46 ms, 8x ingest alone; 9 ms with these (docs/benchmarks.md,
    // "Retention beside ingest").
    rocks.set_level_zero_slowdown_writes_trigger(40);
    rocks.set_level_zero_stop_writes_trigger(60);
    rocks
}

/// A memtable's size under a disk bound `B`: `B/64`, from 256 KiB to half
/// the configured write buffer.
fn bounded_memtable(options: &StoreOptions) -> u64 {
    const KIB: u64 = 1 << 10;
    let configured = (options.write_buffer_size as u64 / 2).max(256 * KIB);
    (options.max_disk_bytes / 64).clamp(256 * KIB, configured)
}

/// The layout under a disk bound `B` (`max_disk_bytes`), for both families:
/// every file that can sit in the directory beside the live data is a small
/// share of `B`.
///
/// Universal compaction's merges of whole sorted runs need free space the
/// size of the data, and deleted traces give their space back only when
/// every run is merged. Leveled compaction rewrites a few small files and
/// the part of the next level they overlap at a time, deleting its inputs
/// as each job ends, so a manual compaction of the whole key space (what
/// [`crate::Store::trim_to_disk_bound`] runs) returns deleted space job by
/// job. What a job holds twice is kept to a few percent of `B`: level 0
/// (four memtables of `B/64`) into a base level of about `B/32`; one file of
/// `B/256` into the four or so of the next level it overlaps (a level
/// multiplier of 4, not 10). docs/design.md, "Retention and the disk bound", has why.
fn bounded_layout(rocks: &mut Options, options: &StoreOptions) {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    let bound = options.max_disk_bytes;
    // Memtables are in the directory too, as write-ahead log.
    let memtable = bounded_memtable(options);
    rocks.set_write_buffer_size(memtable as usize);
    rocks.set_max_write_buffer_number(2);
    // RocksDB's info log lives in the directory as well.
    rocks.set_keep_log_file_num(2);
    rocks.set_max_log_file_size((bound / 128).clamp(256 * KIB, 16 * MIB) as usize);
    rocks.set_compaction_style(DBCompactionStyle::Level);
    rocks.set_level_compaction_dynamic_level_bytes(true);
    let file = (bound / 256).clamp(128 * KIB, 64 * MIB);
    rocks.set_target_file_size_base(file);
    rocks.set_max_bytes_for_level_base((bound / 32).max(512 * KIB));
    rocks.set_max_bytes_for_level_multiplier(4.0);
    rocks.set_max_compaction_bytes(file * 8);
}

#[cfg(test)]
#[path = "rocks_tests.rs"]
mod tests;
