//! Writing a file: bytes go to the store's writer, and on cache-through mounts into the node
//! cache as well once the store has committed them.

use std::sync::Arc;

use crate::cache::write_stage::WriteStage;
use crate::cache::FileSource;
use crate::error::{Error, Result};
use crate::metadata::MetadataCache;
use crate::mount::Resolved;
use crate::store::StoreWriter;

/// A file being written; the store shows it once `close` succeeds.
pub struct FileWriter {
    inner: Option<Box<dyn StoreWriter>>,
    metadata: Arc<MetadataCache>,
    /// The pages being written into the node cache too, on cache-through mounts.
    stage: Option<WriteStage>,
    resolved: Resolved,
}

impl FileWriter {
    pub(super) fn new(
        inner: Box<dyn StoreWriter>,
        metadata: Arc<MetadataCache>,
        stage: Option<WriteStage>,
        resolved: Resolved,
    ) -> Self {
        FileWriter {
            inner: Some(inner),
            metadata,
            stage,
            resolved,
        }
    }

    pub fn path(&self) -> &str {
        &self.resolved.path
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        match &mut self.inner {
            Some(w) => {
                w.write(data)
                    .map_err(|e| e.context("write", &self.resolved.path))?;
                if let Some(stage) = &mut self.stage {
                    stage.write(data);
                }
                Ok(())
            }
            None => Err(Error::invalid(format!(
                "write {}: stream is closed",
                self.resolved.path
            ))),
        }
    }

    /// Commits the file. On a cache-through mount its pages then go into the node cache, keyed
    /// by the version the store reports for it (one status request).
    pub fn close(mut self) -> Result<()> {
        let r = match self.inner.take() {
            Some(w) => w
                .commit()
                .map_err(|e| e.context("close", &self.resolved.path)),
            None => Ok(()),
        };
        self.metadata.invalidate_all();
        r?;
        if let Some(stage) = self.stage.take() {
            let m = &self.resolved.mount;
            let key = &self.resolved.key;
            // The file is in the store whatever happens here; caching it is best effort.
            if let Ok(Some(entry)) = m.store.stat(key) {
                if !entry.is_dir {
                    self.metadata
                        .put_status(&m.name, key, Some(entry.clone()), m.immutable);
                    stage.finish(&FileSource::new(m.store.clone(), key.clone(), entry));
                }
            }
        }
        Ok(())
    }

    /// Discards what was written.
    pub fn abort(mut self) {
        if let Some(w) = self.inner.take() {
            w.abort();
        }
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if let Some(w) = self.inner.take() {
            w.abort();
        }
    }
}
