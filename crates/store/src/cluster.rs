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
use std::sync::{Arc, PoisonError, RwLock};
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

/// How often a node renews its lease and those of the nodes it adopted.
const LEASE_RENEW_EVERY: Duration = Duration::from_secs(5);

/// What a node needs to adopt a departed node's database: after how long
/// without a lease renewal a node counts as gone, and how to open its
/// database for writing (this node's options; a directory of its own under
/// this node's data directory).
pub(crate) struct Adoption {
    /// A node whose lease is this much older than the newest is gone.
    pub(crate) after: Duration,
    /// This node's store options (the node ID is replaced).
    pub(crate) options: StoreOptions,
    /// This node's data directory: adopted databases' go under `adopted/`.
    pub(crate) directory: std::path::PathBuf,
}

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
    /// Adopting departed nodes' databases; `None`: never.
    adoption: Option<Adoption>,
    /// The departed nodes this one adopted, writing their databases (only
    /// retention's deletes), by node ID.
    adopted: RwLock<Vec<(String, Arc<Store>)>>,
}

impl Cluster {
    /// The cluster of `root`, seen from node `own`, with a thread that
    /// lists the nodes every [`LIST_EVERY`] while the cluster is in use. A
    /// listing runs beside reads, never in their way: a bucket that stops
    /// answering holds up the listing, not the reads of what is cached.
    ///
    /// With `adoption`, the thread also renews this node's lease (and those
    /// of the nodes it adopted) every few seconds, and adopts the nodes
    /// whose leases stopped ([`Cluster::adopt_departed`]).
    pub(crate) fn start(root: BucketRoot, own: String, adoption: Option<Adoption>) -> std::io::Result<Arc<Cluster>> {
        let cluster = Arc::new(Cluster {
            root,
            own,
            peers: RwLock::default(),
            listing_failed: AtomicBool::new(false),
            adoption,
            adopted: RwLock::default(),
        });
        // A lease is renewed at least four times within the adoption's
        // `after`, so a live node never looks departed however short that is.
        let renew_every = cluster
            .adoption
            .as_ref()
            .map_or(LEASE_RENEW_EVERY, |adoption| LEASE_RENEW_EVERY.min(adoption.after / 4));
        let pause = LIST_EVERY.min(renew_every);
        let watched = Arc::downgrade(&cluster);
        std::thread::Builder::new()
            .name("tracekeep-cluster".into())
            .spawn(move || {
                let mut renewed: Option<std::time::Instant> = None;
                while let Some(cluster) = watched.upgrade() {
                    if renewed.is_none_or(|at| at.elapsed() >= renew_every) {
                        cluster.renew_leases();
                        renewed = Some(std::time::Instant::now());
                    }
                    if let Some(ids) = cluster.refresh()
                        && cluster.adopt_departed(&ids)
                    {
                        // Opening a database takes a while: renew at once.
                        cluster.renew_leases();
                        renewed = Some(std::time::Instant::now());
                    }
                    drop(cluster);
                    // A period, not a synchronisation: the next listing.
                    std::thread::sleep(pause);
                }
            })?;
        Ok(cluster)
    }

    /// Every node of `root` read as one, offline: the node of lowest ID
    /// opened as the reading store, the others as its peers, as they stand
    /// now (no listing thread, no lease, no adoption). What
    /// [`Store::open_bucket_read_only`] opens for a prefix of several nodes.
    pub(crate) fn open_offline(root: BucketRoot, node_ids: &[String], options: &StoreOptions) -> Result<Store> {
        let Some((own, others)) = node_ids.split_first() else {
            return Err(crate::error::StoreError::InvalidBucket {
                url: root.url().to_owned(),
                reason: "holds no node's database".into(),
            });
        };
        let mut peers = Vec::with_capacity(others.len());
        for node_id in others {
            peers.push(Arc::new(Peer {
                node_id: node_id.clone(),
                store: open_reader(&root, node_id, options)?,
            }));
        }
        let mut store = open_reader(&root, own, options)?;
        store.join_offline(Arc::new(Cluster {
            root,
            own: own.clone(),
            peers: RwLock::new(peers),
            listing_failed: AtomicBool::new(false),
            adoption: None,
            adopted: RwLock::default(),
        }));
        Ok(store)
    }

