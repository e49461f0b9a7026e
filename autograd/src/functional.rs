//! Derivatives of whole functions: vector-Jacobian and Jacobian-vector products, Jacobians,
//! Hessians and Hessian-vector products, in the spirit of `torch.autograd.functional`.
//!
//! Each function takes a closure `f: impl Fn(&Var<T>) -> Var<T>` and the point `x` (a tensor) to
//! differentiate at. It makes a fresh leaf holding `x` that requires gradients, runs `f` on it
//! (with recording switched on, so they work inside [`crate::no_grad`] too), differentiates with
//! [`crate::grad_with`], and returns plain tensors. The closure may capture anything (weights,
//! data, other parameters); only the derivatives with respect to its argument are computed.
//!
//! For `y = f(x)` with `x` of shape `in_shape` (`n` elements) and `y` of shape `out_shape`
//! (`m` elements), the Jacobian `J` is the `m x n` matrix `J[i][j] = dy_i / dx_j`, stored with
//! shape `out_shape ++ in_shape`. Row `i` says how output `i` moves with every input; column `j`
//! says how every output moves with input `j`.
//!
//! ```text
//! vjp(f, x, v)  = (y, v^T J)   a combination of the ROWS of J     one backward pass
//! jvp(f, x, u)  = (y, J u)     a combination of the COLUMNS of J  two backward passes (double vjp)
//! jacobian(f, x) = J           row by row: one vjp per output     m backward passes
//! hessian(f, x)  = H           the Jacobian of the gradient       1 + n backward passes
//! hvp(f, x, v)  = (f(x), H v)  without forming H                  about two backward passes
//! ```
//!
//! Reverse mode (backprop) computes `v^T J` natively: seed the output with `v` and walk back once.
//! That is why a gradient (`m = 1`, `v = 1`) costs about one forward pass, however large `n` is.
//! `J u` is the forward-mode product; this engine has no forward mode, so [`jvp`] gets it from two
//! reverse passes. [`jacobian`] picks out the rows of `J` with one-hot `v`s (so it costs `m`
//! backward passes; building it from columns would take `n` jvps, two passes each). For a scalar
//! `f`, the gradient is `J`'s only row, and the Hessian `H` is the Jacobian of the gradient:
//! [`hessian`] records the gradient's backward (`create_graph`) and takes its rows, and [`hvp`]
//! gets `H v` from the recorded gradient in one more pass.
//!
//! ```
//! use autograd::functional::{jacobian, jvp, vjp};
//! use autograd::Var;
//! use tensor::Tensor;
//! // A linear map y = A x, A of shape (3, 2): its Jacobian is A itself.
//! let a = Var::constant(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]));
//! let f = |x: &Var<f64>| a.matmul(&x.reshape(&[2, 1])).reshape(&[3]);
//! let x = Tensor::from_vec(vec![1.0, -1.0], &[2]);
//! assert_eq!(jacobian(&f, &x).to_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! // e_1^T J: the first row of A. J e_1: the first column of A.
//! let (_, row) = vjp(&f, &x, &Tensor::from_vec(vec![1.0, 0.0, 0.0], &[3]));
//! let (y, column) = jvp(&f, &x, &Tensor::from_vec(vec![1.0, 0.0], &[2]));
//! assert_eq!(row.to_vec(), vec![1.0, 2.0]);
//! assert_eq!(column.to_vec(), vec![1.0, 3.0, 5.0]);
//! assert_eq!(y.to_vec(), vec![-1.0, -1.0, -1.0]);
//! ```
//!
//! A function whose output does not depend on `x` has zero derivatives (PyTorch's
//! `strict=False`): the results are zeros, not a panic. The results are plain tensors, not in
//! any graph; to differentiate a derivative again, call [`crate::grad`] with `create_graph`
//! inside the closure (the tests take the Hessian of a closure that returns a gradient).

use tensor::{Float, Tensor};

