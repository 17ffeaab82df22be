//! Where recordings (and later attachments) are kept: a local folder or S3-compatible storage.
//!
//! One small interface, [`Files`], chosen by `ATIENDE_STORAGE_URL`: a path (the default,
//! `data/recordings`) or `s3://bucket/prefix` (credentials, region and endpoint from the usual
//! `AWS_*` variables, e.g. `AWS_ENDPOINT` for MinIO or another S3-compatible server). Keys are
//! built only from validated ids (a `RecordingSid`), never from raw input.
//!
//! Putting a file is atomic on both: a local file is written under a temporary name beside its
//! place, synced, then renamed (a write that fails half-way, a full disk, removes what it wrote);
//! an S3 object appears whole when its upload completes.

use crate::config::S3Config;
use crate::domain::RecordingSid;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// A storage key: a relative path made of validated parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKey(String);

impl FileKey {
    /// Where a verified recording lives.
    pub fn recording(sid: &RecordingSid) -> FileKey {
        FileKey(format!("{sid}.wav"))
    }

    /// Where a file that failed verification is kept apart.
    pub fn quarantine(sid: &RecordingSid) -> FileKey {
        FileKey(format!("quarantine/{sid}.wav"))
    }

    /// Where an attachment of a case lives: under the case's folio, by a random name (never
    /// the uploader's file name), with the extension of what its content was found to be.
    pub fn attachment(folio: &crate::domain::Folio, extension: &str) -> FileKey {
        use rand::Rng;
        let name: String = (0..24)
            .map(|_| char::from_digit(rand::rng().random_range(0..16), 16).expect("hex"))
            .collect();
        let extension: String = extension
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        FileKey(format!("attachments/{folio}/{name}.{extension}"))
    }

