//! A memory cgroup for one node process (`footprint --memory-limit-mib`):
//! the small box a town hall's node runs in. Its limit counts what the
//! kernel charges to the node, the page cache of the files it reads and
//! writes included, so a node that fits is one whose working set fits, not
//! one whose RSS happens to be low on an idle machine: without a limit the
//! kernel leaves every page of the binary and the index mapped.
//!
//! cgroup v2 where the memory controller is enabled for children of this
//! process's cgroup, else v1's memory hierarchy. Needs the right to create
//! a cgroup there (root, or a delegated subtree); says why otherwise.
//!
//! The kernel charges a page of the page cache to the cgroup that first
//! read it: [`evict_page_cache`] drops the clean cached pages of the node's
//! files first, so that the node's own reads charge its box.

use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Error;

/// The two cgroup file layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
}

/// A memory cgroup of its own, removed when dropped (its processes gone).
#[derive(Debug)]
pub struct MemoryBox {
    dir: PathBuf,
    version: Version,
}

/// What the box saw since it was created.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct BoxUsage {
    pub version: Option<Version>,
    pub limit_mib: u64,
    /// The most memory charged at once (anonymous memory and page cache).
    pub peak_kib: u64,
    pub oom_kills: u64,
    /// Pages read back from disk by the box's processes.
    pub major_faults: u64,
}

const ROOT: &str = "/sys/fs/cgroup";

impl MemoryBox {
    /// A new cgroup named `name` beside this process's, limited to
    /// `limit_mib` MiB without swap.
    pub fn create(name: &str, limit_mib: u64) -> Result<MemoryBox, Error> {
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(Error::io("cannot read /proc/self/cgroup"))?;
        let (version, parent) = parent_dir(&own, Path::new(ROOT)).ok_or_else(|| {
            Error::Check(format!(
                "no cgroup memory controller under {ROOT}: cannot limit the node's memory"
            ))
        })?;
        let dir = parent.join(name);
        fs::create_dir(&dir).map_err(Error::io(format!(
            "cannot create the memory cgroup {} (root or a delegated cgroup is needed)",
            dir.display()
        )))?;
        let memory_box = MemoryBox { dir, version };
        let limit = (limit_mib * 1024 * 1024).to_string();
        match version {
            Version::V2 => {
                memory_box.write("memory.max", &limit)?;
                memory_box.write_if_present("memory.swap.max", "0")?;
            }
            Version::V1 => {
                memory_box.write("memory.limit_in_bytes", &limit)?;
                memory_box.write_if_present("memory.memsw.limit_in_bytes", &limit)?;
            }
        }
        Ok(memory_box)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn usage(&self) -> Result<BoxUsage, Error> {
        let stat = self.read("memory.stat")?;
        // No count of the times at the limit: v1's `memory.failcnt` stays 0
        // on Linux 6.18 while the box sits at its limit. The peak at the
        // limit and the major faults say it.
        let (limit, peak, oom_kills, faults) = match self.version {
            Version::V2 => {
                let events = self.read("memory.events")?;
                (
                    number(&self.read("memory.max")?),
                    // memory.peak is Linux 5.19+.
                    self.read("memory.peak").map(|p| number(&p)).unwrap_or(0),
                    field(&events, "oom_kill"),
                    field(&stat, "pgmajfault"),
                )
            }
            Version::V1 => (
                number(&self.read("memory.limit_in_bytes")?),
                number(&self.read("memory.max_usage_in_bytes")?),
                field(&self.read("memory.oom_control")?, "oom_kill"),
                field(&stat, "total_pgmajfault"),
            ),
        };
        Ok(BoxUsage {
            version: Some(self.version),
            limit_mib: limit / (1024 * 1024),
            peak_kib: peak / 1024,
            oom_kills,
            major_faults: faults,
        })
    }

    fn read(&self, file: &str) -> Result<String, Error> {
        let path = self.dir.join(file);
        fs::read_to_string(&path).map_err(Error::io(format!("cannot read {}", path.display())))
    }

    fn write(&self, file: &str, value: &str) -> Result<(), Error> {
        let path = self.dir.join(file);
        fs::write(&path, value).map_err(Error::io(format!(
            "cannot write {value} to {}",
            path.display()
        )))
    }

    fn write_if_present(&self, file: &str, value: &str) -> Result<(), Error> {
        if self.dir.join(file).exists() {
            self.write(file, value)?;
        }
        Ok(())
    }
}

impl Drop for MemoryBox {
    fn drop(&mut self) {
        // Fails while a process is still inside; nothing else to do then.
        let _ = fs::remove_dir(&self.dir);
    }
}

/// The cgroup version and the directory new memory cgroups go in, from the
/// text of `/proc/self/cgroup`, under `root`.
fn parent_dir(own: &str, root: &Path) -> Option<(Version, PathBuf)> {
    let relative = |path: &str| path.trim_start_matches('/').to_owned();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.split(',').any(|c| c == "memory") {
            let dir = root.join("memory").join(relative(path));
            return dir.exists().then_some((Version::V1, dir));
        }
    }
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = root.join(relative(path));
    let enabled = fs::read_to_string(dir.join("cgroup.subtree_control")).ok()?;
    enabled
        .split_whitespace()
        .any(|c| c == "memory")
        .then_some((Version::V2, dir))
}

