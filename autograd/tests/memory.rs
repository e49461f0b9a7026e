//! Training must not leak: each step builds a graph, runs backward and drops it, so after every
//! step the same nodes are alive and the same bytes are allocated as after the step before.
//!
//! A counting global allocator measures the bytes in use. It counts the whole process, so this
//! file holds a single test: no other test thread allocates while it measures.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use autograd::{Var, live_nodes};
use tensor::Tensor;

/// The system allocator, keeping a running total of the bytes currently allocated.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments, so it keeps
// the system allocator's guarantees; the counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: this method's own contract, passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: this method's own contract, passed on unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: this method's own contract, passed on unchanged.
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: this method's own contract, passed on unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
            IN_USE.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn bytes_in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

const STEPS: usize = 10_000;
/// Bytes allowed to differ between step 100 and the last step: enough for the allocator's and
/// the runtime's bookkeeping to wobble, far below what one leaked graph per step would add
/// (each step allocates several kilobytes of nodes, closures and tensors).
const SLACK: usize = 64 * 1024;

#[test]
fn ten_thousand_training_steps_keep_nodes_and_bytes_flat() {
    // A two-layer regression net: (16, 4) -> tanh(x W1 + b1) (16, 8) -> (16, 1), MSE loss.
    let x = Var::constant(Tensor::<f32>::rand_normal(&[16, 4], 0.0, 1.0, 1));
    let target = Var::constant(Tensor::<f32>::rand_normal(&[16, 1], 0.0, 1.0, 2));
    let w1 = Var::parameter(Tensor::<f32>::rand_normal(&[4, 8], 0.0, 0.5, 3)).labeled("w1");
    let b1 = Var::parameter(Tensor::<f32>::zeros(&[8])).labeled("b1");
    let w2 = Var::parameter(Tensor::<f32>::rand_normal(&[8, 1], 0.0, 0.35, 4)).labeled("w2");
    let params = [&w1, &b1, &w2];
    let lr = 0.05f32;

    let nodes_at_rest = live_nodes();
    let mut bytes_after_100 = 0;
    let mut first_loss = f32::NAN;
    let mut last_loss = f32::NAN;
    for step in 1..=STEPS {
        let h = (&x.matmul(&w1) + &b1).tanh(); // (16, 8)
        let pred = h.matmul(&w2); // (16, 1)
        let diff = &pred - &target;
        let loss = (&diff * &diff).mean_all();
        let grads = loss.backward();
        last_loss = loss.item();
        if step == 1 {
            first_loss = last_loss;
        }
        // Drop the graph before updating, so the parameters' storage isn't shared with any
        // saved tensor and the update happens in place.
        drop((h, pred, diff, loss));
        for p in params {
            let g = grads.get(p).expect("every parameter gets a gradient");
            let g = g.to_vec();
            p.update_value(|v| {
                for (w, g) in v.data_mut().iter_mut().zip(&g) {
                    *w -= lr * g;
                }
            });
        }
        drop(grads);
        assert_eq!(live_nodes(), nodes_at_rest, "step {step} left graph nodes alive");
        if step == 100 {
            bytes_after_100 = bytes_in_use();
        }
    }
    let bytes_at_end = bytes_in_use();
    assert!(
        bytes_at_end <= bytes_after_100 + SLACK,
        "memory grew from {bytes_after_100} bytes after step 100 to {bytes_at_end} after step {STEPS}"
    );
    // It was a real training loop: the loss went down.
    assert!(last_loss < 0.5 * first_loss, "loss {first_loss} -> {last_loss}");
}
