//! Key layouts for the events, compared on bare RocksDB before format 5 was
//! built (docs/design.md, "Keys: two column families").
//!
//! Writes `N` DM job events the way the 100 M scale run sends them: 16
//! interleaved streams of whole traces, a quarter of the events each in 2-,
//! 10-, 100- and 1 000-event traces, 16 x 100 events per write batch, with a
//! first-seen record and the counters per batch as the store writes them. It
//! prints the rate of each tenth and RocksDB's compaction statistics.
//!
//! ```text
//! cargo run --release -p tracekeep-bench --example layout -- LAYOUT N DIR
//! ```
//!
//! `LAYOUT`: `trace-id` (format 4: `0x01 trace seq`, universal compaction),
//! `epoch-one-family` / `number-one-family` (events under the trace's epoch of
//! 65 536 numbers or its own number, a start entry per trace, leveled
//! compaction, all in one family), `epoch` / `number` (the same with the
//! events in a leveled family of their own, the rest universal: `number` is
//! format 5).

use std::time::Instant;

use anyhow::{Context as _, bail};
use prost::Message as _;
use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompactionStyle, DBCompressionType,
    Options, SliceTransform, WriteBatch,
};

#[allow(dead_code)]
#[path = "../src/events.rs"]
mod events;

const MIX: [u64; 4] = [2, 10, 100, 1000];
const STREAMS: usize = 16;
const PER_STREAM: u64 = 100;

/// How the events are keyed and where they go.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    TraceId,
    Epoch { own_family: bool },
    Number { own_family: bool },
}

impl Layout {
    fn parse(name: &str) -> anyhow::Result<Layout> {
        Ok(match name {
            "trace-id" => Layout::TraceId,
            "epoch-one-family" => Layout::Epoch { own_family: false },
            "number-one-family" => Layout::Number { own_family: false },
            "epoch" => Layout::Epoch { own_family: true },
            "number" => Layout::Number { own_family: true },
            other => bail!("unknown layout {other:?}"),
        })
    }

    fn own_family(self) -> bool {
        matches!(
            self,
            Layout::Epoch { own_family: true } | Layout::Number { own_family: true }
        )
    }

    /// The event key of event `seq` of `trace`, first seen at `first`.
    fn event_key(self, key: &mut Vec<u8>, trace: &str, first: u64, seq: u64) {
        key.clear();
        match self {
            Layout::TraceId => key.push(0x01),
            Layout::Epoch { .. } => {
                key.push(0x0A);
                key.extend_from_slice(&(first >> 16).to_be_bytes());
            }
            Layout::Number { .. } => {
                key.push(0x0A);
                key.extend_from_slice(&first.to_be_bytes());
            }
        }
        key.extend_from_slice(&(trace.len() as u32).to_be_bytes());
        key.extend_from_slice(trace.as_bytes());
        key.extend_from_slice(&seq.to_be_bytes());
    }
}

/// The store's prefix extractor, for both key forms: the part before `seq`.
fn prefix_len(key: &[u8]) -> Option<usize> {
    let at = match key.first()? {
        0x01 => 1,
        0x0A => 9,
        _ => return None,
    };
    let len = u32::from_be_bytes(key.get(at..at + 4)?.try_into().ok()?) as usize;
    (key.len() >= at + 4 + len).then_some(at + 4 + len)
}

/// The store's options when format 5 was chosen (2026-12-01), kept so the
/// layout comparison in docs/design.md ("Keys") can be reproduced; the store
/// has since dropped the memtable bloom and the events family's whole-key
/// filter.
fn family_options(cache: &Cache, leveled: bool) -> Options {
    let mut block = BlockBasedOptions::default();
    block.set_block_cache(cache);
    block.set_block_size(16 << 10);
    block.set_cache_index_and_filter_blocks(true);
    block.set_cache_index_and_filter_blocks_with_high_priority(true);
    block.set_pin_l0_filter_and_index_blocks_in_cache(true);
    block.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
    block.set_partition_filters(true);
    block.set_metadata_block_size(4 << 10);
    block.set_pin_top_level_index_and_filter(true);
    block.set_bloom_filter(10.0, false);
    block.set_whole_key_filtering(true);
    block.set_optimize_filters_for_memory(true);
    let mut rocks = Options::default();
    rocks.create_if_missing(true);
    rocks.create_missing_column_families(true);
    rocks.set_block_based_table_factory(&block);
    rocks.set_prefix_extractor(SliceTransform::create(
        "layout",
        |key| &key[..prefix_len(key).unwrap_or(key.len())],
        Some(|key: &[u8]| prefix_len(key).is_some()),
    ));
    rocks.set_memtable_prefix_bloom_ratio(0.05);
    rocks.set_compression_type(DBCompressionType::Lz4);
    rocks.set_write_buffer_size(32 << 20);
    rocks.set_max_write_buffer_number(2);
    rocks.set_max_subcompactions(1);
    if leveled {
        rocks.set_compaction_style(DBCompactionStyle::Level);
        rocks.set_level_compaction_dynamic_level_bytes(true);
    } else {
        rocks.set_compaction_style(DBCompactionStyle::Universal);
        rocks.set_level_zero_slowdown_writes_trigger(40);
        rocks.set_level_zero_stop_writes_trigger(60);
    }
    rocks
}

