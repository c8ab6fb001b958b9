//! The background job of a node in a cluster on a bucket: applying the
//! other nodes' truncates and deletes to this node's own data
//! ([`Store::follow_cluster_truncates`], [`Store::follow_cluster_deletes`]).
//! Reads leave that data out from the mark on; this frees it, and lets a
//! deleted trace start afresh here.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracekeep_store::Store;

use crate::background;

/// How often the other nodes' truncates are looked for: one point read per
/// node when there is none new.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Follows the other nodes' truncates until `stop` turns true.
pub async fn run(store: Arc<Store>, mut stop: watch::Receiver<bool>) {
    loop {
        let pass_store = store.clone();
        if let Some(deleted) = background::blocking_pass("following the cluster's truncates", move || {
            pass_store.follow_cluster_truncates()
        })
        .await
            && deleted > 0
        {
            tracing::info!(
                deleted,
                "another node truncated the cluster: deleted this node's traces from before it"
            );
        }
        let pass_store = store.clone();
        if let Some(deleted) = background::blocking_pass("following the cluster's deletes", move || {
            pass_store.follow_cluster_deletes()
        })
        .await
            && deleted > 0
        {
            tracing::debug!(deleted, "deleted this node's copies of traces another node deleted");
        }
        if !background::unless_stopped(&mut stop, tokio::time::sleep(FOLLOW_EVERY)).await {
            return;
        }
    }
}
