//! The store's RocksDB column families, and how each is tuned.
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
//! One commit is one write batch across both families and one write-ahead
//! log: atomic as before. docs/design.md, "RocksDB settings", has the figures.

use std::path::Path;

use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompactionStyle,
    DBCompressionType, Options, SliceTransform,
};

use crate::error::{Result, StoreError};
use crate::keys;
use crate::options::StoreOptions;
use crate::span_index;

/// The column family of events (format 5).
pub(crate) const EVENTS: &str = "events";

/// The column family `key` lives in: an event key of format 5 in
/// [`EVENTS`], every other key in the default family.
pub(crate) fn family_of<'d>(db: &'d rocksdb::DB, key: &[u8]) -> Result<&'d ColumnFamily> {
    let name = if key.first() == Some(&keys::TAG_EVENT) {
        EVENTS
    } else {
        rocksdb::DEFAULT_COLUMN_FAMILY_NAME
    };
    db.cf_handle(name).ok_or_else(|| StoreError::Engine {
        action: "finding a column family",
        message: format!("the store has no column family {name:?}"),
    })
}

/// The [`EVENTS`] family.
pub(crate) fn events(db: &rocksdb::DB) -> Result<&ColumnFamily> {
    family_of(db, &[keys::TAG_EVENT])
}

/// Every family the store has (the default one first).
pub(crate) fn all(db: &rocksdb::DB) -> Vec<&ColumnFamily> {
    [rocksdb::DEFAULT_COLUMN_FAMILY_NAME, EVENTS]
        .into_iter()
        .filter_map(|name| db.cf_handle(name))
        .collect()
}

/// Opens (creating what is missing) the store's database read-write.
pub(crate) fn open_read_write(path: &Path, options: &StoreOptions) -> std::result::Result<rocksdb::DB, rocksdb::Error> {
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
    rocksdb::DB::open_cf_descriptors(&db_options, path, families)
}

/// Opens the store's database read-only, with the families it has (a store
/// older than format 5 has no [`EVENTS`] family).
pub(crate) fn open_read_only(path: &Path, options: &StoreOptions) -> std::result::Result<rocksdb::DB, rocksdb::Error> {
    let cache = Cache::new_lru_cache(options.block_cache_size);
    let db_options = family_options(options, &cache, false);
    let names = rocksdb::DB::list_cf(&db_options, path)?;
    let families = names.into_iter().map(|name| {
        let events = name == EVENTS;
        ColumnFamilyDescriptor::new(name, family_options(options, &cache, events))
    });
    rocksdb::DB::open_cf_descriptors_read_only(&db_options, path, families, false)
}

/// Memtables the events family may hold: one filling, one flushing, and one
/// to fill while the single flush thread (shared by both families) is busy
/// with the other family or a slow flush. With two, the events family
/// stopped writes 7-14 times in a 5-second run of 2-event traces (RocksDB's
/// `memtable-limit-stops`), each stop idling the writer and with it every
/// appending thread; with three, 0-4 times.
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
    rocks.set_merge_operator_associative(span_index::TERM_SET_MERGE, span_index::merge_term_sets);
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
        rocks.set_level_zero_slowdown_writes_trigger(40);
        rocks.set_level_zero_stop_writes_trigger(60);
    }
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
