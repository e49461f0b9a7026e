//! Shape ops: reshape, flatten, permute, transpose, mt, narrow, slice, squeeze, unsqueeze,
//! broadcast_to and its inverse sum_to_shape.
//!
//! Every forward is a tensor view: a new layout over the input's storage, nothing copied
//! (`reshape` copies only when the strides cannot express the new shape, as `torch.reshape`).
//! Every backward moves the gradient back to the input's shape without arithmetic, except
//! `broadcast_to`, whose backward is a sum (and `sum_to_shape`, whose backward broadcasts):
//!
//! | forward              | backward                                            |
//! |----------------------|-----------------------------------------------------|
//! | reshape / flatten    | reshape back                                        |
//! | permute / transpose  | the inverse permutation                             |
//! | narrow / slice       | pad with zeros back to the input's size on the axis |
//! | squeeze / unsqueeze  | unsqueeze / squeeze the same axis                   |
//! | broadcast_to         | `sum_to_shape` ("expand backward is sum")           |
//! | sum_to_shape         | `broadcast_to`                                      |
//!
//! ```
//! use autograd::Var;
//! use tensor::Tensor;
//! let x = Var::parameter(Tensor::<f64>::arange(0.0, 6.0, 1.0).reshape(&[2, 3]));
//! let y = x.mt(); // (3, 2), a view of x's storage
//! assert!(y.value().shares_storage_with(&x.value()));
//! let g = y.backward_with_grad(&Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]));
//! assert_eq!(g.get(&x).unwrap().to_vec(), vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
//! ```

use tensor::{Float, Tensor, normalize_axis, op_panic};

use crate::var::Var;

impl<T: Float> Var<T> {
    /// The same elements (row-major order) under a new `shape` with the same element count.
    /// A view whenever the strides allow it. Backward: the gradient reshaped to the input's shape.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::zeros(&[2, 3]));
    /// assert_eq!(x.reshape(&[3, 2]).shape(), vec![3, 2]);
    /// ```
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Var<T> {
        let value = self.value_ref().reshape(shape);
        let input_shape = self.shape();
        Var::from_differentiable_op("reshape", value, &[self], move |a| vec![Some(a.grad.reshape(&input_shape))])
    }

    /// All elements as one axis: `(d0, d1, ..) -> (d0 * d1 * ..)`. Backward: reshape back.
    #[track_caller]
    pub fn flatten(&self) -> Var<T> {
        self.reshape(&[self.numel()])
    }

    /// Reorders the axes: output axis `i` is input axis `axes[i]` (negative axes allowed).
    ///
    /// Backward: the inverse permutation. Output axis `i` came from input axis `axes[i]`, so
    /// the gradient's axis `i` goes back to position `axes[i]`: `inverse[axes[i]] = i`.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::zeros(&[2, 3, 4]));
    /// assert_eq!(x.permute(&[2, 0, 1]).shape(), vec![4, 2, 3]);
    /// ```
    #[track_caller]
    pub fn permute(&self, axes: &[isize]) -> Var<T> {
        // The tensor op validates `axes` (a permutation of 0..ndim) before we invert it.
        let value = self.value_ref().permute(axes);
        let ndim = self.ndim();
        let mut inverse = vec![0isize; ndim];
        for (i, &a) in axes.iter().enumerate() {
            inverse[normalize_axis("permute", a, ndim)] = i as isize;
        }
        Var::from_differentiable_op("permute", value, &[self], move |a| vec![Some(a.grad.permute(&inverse))])
    }

    /// Swaps axes `a` and `b` (negative allowed). Backward: swap them back.
    #[track_caller]
    pub fn transpose(&self, a: isize, b: isize) -> Var<T> {
        let value = self.value_ref().transpose(a, b);
        Var::from_differentiable_op("transpose", value, &[self], move |args| vec![Some(args.grad.transpose(a, b))])
    }

    /// Swaps the last two axes, `(.., m, n) -> (.., n, m)` (the transpose of a batch of matrices).
    /// Backward: `mt` again.
    #[track_caller]
    pub fn mt(&self) -> Var<T> {
        let value = self.value_ref().mt();
        Var::from_differentiable_op("mt", value, &[self], |a| vec![Some(a.grad.mt())])
    }

