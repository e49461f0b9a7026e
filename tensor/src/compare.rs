//! Closeness checks for tests: [`Tensor::allclose`], [`Tensor::max_abs_diff`] and
//! [`assert_allclose`].
//!
//! Element `a` is close to `b` when `|a - b| <= atol + rtol * |b|` (NumPy's and PyTorch's rule;
//! `b` is the reference). Equal values are close, including equal infinities; NaN is never close
//! to anything, not even NaN, so a NaN in a result always fails a test. Comparisons are done in
//! `f64` whatever the element type.

use crate::error::op_panic;
use crate::layout::unravel_index;
use crate::{Float, Tensor};

/// Whether one pair of elements is close, in f64.
fn is_close(a: f64, b: f64, rtol: f64, atol: f64) -> bool {
    a == b || (a - b).abs() <= atol + rtol * b.abs()
}

/// The elements of both tensors in row-major order, or a panic naming `op` if the shapes differ.
#[track_caller]
fn paired<T: Float>(op: &str, a: &Tensor<T>, b: &Tensor<T>) -> (Vec<T>, Vec<T>) {
    if a.shape() != b.shape() {
        op_panic(op, format!("shapes differ: {:?} vs {:?}", a.shape(), b.shape()));
    }
    (a.to_vec(), b.to_vec())
}

impl<T: Float> Tensor<T> {
    /// True when every element satisfies `|a - b| <= atol + rtol * |b|`, with `self` as `a` and
    /// `other` as the reference `b`. NaN is never close. Shapes must match exactly (no broadcasting).
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2]);
    /// let b = Tensor::<f32>::from_vec(vec![1.0, 2.001], &[2]);
    /// assert!(a.allclose(&b, 1e-3, 0.0));
    /// assert!(!a.allclose(&b, 1e-4, 0.0));
    /// let nan = Tensor::<f32>::from_vec(vec![f32::NAN, 2.0], &[2]);
    /// assert!(!nan.allclose(&nan, 1.0, 1.0));
    /// ```
    ///
    /// # Panics
    /// If the shapes differ.
    #[track_caller]
    pub fn allclose(&self, other: &Tensor<T>, rtol: f64, atol: f64) -> bool {
        let (a, b) = paired("allclose", self, other);
        a.iter().zip(&b).all(|(x, y)| is_close(x.to_f64(), y.to_f64(), rtol, atol))
    }

    /// The largest `|a - b|` over all elements, in f64: 0 for empty tensors, NaN if any pair
    /// involves a NaN (so a NaN can't hide), 0 for equal infinities.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]);
    /// let b = Tensor::<f64>::from_vec(vec![1.5, 2.0, 2.0], &[3]);
    /// assert_eq!(a.max_abs_diff(&b), 1.0);
    /// ```
    ///
    /// # Panics
    /// If the shapes differ.
    #[track_caller]
    pub fn max_abs_diff(&self, other: &Tensor<T>) -> f64 {
        let (a, b) = paired("max_abs_diff", self, other);
        let mut worst = 0.0f64;
        for (x, y) in a.iter().zip(&b) {
            let (x, y) = (x.to_f64(), y.to_f64());
            let d = if x == y { 0.0 } else { (x - y).abs() };
            if d.is_nan() {
                return f64::NAN;
            }
            worst = worst.max(d);
        }
        worst
    }
}

