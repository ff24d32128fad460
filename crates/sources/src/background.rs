//! Work a backup can do in the gaps: the catalog of a SQLite backup is read beside the image,
//! and when every page turns out the same as last time it is stopped and the previous catalog
//! reused. At normal priority it would take CPU from the image (on two cores the image pipeline
//! alone keeps about one and a half busy), and an unchanged database's backup would wait for
//! work it then throws away. At a lower priority it takes mostly what the image leaves idle,
//! and all of the CPU once the image is read.

/// The nice value of background threads. Not the lowest (19): on a host kept busy by other
/// work a thread at 19 gets about 1% of a core, and the backup's read transaction, which keeps
/// SQLite from checkpointing past it, would stay open that much longer; at 10 it gets about
/// a tenth, and on this machine an unchanged backup gains as much as at 19.
const NICE: libc::c_int = 10;

/// Lowers the calling thread's scheduling priority to [`NICE`]. On Linux the nice value
/// belongs to the thread, so the rest of the process keeps its priority; the thread cannot
/// raise it again, so call this only on a thread that ends with its work. Failing to lower it
/// changes only how fast, never what, so errors are ignored.
pub fn lower_this_thread() {
    // SAFETY: plain system calls on the calling thread's own id.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICE);
    }
}