    /// Keeps `len` entries of `axis` starting at `start`, as `torch.narrow`:
    /// `(.., n, ..) -> (.., len, ..)`.
    ///
    /// Backward: the gradient where the entries were read, zeros elsewhere. Tensors are
    /// immutable values, so the padded gradient is built as `concat([zeros, g, zeros], axis)`:
    /// one call that reads exactly as the math says, writes each element once, and takes `g`
    /// in any layout (a "zeros, then write into a narrow view" helper would need a mutable
    /// strided write that the tensor crate deliberately does not expose).
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::ones(&[2, 4]));
    /// let y = x.narrow(1, 1, 2); // (2, 2)
    /// let g = y.backward_with_grad(&Tensor::ones(&[2, 2]));
    /// assert_eq!(g.get(&x).unwrap().to_vec(), vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Var<T> {
        let value = self.value_ref().narrow(axis, start, len);
        let input_shape = self.shape();
        let axis = normalize_axis("narrow", axis, input_shape.len());
        Var::from_differentiable_op("narrow", value, &[self], move |a| {
            vec![Some(pad_narrowed(a.grad, &input_shape, axis, start))]
        })
    }

    /// Entries `start..end` of `axis`, as Python's `x[..., start:end]`. Same as
    /// `narrow(axis, start, end - start)`, and recorded as a narrow.
    #[track_caller]
    pub fn slice(&self, axis: isize, start: usize, end: usize) -> Var<T> {
        if end < start {
            op_panic("slice", format!("end {end} is before start {start} (shape {:?})", self.shape()));
        }
        self.narrow(axis, start, end - start)
    }

    /// Removes `axis`, which must have size 1: `(.., 1, ..) -> (.., ..)`. Backward: unsqueeze it.
    #[track_caller]
    pub fn squeeze(&self, axis: isize) -> Var<T> {
        let value = self.value_ref().squeeze(axis);
        let axis = normalize_axis("squeeze", axis, self.ndim()) as isize;
        Var::from_differentiable_op("squeeze", value, &[self], move |a| vec![Some(a.grad.unsqueeze(axis))])
    }

    /// Inserts a size-1 axis so that it ends up at position `axis` (`-1` appends, as PyTorch).
    /// Backward: squeeze it.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::zeros(&[2, 3]));
    /// assert_eq!(x.unsqueeze(-1).shape(), vec![2, 3, 1]);
    /// assert_eq!(x.unsqueeze(1).shape(), vec![2, 1, 3]);
    /// ```
    #[track_caller]
    pub fn unsqueeze(&self, axis: isize) -> Var<T> {
        let value = self.value_ref().unsqueeze(axis);
        let axis = normalize_axis("unsqueeze", axis, self.ndim() + 1) as isize;
        Var::from_differentiable_op("unsqueeze", value, &[self], move |a| vec![Some(a.grad.squeeze(axis))])
    }

    /// Repeats size-1 axes (and adds leading axes) to reach `shape`, with stride 0: no copy.
    ///
    /// Backward: every output element read the same input element, so that input element's
    /// gradient is the sum over the copies: `g.sum_to_shape(input_shape)`.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let b = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]));
    /// let y = b.broadcast_to(&[3, 2]);
    /// let g = y.backward_with_grad(&Tensor::ones(&[3, 2]));
    /// assert_eq!(g.get(&b).unwrap().to_vec(), vec![3.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Var<T> {
        let value = self.value_ref().broadcast_to(shape);
        let input_shape = self.shape();
        Var::from_differentiable_op("broadcast_to", value, &[self], move |a| {
            vec![Some(a.grad.sum_to_shape(&input_shape))]
        })
    }

    /// Sums over the axes along which `shape` was broadcast to this variable's shape: the
    /// inverse of [`Var::broadcast_to`], and the backward of every broadcasting op (a bias added
    /// to every row gets the sum of the rows' gradients). Its own backward broadcasts back.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::ones(&[2, 3]));
    /// assert_eq!(x.sum_to_shape(&[1, 3]).value().to_vec(), vec![2.0, 2.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn sum_to_shape(&self, shape: &[usize]) -> Var<T> {
        let value = self.value_ref().sum_to_shape(shape);
        let input_shape = self.shape();
        Var::from_differentiable_op("sum_to_shape", value, &[self], move |a| {
            vec![Some(a.grad.broadcast_to(&input_shape))]
        })
    }
}

/// The gradient of `x.narrow(axis, start, g.shape()[axis])` for an `x` of shape `input_shape`:
/// `g` placed at `start..start + len` of `axis`, zeros before and after. A concatenation, so it is
/// differentiable too (its backward narrows again).
fn pad_narrowed<T: Float>(g: &Var<T>, input_shape: &[usize], axis: usize, start: usize) -> Var<T> {
    let len = g.shape()[axis];
    let mut before = input_shape.to_vec();
    before[axis] = start;
    let mut after = input_shape.to_vec();
    after[axis] = input_shape[axis] - start - len;
    let (before, after) = (Var::constant(Tensor::zeros(&before)), Var::constant(Tensor::zeros(&after)));
    Var::concat(&[&before, g, &after], axis as isize)
}
