//! Recognising inotify limits and the advice shown when one is hit.

use std::time::Duration;

use lilt_watch::{InotifyLimit, LimitReport};

#[test]
fn notify_errors_map_to_the_limit_that_was_hit() {
    let watches = notify::Error::new(notify::ErrorKind::MaxFilesWatch);
    assert_eq!(
        InotifyLimit::from_error(&watches),
        Some(InotifyLimit::MaxUserWatches)
    );
    let enospc = notify::Error::io(std::io::Error::from_raw_os_error(28));
    assert_eq!(
        InotifyLimit::from_error(&enospc),
        Some(InotifyLimit::MaxUserWatches)
    );
    let emfile = notify::Error::io(std::io::Error::from_raw_os_error(24));
    assert_eq!(
        InotifyLimit::from_error(&emfile),
        Some(InotifyLimit::MaxUserInstances)
    );
    let other = notify::Error::io(std::io::Error::from_raw_os_error(13));
    assert_eq!(InotifyLimit::from_error(&other), None);
    assert_eq!(
        InotifyLimit::from_error(&notify::Error::path_not_found()),
        None
    );
}

#[test]
fn current_values_come_from_proc() {
    for (limit, file) in [
        (
            InotifyLimit::MaxUserWatches,
            "/proc/sys/fs/inotify/max_user_watches",
        ),
        (
            InotifyLimit::MaxUserInstances,
            "/proc/sys/fs/inotify/max_user_instances",
        ),
    ] {
        let expected = std::fs::read_to_string(file)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok());
        assert_eq!(limit.current_value(), expected, "{file}");
    }
    assert_eq!(InotifyLimit::Configured(5).current_value(), None);
}

#[test]
fn the_watch_limit_report_says_which_limit_and_how_to_raise_it() {
    let report = LimitReport {
        limit: InotifyLimit::MaxUserWatches,
        current: Some(8192),
        polled_dirs: 1200,
        poll_interval: Duration::from_secs(1),
    };
    assert_eq!(
        report.to_string(),
        "hit the inotify limit fs.inotify.max_user_watches (currently 8192): 1200 directories \
         are polled every 1000 ms instead of watched, so changes there are seen later.\n\
         To raise it now, run:\n    sudo sysctl fs.inotify.max_user_watches=524288\n\
         To keep it across reboots, add this line to /etc/sysctl.d/99-lilt.conf:\n    \
         fs.inotify.max_user_watches=524288"
    );
}

#[test]
fn the_instance_limit_report_names_max_user_instances() {
    let report = LimitReport {
        limit: InotifyLimit::MaxUserInstances,
        current: None,
        polled_dirs: 1,
        poll_interval: Duration::from_millis(500),
    };
    let text = report.to_string();
    assert!(
        text.starts_with(
            "hit the inotify limit fs.inotify.max_user_instances (current value unknown): \
             1 directory is polled every 500 ms"
        ),
        "{text}"
    );
    assert!(
        text.contains("sudo sysctl fs.inotify.max_user_instances=1024"),
        "{text}"
    );
    assert!(
        text.contains("\n    fs.inotify.max_user_instances=1024"),
        "{text}"
    );
}
