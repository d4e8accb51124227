//! Cache-through writes (`shoal.mount.<name>.write=cache-through`): the pages of a file being
//! written land in the node's disk cache too, so that reading it back on this node asks the
//! store for nothing.
//!
//! A page's key includes the file's version, which the store gives only once the file is
//! committed. So each full page is written to a cache directory as it is completed, under a
//! temporary name and with a placeholder id, its size reserved like any page's; memory stays at
//! one page. When the file is committed and its status (with the version readers will see) is
//! known, every staged page gets its real id, written into its header in place, and is renamed
//! into place. A failed or aborted write, or a file whose committed length is not what was
//! written (someone else replaced it meanwhile), drops them. A full directory stops the staging
//! of the file's later pages; the pages staged so far are still placed.

use std::sync::Arc;

use super::disk::StagedPage;
use super::page_file::{self, PageId};
use super::{DiskDir, FileSource, PageCache};

pub struct WriteStage {
    cache: Arc<PageCache>,
    buf: Vec<u8>,
    next_index: u64,
    written: u64,
    staged: Vec<Staged>,
    /// A directory refused a page: the rest of the file is not cached.
    stopped: bool,
}

struct Staged {
    dir: Arc<DiskDir>,
    page: StagedPage,
    index: u64,
    len: u32,
}

impl WriteStage {
    /// `None` when the cache has no writable directory.
    pub fn new(cache: Arc<PageCache>) -> Option<Self> {
        if !cache.dirs().iter().any(|d| d.writable()) {
            return None;
        }
        Some(WriteStage {
            cache,
            buf: Vec::new(),
            next_index: 0,
            written: 0,
            staged: Vec::new(),
            stopped: false,
        })
    }

    pub fn write(&mut self, data: &[u8]) {
        self.written += data.len() as u64;
        let page = self.cache.page_size() as usize;
        let _ = crate::store::write_chunked(self, page, data);
    }

    fn stage_buffered(&mut self) {
        let index = self.next_index;
        self.next_index += 1;
        let data = std::mem::take(&mut self.buf);
        // The page's home directory depends on its id, not known yet: spread pages over the
        // writable directories, and move those that land elsewhere when they are placed.
        let dirs: Vec<&Arc<DiskDir>> = self.cache.dirs().iter().filter(|d| d.writable()).collect();
        if dirs.is_empty() {
            self.stopped = true;
            return;
        }
        let dir = dirs[(index % dirs.len() as u64) as usize].clone();
        let placeholder = self.expect(PageId { file: 0, index }, data.len() as u32);
        match dir.stage_page(&page_file::encode(placeholder, 0, &data)) {
            Some(page) => self.staged.push(Staged {
                dir,
                page,
                index,
                len: data.len() as u32,
            }),
            None => self.stopped = true,
        }
        self.buf = data;
        self.buf.clear();
    }

    fn expect(&self, id: PageId, len: u32) -> page_file::Expect {
        page_file::Expect {
            id,
            page_size: self.cache.page_size() as u32,
            len,
        }
    }
}

impl crate::store::Chunked for WriteStage {
    type Error = std::convert::Infallible;

    fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    fn chunk_full(&mut self) -> Result<(), Self::Error> {
        self.stage_buffered();
        Ok(())
    }

    fn accepting(&self) -> bool {
        !self.stopped
    }
}

impl WriteStage {
    /// Places the staged pages under the ids of `src`, the committed file's version, bound to
    /// the ETag its status gave. Returns the bytes placed.
    pub fn finish(mut self, src: &FileSource) -> u64 {
        let etag = page_file::etag_tag(src.entry.etag.as_deref());
        if !self.buf.is_empty() {
            self.stage_buffered();
        }
        if src.entry.len != self.written {
            return 0; // not the file written here
        }
        let mut placed = 0;
        for s in std::mem::take(&mut self.staged) {
            let id = PageId {
                file: src.file_id,
                index: s.index,
            };
            let home = self.cache.dir_for(&id).cloned();
            let ok = match home {
                Some(home) if Arc::ptr_eq(&home, &s.dir) => {
                    s.dir.place_staged(s.page, id, s.len, etag)
                }
                Some(home) => match s.dir.read_staged(&s.page) {
                    Some(mut encoded) => {
                        s.dir.drop_staged(s.page);
                        page_file::set_id_in(&mut encoded, self.expect(id, s.len), etag);
                        home.write_page(id, &encoded)
                    }
                    None => {
                        s.dir.drop_staged(s.page);
                        false
                    }
                },
                None => {
                    s.dir.drop_staged(s.page);
                    false
                }
            };
            if ok {
                placed += s.len as u64;
            }
        }
        placed
    }
}

impl Drop for WriteStage {
    fn drop(&mut self) {
        for s in self.staged.drain(..) {
            s.dir.drop_staged(s.page);
        }
    }
}
