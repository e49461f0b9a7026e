//! The generic elementwise kernels every pointwise op is written with: [`Tensor::map`] for one
//! input and [`Tensor::zip_with`] for two inputs under broadcasting.
//!
//! Both take a fast path over plain slices when their inputs are contiguous and fall back to the
//! one strided walker ([`crate::for_each_offsets`]) otherwise. Results are always contiguous.

use crate::error::op_panic;
use crate::layout::{Layout, broadcast_shape, for_each_offsets};
use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    /// Applies `f` to every element, giving a new contiguous tensor of the same shape.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let t = Tensor::<f32>::arange(0.0, 4.0, 1.0).reshape(&[2, 2]).mt();
    /// assert_eq!(t.map(|x| x * 10.0).to_vec(), vec![0.0, 20.0, 10.0, 30.0]);
    /// ```
    pub fn map(&self, f: impl Fn(T) -> T) -> Tensor<T> {
        let data: Vec<T> = match self.as_slice() {
            Some(s) => s.iter().map(|&x| f(x)).collect(),
            None => {
                let mut out = Vec::with_capacity(self.numel());
                let src = &self.storage;
                for_each_offsets(self.shape(), [&self.layout], |[i]| out.push(f(src[i])));
                out
            }
        };
        Tensor::from_vec(data, self.shape())
    }

    /// Combines two tensors elementwise after broadcasting them to a common shape.
    ///
    /// `op` names the operation in the panic message when the shapes don't broadcast.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let col = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2, 1]);
    /// let row = Tensor::<f64>::from_vec(vec![10.0, 20.0, 30.0], &[3]);
    /// let s = col.zip_with(&row, "add", |a, b| a + b);
    /// assert_eq!(s.shape(), &[2, 3]);
    /// assert_eq!(s.to_vec(), vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
    /// ```
    #[track_caller]
    pub fn zip_with(&self, other: &Tensor<T>, op: &str, f: impl Fn(T, T) -> T) -> Tensor<T> {
        let shape = self.broadcast_shape_with(other, op);
        if self.shape() == other.shape() {
            if let (Some(a), Some(b)) = (self.as_slice(), other.as_slice()) {
                let data = a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
                return Tensor::from_vec(data, &shape);
            }
        }
        let (la, lb) = (self.layout.broadcast_to(&shape), other.layout.broadcast_to(&shape));
        let mut out = Vec::with_capacity(shape.iter().product());
        let (sa, sb) = (&self.storage, &other.storage);
        for_each_offsets(&shape, [&la, &lb], |[i, j]| out.push(f(sa[i], sb[j])));
        Tensor::from_vec(out, &shape)
    }

    /// The broadcast shape of two tensors, or a panic naming `op` and both shapes.
    #[track_caller]
    pub fn broadcast_shape_with(&self, other: &Tensor<T>, op: &str) -> Vec<usize> {
        match broadcast_shape(self.shape(), other.shape()) {
            Some(s) => s,
            None => {
                op_panic(op, format!("shapes {:?} and {:?} cannot be broadcast together", self.shape(), other.shape()))
            }
        }
    }

    /// Walks this tensor's elements in row-major order together with their storage layout.
    /// Useful for kernels outside the crate that need the raw strided walk.
    pub fn for_each(&self, mut f: impl FnMut(T)) {
        let src = &self.storage;
        let layout: &Layout = &self.layout;
        for_each_offsets(self.shape(), [layout], |[i]| f(src[i]));
    }
}
