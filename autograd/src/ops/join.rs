//! Joining and splitting: concat, stack, split, split_sizes, chunk.
//!
//! `concat` and `stack` are single ops whose backward hands each input its own piece of the
//! gradient, a `narrow` view (no copy). `split`, `split_sizes` and `chunk` are not ops of their
//! own: each piece is a [`Var::narrow`], so each piece's gradient is padded back to the full
//! size and the engine adds the pieces' gradients together, which rebuilds the gradient of the
//! whole (the pieces do not overlap, so each element receives exactly one nonzero term).
//!
//! ```
//! use autograd::Var;
//! use tensor::Tensor;
//! let x = Var::parameter(Tensor::<f64>::arange(0.0, 6.0, 1.0).reshape(&[2, 3]));
//! let pieces = x.split(2, 1); // (2, 2) and (2, 1)
//! let back = Var::concat(&[&pieces[0], &pieces[1]], 1);
//! assert_eq!(back.value().to_vec(), x.value().to_vec());
//! ```

use tensor::{Float, Tensor, normalize_axis};

use crate::var::Var;

impl<T: Float> Var<T> {
    /// Joins variables along an existing `axis`; all other sizes must agree, as `torch.cat`.
    /// Shapes `(.., n1, ..), (.., n2, ..), .. -> (.., n1 + n2 + .., ..)`.
    ///
    /// Backward: input `k` gets the gradient's entries `s_k..s_k + n_k` along `axis`, where
    /// `s_k = n_1 + .. + n_{k-1}` (a narrow view of the gradient).
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::zeros(&[2, 1]));
    /// let b = Var::parameter(Tensor::<f64>::ones(&[2, 2]));
    /// let c = Var::concat(&[&a, &b], -1);
    /// assert_eq!(c.shape(), vec![2, 3]);
    /// let g = c.backward_with_grad(&Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
    /// assert_eq!(g.get(&a).unwrap().to_vec(), vec![1.0, 4.0]);
    /// assert_eq!(g.get(&b).unwrap().to_vec(), vec![2.0, 3.0, 5.0, 6.0]);
    /// ```
    ///
    /// # Panics
    /// On an empty list, 0-d variables, or sizes that differ off `axis`.
    #[track_caller]
    pub fn concat(vars: &[&Var<T>], axis: isize) -> Var<T> {
        let values: Vec<Tensor<T>> = vars.iter().map(|v| v.value()).collect();
        // The tensor op checks the list and the shapes before we use them.
        let value = Tensor::concat(&values.iter().collect::<Vec<_>>(), axis);
        let axis = normalize_axis("concat", axis, value.ndim());
        let pieces: Vec<(usize, bool)> =
            values.iter().zip(vars).map(|(t, v)| (t.shape()[axis], v.requires_grad())).collect();
        Var::from_differentiable_op("concat", value, vars, move |a| {
            let mut start = 0;
            pieces
                .iter()
                .map(|&(len, needs_grad)| {
                    let piece = needs_grad.then(|| a.grad.narrow(axis as isize, start, len));
                    start += len;
                    piece
                })
                .collect()
        })
    }

    /// Joins same-shaped variables along a new axis placed at `axis` (`0..=ndim`, negative
    /// allowed), as `torch.stack`: `k` variables of shape `(a, b)` stacked at axis 1 give `(a, k, b)`.
    ///
    /// Backward: input `k` gets `g.narrow(axis, k, 1).squeeze(axis)`.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]));
    /// let b = Var::parameter(Tensor::<f64>::from_vec(vec![3.0, 4.0], &[2]));
    /// let s = Var::stack(&[&a, &b], -1); // (2, 2)
    /// assert_eq!(s.value().to_vec(), vec![1.0, 3.0, 2.0, 4.0]);
    /// let g = s.backward_with_grad(&Tensor::from_vec(vec![10.0, 30.0, 20.0, 40.0], &[2, 2]));
    /// assert_eq!(g.get(&b).unwrap().to_vec(), vec![30.0, 40.0]);
    /// ```
    ///
    /// # Panics
    /// On an empty list or shapes that differ.
    #[track_caller]
    pub fn stack(vars: &[&Var<T>], axis: isize) -> Var<T> {
        let values: Vec<Tensor<T>> = vars.iter().map(|v| v.value()).collect();
        let value = Tensor::stack(&values.iter().collect::<Vec<_>>(), axis);
        let axis = normalize_axis("stack", axis, value.ndim()) as isize;
        let needs: Vec<bool> = vars.iter().map(|v| v.requires_grad()).collect();
        Var::from_differentiable_op("stack", value, vars, move |a| {
            needs.iter().enumerate().map(|(k, &n)| n.then(|| a.grad.narrow(axis, k, 1).squeeze(axis))).collect()
        })
    }

    /// Consecutive pieces of `split_size` along `axis` (the last may be smaller), as
    /// `torch.split`. Each piece is a [`Var::narrow`]: a view of this value, and its gradient
    /// flows back into this variable's gradient.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::arange(0.0, 5.0, 1.0));
    /// let sizes: Vec<Vec<usize>> = x.split(2, 0).iter().map(|p| p.shape()).collect();
    /// assert_eq!(sizes, vec![vec![2], vec![2], vec![1]]);
    /// ```
    ///
    /// # Panics
    /// If `split_size` is 0.
    #[track_caller]
    pub fn split(&self, split_size: usize, axis: isize) -> Vec<Var<T>> {
        let ax = normalize_axis("split", axis, self.ndim());
        let pieces = self.value_ref().split(split_size, axis);
        self.narrows_like(ax, &pieces)
    }

    /// Consecutive pieces with the given `sizes` along `axis`, which must add up to its size, as
    /// `torch.split` with a list (e.g. a fused `(T, 3C)` projection into q, k, v). Each piece is
    /// a [`Var::narrow`].
    ///
    /// # Panics
    /// If the sizes don't add up to the size of `axis`.
    #[track_caller]
    pub fn split_sizes(&self, sizes: &[usize], axis: isize) -> Vec<Var<T>> {
        let ax = normalize_axis("split_sizes", axis, self.ndim());
        let pieces = self.value_ref().split_sizes(sizes, axis);
        self.narrows_like(ax, &pieces)
    }

    /// At most `chunks` nearly equal pieces along `axis`, as `torch.chunk`: pieces of
    /// `ceil(n / chunks)`, the last smaller, so fewer than `chunks` may come back (`n = 5`,
    /// `chunks = 4` gives sizes 2, 2, 1). An empty axis gives `chunks` empty pieces.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let qkv = Var::parameter(Tensor::<f64>::zeros(&[4, 9])); // (T, 3C)
    /// let [q, k, v]: [Var<f64>; 3] = qkv.chunk(3, -1).try_into().unwrap();
    /// assert_eq!((q.shape(), k.shape(), v.shape()), (vec![4, 3], vec![4, 3], vec![4, 3]));
    /// ```
    ///
    /// # Panics
    /// If `chunks` is 0.
    #[track_caller]
    pub fn chunk(&self, chunks: usize, axis: isize) -> Vec<Var<T>> {
        let ax = normalize_axis("chunk", axis, self.ndim());
        let pieces = self.value_ref().chunk(chunks, axis);
        self.narrows_like(ax, &pieces)
    }

    /// One [`Var::narrow`] per piece of this variable's value, with the pieces' lengths along
    /// `ax`: the tensor crate decides how split/chunk cut an axis (and validates the request),
    /// this only makes the cut differentiable.
    fn narrows_like(&self, ax: usize, pieces: &[Tensor<T>]) -> Vec<Var<T>> {
        let mut start = 0;
        pieces
            .iter()
            .map(|p| {
                let len = p.shape()[ax];
                let v = self.narrow(ax as isize, start, len);
                start += len;
                v
            })
            .collect()
    }
}
