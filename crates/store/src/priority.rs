//! Lowering a thread's CPU priority, for work that can wait while reads run.

/// Makes the calling thread `nice` steps nicer than it is (0 leaves it; the
/// result is capped at 19, the lowest priority): with the cores busy, the
/// kernel then runs other threads first. Linux keeps a nice value per
/// thread, so only the caller changes. Elsewhere, or when the kernel
/// refuses, the thread keeps its priority and a warning says why.
pub fn lower_this_thread(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // With no ID, Linux reads and sets the calling thread's nice value.
        let lowered = rustix::process::getpriority_process(None)
            .and_then(|now| rustix::process::setpriority_process(None, (now + nice).min(19)));
        if let Err(error) = lowered {
            tracing::warn!(%error, nice, "could not lower a thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    tracing::warn!(nice, "thread priorities are only lowered on Linux");
}
