//! inotify limits: recognising when one is hit and telling the user which, its current
//! value, and how to raise it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Linux errno values notify passes through in `ErrorKind::Io`.
const ENOSPC: i32 = 28;
const EMFILE: i32 = 24;

/// Which limit stopped the watcher from adding a watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InotifyLimit {
    /// `fs.inotify.max_user_watches`: watches per user, over all processes (ENOSPC).
    MaxUserWatches,
    /// `fs.inotify.max_user_instances`: inotify instances per user (EMFILE on init).
    MaxUserInstances,
    /// The watcher's own `max_watches` setting.
    Configured(usize),
}

impl InotifyLimit {
    /// The sysctl key, for the kernel limits.
    pub fn sysctl(self) -> Option<&'static str> {
        match self {
            InotifyLimit::MaxUserWatches => Some("fs.inotify.max_user_watches"),
            InotifyLimit::MaxUserInstances => Some("fs.inotify.max_user_instances"),
            InotifyLimit::Configured(_) => None,
        }
    }

    /// A value that comfortably fits large monorepos.
    pub fn suggested_value(self) -> u64 {
        match self {
            InotifyLimit::MaxUserWatches => 524_288,
            InotifyLimit::MaxUserInstances => 1024,
            InotifyLimit::Configured(n) => n as u64,
        }
    }

    /// The limit's current value, read from `/proc/sys/fs/inotify/`.
    pub fn current_value(self) -> Option<u64> {
        let key = self.sysctl()?;
        let file = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// Recognises a limit in a notify error.
    pub fn from_error(error: &notify::Error) -> Option<InotifyLimit> {
        match &error.kind {
            notify::ErrorKind::MaxFilesWatch => Some(InotifyLimit::MaxUserWatches),
            notify::ErrorKind::Io(io) => InotifyLimit::from_io(io),
            _ => None,
        }
    }

    pub fn from_io(error: &std::io::Error) -> Option<InotifyLimit> {
        match error.raw_os_error() {
            Some(ENOSPC) => Some(InotifyLimit::MaxUserWatches),
            Some(EMFILE) => Some(InotifyLimit::MaxUserInstances),
            _ => None,
        }
    }
}

/// What to tell the user when a limit is hit. The watcher keeps going by polling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitReport {
    pub limit: InotifyLimit,
    /// The limit's value when it was hit, if readable.
    pub current: Option<u64>,
    /// Directories now scanned every `poll_interval` instead of watched.
    pub polled_dirs: usize,
    pub poll_interval: Duration,
}

impl LimitReport {
    pub fn new(limit: InotifyLimit, polled_dirs: usize, poll_interval: Duration) -> LimitReport {
        LimitReport {
            limit,
            current: limit.current_value(),
            polled_dirs,
            poll_interval,
        }
    }
}

impl fmt::Display for LimitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fallback = format!(
            "{} {} polled every {} ms instead of watched, so changes there are seen later",
            self.polled_dirs,
            if self.polled_dirs == 1 {
                "directory is"
            } else {
                "directories are"
            },
            self.poll_interval.as_millis()
        );
        let key = match (self.limit, self.limit.sysctl()) {
            (InotifyLimit::Configured(n), _) => {
                return write!(
                    f,
                    "reached the configured maximum of {n} watched directories: {fallback}"
                );
            }
            (_, None) => return f.write_str(&fallback),
            (_, Some(key)) => key,
        };
        let current = match self.current {
            Some(v) => format!("currently {v}"),
            None => "current value unknown".to_owned(),
        };
        let value = self.limit.suggested_value();
        write!(
            f,
            "hit the inotify limit {key} ({current}): {fallback}.\n\
             To raise it now, run:\n    sudo sysctl {key}={value}\n\
             To keep it across reboots, add this line to /etc/sysctl.d/99-lilt.conf:\n    {key}={value}"
        )
    }
}
