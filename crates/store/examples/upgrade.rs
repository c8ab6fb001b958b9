//! How long opening a format-4 store takes (the move of its events to format
//! 5's keys): fills a store with `N` DM job events in 10-event traces, puts
//! them back under format 4's keys, then times a read-write open.
//!
//! ```text
//! cargo run --release -p tracekeep-store --example upgrade -- N DIR
//! ```

use std::time::Instant;

use anyhow::{Context as _, bail};
use tracekeep_store::{Store, StoreOptions, TraceEvent, pb};

fn job(trace_id: String, n: i64) -> TraceEvent {
    TraceEvent::Job(pb::SyncerJobEvent {
        base: Some(pb::BaseEvent {
            filename: "/go/src/github.com/pingcap/dm/syncer/syncer.go".into(),
            line: 1130,
            tso: 1_763_800_000_000_000_000 + n,
            trace_id,
            r#type: pb::TraceType::JobEvent as i32,
            ..Default::default()
        }),
        op_type: 2,
        sql: format!(
            "INSERT INTO `shop`.`orders` (`id`,`amount`) VALUES ({n},{}.99)",
            n % 1000
        ),
        queue_bucket: format!("q_{}", n % 16),
        ..Default::default()
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [total, dir] = args.as_slice() else {
        bail!("usage: upgrade N DIR");
    };
    let total: i64 = total.parse().context("N")?;
    let dir = std::path::Path::new(dir);
    if dir.exists() {
        bail!("{} exists; give a new directory", dir.display());
    }
    {
        let store = Store::open(dir, StoreOptions::default()).context("open")?;
        let started = Instant::now();
        for batch in (0..total).collect::<Vec<_>>().chunks(1000) {
            store
                .append(batch.iter().map(|&n| job(format!("upgrade.{}", n / 10), n)).collect())
                .context("append")?;
        }
        println!("filled {total} events in {:.1} s", started.elapsed().as_secs_f64());
        let started = Instant::now();
        store.rewrite_as_format_4().context("rewrite as format 4")?;
        store.flush().context("flush")?;
        println!("rewrote them as format 4 in {:.1} s", started.elapsed().as_secs_f64());
    }
    let started = Instant::now();
    let store = Store::open(dir, StoreOptions::default()).context("open format 4")?;
    let opened = started.elapsed().as_secs_f64();
    let stats = store.stats().context("stats")?;
    println!(
        "opened (format {} -> {}) in {opened:.1} s: {:.0} events/s moved",
        4,
        stats.format_version,
        total as f64 / opened
    );
    Ok(())
}
