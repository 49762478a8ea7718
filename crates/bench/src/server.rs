//! What the server processes under test used, read from `/proc`: CPU time
//! (every thread's, in nanoseconds, from `schedstat`) and resident memory.

use std::time::Duration;

use anyhow::Context;

/// The server processes given with `--server-pid` (a cluster has several).
#[derive(Debug, Clone, Default)]
pub(crate) struct Servers {
    pids: Vec<u32>,
}

impl Servers {
    pub(crate) fn new(pids: Vec<u32>) -> Self {
        Servers { pids }
    }

    /// CPU time used so far by all threads of all servers; `None` when no
    /// server pid was given.
    pub(crate) fn cpu(&self) -> anyhow::Result<Option<Duration>> {
        if self.pids.is_empty() {
            return Ok(None);
        }
        let mut total = 0u64;
        for pid in &self.pids {
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
                .with_context(|| format!("no process {pid}"))?;
            for task in tasks {
                let path = task?.path().join("schedstat");
                // A thread may end between listing and reading.
                let Ok(stat) = std::fs::read_to_string(path) else {
                    continue;
                };
                total += stat
                    .split_whitespace()
                    .next()
                    .and_then(|ns| ns.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        Ok(Some(Duration::from_nanos(total)))
    }

    /// Resident memory of all servers, in bytes; `None` when no server pid
    /// was given.
    pub(crate) fn rss_bytes(&self) -> anyhow::Result<Option<u64>> {
        if self.pids.is_empty() {
            return Ok(None);
        }
        let mut total = 0;
        for pid in &self.pids {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .with_context(|| format!("no process {pid}"))?;
            let kib: u64 = status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .context("no VmRSS")?;
            total += kib * 1024;
        }
        Ok(Some(total))
    }
}

/// Kernel memory the whole machine holds for sockets and their files:
/// the slab caches (socket structs, inodes, dentries, epoll items) plus
/// TCP's buffer pages (`/proc/net/sockstat`). Machine-wide, so a run on
/// loopback counts both ends of every connection; `None` off Linux.
pub(crate) fn kernel_socket_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let slab_kib: u64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("Slab:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let tcp_pages: u64 = sockstat
        .lines()
        .find_map(|line| line.strip_prefix("TCP:"))?
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .find_map(|pair| (pair[0] == "mem").then(|| pair[1].parse().ok()).flatten())?;
    Some(slab_kib * 1024 + tcp_pages * 4096)
}