/// Panics unless `a.allclose(b, rtol, atol)`, with `b` the reference.
///
/// The message names the worst element (the one furthest beyond its tolerance, NaN first) by
/// multi-index, both values, their absolute and relative difference, how many elements fail,
/// and the shapes; small tensors are printed whole. The panic points at the caller's line.
///
/// ```
/// use tensor::{Tensor, assert_allclose};
/// let a = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
/// assert_allclose(&a, &a.map(|x| x + 1e-9), 1e-6, 1e-8);
///
/// let b = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.5], &[2, 2]);
/// let err = std::panic::catch_unwind(|| assert_allclose(&a, &b, 1e-6, 1e-8)).unwrap_err();
/// let msg = err.downcast_ref::<String>().unwrap();
/// assert!(msg.contains("1 of 4 elements differ"));
/// assert!(msg.contains("worst at [1, 1]: a = 4, b = 4.5"));
/// ```
///
/// # Panics
/// If the tensors are not close, or their shapes differ.
#[track_caller]
pub fn assert_allclose<T: Float>(a: &Tensor<T>, b: &Tensor<T>, rtol: f64, atol: f64) {
    let (av, bv) = paired("assert_allclose", a, b);
    let mut failing = 0;
    // (flat index, how many tolerances over): a NaN or a miss with zero tolerance is infinitely over.
    let mut worst: Option<(usize, f64)> = None;
    for (k, (x, y)) in av.iter().zip(&bv).enumerate() {
        let (x, y) = (x.to_f64(), y.to_f64());
        if is_close(x, y, rtol, atol) {
            continue;
        }
        failing += 1;
        let tol = atol + rtol * y.abs();
        let diff = (x - y).abs();
        let over = if diff.is_nan() || tol <= 0.0 { f64::INFINITY } else { diff / tol };
        if worst.is_none_or(|(_, w)| over > w) {
            worst = Some((k, over));
        }
    }
    let Some((k, _)) = worst else { return };

    let (x, y) = (av[k], bv[k]);
    let (xf, yf) = (x.to_f64(), y.to_f64());
    let diff = (xf - yf).abs();
    let rel = if yf == 0.0 { f64::INFINITY } else { diff / yf.abs() };
    let mut msg = format!(
        "assert_allclose failed: {failing} of {n} elements differ (rtol = {rtol:e}, atol = {atol:e})\n  \
         worst at {index:?}: a = {x}, b = {y}\n  \
         abs diff = {diff:e} (allowed {allowed:e}), rel diff = {rel:e}\n  \
         shapes: a {sa:?}, b {sb:?} ({dtype})",
        n = av.len(),
        index = unravel_index(k, a.shape()),
        allowed = atol + rtol * yf.abs(),
        sa = a.shape(),
        sb = b.shape(),
        dtype = T::NAME,
    );
    if av.len() <= 32 {
        msg.push_str(&format!("\n  a = {a}\n  b = {b}"));
    }
    panic!("{msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let err = std::panic::catch_unwind(f).unwrap_err();
        err.downcast_ref::<String>().cloned().unwrap()
    }

    #[test]
    fn equal_infinities_are_close_and_nan_never_is() {
        let inf = Tensor::<f64>::from_vec(vec![f64::INFINITY, f64::NEG_INFINITY], &[2]);
        assert!(inf.allclose(&inf, 0.0, 0.0));
        assert_eq!(inf.max_abs_diff(&inf), 0.0);
        let nan = Tensor::<f64>::from_vec(vec![1.0, f64::NAN], &[2]);
        assert!(!nan.allclose(&nan, 1.0, 1.0));
        assert!(nan.max_abs_diff(&Tensor::zeros(&[2])).is_nan());
    }

    #[test]
    fn tolerance_is_relative_to_the_reference() {
        let a = Tensor::<f32>::from_vec(vec![110.0], &[1]);
        let b = Tensor::<f32>::from_vec(vec![100.0], &[1]);
        assert!(a.allclose(&b, 0.1, 0.0)); // 10 <= 0.1 * 100
        assert!(!b.allclose(&a, 0.09, 0.0)); // 10 > 0.09 * 110
    }

    #[test]
    fn message_names_the_worst_element_not_the_first() {
        let a = Tensor::<f32>::from_vec(vec![1.1, 2.0, 30.0, 4.0, 5.0, 6.0], &[3, 2]);
        let b = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
        let msg = panic_message(|| assert_allclose(&a, &b, 1e-3, 1e-3));
        assert!(msg.contains("2 of 6 elements differ"), "{msg}");
        assert!(msg.contains("worst at [1, 0]: a = 30, b = 3"), "{msg}");
        assert!(msg.contains("abs diff = 2.7e1"), "{msg}");
        assert!(msg.contains("rel diff = 9e0"), "{msg}");
        assert!(msg.contains("shapes: a [3, 2], b [3, 2] (f32)"), "{msg}");
        assert!(msg.contains("a = tensor([[ 1.1000,  2.0000]"), "{msg}");
    }

    #[test]
    fn nan_is_the_worst() {
        let a = Tensor::<f64>::from_vec(vec![100.0, f64::NAN], &[2]);
        let b = Tensor::<f64>::from_vec(vec![0.0, 1.0], &[2]);
        let msg = panic_message(|| assert_allclose(&a, &b, 1e-6, 1e-6));
        assert!(msg.contains("worst at [1]: a = NaN, b = 1"), "{msg}");
    }

    #[test]
    #[should_panic(expected = "tensor op 'allclose': shapes differ: [2, 3] vs [3, 2]")]
    fn allclose_shape_mismatch_panics() {
        Tensor::<f32>::zeros(&[2, 3]).allclose(&Tensor::zeros(&[3, 2]), 0.0, 0.0);
    }
}
