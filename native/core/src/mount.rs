//! The mount table: which store serves which part of the Shoal namespace.
//!
//! Resolution takes the longest mount path that is a prefix of the path, segment by segment,
//! so `/data/imagenet` wins over `/data` for `/data/imagenet/train`. What follows the mount
//! point becomes the store key; a `..` that would climb out of the mount is rejected.

use std::sync::Arc;

use crate::config::{MountSpec, StoreSettings};
use crate::error::{Error, Result};
use crate::path;
use crate::store::{open_store, UnderStore};

/// One mounted store.
#[derive(Debug)]
pub struct Mount {
    pub name: String,
    /// Normalized mount point, e.g. `/datasets/imagenet` (`/` for a root mount).
    pub path: String,
    pub readonly: bool,
    /// Metadata never expires (`shoal.mount.<name>.immutable`).
    pub immutable: bool,
    /// Reads go through the page cache.
    pub cached: bool,
    /// Written files also land in the page cache (`shoal.mount.<name>.write=cache-through`).
    pub cache_writes: bool,
    pub store: Arc<dyn UnderStore>,
    segments: Vec<String>,
}

impl Mount {
    pub fn new(
        name: &str,
        mount_path: &str,
        readonly: bool,
        store: Arc<dyn UnderStore>,
    ) -> Result<Self> {
        let segs = path::segments(mount_path).map_err(|e| {
            Error::config(format!(
                "mount '{name}': shoal.mount.{name}.path: {}",
                e.message()
            ))
        })?;
        if segs.contains(&"..") {
            return Err(Error::config(format!(
                "mount '{name}': shoal.mount.{name}.path '{mount_path}' may not contain '..'"
            )));
        }
        Ok(Mount {
            name: name.to_string(),
            path: path::join(&segs),
            readonly,
            immutable: false,
            cached: true,
            cache_writes: false,
            store,
            segments: segs.into_iter().map(String::from).collect(),
        })
    }

    /// The Shoal path of a key of this mount.
    pub fn shoal_path(&self, key: &str) -> String {
        match (self.path.as_str(), key) {
            (p, "") => p.to_string(),
            ("/", k) => format!("/{k}"),
            (p, k) => format!("{p}/{k}"),
        }
    }
}

/// A path resolved to its mount.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub mount: Arc<Mount>,
    /// Store key relative to the mount root; empty for the mount point itself.
    pub key: String,
    /// The normalized Shoal path.
    pub path: String,
}

/// Where a path lies in the namespace.
#[derive(Debug, Clone)]
pub enum Location {
    /// Inside a mount (the mount point included).
    Mounted(Resolved),
    /// Above one or more mount points but in no mount: a synthesized directory.
    Ancestor(String),
    /// Neither: nothing is there.
    Outside(String),
}

#[derive(Debug, Default)]
pub struct MountTable {
    /// Sorted by depth, deepest first, so the first match is the longest prefix.
    mounts: Vec<Arc<Mount>>,
}

impl MountTable {
    pub fn from_specs(specs: &[MountSpec], settings: &StoreSettings) -> Result<Self> {
        let mut mounts = Vec::with_capacity(specs.len());
        for s in specs {
            let store = open_store(s, settings)?;
            let readonly = s.readonly || store.read_only().is_some();
            let mut m = Mount::new(&s.name, &s.path, readonly, store)?;
            m.immutable = s.immutable;
            // Local directories need no cache in front of them unless asked.
            m.cached = s.cache.unwrap_or(!s.uri.starts_with("file:"));
            m.cache_writes = s.cache_writes;
            mounts.push(m);
        }
        Self::new(mounts)
    }

    pub fn new(mounts: Vec<Mount>) -> Result<Self> {
        let mut mounts: Vec<Arc<Mount>> = mounts.into_iter().map(Arc::new).collect();
        mounts.sort_by(|a, b| {
            b.segments
                .len()
                .cmp(&a.segments.len())
                .then(a.path.cmp(&b.path))
        });
        for w in mounts.windows(2) {
            if w[0].path == w[1].path {
                return Err(Error::config(format!(
                    "mounts '{}' and '{}' both claim the path {}",
                    w[0].name, w[1].name, w[0].path
                )));
            }
        }
        Ok(MountTable { mounts })
    }

    pub fn mounts(&self) -> impl Iterator<Item = &Arc<Mount>> {
        self.mounts.iter()
    }

