//! Bucket URLs: which `object_store` implementation a `bucket` setting names.

use std::sync::Arc;

use slatedb::object_store::{self, ObjectStore};
use url::Url;

use crate::error::{Result, StoreError};

/// The object store a bucket URL names, and the prefix inside it.
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
pub(crate) fn open(url: &str) -> Result<(Arc<dyn ObjectStore>, String)> {
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
