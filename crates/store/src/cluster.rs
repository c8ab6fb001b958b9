//! Many nodes on one bucket, read as one. Each node writes its own database
//! under `nodes/<node-id>/` in the cluster's prefix (one writer per
//! database, as SlateDB requires, so nodes never coordinate a write) and
//! reads every other node's through a read-only engine, found by listing the
//! bucket: nodes that appear are read from the next listing on, and a node
//! that left stays readable, its database being in the bucket, not on it.
//!
//! The store's read API merges what the nodes hold ([`crate::Store::query`]),
//! so the server calls one API on one node or many.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::engine::Engine;
use crate::engine::slate::{BucketRoot, SlateEngine};
use crate::error::Result;
use crate::options::StoreOptions;
use crate::store::Store;

/// The time between two listings of the cluster's nodes: a node that joins
/// is read by the others within about this (plus opening its database).
const LIST_EVERY: Duration = Duration::from_secs(1);

/// Bytes of block cache each other node's reader gets: reads of another
/// node's data are the exception (a trace whose events arrived at several
/// nodes, a query through a node that did not ingest the trace).
const PEER_BLOCK_CACHE_BYTES: usize = 16 << 20;

/// Another node of the cluster, read-only.
pub(crate) struct Peer {
    /// Its node ID.
    pub(crate) node_id: String,
    /// Its database, read-only.
    pub(crate) store: Store,
}

/// The nodes of a bucket, as one store sees them.
pub(crate) struct Cluster {
    root: BucketRoot,
    /// This store's own node, not opened again as a peer.
    own: String,
    /// The other nodes, by node ID.
    peers: RwLock<Vec<Arc<Peer>>>,
    /// The last listing failed (said once, not every second).
    listing_failed: AtomicBool,
}

impl Cluster {
    /// The cluster of `root`, seen from node `own`, with a thread that
    /// lists the nodes every [`LIST_EVERY`] while the cluster is in use. A
    /// listing runs beside reads, never in their way: a bucket that stops
    /// answering holds up the listing, not the reads of what is cached.
    pub(crate) fn start(root: BucketRoot, own: String) -> std::io::Result<Arc<Cluster>> {
        let cluster = Arc::new(Cluster {
            root,
            own,
            peers: RwLock::default(),
            listing_failed: AtomicBool::new(false),
        });
        let watched = Arc::downgrade(&cluster);
        std::thread::Builder::new()
            .name("tracekeep-cluster".into())
            .spawn(move || {
                while let Some(cluster) = watched.upgrade() {
                    cluster.refresh();
                    drop(cluster);
                    // A period, not a synchronisation: the next listing.
                    std::thread::sleep(LIST_EVERY);
                }
            })?;
        Ok(cluster)
    }

    /// This store's node ID.
    pub(crate) fn own_node_id(&self) -> &str {
        &self.own
    }

    /// The other nodes read so far, by node ID.
    pub(crate) fn peers(&self) -> Vec<Arc<Peer>> {
        match self.peers.read() {
            Ok(peers) => peers.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Lists the nodes and opens a reader for each new one. A node whose
    /// database cannot be opened yet (it is being created) is tried again
    /// at the next listing.
    fn refresh(&self) {
        let ids = match self.root.node_ids() {
            Ok(ids) => {
                if self.listing_failed.swap(false, Ordering::Relaxed) {
                    tracing::info!("listing the cluster's nodes again");
                }
                ids
            }
            Err(error) => {
                if !self.listing_failed.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "could not list the cluster's nodes; reading the nodes known already");
                }
                return;
            }
        };
        let known: HashSet<String> = match self.peers.read() {
            Ok(peers) => peers.iter().map(|peer| peer.node_id.clone()).collect(),
            Err(poisoned) => poisoned.into_inner().iter().map(|peer| peer.node_id.clone()).collect(),
        };
        for node_id in ids {
            if node_id == self.own || known.contains(&node_id) {
                continue;
            }
            match self.open_peer(&node_id) {
                Ok(store) => {
                    tracing::info!(node = %node_id, "reading another node of the cluster");
                    let peer = Arc::new(Peer { node_id, store });
                    let mut peers = match self.peers.write() {
                        Ok(peers) => peers,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    peers.push(peer);
                    peers.sort_by(|a, b| a.node_id.cmp(&b.node_id));
                }
                Err(error) => {
                    tracing::warn!(node = %node_id, %error, "could not open another node's database yet");
                }
            }
        }
    }

    fn open_peer(&self, node_id: &str) -> Result<Store> {
        let options = StoreOptions {
            block_cache_size: PEER_BLOCK_CACHE_BYTES,
            ..StoreOptions::default()
        };
        let engine: Arc<dyn Engine> = Arc::new(SlateEngine::open_reader(
            self.root.node_config(node_id, &options, None),
        )?);
        Store::read_only_over(engine, format!("{} node {node_id}", self.root.url()).into(), false)
    }
}
