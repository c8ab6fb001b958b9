//! Where `trace_read` runs a read: on the calling worker when the store's
//! reads are local, on the blocking pool on a bucket.

use std::path::Path;
use std::sync::Arc;
use std::thread::ThreadId;

use tracekeep_store::{Store, StoreOptions};

use super::{ApiError, trace_read};

fn open(dir: &Path, bucket: bool) -> Arc<Store> {
    let options = StoreOptions {
        bucket: bucket.then(|| format!("file://{}/bucket", dir.display())),
        ..StoreOptions::default()
    };
    Arc::new(Store::open(dir.join("data"), options).expect("open the store"))
}

/// The thread `trace_read` ran its read on.
async fn read_thread(store: &Arc<Store>) -> ThreadId {
    trace_read(store, |_| Ok(std::thread::current().id()))
        .await
        .expect("the read")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_local_store_is_read_on_the_calling_worker() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), false);
    assert!(store.reads_are_local());
    assert_eq!(read_thread(&store).await, std::thread::current().id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_bucket_store_is_read_on_the_blocking_pool() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), true);
    assert!(!store.reads_are_local());
    assert_ne!(read_thread(&store).await, std::thread::current().id());
}

#[tokio::test]
async fn a_read_that_panics_answers_500_and_leaves_the_caller_running() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), false);
    let answer = trace_read(&store, |_| -> Result<(), _> { panic!("a bug in a read") }).await;
    assert!(matches!(answer, Err(ApiError::Internal(_))), "{answer:?}");
    assert_eq!(read_thread(&store).await, std::thread::current().id());
}
