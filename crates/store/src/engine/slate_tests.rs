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

/// Estimated bytes of every table the database's manifest lists.
fn table_bytes(engine: &SlateEngine) -> u64 {
    let Database::Writer(db) = &engine.db else {
        panic!("a writer");
    };
    let manifest = db.manifest();
    manifest.l0().iter().map(|view| view.estimate_size()).sum::<u64>()
        + manifest.compacted().iter().map(|run| run.estimate_size()).sum::<u64>()
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
    assert!(!engine.reclaims_deletes_itself());
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
    assert!(table_bytes(&engine) > 2_000_000, "{}", table_bytes(&engine));

    engine.compact_all();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while table_bytes(&engine) > 100_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the tables still hold {} bytes",
            table_bytes(&engine)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut iter = engine.iter(KeyRange::between(*b"k", *b"l"));
    iter.seek_to_first();
    assert!(iter.item().is_none(), "a deleted key came back");
}
