//! Learning-rate schedules: the learning rate to use at each step.

/// A learning-rate schedule.
///
/// ```
/// use transformer::optim::LrSchedule;
/// let s = LrSchedule::WarmupCosine { max_lr: 1e-3, min_lr: 1e-4, warmup_iters: 100, decay_iters: 2000 };
/// assert!(s.lr_at(0) < s.lr_at(50));
/// assert!((s.lr_at(100) - 1e-3).abs() < 1e-12);
/// assert!((s.lr_at(5000) - 1e-4).abs() < 1e-12);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrSchedule {
    /// The same rate at every step.
    Constant(f64),
    /// nanoGPT's `get_lr`: linear warmup `max_lr * (it + 1) / (warmup_iters + 1)` for
    /// `it < warmup_iters`, then cosine decay to `min_lr` at `decay_iters`, then `min_lr`.
    WarmupCosine {
        /// Peak rate.
        max_lr: f64,
        /// Final rate.
        min_lr: f64,
        /// Warmup steps.
        warmup_iters: usize,
        /// Step at which the decay reaches `min_lr`.
        decay_iters: usize,
    },
    /// "Attention Is All You Need" (eq. 3): `factor * d_model^-0.5 * min(s^-0.5, s * warmup^-1.5)`
    /// with `s = step + 1`.
    Noam {
        /// Model width.
        d_model: usize,
        /// Warmup steps (4000 in the paper).
        warmup: usize,
        /// Overall scale (1 in the paper).
        factor: f64,
    },
}

impl LrSchedule {
    /// The learning rate at step `it` (counted from 0).
    pub fn lr_at(&self, it: usize) -> f64 {
        match *self {
            LrSchedule::Constant(lr) => lr,
            LrSchedule::WarmupCosine { max_lr, min_lr, warmup_iters, decay_iters } => {
                if it < warmup_iters {
                    return max_lr * (it + 1) as f64 / (warmup_iters + 1) as f64;
                }
                if it > decay_iters {
                    return min_lr;
                }
                let ratio = (it - warmup_iters) as f64 / (decay_iters - warmup_iters).max(1) as f64;
                let coeff = 0.5 * (1.0 + (std::f64::consts::PI * ratio).cos());
                min_lr + coeff * (max_lr - min_lr)
            }
            LrSchedule::Noam { d_model, warmup, factor } => {
                let s = (it + 1) as f64;
                factor * (d_model as f64).powf(-0.5) * s.powf(-0.5).min(s * (warmup as f64).powf(-1.5))
            }
        }
    }
}
