//! Reductions over any set of axes, with `keepdim`: sum, mean, max, var, and the whole-tensor
//! forms sum_all and mean_all.
//!
//! Every backward here starts the same way. The output gradient `g` has the output's shape; each
//! output element came from a group of input elements (the reduced axes), and each element of the
//! group needs `g` of its output. So `g` is put back into the input's rank (a size-1 axis in place
//! of every reduced axis, when `keepdim` dropped them) and broadcast to the input's shape: both
//! steps are views (stride 0 along the reduced axes), nothing is copied. What remains is the
//! local derivative of the reduction, which differs per op:
//!
//! | op   | d out / d x_i, for x_i in the group            |
//! |------|------------------------------------------------|
//! | sum  | 1                                              |
//! | mean | 1 / n                                          |
//! | max  | 1 / (number of maxima) at a maximum, else 0    |
//! | var  | 2 (x_i - mean) / N',  N' = n - 1 or n          |
//!
//! Scalars per group (1/n, 1/count, g itself) are applied to the small, output-sized gradient
//! before it is broadcast, so sum and mean never materialise an input-sized tensor: their input
//! gradient is a broadcast view, materialised later only if a consumer needs it.

use tensor::{Float, normalize_axes};

use crate::var::Var;

impl<T: Float> Var<T> {
    /// Sum over `axes` (negative allowed, any order, no repeats).
    /// `(d0, .., dn) ->` the kept axes, or the same rank with 1s in the reduced axes when `keepdim`.
    /// An empty axis list reduces nothing (as [`Tensor::sum`](tensor::Tensor::sum)); use [`Var::sum_all`] for everything.
    ///
    /// d out / d x_i = 1 for every x_i of its group: `dx = g` broadcast back over the reduced axes.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::arange(0.0, 6.0, 1.0).reshape(&[2, 3]));
    /// let rows = x.sum(&[-1], false); // (2, 3) -> (2)
    /// assert_eq!(rows.value().to_vec(), vec![3.0, 12.0]);
    /// // Weight the two row sums by 1 and 10: every element gets its row's weight.
    /// let g = rows.backward_with_grad(&Tensor::from_vec(vec![1.0, 10.0], &[2]));
    /// assert_eq!(g.get(&x).unwrap().to_vec(), vec![1.0, 1.0, 1.0, 10.0, 10.0, 10.0]);
    /// ```
    #[track_caller]
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Var<T> {
        let axes = normalize_axes("sum", axes, self.ndim());
        let value = self.value_ref().sum(&signed(&axes), keepdim);
        let shape = self.shape();
        Var::from_differentiable_op("sum", value, &[self], move |a| {
            vec![Some(expand_back(a.grad, &axes, keepdim, &shape))]
        })
    }

    /// Sum of all elements, as a 0-d (shape `[]`) variable. `dx = g` broadcast to the input's shape.
    #[track_caller]
    pub fn sum_all(&self) -> Var<T> {
        let value = self.value_ref().sum_all();
        let shape = self.shape();
        Var::from_differentiable_op("sum_all", value, &[self], move |a| vec![Some(a.grad.broadcast_to(&shape))])
    }

    /// Mean over `axes`: [`Var::sum`] divided by `n`, the number of elements in each group.
    /// The mean of an empty group is NaN (0 / 0), as in PyTorch.
    ///
    /// d out / d x_i = 1 / n: `dx = g / n` broadcast back over the reduced axes.
    #[track_caller]
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Var<T> {
        let axes = normalize_axes("mean", axes, self.ndim());
        let value = self.value_ref().mean(&signed(&axes), keepdim);
        let shape = self.shape();
        let n = T::from_usize(group_size(&shape, &axes));
        Var::from_differentiable_op("mean", value, &[self], move |a| {
            vec![Some(expand_back(&a.grad.div_scalar(n), &axes, keepdim, &shape))]
        })
    }

    /// Mean of all elements, as a 0-d variable (NaN for an empty tensor). `dx = g / numel`,
    /// broadcast to the input's shape.
    #[track_caller]
    pub fn mean_all(&self) -> Var<T> {
        let value = self.value_ref().mean_all();
        let shape = self.shape();
        let n = T::from_usize(self.numel());
        Var::from_differentiable_op("mean_all", value, &[self], move |a| {
            vec![Some(a.grad.div_scalar(n).broadcast_to(&shape))]
        })
    }