use crate::backward::grad_with;
use crate::mode::GradModeGuard;
use crate::var::Var;

/// The leaf every function here differentiates with respect to: a fresh copy of `x` that
/// requires gradients (it shares `x`'s storage; nothing writes to it).
fn leaf<T: Float>(x: &Tensor<T>) -> Var<T> {
    Var::parameter(x.clone())
}

/// `seed^T dy/dx`, as a variable in the graph when `create_graph`, or `None` when `y` does not
/// depend on `x` (then the product is zero). `seed` has `y`'s shape (checked by the callers).
fn vector_jacobian<T: Float>(y: &Var<T>, seed: &Var<T>, x: &Var<T>, create_graph: bool) -> Option<Var<T>> {
    // A `y` that does not require gradients was not computed from any leaf that does, so not
    // from `x`: `grad_with` would refuse it, and the answer is zero.
    if !y.requires_grad() {
        return None;
    }
    grad_with(&[y], &[seed], &[x], create_graph).pop().flatten()
}

/// The value of [`vector_jacobian`], zeros of `x`'s shape when it is `None`.
fn vector_jacobian_value<T: Float>(y: &Var<T>, seed: &Var<T>, x: &Var<T>) -> Tensor<T> {
    match vector_jacobian(y, seed, x, false) {
        Some(g) => g.value(),
        None => Tensor::zeros(&x.shape()),
    }
}

/// The Jacobian of `y` with respect to `x`, shape `y.shape ++ x.shape`, one row per element of
/// `y`: row `i` is `e_i^T J`, the vector-Jacobian product with the one-hot `e_i`. The graph from
/// `x` to `y` is walked once per row; backward never changes it, so it is reused as it is.
fn jacobian_rows<T: Float>(y: &Var<T>, x: &Var<T>) -> Tensor<T> {
    let (out_shape, in_shape) = (y.shape(), x.shape());
    let (m, n) = (y.numel(), x.numel());
    let mut data = Vec::with_capacity(m * n);
    for i in 0..m {
        let mut one_hot = Tensor::zeros(&out_shape);
        one_hot.data_mut()[i] = T::ONE;
        let row = vector_jacobian_value(y, &Var::constant(one_hot), x);
        data.extend(row.to_vec()); // `to_vec` is row-major whatever the row's strides
    }
    Tensor::from_vec(data, &[out_shape, in_shape].concat())
}

/// The gradient of the scalar `y` with respect to `x`, recorded (`create_graph`) so that it can
/// be differentiated again, or `None` when it is identically zero or does not depend on `x`
/// (`f` constant or linear in `x`): then every second derivative is zero.
#[track_caller]
fn recorded_gradient<T: Float>(name: &str, y: &Var<T>, x: &Var<T>) -> Option<Var<T>> {
    if y.numel() != 1 {
        tensor::op_panic(
            name,
            format!(
                "f must return one element, its output has shape {:?} (the input x has shape {:?}); use jacobian for vector outputs",
                y.shape(),
                x.shape()
            ),
        );
    }
    let one = Var::constant(Tensor::ones(&y.shape()));
    vector_jacobian(y, &one, x, true).filter(|g| g.requires_grad())
}

