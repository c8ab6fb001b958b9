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
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::engine::slate::{BucketRoot, SlateEngine};
use crate::error::Result;
use crate::options::StoreOptions;
use crate::store::Store;

/// The least time between two listings of the cluster's nodes: a node that
/// joins is read by the others within about this (plus opening its database).
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
    /// When the nodes were last listed; held while listing.
    listed: Mutex<Option<Instant>>,
}

impl Cluster {
    /// The cluster of `root`, seen from node `own`.
    pub(crate) fn new(root: BucketRoot, own: String) -> Cluster {
        Cluster {
            root,
            own,
            peers: RwLock::default(),
            listed: Mutex::default(),
        }
    }

    /// This store's node ID.
    pub(crate) fn own_node_id(&self) -> &str {
        &self.own
    }

    /// The other nodes, by node ID, after listing the bucket again if the
    /// last listing is older than [`LIST_EVERY`] and nobody is listing now.
    pub(crate) fn peers(&self) -> Vec<Arc<Peer>> {
        self.refresh();
        match self.peers.read() {
            Ok(peers) => peers.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Lists the nodes and opens a reader for each new one. A node whose
    /// database cannot be opened yet (it is being created) is tried again
    /// at the next listing.
    fn refresh(&self) {
        let Ok(mut listed) = self.listed.try_lock() else {
            return;
        };
        if listed.is_some_and(|at| at.elapsed() < LIST_EVERY) {
            return;
        }
        *listed = Some(Instant::now());
        let ids = match self.root.node_ids() {
            Ok(ids) => ids,
            Err(error) => {
                tracing::warn!(%error, "could not list the cluster's nodes; reading the nodes known already");
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