    /// Finds where `shoal_path` lies.
    pub fn locate(&self, shoal_path: &str) -> Result<Location> {
        let segs = path::segments(shoal_path)?;
        for m in &self.mounts {
            let n = m.segments.len();
            if segs.len() >= n && segs[..n].iter().zip(&m.segments).all(|(a, b)| a == b) {
                let rest = path::resolve_dots(
                    &segs[n..],
                    &format!("mount '{}' ({})", m.name, m.path),
                    shoal_path,
                )?;
                let key = rest.join("/");
                return Ok(Location::Mounted(Resolved {
                    path: m.shoal_path(&key),
                    mount: m.clone(),
                    key,
                }));
            }
        }
        // In no mount: `..` is resolved against the root and the result located again.
        if segs.contains(&"..") {
            let flat = path::resolve_dots(&segs, "the root", shoal_path)?;
            return self.locate(&path::join(&flat));
        }
        let normalized = path::join(&segs);
        if self.mounts.iter().any(|m| {
            m.segments.len() > segs.len() && m.segments.iter().zip(&segs).all(|(a, b)| a == b)
        }) {
            Ok(Location::Ancestor(normalized))
        } else {
            Ok(Location::Outside(normalized))
        }
    }

    /// Names of the mount points directly under `shoal_path` (e.g. `imagenet` for `/datasets`
    /// when `/datasets/imagenet` is mounted).
    pub fn child_mount_points(&self, shoal_path: &str) -> Result<Vec<String>> {
        let segs = path::segments(shoal_path)?;
        let mut out: Vec<String> = self
            .mounts
            .iter()
            .filter(|m| {
                m.segments.len() > segs.len() && m.segments.iter().zip(&segs).all(|(a, b)| a == b)
            })
            .map(|m| m.segments[segs.len()].clone())
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LocalStore;

    fn table(paths: &[&str]) -> MountTable {
        let url = url::Url::parse("file:///tmp").unwrap();
        MountTable::new(
            paths
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let store = Arc::new(LocalStore::new("t", &url).unwrap());
                    Mount::new(&format!("m{i}"), p, false, store).unwrap()
                })
                .collect(),
        )
        .unwrap()
    }

    fn mounted(t: &MountTable, p: &str) -> (String, String) {
        match t.locate(p).unwrap() {
            Location::Mounted(r) => (r.mount.path.clone(), r.key),
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table(&["/data", "/data/imagenet", "/models"]);
        assert_eq!(mounted(&t, "/data/x/y"), ("/data".into(), "x/y".into()));
        assert_eq!(
            mounted(&t, "/data/imagenet/train/a.jpg"),
            ("/data/imagenet".into(), "train/a.jpg".into())
        );
        assert_eq!(
            mounted(&t, "/data/imagenet"),
            ("/data/imagenet".into(), "".into())
        );
        // A sibling that shares a name prefix is not inside the mount.
        assert_eq!(
            mounted(&t, "/data/imagenet2"),
            ("/data".into(), "imagenet2".into())
        );
        assert!(matches!(t.locate("/datax").unwrap(), Location::Outside(_)));
    }

    #[test]
    fn ancestors_and_unknown_paths() {
        let t = table(&["/datasets/imagenet", "/datasets/coco", "/models"]);
        assert!(matches!(t.locate("/").unwrap(), Location::Ancestor(_)));
        assert!(matches!(
            t.locate("/datasets").unwrap(),
            Location::Ancestor(_)
        ));
        assert!(matches!(t.locate("/nope/x").unwrap(), Location::Outside(_)));
        assert_eq!(
            t.child_mount_points("/").unwrap(),
            vec!["datasets", "models"]
        );
        assert_eq!(
            t.child_mount_points("/datasets").unwrap(),
            vec!["coco", "imagenet"]
        );
    }

    #[test]
    fn dot_dot_inside_a_mount_resolves_and_escaping_is_rejected() {
        let t = table(&["/data"]);
        assert_eq!(mounted(&t, "/data/a/../b"), ("/data".into(), "b".into()));
        let e = t.locate("/data/a/../../etc/passwd").unwrap_err();
        assert!(e.message().contains("escapes mount 'm0'"), "{e}");
        // Outside every mount, `..` resolves against the root, and cannot climb above it.
        assert_eq!(mounted(&t, "/x/../data/f"), ("/data".into(), "f".into()));
        assert!(t.locate("/../data").is_err());
    }

    #[test]
    fn root_mount_and_duplicates() {
        let t = table(&["/", "/special"]);
        assert_eq!(mounted(&t, "/a/b"), ("/".into(), "a/b".into()));
        assert_eq!(mounted(&t, "/special/f"), ("/special".into(), "f".into()));
        let url = url::Url::parse("file:///tmp").unwrap();
        let mk = |n: &str| {
            Mount::new(n, "/d", false, Arc::new(LocalStore::new(n, &url).unwrap())).unwrap()
        };
        let e = MountTable::new(vec![mk("a"), mk("b")]).unwrap_err();
        assert!(e.message().contains("both claim"), "{e}");
    }
}
