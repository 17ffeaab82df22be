//! `atiende backup DIR` and `atiende restore DIR`: a consistent copy of the data while the
//! service runs, and bringing it back.
//!
//! A backup is a folder: the database (`atiende.db`, a SQLite copy made with `VACUUM INTO`,
//! which is the database at one instant; or `atiende.pgdump`, made by `pg_dump --format=custom`
//! for PostgreSQL), then every stored file (recordings, attachments) under `files/`, copied
//! through the same storage the service uses (a folder or S3), and `MANIFEST.txt`. The database
//! is copied first: a file is stored before the database says so, so every file the copy names
//! is there (files stored meanwhile are copied too, unnamed and harmless).
//!
//! Restoring puts the database where `DATABASE_URL` says (a SQLite file that does not exist
//! yet; for PostgreSQL the manifest gives the `pg_restore` command) and every file into the
//! configured storage.

use crate::config::Config;
use crate::files::{FileKey, Files};
use crate::store::Store;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// The SQLite copy's name inside a backup.
const SQLITE_FILE: &str = "atiende.db";
/// The PostgreSQL dump's name inside a backup.
const PG_FILE: &str = "atiende.pgdump";
/// Where the files go inside a backup.
const FILES_DIR: &str = "files";

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub database: String,
    pub cases: i64,
    pub files: usize,
    pub bytes: u64,
}

/// Makes a backup in `dir` (which must not exist or be empty).
pub async fn backup(config: &Config, store: &Store, dir: &Path) -> anyhow::Result<BackupSummary> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} is not empty: a backup goes into a new folder",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir.join(FILES_DIR))?;
    let database = match store.backend_name() {
        "sqlite" => {
            store
                .snapshot_sqlite(&dir.join(SQLITE_FILE))
                .await
                .context("copying the SQLite database")?;
            SQLITE_FILE.to_owned()
        }
        _ => {
            let out = std::process::Command::new("pg_dump")
                .arg("--format=custom")
                .arg("--file")
                .arg(dir.join(PG_FILE))
                .arg(config.database_url.as_str())
                .output()
                .context("running pg_dump (install PostgreSQL's client tools)")?;
            if !out.status.success() {
                bail!("pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            PG_FILE.to_owned()
        }
    };
    let cases = store.count_cases().await?;
    let files = Files::open(&config.storage_url, &config.s3)?;
    let mut count = 0;
    let mut bytes = 0;
    for key in files.list().await? {
        let Some(file_key) = FileKey::stored(&key) else {
            continue;
        };
        let content = files.get(&file_key).await?;
        let target = dir.join(FILES_DIR).join(&key);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &content)?;
        count += 1;
        bytes += content.len() as u64;
    }
    let summary = BackupSummary {
        database,
        cases,
        files: count,
        bytes,
    };
    std::fs::write(
        dir.join("MANIFEST.txt"),
        format!(
            "atiende backup\ndatabase: {}\ncases: {}\nfiles: {} ({} bytes)\nrestore: atiende restore {}\n\
             (PostgreSQL: pg_restore --dbname URL {})\n",
            summary.database,
            summary.cases,
            summary.files,
            summary.bytes,
            dir.display(),
            dir.join(PG_FILE).display()
        ),
    )?;
    Ok(summary)
}

/// Restores the backup in `dir` into the configured database (a SQLite file that does not
/// exist yet) and storage. Returns how many files it put back.
pub async fn restore(config: &Config, dir: &Path) -> anyhow::Result<usize> {
    let sqlite = dir.join(SQLITE_FILE);
    if sqlite.exists() {
        let target = sqlite_path(config.database_url.as_str()).with_context(|| {
            "this backup is a SQLite database: DATABASE_URL must be sqlite://PATH".to_owned()
        })?;
        if target.exists() {
            bail!(
                "{} exists: restore into a new database file, never over one",
                target.display()
            );
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&sqlite, &target)?;
    } else if dir.join(PG_FILE).exists() {
        bail!(
            "this backup is a PostgreSQL dump: restore it with pg_restore --dbname URL {}, then run atiende restore again with ATIENDE_STORAGE_URL for the files only (move the dump aside)",
            dir.join(PG_FILE).display()
        );
    }
    let files = Files::open(&config.storage_url, &config.s3)?;
    let root = dir.join(FILES_DIR);
    let mut restored = 0;
    let mut pending = vec![root.clone()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let key = path
                .strip_prefix(&root)?
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/");
            let Some(file_key) = FileKey::stored(&key) else {
                continue;
            };
            files.put_bytes(&file_key, &std::fs::read(&path)?).await?;
            restored += 1;
        }
    }
    Ok(restored)
}

/// The file of a `sqlite://PATH[?options]` URL.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://data/atiende.db"),
            Some("data/atiende.db".into())
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/a.db?mode=rwc"),
            Some("/tmp/a.db".into())
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }
}