/// The vector-Jacobian product: `(f(x), v^T J)` with `J = df/dx` at `x`, as
/// `torch.autograd.functional.vjp`. `v` has the shape of `f(x)`; the product has the shape of `x`.
///
/// This is exactly what one backward pass computes: seed the output with `v` and walk back to `x`.
/// By the chain rule each op turns the gradient of its output `g` into `g^T (d out / d in)`, so
/// after the whole walk the input holds
///
/// ```text
/// (v^T J)_j = sum_i v_i dy_i/dx_j
/// ```
///
/// a weighted sum of the rows of `J`, at the cost of about one forward pass whatever the sizes.
/// With `v = 1` and a scalar `f` it is the gradient; with `v = e_i` it is row `i` of `J`.
///
/// # Panics
/// If `v`'s shape differs from the shape of `f(x)` (the message names `vjp` and both shapes).
///
/// ```
/// use autograd::functional::vjp;
/// use tensor::Tensor;
/// // y = x * x elementwise: J = diag(2x), so v^T J = 2 x v.
/// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]);
/// let v = Tensor::from_vec(vec![1.0, 1.0, 0.5], &[3]);
/// let (y, v_j) = vjp(|x| x.mul(x), &x, &v);
/// assert_eq!(y.to_vec(), vec![1.0, 4.0, 9.0]);
/// assert_eq!(v_j.to_vec(), vec![2.0, 4.0, 3.0]);
/// ```
#[track_caller]
pub fn vjp<T: Float>(f: impl Fn(&Var<T>) -> Var<T>, x: &Tensor<T>, v: &Tensor<T>) -> (Tensor<T>, Tensor<T>) {
    let _record = GradModeGuard::set(true);
    let xv = leaf(x);
    let y = f(&xv);
    if v.shape() != y.shape().as_slice() {
        tensor::op_panic(
            "vjp",
            format!(
                "v has shape {:?} but the output f(x) has shape {:?} (x has shape {:?})",
                v.shape(),
                y.shape(),
                x.shape()
            ),
        );
    }
    let v_j = vector_jacobian_value(&y, &Var::constant(v.clone()), &xv);
    (y.value(), v_j)
}

/// The Jacobian-vector product: `(f(x), J u)` with `J = df/dx` at `x`, as
/// `torch.autograd.functional.jvp`. `u` has the shape of `x`; the product has the shape of `f(x)`:
/// how the output moves when the input moves in direction `u`, `J u = d/dt f(x + t u)` at `t = 0`.
///
/// `J u` is a combination of the *columns* of `J`, which is what forward mode computes; this
/// engine only runs backward, so it uses the double-vjp trick. Take a dummy `w` with the output's
/// shape that requires gradients, and compute the vector-Jacobian product with `create_graph`:
///
/// ```text
/// g(w) = J^T w          (a recorded backward pass: g is a variable depending on w)
/// ```
///
/// `g` is linear in `w` (backward is linear in the gradient it is seeded with), so its own
/// vector-Jacobian product with `u`, taken with respect to `w`, is
///
/// ```text
/// d (u^T g) / dw = d (u^T J^T w) / dw = (u^T J^T)^T = J u
/// ```
///
/// One backward pass recorded through `f`, then one backward pass through that recording, seeded
/// with `u`. The value of `w` does not matter (the result is linear, so its derivative is the
/// same everywhere); zeros are used. This is why [`crate::grad_with`] accepts output gradients
/// that are themselves in the graph. It costs about two backward passes where true forward mode
/// would cost about one forward pass; for one direction `u` that is still far cheaper than the
/// Jacobian.
///
/// # Panics
/// If `u`'s shape differs from `x`'s (the message names `jvp` and both shapes).
///
/// ```
/// use autograd::functional::jvp;
/// use tensor::Tensor;
/// // y = x * x elementwise: J = diag(2x), so J u = 2 x u.
/// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]);
/// let u = Tensor::from_vec(vec![0.0, 1.0, -1.0], &[3]);
/// let (y, j_u) = jvp(|x| x.mul(x), &x, &u);
/// assert_eq!(y.to_vec(), vec![1.0, 4.0, 9.0]);
/// assert_eq!(j_u.to_vec(), vec![0.0, 4.0, -6.0]);
/// ```
#[track_caller]
pub fn jvp<T: Float>(f: impl Fn(&Var<T>) -> Var<T>, x: &Tensor<T>, u: &Tensor<T>) -> (Tensor<T>, Tensor<T>) {
    if u.shape() != x.shape() {
        tensor::op_panic("jvp", format!("u has shape {:?} but the input x has shape {:?}", u.shape(), x.shape()));
    }
    let _record = GradModeGuard::set(true);
    let xv = leaf(x);
    let y = f(&xv);
    let zeros = || Tensor::zeros(&y.shape());
    // g(w) = J^T w, recorded. `None`: y does not depend on x, J = 0.
    let w = Var::parameter(zeros());
    let Some(g) = vector_jacobian(&y, &w, &xv, true) else { return (y.value(), zeros()) };
    // d(u^T g)/dw = J u. `None`: the recorded g does not depend on w, which happens only when
    // every backward on the way dropped the gradient (J = 0).
    let j_u = match vector_jacobian(&g, &Var::constant(u.clone()), &w, false) {
        Some(j_u) => j_u.value(),
        None => zeros(),
    };
    (y.value(), j_u)
}

