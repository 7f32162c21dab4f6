//! The format-style logging macros (`info!("…{x}")`), documented at the crate root.

/// Writes a line to the node's log at a [`host::Level`](crate::host::Level), formatted like
/// [`format!`]: `log!(Level::Warn, "slow: {ms} ms")`. With a [`host::Host`](crate::host::Host)
/// handle first (`log!(host: h, Level::Warn, "…")`), the line goes to that instance. Usable
/// from any thread; does nothing when no instance of the plugin is loaded.
#[macro_export]
macro_rules! log {
    (host: $host:expr, $level:expr, $($arg:tt)+) => {
        $crate::host::Host::log(&$host, $level, &::std::format!($($arg)+))
    };
    ($level:expr, $($arg:tt)+) => {
        $crate::host::log($level, &::std::format!($($arg)+))
    };
}

/// Writes a line to the node's log at level trace, formatted like [`format!`]. See [`log!`].
#[macro_export]
macro_rules! trace {
    (host: $host:expr, $($arg:tt)+) => { $crate::log!(host: $host, $crate::host::Level::Trace, $($arg)+) };
    ($($arg:tt)+) => { $crate::log!($crate::host::Level::Trace, $($arg)+) };
}

/// Writes a line to the node's log at level debug, formatted like [`format!`]. See [`log!`].
#[macro_export]
macro_rules! debug {
    (host: $host:expr, $($arg:tt)+) => { $crate::log!(host: $host, $crate::host::Level::Debug, $($arg)+) };
    ($($arg:tt)+) => { $crate::log!($crate::host::Level::Debug, $($arg)+) };
}

/// Writes a line to the node's log at level info, formatted like [`format!`]:
/// `info!("loaded {n} keys from {path}")`. See [`log!`].
#[macro_export]
macro_rules! info {
    (host: $host:expr, $($arg:tt)+) => { $crate::log!(host: $host, $crate::host::Level::Info, $($arg)+) };
    ($($arg:tt)+) => { $crate::log!($crate::host::Level::Info, $($arg)+) };
}

/// Writes a line to the node's log at level warn, formatted like [`format!`]. See [`log!`].
#[macro_export]
macro_rules! warn {
    (host: $host:expr, $($arg:tt)+) => { $crate::log!(host: $host, $crate::host::Level::Warn, $($arg)+) };
    ($($arg:tt)+) => { $crate::log!($crate::host::Level::Warn, $($arg)+) };
}

/// Writes a line to the node's log at level error, formatted like [`format!`]. See [`log!`].
#[macro_export]
macro_rules! error {
    (host: $host:expr, $($arg:tt)+) => { $crate::log!(host: $host, $crate::host::Level::Error, $($arg)+) };
    ($($arg:tt)+) => { $crate::log!($crate::host::Level::Error, $($arg)+) };
}
