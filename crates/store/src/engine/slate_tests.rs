#![allow(clippy::unwrap_used)]

use super::*;

/// A bucket engine in a local-file bucket under `dir`.
fn engine(dir: &Path) -> SlateEngine {
    let url = format!("file://{}/bucket", dir.display());
    SlateEngine::open(SlateConfig::for_bucket(&url, &StoreOptions::default(), Some(dir)).unwrap()).unwrap()
}

/// Writes the memtable out as a level-0 table.
fn flush_memtable(engine: &SlateEngine) {
    let Database::Writer(db) = engine.db.clone() else {
        panic!("a writer");
    };
    let flush = FlushOptions {
        flush_type: FlushType::MemTable,
    };
    run(&engine.handle, async move { db.flush_with_options(flush).await })
        .unwrap()
        .unwrap();
}

/// Polls until `done`, failing with `state()` after a minute: SlateDB's
/// compactor works in the background.
fn wait_until(mut done: impl FnMut() -> bool, state: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{}", state());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn write(engine: &SlateEngine, fill: impl FnOnce(&mut dyn EngineBatch)) {
    let mut batch = engine.batch(0).unwrap();
    fill(&mut *batch);
    batch.write(false).unwrap();
}

#[test]
fn compacting_everything_drops_deleted_keys_from_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    // Two megabytes of noise in one table, their deletes in another: the
    // size-tiered compactor leaves two level-0 tables alone.
    let key = |n: u32| format!("k{n:06}").into_bytes();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut noise = || {
        (0..1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect::<Vec<u8>>()
    };
    write(&engine, |batch| {
        for n in 0..2_000 {
            batch.put(&key(n), &noise());
        }
    });
    flush_memtable(&engine);
    write(&engine, |batch| {
        for n in 0..2_000 {
            batch.delete(&key(n));
        }
    });
    flush_memtable(&engine);
    assert!(
        engine.figures().table_bytes > 2_000_000,
        "{}",
        engine.figures().table_bytes
    );

    engine.compact_all();
    wait_until(
        || engine.figures().table_bytes <= 100_000,
        || format!("the tables still hold {} bytes", engine.figures().table_bytes),
    );
    let mut iter = engine.iter(KeyRange::between(*b"k", *b"l"));
    iter.seek_to_first();
    assert!(iter.item().is_none(), "a deleted key came back");
}

#[test]
fn compacting_everything_reaches_sorted_runs_too() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let key = |n: u32| format!("k{n:06}").into_bytes();
    // Eight level-0 tables of 500 KB: SlateDB's size-tiered compactor
    // merges them into sorted runs by itself.
    for round in 0..8 {
        write(&engine, |batch| {
            for n in round * 500..(round + 1) * 500 {
                batch.put(&key(n), &vec![(n % 251) as u8 ^ 0x5a; 1024]);
            }
        });
        flush_memtable(&engine);
    }
    wait_until(
        || engine.figures().level0_files <= 4,
        || "level 0 was never compacted".into(),
    );
    write(&engine, |batch| {
        for n in 0..4_000 {
            batch.delete(&key(n));
        }
    });
    let before = engine.figures().table_bytes;
    engine.compact_all();
    wait_until(
        || engine.figures().table_bytes <= 100_000,
        || {
            format!(
                "the tables still hold {} bytes of {before}",
                engine.figures().table_bytes
            )
        },
    );
}