/// The Jacobian of `f` at `x`, shape `out_shape ++ in_shape`: `J[i.., j..] = d f(x)[i..] / d x[j..]`,
/// as `torch.autograd.functional.jacobian`. A scalar (shape `[]`) output gives shape `in_shape`.
///
/// Built row by row: row `i` is the vector-Jacobian product `e_i^T J` with the one-hot `e_i`, one
/// backward pass each through the same forward graph, so `m` passes for `m` output elements
/// (the row for a scalar `f` is its gradient). Column by column would take `n` [`jvp`]s, two
/// backward passes each, in this reverse-only engine.
///
/// ```
/// use autograd::functional::jacobian;
/// use tensor::Tensor;
/// // y = (x0 x1, x0 + x1) at (2, 3): J = [[x1, x0], [1, 1]].
/// let f = |x: &autograd::Var<f64>| {
///     let (x0, x1) = (x.slice(0, 0, 1), x.slice(0, 1, 2));
///     autograd::Var::concat(&[&x0.mul(&x1), &x0.add(&x1)], 0)
/// };
/// let j = jacobian(f, &Tensor::from_vec(vec![2.0, 3.0], &[2]));
/// assert_eq!(j.shape(), &[2, 2]);
/// assert_eq!(j.to_vec(), vec![3.0, 2.0, 1.0, 1.0]);
/// ```
#[track_caller]
pub fn jacobian<T: Float>(f: impl Fn(&Var<T>) -> Var<T>, x: &Tensor<T>) -> Tensor<T> {
    let _record = GradModeGuard::set(true);
    let xv = leaf(x);
    let y = f(&xv);
    jacobian_rows(&y, &xv)
}

/// The Hessian of a scalar `f` at `x`, shape `in_shape ++ in_shape`:
/// `H[i.., j..] = d^2 f / (d x[i..] d x[j..])`, as `torch.autograd.functional.hessian`.
///
/// The Hessian is the Jacobian of the gradient. The gradient `g = df/dx` is computed with
/// `create_graph`, so it is a variable with the shape of `x` that depends on `x`; then
/// [`jacobian`]'s row-by-row construction runs on it: row `i` of `H` is `e_i^T dg/dx`, the
/// gradient of `g_i`. One recorded backward plus `n` backward passes through the recording. For a
/// twice continuously differentiable `f`, `H` is symmetric, so rows and columns agree; in floating
/// point they agree to rounding.
///
/// # Panics
/// If `f(x)` has more than one element (the message names `hessian`, the output's shape and
/// `x`'s), or if an op on the way has a first-order backward only.
///
/// ```
/// use autograd::functional::hessian;
/// use tensor::Tensor;
/// // f = x0^2 x1 at (3, 2): H = [[2 x1, 2 x0], [2 x0, 0]] = [[4, 6], [6, 0]].
/// let f = |x: &autograd::Var<f64>| {
///     let (x0, x1) = (x.slice(0, 0, 1), x.slice(0, 1, 2));
///     x0.mul(&x0).mul(&x1).sum_all()
/// };
/// let h = hessian(f, &Tensor::from_vec(vec![3.0, 2.0], &[2]));
/// assert_eq!(h.shape(), &[2, 2]);
/// assert_eq!(h.to_vec(), vec![4.0, 6.0, 6.0, 0.0]);
/// ```
#[track_caller]
pub fn hessian<T: Float>(f: impl Fn(&Var<T>) -> Var<T>, x: &Tensor<T>) -> Tensor<T> {
    let _record = GradModeGuard::set(true);
    let xv = leaf(x);
    let y = f(&xv);
    match recorded_gradient("hessian", &y, &xv) {
        Some(g) => jacobian_rows(&g, &xv),
        None => Tensor::zeros(&[x.shape(), x.shape()].concat()),
    }
}

