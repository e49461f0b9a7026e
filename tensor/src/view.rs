//! Views: new layouts over the same storage. None of these copy, except `reshape` when the
//! strides cannot express the new shape (then it says so and copies once).

use crate::error::op_panic;
use crate::layout::{normalize_axes, normalize_axis};
use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    fn with_layout(&self, layout: crate::Layout) -> Tensor<T> {
        Tensor { storage: self.storage.clone(), layout }
    }

    /// The same elements (in row-major order) under a new shape with the same element count.
    ///
    /// A view whenever the strides allow it (always for contiguous tensors; often for
    /// permuted or sliced ones). Otherwise, and only then, the data is copied to a contiguous
    /// buffer first, as `torch.reshape` does.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::<f32>::arange(0.0, 6.0, 1.0);
    /// let b = a.reshape(&[2, 3]);
    /// assert!(b.shares_storage_with(&a));
    /// let c = b.transpose(0, 1).reshape(&[6]); // needs a copy
    /// assert!(!c.shares_storage_with(&a));
    /// assert_eq!(c.to_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    /// ```
    #[track_caller]
    pub fn reshape(&self, shape: &[usize]) -> Tensor<T> {
        if shape.iter().product::<usize>() != self.numel() {
            op_panic("reshape", format!("cannot reshape {:?} ({} elements) to {shape:?}", self.shape(), self.numel()));
        }
        match self.layout.reshape_view(shape) {
            Some(l) => self.with_layout(l),
            // The strides cannot express this order: copy to row-major, then view.
            None => self.contiguous().reshape(shape),
        }
    }

    /// Like [`Tensor::reshape`], but panics instead of copying (as `torch.view`).
    #[track_caller]
    pub fn view(&self, shape: &[usize]) -> Tensor<T> {
        if shape.iter().product::<usize>() != self.numel() {
            op_panic("view", format!("cannot view {:?} ({} elements) as {shape:?}", self.shape(), self.numel()));
        }
        match self.layout.reshape_view(shape) {
            Some(l) => self.with_layout(l),
            None => op_panic(
                "view",
                format!(
                    "shape {:?} with strides {:?} cannot be viewed as {shape:?} without a copy; use reshape",
                    self.shape(),
                    self.strides()
                ),
            ),
        }
    }

    /// All elements as one axis.
    pub fn flatten(&self) -> Tensor<T> {
        self.reshape(&[self.numel()])
    }

    /// Reorders the axes: output axis `i` is input axis `axes[i]` (negative axes allowed).
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f64>::zeros(&[2, 3, 4]);
    /// assert_eq!(x.permute(&[2, 0, 1]).shape(), &[4, 2, 3]);
    /// assert_eq!(x.permute(&[-1, 0, 1]).shape(), &[4, 2, 3]);
    /// ```
    #[track_caller]
    pub fn permute(&self, axes: &[isize]) -> Tensor<T> {
        if axes.len() != self.ndim() {
            op_panic("permute", format!("{} axes {axes:?} given for shape {:?}", axes.len(), self.shape()));
        }
        let axes: Vec<usize> = axes.iter().map(|&a| normalize_axis("permute", a, self.ndim())).collect();
        self.with_layout(self.layout.permute(&axes))
    }

    /// Swaps two axes.
    #[track_caller]
    pub fn transpose(&self, a: isize, b: isize) -> Tensor<T> {
        let (a, b) = (normalize_axis("transpose", a, self.ndim()), normalize_axis("transpose", b, self.ndim()));
        let mut axes: Vec<usize> = (0..self.ndim()).collect();
        axes.swap(a, b);
        self.with_layout(self.layout.permute(&axes))
    }

    /// Swaps the last two axes (the matrix transpose of a batch of matrices).
    #[track_caller]
    pub fn mt(&self) -> Tensor<T> {
        if self.ndim() < 2 {
            op_panic("mt", format!("needs at least 2 dimensions, shape is {:?}", self.shape()));
        }
        self.transpose(-2, -1)
    }

    /// Keeps `len` elements of `axis` starting at `start`, as `torch.narrow`.
    #[track_caller]
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Tensor<T> {
        let axis = normalize_axis("narrow", axis, self.ndim());
        self.with_layout(self.layout.narrow(axis, start, len))
    }

    /// Elements `start..end` of `axis`, as Python's `x[..., start:end]`.
    #[track_caller]
    pub fn slice(&self, axis: isize, start: usize, end: usize) -> Tensor<T> {
        if end < start {
            op_panic("slice", format!("end {end} is before start {start} (shape {:?})", self.shape()));
        }
        self.narrow(axis, start, end - start)
    }

    /// Removes a size-1 axis.
    #[track_caller]
    pub fn squeeze(&self, axis: isize) -> Tensor<T> {
        let axis = normalize_axis("squeeze", axis, self.ndim());
        self.with_layout(self.layout.squeeze(axis))
    }

    /// Inserts a size-1 axis so that it ends up at position `axis` (`-1` appends, as PyTorch).
    #[track_caller]
    pub fn unsqueeze(&self, axis: isize) -> Tensor<T> {
        let axis = normalize_axis("unsqueeze", axis, self.ndim() + 1);
        self.with_layout(self.layout.unsqueeze(axis))
    }

    /// Repeats size-1 axes (and adds leading axes) to reach `shape`, with stride 0: no copy.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let row = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2]);
    /// let m = row.broadcast_to(&[3, 2]);
    /// assert_eq!(m.strides(), &[0, 1]);
    /// assert_eq!(m.to_vec(), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    /// ```
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Tensor<T> {
        self.with_layout(self.layout.broadcast_to(shape))
    }

    /// Same as [`Tensor::broadcast_to`] (PyTorch's name).
    #[track_caller]
    pub fn expand(&self, shape: &[usize]) -> Tensor<T> {
        self.broadcast_to(shape)
    }

    /// Validates and sorts a list of axes for this tensor (negative allowed).
    #[track_caller]
    pub fn axes(&self, op: &str, axes: &[isize]) -> Vec<usize> {
        normalize_axes(op, axes, self.ndim())
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn views_share_storage() {
        let a = Tensor::<f32>::arange(0.0, 24.0, 1.0).reshape(&[2, 3, 4]);
        for v in [a.permute(&[2, 0, 1]), a.narrow(1, 1, 2), a.unsqueeze(0), a.slice(-1, 1, 3), a.mt()] {
            assert!(v.shares_storage_with(&a));
        }
        let b = a.narrow(0, 0, 1).squeeze(0).unsqueeze(-1).broadcast_to(&[3, 4, 5]);
        assert!(b.shares_storage_with(&a));
        assert_eq!(b.get(&[2, 3, 4]), 11.0);
    }

    #[test]
    #[should_panic(expected = "tensor op 'reshape': cannot reshape [2, 3] (6 elements) to [4]")]
    fn reshape_mismatch_names_op_and_shapes() {
        Tensor::<f32>::zeros(&[2, 3]).reshape(&[4]);
    }

    #[test]
    #[should_panic(expected = "axis -4 is out of range")]
    fn bad_negative_axis_panics() {
        Tensor::<f32>::zeros(&[2, 3, 4]).narrow(-4, 0, 1);
    }
}