    /// Maximum over `axes` (as `torch.amax`), with `keepdim`. Panics if a reduced axis is empty.
    ///
    /// The gradient goes to the position of the maximum of each group. When several elements tie
    /// for the maximum, the gradient is divided evenly among them (each gets `g / count`), as
    /// `torch.amax` does; this is a valid subgradient, and the tied shares add back to `g`.
    /// (`torch.max(dim)`, which also returns indices, instead sends all of `g` to one index.)
    /// A group holding a NaN has a NaN maximum and a NaN gradient, as in PyTorch.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 3.0, 3.0, 2.0], &[2, 2]));
    /// let g = x.max(&[0, 1], false).backward();
    /// assert_eq!(g.get(&x).unwrap().to_vec(), vec![0.0, 0.5, 0.5, 0.0]); // a tie splits g
    /// ```
    #[track_caller]
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Var<T> {
        let axes = normalize_axes("max", axes, self.ndim());
        let x = self.value();
        // Keep the reduced axes as 1s: backward compares x with it by broadcasting.
        let max_keep = x.max(&signed(&axes), true);
        let value = if keepdim { max_keep.clone() } else { max_keep.reshape(&reduced_shape(x.shape(), &axes)) };
        Var::from_differentiable_op("max", value, &[self], move |a| {
            // Which elements are maxima is a constant of the input: its derivative is zero.
            let at_max = x.eq_mask(&max_keep); // 1 at each maximum, input-shaped
            let count = Var::constant(at_max.sum(&signed(&axes), true)); // maxima per group, keepdim-shaped
            let share = restore_axes(a.grad, &axes, keepdim).div(&count); // g / count per group
            vec![Some(share.mul(&Var::constant(at_max)))]
        })
    }

    /// Variance over `axes`: `sum((x - mean)^2) / N'` with `N' = n - 1` when `unbiased` (Bessel's
    /// correction, PyTorch's default) and `N' = n` otherwise, `n` the group size. NaN when
    /// `N' = 0`, as [`Tensor::var`](tensor::Tensor::var).
    ///
    /// With m the group's mean, d/dx_i sum_j (x_j - m)^2 = 2 (x_i - m) - 2 sum_j (x_j - m) dm/dx_i,
    /// and the last sum is 0 (deviations from the mean add up to nothing), so
    /// d out / d x_i = 2 (x_i - m) / N'.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4]));
    /// let v = x.var(&[0], false, false); // mean 2.5, N' = 4
    /// assert_eq!(v.item(), 1.25);
    /// let g = v.backward();
    /// assert_eq!(g.get(&x).unwrap().to_vec(), vec![-0.75, -0.25, 0.25, 0.75]); // 2 (x - 2.5) / 4
    /// ```
    #[track_caller]
    pub fn var(&self, axes: &[isize], keepdim: bool, unbiased: bool) -> Var<T> {
        let axes = normalize_axes("var", axes, self.ndim());
        let value = self.value_ref().var(&signed(&axes), keepdim, unbiased);
        let n = group_size(&self.shape(), &axes);
        let divisor = T::from_usize(if unbiased { n.saturating_sub(1) } else { n });
        Var::from_differentiable_op("var", value, &[self], move |a| {
            // The mean is recomputed here rather than kept from the forward: it costs one pass,
            // and only when a gradient is actually asked for.
            let x = &a.inputs[0];
            let mean = x.mean(&signed(&axes), true);
            let scale = restore_axes(a.grad, &axes, keepdim).mul_scalar(T::from_f64(2.0) / divisor);
            vec![Some(x.sub(&mean).mul(&scale))]
        })
    }
}

/// Normalized (sorted, non-negative) axes back as the `isize` the tensor API takes.
fn signed(axes: &[usize]) -> Vec<isize> {
    axes.iter().map(|&a| a as isize).collect()
}

/// Number of input elements in each group: the product of the reduced axes' sizes.
fn group_size(shape: &[usize], axes: &[usize]) -> usize {
    axes.iter().map(|&a| shape[a]).product()
}

/// The output shape without keepdim: `shape` with the reduced `axes` removed.
fn reduced_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
}

/// `g` in the input's rank: when `keepdim` was false, a size-1 axis is put back at each reduced
/// axis. Inserting in increasing order puts each at its final position. A view.
fn restore_axes<T: Float>(g: &Var<T>, axes: &[usize], keepdim: bool) -> Var<T> {
    if keepdim {
        return g.clone();
    }
    axes.iter().fold(g.clone(), |t, &a| t.unsqueeze(a as isize))
}

/// `g` put back in the input's rank and broadcast to its shape: the gradient of a sum, as a view.
fn expand_back<T: Float>(g: &Var<T>, axes: &[usize], keepdim: bool, shape: &[usize]) -> Var<T> {
    restore_axes(g, axes, keepdim).broadcast_to(shape)
}
