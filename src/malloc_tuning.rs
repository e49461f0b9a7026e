//! Keeps freed memory in the process for the next training step, where the C library is glibc.
//!
//! Every step allocates and frees the same large buffers: activations, gradients and scratch,
//! up to 1.5 MB each in the reference GPT. glibc serves a block above its *mmap threshold* with
//! a fresh `mmap`, and when the free memory at the top of its heap exceeds the *trim threshold*
//! it gives it back to the kernel. Both thresholds adapt by default (a freed mmapped block
//! raises them to its size, and twice that), but a step that frees several megabytes at its end
//! still trims the heap, and the next step's buffers arrive as new pages that fault on first
//! touch (the kernel zeroes each one, under a lock both worker threads contend for). Fixing the
//! thresholds high keeps freed blocks on the heap, where the next step's `malloc` finds them.
//! Peak memory is unchanged: the same blocks are reused, not added to.
//!
//! Called once at the start of `main`; on other C libraries it does nothing.

/// Raises glibc's mmap threshold to its maximum (32 MiB on 64-bit) and its trim threshold to
/// 256 MiB, so that freed buffers are reused rather than unmapped. Returns whether glibc
/// accepted both settings (always `false` on other C libraries).
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::ffi::c_int;
        // From glibc's <malloc.h>.
        const M_TRIM_THRESHOLD: c_int = -1;
        const M_MMAP_THRESHOLD: c_int = -3;
        unsafe extern "C" {
            fn mallopt(param: c_int, value: c_int) -> c_int;
        }
        // Both calls are made even if the first is refused (each setting helps on its own).
        // SAFETY: mallopt takes two integers and only changes allocator settings (under the
        // allocator's own lock, so any thread may call it at any time).
        let (mmap, trim) = unsafe { (mallopt(M_MMAP_THRESHOLD, 32 << 20), mallopt(M_TRIM_THRESHOLD, 256 << 20)) };
        mmap == 1 && trim == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_settings() {
        assert!(super::keep_freed_memory());
    }
}