fn number(text: &str) -> u64 {
    text.trim().parse().unwrap_or(u64::MAX)
}

/// The value of `name` in a `name value` per line file.
fn field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Drops the clean cached pages of `paths` (files, or directories walked),
/// after writing their dirty ones: the next reader reads them from disk and
/// its cgroup is charged for them.
pub fn evict_page_cache(paths: &[&Path]) -> Result<(), Error> {
    for path in paths {
        if path.is_dir() {
            let entries =
                fs::read_dir(path).map_err(Error::io(format!("cannot read {}", path.display())))?;
            for entry in entries {
                let entry = entry.map_err(Error::io(format!("cannot read {}", path.display())))?;
                evict_page_cache(&[&entry.path()])?;
            }
            continue;
        }
        let file =
            fs::File::open(path).map_err(Error::io(format!("cannot open {}", path.display())))?;
        file.sync_all()
            .map_err(Error::io(format!("cannot sync {}", path.display())))?;
        // SAFETY: a valid open descriptor; the call only advises the kernel.
        let code =
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if code != 0 {
            return Err(Error::Io {
                what: format!("cannot drop the cached pages of {}", path.display()),
                source: std::io::Error::from_raw_os_error(code),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_memory_hierarchy_is_found_from_the_process_cgroups() {
        let root = tempfile::tempdir().unwrap();
        let own = root.path().join("memory/process_api/abc");
        fs::create_dir_all(&own).unwrap();
        let text = "9:name=systemd:/\n4:memory:/process_api/abc\n0::/\n";
        assert_eq!(parent_dir(text, root.path()), Some((Version::V1, own)));
    }

    #[test]
    fn v2_is_used_only_where_children_get_the_memory_controller() {
        let root = tempfile::tempdir().unwrap();
        let own = root.path().join("user.slice/session");
        fs::create_dir_all(&own).unwrap();
        let text = "0::/user.slice/session\n";
        fs::write(own.join("cgroup.subtree_control"), "cpu io\n").unwrap();
        assert_eq!(parent_dir(text, root.path()), None);
        fs::write(own.join("cgroup.subtree_control"), "cpu memory io\n").unwrap();
        assert_eq!(parent_dir(text, root.path()), Some((Version::V2, own)));
    }

    #[test]
    fn counters_are_read_by_name() {
        let events = "low 0\nhigh 0\nmax 1234\noom 0\noom_kill 2\n";
        assert_eq!(field(events, "max"), 1234);
        assert_eq!(field(events, "oom_kill"), 2);
        assert_eq!(field(events, "oom"), 0);
        assert_eq!(
            field("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"),
            3
        );
        assert_eq!(number("67108864\n"), 67_108_864);
    }
}
