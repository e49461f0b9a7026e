//! Thread-local switches: gradient recording (`no_grad`) and anomaly detection.
//!
//! Graph nodes are `Rc`-based and never cross threads, so these switches are per thread too.

use std::cell::Cell;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    static ANOMALY: Cell<bool> = const { Cell::new(false) };
}

/// True unless inside [`no_grad`]: ops record their backward only when this is on.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Runs `f` with recording switched off: ops return plain values with no graph attached, so
/// evaluation and generation pay nothing for autograd (as `torch.no_grad()`).
///
/// ```
/// use autograd::{Var, no_grad};
/// use tensor::Tensor;
/// let w = Var::parameter(Tensor::<f64>::ones(&[2]));
/// let y = no_grad(|| w.mul(&w));
/// assert!(!y.requires_grad());
/// assert!(y.is_leaf());
/// ```
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = GradModeGuard::set(false);
    f()
}

/// Restores the previous gradient mode when dropped (so a panic inside `no_grad` can't leave
/// recording off).
pub struct GradModeGuard {
    previous: bool,
}

impl GradModeGuard {
    /// Sets gradient recording to `enabled` until the guard is dropped.
    pub fn set(enabled: bool) -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(enabled));
        GradModeGuard { previous }
    }
}

impl Drop for GradModeGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// True while anomaly detection is on (see [`detect_anomaly`]).
pub fn is_anomaly_enabled() -> bool {
    ANOMALY.with(|a| a.get())
}

/// Runs `f` with anomaly detection on: the first op whose forward output, or whose incoming
/// gradient in backward, contains NaN or infinity panics with the op's name and input shapes
/// (as `torch.autograd.detect_anomaly`). Costs a scan of every value, so it is off by default.
pub fn detect_anomaly<R>(f: impl FnOnce() -> R) -> R {
    with_anomaly(true, f)
}

/// Runs `f` with anomaly detection set to `enabled`, restoring the previous setting after (also
/// on a panic). A first-order backward turns it off around each op's backward, whose own `Var`
/// ops are not part of any graph: the engine checks the gradients the op returns instead.
pub(crate) fn with_anomaly<R>(enabled: bool, f: impl FnOnce() -> R) -> R {
    let previous = ANOMALY.with(|a| a.replace(enabled));
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ANOMALY.with(|a| a.set(self.0));
        }
    }
    let _restore = Restore(previous);
    f()
}
