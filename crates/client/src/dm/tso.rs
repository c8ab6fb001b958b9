//! [`TsoClock`]: the local clock moved onto the server's TSO timeline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tonic::transport::Channel;
use tracekeep_proto::pb;
use tracekeep_proto::pb::tracer_client::TracerClient;

use super::{ClientError, DmTracerConfig};

fn local_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
}

/// Local time plus the offset to the server's TSO, never going backwards.
#[derive(Debug, Default)]
pub struct TsoClock {
    offset: AtomicI64,
    last: AtomicI64,
    synced: AtomicBool,
}

impl TsoClock {
    /// Now on the server's timeline, in nanoseconds; strictly above the previous value.
    pub fn now(&self) -> i64 {
        let candidate = local_nanos().saturating_add(self.offset.load(Ordering::Relaxed));
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = candidate.max(last.saturating_add(1));
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(actual) => last = actual,
            }
        }
    }

    /// The measured offset in nanoseconds (server minus local).
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::Relaxed)
    }

    /// Whether an offset was measured yet.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }

    /// Measures the offset: the server's TSO against the local clock halfway
    /// through the round trip.
    pub async fn sync(&self, rpc: &mut TracerClient<Channel>) -> Result<(), ClientError> {
        let sent = local_nanos();
        let reply = rpc
            .get_tso(pb::GetTsoRequest {
                id: "tracekeep-client".into(),
            })
            .await?
            .into_inner();
        let received = local_nanos();
        if !reply.result {
            return Err(ClientError::Refused(reply.msg));
        }
        let midpoint = sent + (received - sent) / 2;
        self.offset.store(reply.ts - midpoint, Ordering::Relaxed);
        self.synced.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// Resyncs every `tso_sync_interval`; failures are logged and retried next time.
pub(super) async fn keep_synced(config: Arc<DmTracerConfig>, mut rpc: TracerClient<Channel>, clock: Arc<TsoClock>) {
    let mut tick = tokio::time::interval(config.tso_sync_interval);
    loop {
        tick.tick().await;
        if let Err(error) = clock.sync(&mut rpc).await {
            tracing::debug!(%error, "TSO sync failed; keeping the previous offset");
        }
    }
}