/// The Hessian-vector product of a scalar `f`: `(f(x), H v)`, as
/// `torch.autograd.functional.hvp`, without ever forming `H`. `v` has the shape of `x`, and so
/// does `H v`.
///
/// Pearlmutter's trick: since `v` is a constant,
///
/// ```text
/// d/dx_j (g . v) = d/dx_j sum_i (df/dx_i) v_i = sum_i H_ji v_i = (H v)_j
/// ```
///
/// so `H v` is the gradient of the scalar `g . v`, where `g = df/dx` was computed with
/// `create_graph`. (Strictly that is `H^T v`; `H` is symmetric for a twice continuously
/// differentiable `f`.) The second gradient is taken as a vector-Jacobian product of `g` seeded
/// with `v`, which is the same thing without recording the dot product.
///
/// Cost: one forward pass, one backward pass that also records its own ops (each op's backward
/// is a few ops, so the recording is a graph of about the size of the forward's), and one
/// backward pass through that recording, which also goes back through the forward graph it uses.
/// That is about two backward passes, each a small multiple of the forward's cost, however large
/// `n` is, and memory for two graphs; forming `H` first would take `n` backward passes and `n^2`
/// numbers. This is what makes Newton-CG, curvature probes and influence functions affordable.
///
/// # Panics
/// If `v`'s shape differs from `x`'s, or `f(x)` has more than one element (the message names
/// `hvp` and both shapes), or if an op on the way has a first-order backward only.
///
/// ```
/// use autograd::functional::hvp;
/// use tensor::Tensor;
/// // f = x0^2 x1 at (3, 2): H = [[4, 6], [6, 0]], so H (1, 1) = (10, 6).
/// let f = |x: &autograd::Var<f64>| {
///     let (x0, x1) = (x.slice(0, 0, 1), x.slice(0, 1, 2));
///     x0.mul(&x0).mul(&x1).sum_all()
/// };
/// let x = Tensor::from_vec(vec![3.0, 2.0], &[2]);
/// let (value, h_v) = hvp(f, &x, &Tensor::from_vec(vec![1.0, 1.0], &[2]));
/// assert_eq!(value.item(), 18.0);
/// assert_eq!(h_v.to_vec(), vec![10.0, 6.0]);
/// ```
#[track_caller]
pub fn hvp<T: Float>(f: impl Fn(&Var<T>) -> Var<T>, x: &Tensor<T>, v: &Tensor<T>) -> (Tensor<T>, Tensor<T>) {
    if v.shape() != x.shape() {
        tensor::op_panic("hvp", format!("v has shape {:?} but the input x has shape {:?}", v.shape(), x.shape()));
    }
    let _record = GradModeGuard::set(true);
    let xv = leaf(x);
    let y = f(&xv);
    let h_v = match recorded_gradient("hvp", &y, &xv) {
        // d(g . v)/dx = H v: the vector-Jacobian product of the recorded gradient with v.
        Some(g) => vector_jacobian_value(&g, &Var::constant(v.clone()), &xv),
        None => Tensor::zeros(x.shape()),
    };
    (y.value(), h_v)
}