    /// A key read back from the database (written by one of the constructors above).
    pub fn stored(key: &str) -> Option<FileKey> {
        let safe = !key.is_empty()
            && !key.starts_with('/')
            && key
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'));
        safe.then(|| FileKey(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The temporary name a local file is written under beside `target` before its rename: the
/// whole name with `.partial` added (`RE….wav.partial`), a name no `FileKey` constructor makes.
fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Removes a half-written file after a failed write; it may not exist. A failure to remove it
/// (the disk gone) is logged: the write's own error is the one that matters.
async fn remove_partial(partial: &Path) {
    match tokio::fs::remove_file(partial).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(file = %partial.display(), error = %e, "could not remove a half-written file")
        }
    }
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("object storage: {0}")]
    Object(#[from] object_store::Error),
    #[error("ATIENDE_STORAGE_URL: {0}")]
    Config(String),
}

/// The configured storage. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Files {
    Local {
        root: PathBuf,
    },
    S3 {
        store: Arc<dyn ObjectStore>,
        prefix: String,
        url: String,
    },
}

impl Files {
    /// Opens the storage named by `ATIENDE_STORAGE_URL`.
    pub fn open(url: &str, s3: &S3Config) -> Result<Files, FilesError> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(FilesError::Config(format!("no bucket in {url:?}")));
            }
            let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
            if let Some(v) = &s3.access_key_id {
                builder = builder.with_access_key_id(v);
            }
            if let Some(v) = &s3.secret_access_key {
                builder = builder.with_secret_access_key(v.expose_secret());
            }
            if let Some(v) = &s3.session_token {
                builder = builder.with_token(v.expose_secret());
            }
            builder = builder.with_region(s3.region.as_deref().unwrap_or("us-east-1"));
            if let Some(endpoint) = &s3.endpoint {
                // S3-compatible servers (MinIO, Ceph, a local test server) use path-style URLs.
                builder = builder
                    .with_endpoint(endpoint)
                    .with_virtual_hosted_style_request(false)
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            let store = builder
                .build()
                .map_err(|e| FilesError::Config(e.to_string()))?;
            return Ok(Files::S3 {
                store: Arc::new(store),
                prefix: prefix.trim_matches('/').to_owned(),
                url: url.to_owned(),
            });
        }
        let root = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
        Ok(Files::Local { root })
    }

    /// A description for logs ("data/recordings", "s3://bucket/prefix").
    pub fn describe(&self) -> String {
        match self {
            Files::Local { root } => root.display().to_string(),
            Files::S3 { url, .. } => url.clone(),
        }
    }

    fn object_path(prefix: &str, key: &FileKey) -> ObjectPath {
        if prefix.is_empty() {
            ObjectPath::from(key.as_str())
        } else {
            ObjectPath::from(format!("{prefix}/{}", key.as_str()))
        }
    }

    /// Puts the file at `source` under `key`, atomically, and removes `source`.
    pub async fn put_file(&self, key: &FileKey, source: &Path) -> Result<(), FilesError> {
        match self {
            Files::Local { root } => {
                let target = root.join(key.as_str());
                let dir = target.parent().expect("keys have a file name");
                tokio::fs::create_dir_all(dir).await?;
                if tokio::fs::rename(source, &target).await.is_err() {
                    // Another file system: copy beside the target, sync, then rename.
                    let partial = partial_path(&target);
                    let copied = async {
                        tokio::fs::copy(source, &partial).await?;
                        tokio::fs::File::open(&partial).await?.sync_all().await?;
                        tokio::fs::rename(&partial, &target).await
                    };
                    if let Err(e) = copied.await {
                        // A full disk, say: what was half copied is not kept under any name.
                        remove_partial(&partial).await;
                        return Err(e.into());
                    }
                    tokio::fs::remove_file(source).await?;
                }
                // Make the rename itself durable.
                tokio::fs::File::open(dir).await?.sync_all().await?;
                Ok(())
            }
            Files::S3 { store, prefix, .. } => {
                let path = Files::object_path(prefix, key);
                let mut writer = object_store::buffered::BufWriter::new(store.clone(), path);
                let mut file = tokio::fs::File::open(source).await?;
                tokio::io::copy(&mut file, &mut writer).await?;
                writer.shutdown().await?;
                tokio::fs::remove_file(source).await?;
                Ok(())
            }
        }
    }

    /// The whole content under `key`.
    pub async fn get(&self, key: &FileKey) -> Result<Vec<u8>, FilesError> {
        match self {
            Files::Local { root } => Ok(tokio::fs::read(root.join(key.as_str())).await?),
            Files::S3 { store, prefix, .. } => {
                let bytes = store
                    .get(&Files::object_path(prefix, key))
                    .await?
                    .bytes()
                    .await?;
                Ok(bytes.to_vec())
            }
        }
    }

    /// Bytes `range` of what is stored under `key` (a player's Range request).
    pub async fn get_range(
        &self,
        key: &FileKey,
        range: std::ops::Range<u64>,
    ) -> Result<Vec<u8>, FilesError> {
        match self {
            Files::Local { root } => {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let mut file = tokio::fs::File::open(root.join(key.as_str())).await?;
                file.seek(std::io::SeekFrom::Start(range.start)).await?;
                let mut bytes = Vec::with_capacity((range.end - range.start) as usize);
                file.take(range.end - range.start)
                    .read_to_end(&mut bytes)
                    .await?;
                Ok(bytes)
            }
            Files::S3 { store, prefix, .. } => {
                let bytes = store
                    .get_range(&Files::object_path(prefix, key), range)
                    .await?;
                Ok(bytes.to_vec())
            }
        }
    }

    /// Puts `bytes` under `key`, atomically (see [`Files::put_file`]).
    pub async fn put_bytes(&self, key: &FileKey, bytes: &[u8]) -> Result<(), FilesError> {
        match self {
            Files::Local { root } => {
                let target = root.join(key.as_str());
                let dir = target.parent().expect("keys have a file name");
                tokio::fs::create_dir_all(dir).await?;
                let partial = partial_path(&target);
                let written = async {
                    let mut file = tokio::fs::File::create(&partial).await?;
                    file.write_all(bytes).await?;
                    file.sync_all().await?;
                    tokio::fs::rename(&partial, &target).await
                };
                if let Err(e) = written.await {
                    remove_partial(&partial).await;
                    return Err(e.into());
                }
                tokio::fs::File::open(dir).await?.sync_all().await?;
                Ok(())
            }
            Files::S3 { store, prefix, .. } => {
                store
                    .put(
                        &Files::object_path(prefix, key),
                        object_store::PutPayload::from(bytes.to_vec()),
                    )
                    .await?;
                Ok(())
            }
        }
    }

    /// Removes what is stored under `key`; nothing there is not an error.
    pub async fn delete(&self, key: &FileKey) -> Result<(), FilesError> {
        match self {
            Files::Local { root } => match tokio::fs::remove_file(root.join(key.as_str())).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
            Files::S3 { store, prefix, .. } => {
                match store.delete(&Files::object_path(prefix, key)).await {
                    Err(e) if !matches!(e, object_store::Error::NotFound { .. }) => Err(e.into()),
                    _ => Ok(()),
                }
            }
        }
    }

    /// The size in bytes of what is stored under `key` (to verify a copy).
    pub async fn size(&self, key: &FileKey) -> Result<u64, FilesError> {
        match self {
            Files::Local { root } => Ok(tokio::fs::metadata(root.join(key.as_str())).await?.len()),
            Files::S3 { store, prefix, .. } => {
                Ok(store.head(&Files::object_path(prefix, key)).await?.size)
            }
        }
    }

    /// Whether something is stored under `key`.
    pub async fn exists(&self, key: &FileKey) -> Result<bool, FilesError> {
        match self {
            Files::Local { root } => Ok(tokio::fs::try_exists(root.join(key.as_str())).await?),
            Files::S3 { store, prefix, .. } => {
                match store.head(&Files::object_path(prefix, key)).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Every key stored (for checks and tests).
    pub async fn list(&self) -> Result<Vec<String>, FilesError> {
        match self {
            Files::Local { root } => {
                let mut keys = Vec::new();
                let mut dirs = vec![root.clone()];
                while let Some(dir) = dirs.pop() {
                    let mut entries = match tokio::fs::read_dir(&dir).await {
                        Ok(e) => e,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e.into()),
                    };
                    while let Some(entry) = entries.next_entry().await? {
                        let path = entry.path();
                        if entry.file_type().await?.is_dir() {
                            dirs.push(path);
                        } else if let Ok(rel) = path.strip_prefix(root) {
                            keys.push(rel.display().to_string());
                        }
                    }
                }
                keys.sort();
                Ok(keys)
            }
            Files::S3 { store, prefix, .. } => {
                use futures_util::TryStreamExt;
                let base = (!prefix.is_empty()).then(|| ObjectPath::from(prefix.as_str()));
                let objects: Vec<_> = store.list(base.as_ref()).try_collect().await?;
                let mut keys: Vec<String> = objects
                    .into_iter()
                    .map(|o| {
                        let p = o.location.to_string();
                        p.strip_prefix(&format!("{prefix}/"))
                            .map(str::to_owned)
                            .unwrap_or(p)
                    })
                    .collect();
                keys.sort();
                Ok(keys)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write whose last step fails (here the rename: a folder is in the way; in life a full
    /// disk fails the copy) leaves nothing half-written behind, under any name.
    #[tokio::test]
    async fn a_failed_local_write_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("recordings");
        let files = Files::Local { root: root.clone() };
        let key = FileKey::stored("attachments/x/blocked.pdf").unwrap();
        std::fs::create_dir_all(root.join("attachments/x/blocked.pdf/inside")).unwrap();

        let put = files.put_bytes(&key, b"%PDF-1.4 hello").await;

        assert!(put.is_err(), "{put:?}");
        assert_eq!(files.list().await.unwrap(), Vec::<String>::new());
    }
}
