//! Which disk is full, and how much room it has: a full disk must be named by its place (the
//! restore's target, a drill's scratch folder, the repository, the state directory), never
//! blamed on another.

use std::{error::Error, path::Path};

/// Bytes free for this user on the file system holding `path`, and its size.
pub fn space(path: &Path) -> Option<(u64, u64)> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: a valid NUL-terminated path and a zeroed struct for the kernel to fill.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 || stat.f_blocks == 0 {
        return None;
    }
    let block = stat.f_frsize as u64;
    Some((stat.f_bavail as u64 * block, stat.f_blocks as u64 * block))
}

/// Whether `err` or any of its causes is "no space left on device" (or over quota).
pub fn is_disk_full(err: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(io.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        {
            return true;
        }
        cause = err.source();
    }
    false
}

/// What to tell a person whose write into `folder` found its disk full.
pub fn full_hint(what: &str, folder: &Path) -> String {
    let free = space(folder).map(|(free, total)| format!(" ({} MiB free of {} MiB)", free >> 20, total >> 20)).unwrap_or_default();
    format!("the disk of {what} {} is full{free}: free space there and run the command again", folder.display())
}