/// One stream: whole traces one after another, each of the size furthest
/// behind its quarter of the events.
#[derive(Default)]
struct Stream {
    written: [u64; 4],
    started: [u64; 4],
    /// The trace being written: its size's index, events left, first-seen number.
    current: Option<(usize, u64, u64)>,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [layout, total, dir] = args.as_slice() else {
        bail!("usage: layout LAYOUT N DIR");
    };
    let layout = Layout::parse(layout)?;
    let total: u64 = total.parse().context("N")?;
    let dir = std::path::Path::new(dir);
    if dir.exists() {
        bail!("{} exists; give a new directory", dir.display());
    }
    let cache = Cache::new_lru_cache(64 << 20);
    let leveled_default = matches!(
        layout,
        Layout::Epoch { own_family: false } | Layout::Number { own_family: false }
    );
    let db_options = family_options(&cache, leveled_default);
    let families = [
        ColumnFamilyDescriptor::new("default", family_options(&cache, leveled_default)),
        ColumnFamilyDescriptor::new("events", family_options(&cache, true)),
    ];
    let db = rocksdb::DB::open_cf_descriptors(&db_options, dir, families).context("open")?;
    let default = db.cf_handle("default").context("default family")?;
    let events_family = if layout.own_family() {
        db.cf_handle("events").context("events family")?
    } else {
        default
    };
    let templates: Vec<Vec<u8>> = (0..64)
        .map(|n| events::job("f100.c12.123456", n).encode_to_vec())
        .collect();
    let mut streams: Vec<Stream> = (0..STREAMS).map(|_| Stream::default()).collect();
    let (mut seq, mut done, mut tenth) = (0u64, 0u64, 1u64);
    let (started, mut tenth_started) = (Instant::now(), Instant::now());
    let (mut key, mut value) = (Vec::new(), Vec::new());
    while done < total {
        let mut batch = WriteBatch::default();
        let mut order = Vec::new();
        let order_key = [&[0x03][..], &seq.to_be_bytes()].concat();
        for (client, stream) in streams.iter_mut().enumerate() {
            for _ in 0..PER_STREAM {
                let (size, left, first) = match stream.current {
                    Some(current) => current,
                    None => {
                        let size = (0..MIX.len()).min_by_key(|&size| stream.written[size]).unwrap_or(0);
                        stream.started[size] += 1;
                        let first = seq;
                        seq += 1;
                        (size, MIX[size], first)
                    }
                };
                let trace = format!("f{}.c{client}.{}", MIX[size], stream.started[size] - 1);
                if left == MIX[size] {
                    order.extend_from_slice(trace.as_bytes());
                    if layout != Layout::TraceId {
                        let start = [&[0x0B][..], &(trace.len() as u32).to_be_bytes(), trace.as_bytes()].concat();
                        batch.put_cf(default, start, [0u8; 18]);
                    }
                }
                layout.event_key(&mut key, &trace, first, seq);
                seq += 1;
                value.clear();
                value.extend_from_slice(&[0; 8]);
                value.extend_from_slice(&templates[(seq % 64) as usize]);
                batch.put_cf(events_family, &key, &value);
                stream.written[size] += 1;
                stream.current = (left > 1).then_some((size, left - 1, first));
            }
        }
        if !order.is_empty() {
            batch.put_cf(default, order_key, &order);
        }
        batch.put_cf(default, b"\x00counters", [1u8; 40]);
        db.write(batch).context("write")?;
        done += STREAMS as u64 * PER_STREAM;
        if done >= total * tenth / 10 {
            let rate = (total / 10) as f64 / tenth_started.elapsed().as_secs_f64();
            println!("tenth {tenth}: {rate:.0} events/s");
            tenth += 1;
            tenth_started = Instant::now();
        }
    }
    println!("{total} events in {:.0} s", started.elapsed().as_secs_f64());
    for (name, family) in [("default", default), ("events", events_family)] {
        let stats = db
            .property_value_cf(family, "rocksdb.stats")
            .ok()
            .flatten()
            .unwrap_or_default();
        for line in stats.lines().filter(|line| line.starts_with("Cumulative compaction")) {
            println!("{name} family: {line}");
        }
        if !layout.own_family() {
            break;
        }
    }
    Ok(())
}
