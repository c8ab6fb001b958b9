//! The background worker: batches queued events per kind and uploads them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;
use tonic::transport::Channel;
use tracekeep_proto::pb::tracer_client::TracerClient;
use tracekeep_proto::{TraceEvent, pb};

use super::{Counters, DmTracerConfig, Item};
use crate::upload::{Answer, Attempt, until_answered};

struct Batches {
    binlog: Vec<pb::SyncerBinlogEvent>,
    job: Vec<pb::SyncerJobEvent>,
}

/// Runs until every sender is gone, then uploads what is left.
pub(super) async fn run(
    config: Arc<DmTracerConfig>,
    mut rpc: TracerClient<Channel>,
    mut items: mpsc::Receiver<Item>,
    counters: Arc<Counters>,
) {
    let mut batches = Batches {
        binlog: Vec::new(),
        job: Vec::new(),
    };
    let mut tick = tokio::time::interval(config.flush_interval);
    loop {
        tokio::select! {
            item = items.recv() => match item {
                Some(Item::Event(TraceEvent::Binlog(event))) => {
                    batches.binlog.push(event);
                    if batches.binlog.len() >= config.batch_size {
                        upload_binlogs(&config, &mut rpc, &counters, &mut batches.binlog).await;
                    }
                }
                Some(Item::Event(TraceEvent::Job(event))) => {
                    batches.job.push(event);
                    if batches.job.len() >= config.batch_size {
                        upload_jobs(&config, &mut rpc, &counters, &mut batches.job).await;
                    }
                }
                Some(Item::Event(_)) => {}
                Some(Item::Flush(done)) => {
                    upload_all(&config, &mut rpc, &counters, &mut batches).await;
                    let _ = done.send(());
                }
                None => {
                    upload_all(&config, &mut rpc, &counters, &mut batches).await;
                    return;
                }
            },
            _ = tick.tick() => upload_all(&config, &mut rpc, &counters, &mut batches).await,
        }
    }
}

async fn upload_all(
    config: &DmTracerConfig,
    rpc: &mut TracerClient<Channel>,
    counters: &Counters,
    batches: &mut Batches,
) {
    upload_binlogs(config, rpc, counters, &mut batches.binlog).await;
    upload_jobs(config, rpc, counters, &mut batches.job).await;
}

/// Uploads a batch until the server answers; counts what happened.
async fn upload_with_retry<F, Fut>(config: &DmTracerConfig, counters: &Counters, count: usize, attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    if count == 0 {
        return;
    }
    let on_failure = |_: &tonic::Status| {
        counters.upload_failures.fetch_add(1, Ordering::Relaxed);
    };
    match until_answered(config.backoff_min, config.backoff_max, on_failure, attempt).await {
        Answer::Acknowledged => {
            counters.sent.fetch_add(count as u64, Ordering::Relaxed);
        }
        Answer::Refused(message) => {
            counters.refused.fetch_add(count as u64, Ordering::Relaxed);
            tracing::warn!(count, %message, "the server refused a batch of trace events; dropped");
        }
    }
}

/// Takes the batch and uploads it with `call` until the server answers.
async fn upload_batch<E, Fut>(
    config: &DmTracerConfig,
    rpc: &TracerClient<Channel>,
    counters: &Counters,
    batch: &mut Vec<E>,
    call: impl Fn(TracerClient<Channel>, Vec<E>) -> Fut,
) where
    E: Clone,
    Fut: std::future::Future<Output = Result<tonic::Response<pb::CommonUploadResponse>, tonic::Status>>,
{
    let events = std::mem::take(batch);
    let count = events.len();
    upload_with_retry(config, counters, count, || {
        let reply = call(rpc.clone(), events.clone());
        async move { Attempt::from_reply(reply.await) }
    })
    .await;
}

async fn upload_binlogs(
    config: &DmTracerConfig,
    rpc: &mut TracerClient<Channel>,
    counters: &Counters,
    batch: &mut Vec<pb::SyncerBinlogEvent>,
) {
    upload_batch(config, rpc, counters, batch, |mut rpc, events| async move {
        rpc.upload_syncer_binlog_event(pb::UploadSyncerBinlogEventRequest { events })
            .await
    })
    .await;
}

async fn upload_jobs(
    config: &DmTracerConfig,
    rpc: &mut TracerClient<Channel>,
    counters: &Counters,
    batch: &mut Vec<pb::SyncerJobEvent>,
) {
    upload_batch(config, rpc, counters, batch, |mut rpc, events| async move {
        rpc.upload_syncer_job_event(pb::UploadSyncerJobEventRequest { events })
            .await
    })
    .await;
}