    /// The departed nodes this one adopted, by node ID.
    pub(crate) fn adopted(&self) -> Vec<(String, Arc<Store>)> {
        self.adopted.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Renews this node's lease and its adopted nodes', and lets go of an
    /// adopted database another process opened since (its node came back,
    /// or another node adopted it): a write there failed as fenced.
    fn renew_leases(&self) {
        if self.adoption.is_none() {
            return;
        }
        if let Err(error) = self.root.renew_lease(&self.own, &self.own) {
            tracing::warn!(%error, "could not renew this node's lease");
        }
        let mut adopted = self.adopted.write().unwrap_or_else(PoisonError::into_inner);
        adopted.retain(|(node_id, store)| {
            if store.fenced() {
                tracing::info!(node = %node_id, "another process opened an adopted node's database: letting it go");
                return false;
            }
            if let Err(error) = self.root.renew_lease(node_id, &self.own) {
                tracing::warn!(node = %node_id, %error, "could not renew an adopted node's lease");
            }
            true
        });
    }

    /// Adopts every node whose lease is older than the adoption's `after`
    /// (or that has none) when this node is the live node of lowest ID: a
    /// choice every live node makes alike from one listing, without a word
    /// between them. Adopting renews the node's lease first (so no other
    /// node adopts it too), then opens its database for writing: its data
    /// then keeps expiring with this node's retention.
    /// `ids` are the nodes with a database, as [`Cluster::refresh`] listed
    /// them. Returns whether it tried to adopt any.
    fn adopt_departed(&self, ids: &[String]) -> bool {
        let Some(adoption) = &self.adoption else {
            return false;
        };
        let Ok(ages) = self.root.lease_ages() else {
            return false;
        };
        let live: std::collections::BTreeSet<&str> = ages
            .iter()
            .filter(|(_, behind)| *behind < adoption.after)
            .map(|(node_id, _)| node_id.as_str())
            .chain([self.own.as_str()])
            .collect();
        if live.first() != Some(&self.own.as_str()) {
            return false;
        }
        let held: HashSet<String> = self.adopted().into_iter().map(|(node_id, _)| node_id).collect();
        let mut tried = false;
        for node_id in ids {
            if live.contains(node_id.as_str()) || held.contains(node_id) {
                continue;
            }
            tried = true;
            if let Err(error) = self.adopt(node_id, adoption) {
                tracing::warn!(node = %node_id, %error, "could not adopt a departed node");
            }
        }
        tried
    }

    /// Adopts `node_id`: its lease, then its database.
    fn adopt(&self, node_id: &str, adoption: &Adoption) -> Result<()> {
        self.root.renew_lease(node_id, &self.own)?;
        let options = StoreOptions {
            node_id: node_id.to_owned(),
            // Its own adoptions are this node's to make.
            adopt_after: None,
            ..adoption.options.clone()
        };
        let store = Store::open_as(
            &adoption.directory.join("adopted").join(node_id),
            options,
            crate::store::Membership::Adopted,
        )?;
        tracing::info!(node = %node_id, "adopted a departed node's database: its data expires with this node's retention");
        let mut adopted = self.adopted.write().unwrap_or_else(PoisonError::into_inner);
        adopted.push((node_id.to_owned(), Arc::new(store)));
        Ok(())
    }

    /// This store's node ID.
    pub(crate) fn own_node_id(&self) -> &str {
        &self.own
    }

    /// The other nodes read so far, by node ID.
    pub(crate) fn peers(&self) -> Vec<Arc<Peer>> {
        self.peers.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Lists the nodes and opens a reader for each new one; returns the
    /// nodes listed, `None` when the listing failed. A node whose database
    /// cannot be opened yet (it is being created) is tried again at the
    /// next listing.
    fn refresh(&self) -> Option<Vec<String>> {
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
                return None;
            }
        };
        let known: HashSet<String> = self.peers().iter().map(|peer| peer.node_id.clone()).collect();
        for node_id in &ids {
            if *node_id == self.own || known.contains(node_id) {
                continue;
            }
            match self.open_peer(node_id) {
                Ok(store) => {
                    tracing::info!(node = %node_id, "reading another node of the cluster");
                    let peer = Arc::new(Peer {
                        node_id: node_id.clone(),
                        store,
                    });
                    let mut peers = self.peers.write().unwrap_or_else(PoisonError::into_inner);
                    peers.push(peer);
                    peers.sort_by(|a, b| a.node_id.cmp(&b.node_id));
                }
                Err(error) => {
                    tracing::warn!(node = %node_id, %error, "could not open another node's database yet");
                }
            }
        }
        Some(ids)
    }

    fn open_peer(&self, node_id: &str) -> Result<Store> {
        let options = StoreOptions {
            block_cache_size: PEER_BLOCK_CACHE_BYTES,
            ..StoreOptions::default()
        };
        open_reader(&self.root, node_id, &options)
    }
}

/// Node `node_id`'s database in `root`, read-only.
fn open_reader(root: &BucketRoot, node_id: &str, options: &StoreOptions) -> Result<Store> {
    let engine: Arc<dyn Engine> = Arc::new(SlateEngine::open_reader(root.node_config(node_id, options, None))?);
    Store::read_only_over(engine, format!("{} node {node_id}", root.url()).into(), false)
}
