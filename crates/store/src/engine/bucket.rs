//! Bucket URLs: which `object_store` implementation a `bucket` setting names.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures_core::stream::BoxStream;
use slatedb::bytes::Bytes;
use slatedb::object_store::path::Path;
use slatedb::object_store::{
    self, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use url::Url;

use super::BucketFigures;
use crate::error::{Result, StoreError};

/// The object store a bucket URL names (counted), the prefix inside it, and
/// its counters.
///
/// - `s3://bucket/prefix`: S3 or any S3-compatible server; the endpoint,
///   region and credentials come from the standard `AWS_*` variables
///   (`AWS_ENDPOINT_URL` or `AWS_ENDPOINT`, `AWS_REGION`,
///   `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`; `AWS_ALLOW_HTTP=true` for
///   a plain-HTTP endpoint such as a local SeaweedFS);
/// - `gs://bucket/prefix` (`GOOGLE_*` variables), `az://container/prefix`
///   (`AZURE_*` variables);
/// - `file:///path`: a local directory (another disk, a network mount);
/// - `memory://`: in this process only, gone when it ends (tests).
pub(crate) fn open(url: &str) -> Result<(Arc<dyn ObjectStore>, String, Arc<BucketCounters>)> {
    let (store, prefix) = open_uncounted(url)?;
    let counters = Arc::new(BucketCounters::default());
    Ok((Arc::new(Counted::new(store, counters.clone())), prefix, counters))
}

fn open_uncounted(url: &str) -> Result<(Arc<dyn ObjectStore>, String)> {
    let invalid = |reason: String| StoreError::InvalidBucket {
        url: url.to_owned(),
        reason,
    };
    let parsed = Url::parse(url).map_err(|error| invalid(error.to_string()))?;
    // object_store's HTTP client takes TLS from rustls with the process's
    // provider: ring, the one our server's TLS uses (an error only means one
    // is installed already).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let prefix = parsed.path().trim_matches('/').to_owned();
    let store: Arc<dyn ObjectStore> = match parsed.scheme() {
        "s3" => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_url(url)
                .build()
                .map_err(|error| invalid(error.to_string()))?,
        ),
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .build()
                .map_err(|error| invalid(error.to_string()))?,
        ),
        "az" | "azure" | "abfs" | "abfss" => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .build()
                .map_err(|error| invalid(error.to_string()))?,
        ),
        "file" => {
            let root = parsed.to_file_path().map_err(|()| invalid("not a local path".into()))?;
            std::fs::create_dir_all(&root).map_err(|error| invalid(format!("creating {}: {error}", root.display())))?;
            let local = object_store::local::LocalFileSystem::new_with_prefix(&root)
                .map_err(|error| invalid(error.to_string()))?;
            // The directory is the bucket: the database sits at its root.
            return Ok((Arc::new(local), String::new()));
        }
        "memory" => Arc::new(object_store::memory::InMemory::new()),
        other => {
            return Err(invalid(format!(
                "unknown scheme {other:?}: use s3://, gs://, az://, file:// or memory://"
            )));
        }
    };
    Ok((store, prefix))
}

/// What the store asked of its bucket since it opened: what operators watch
/// (`/metrics`' `tracekeep_bucket_*`), read from [`BucketCounters::figures`].
#[derive(Debug, Default)]
pub(crate) struct BucketCounters {
    gets: AtomicU64,
    puts: AtomicU64,
    lists: AtomicU64,
    deletes: AtomicU64,
    others: AtomicU64,
    errors: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    micros: AtomicU64,
}

impl BucketCounters {
    /// The counts as of now.
    pub(crate) fn figures(&self) -> BucketFigures {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        BucketFigures {
            gets: read(&self.gets),
            puts: read(&self.puts),
            lists: read(&self.lists),
            deletes: read(&self.deletes),
            others: read(&self.others),
            errors: read(&self.errors),
            bytes_read: read(&self.bytes_read),
            bytes_written: read(&self.bytes_written),
            request_millis: read(&self.micros) / 1000,
        }
    }

    /// Counts one request of `kind` that took since `started`, and its error.
    fn count<T>(&self, kind: &AtomicU64, started: Instant, result: &object_store::Result<T>) {
        kind.fetch_add(1, Ordering::Relaxed);
        self.micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        // Answers the engine expects and acts on are not failures: it probes
        // for log objects until one is missing, and writes its manifest and
        // log with put-if-absent (a conflict there is how fencing works).
        let expected = |error: &object_store::Error| {
            matches!(
                error,
                object_store::Error::NotFound { .. }
                    | object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. }
                    | object_store::Error::NotModified { .. }
            )
        };
        if result.as_ref().is_err_and(|error| !expected(error)) {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// An object store that counts what passes through it: requests by kind,
/// errors, bytes each way and time spent.
#[derive(Debug)]
pub(crate) struct Counted {
    inner: Arc<dyn ObjectStore>,
    counters: Arc<BucketCounters>,
}

impl Counted {
    /// `inner`, counted in `counters`.
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, counters: Arc<BucketCounters>) -> Counted {
        Counted { inner, counters }
    }
}

impl std::fmt::Display for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counted({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for Counted {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let (started, bytes) = (Instant::now(), payload.content_length() as u64);
        let result = self.inner.put_opts(location, payload, opts).await;
        self.counters.count(&self.counters.puts, started, &result);
        if result.is_ok() {
            self.counters.bytes_written.fetch_add(bytes, Ordering::Relaxed);
        }
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let started = Instant::now();
        let result = self.inner.put_multipart_opts(location, opts).await;
        self.counters.count(&self.counters.others, started, &result);
        result
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let started = Instant::now();
        let result = self.inner.get_opts(location, options).await;
        self.counters.count(&self.counters.gets, started, &result);
        if let Ok(found) = &result {
            self.counters
                .bytes_read
                .fetch_add(found.range.end.saturating_sub(found.range.start), Ordering::Relaxed);
        }
        result
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        let started = Instant::now();
        let result = self.inner.get_ranges(location, ranges).await;
        self.counters.count(&self.counters.gets, started, &result);
        if let Ok(parts) = &result {
            let bytes: usize = parts.iter().map(Bytes::len).sum();
            self.counters.bytes_read.fetch_add(bytes as u64, Ordering::Relaxed);
        }
        result
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.counters.deletes.fetch_add(1, Ordering::Relaxed);
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.counters.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.counters.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let started = Instant::now();
        let result = self.inner.list_with_delimiter(prefix).await;
        self.counters.count(&self.counters.lists, started, &result);
        result
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        let started = Instant::now();
        let result = self.inner.copy_opts(from, to, options).await;
        self.counters.count(&self.counters.others, started, &result);
        result
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> object_store::Result<()> {
        let started = Instant::now();
        let result = self.inner.rename_opts(from, to, options).await;
        self.counters.count(&self.counters.others, started, &result);
        result
    }
}
