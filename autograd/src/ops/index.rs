//! Indexing: index_select (the embedding lookup) and masked_fill (the attention mask).
//!
//! Both read some entries and ignore others, so both backward passes route the gradient only to
//! the entries that were read: `index_select` adds each output slice's gradient back to the row
//! it came from (a row read twice gets both), `masked_fill` sends nothing to filled positions.
//!
//! ```
//! use autograd::Var;
//! use tensor::Tensor;
//! // An embedding table (vocab = 3, dim = 2) and a sequence of token ids with a repeat.
//! let table = Var::parameter(Tensor::<f64>::arange(0.0, 6.0, 1.0).reshape(&[3, 2]));
//! let emb = table.index_select(0, &[2, 0, 2]); // (T = 3, dim = 2)
//! assert_eq!(emb.value().to_vec(), vec![4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
//! let g = emb.backward_with_grad(&Tensor::ones(&[3, 2]));
//! assert_eq!(g.get(&table).unwrap().to_vec(), vec![1.0, 1.0, 0.0, 0.0, 2.0, 2.0]); // row 2 used twice
//! ```

use tensor::{Float, Tensor, normalize_axis};

use crate::var::Var;
use crate::{OpName, profile};

impl<T: Float> Var<T> {
    /// Picks the entries `indices` along `axis`, in that order (repeats allowed), as
    /// `torch.index_select`: `(.., n, ..) -> (.., indices.len(), ..)`. With `axis = 0` on a
    /// `(vocab, dim)` table this is an embedding lookup.
    ///
    /// Backward: scatter-add, `zeros(input_shape).index_add(axis, indices, g)`. Output slice `j`
    /// came from input slice `indices[j]`, so its gradient is added there; an index that appears
    /// `r` times accumulates `r` gradients.
    ///
    /// # Panics
    /// If an index is not below the size of `axis`.
    #[track_caller]
    pub fn index_select(&self, axis: isize, indices: &[usize]) -> Var<T> {
        let value = self.value_ref().index_select(axis, indices);
        let input_shape = self.shape();
        let axis = normalize_axis("index_select", axis, input_shape.len()) as isize;
        let indices = indices.to_vec();
        Var::from_differentiable_op(OpName::new("index_select", profile::EMBEDDING), value, &[self], move |a| {
            vec![Some(a.grad.index_add_to_zeros(&input_shape, axis, &indices))]
        })
    }

    /// `value` where `mask != 0`, the input elsewhere, as `torch.masked_fill`. The mask is a plain
    /// tensor (not differentiated) that broadcasts to the input's shape: a `(T, T)` causal mask
    /// fills every `(B, H, T, T)` attention score map. Output shape = input shape.
    ///
    /// Backward: `g.masked_fill(mask, 0)`. A filled element is the constant `value`, which does
    /// not depend on the input, so it passes no gradient; the others pass `g` unchanged. This
    /// holds for `value = -inf` too: the gradient there is exactly 0, never NaN.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let scores = Var::parameter(Tensor::<f64>::zeros(&[2, 2]));
    /// let future = Tensor::from_vec(vec![0.0, 1.0, 0.0, 0.0], &[2, 2]);
    /// let masked = scores.masked_fill(&future, f64::NEG_INFINITY);
    /// assert_eq!(masked.value().to_vec(), vec![0.0, f64::NEG_INFINITY, 0.0, 0.0]);
    /// let g = masked.backward_with_grad(&Tensor::ones(&[2, 2]));
    /// assert_eq!(g.get(&scores).unwrap().to_vec(), vec![1.0, 0.0, 1.0, 1.0]);
    /// ```
    ///
    /// # Panics
    /// If the mask does not broadcast to the input's shape.
    #[track_caller]
    pub fn masked_fill(&self, mask: &Tensor<T>, value: T) -> Var<T> {
        let out = self.value_ref().masked_fill(mask, value);
        let mask = mask.clone();
        Var::from_differentiable_op("masked_fill", out, &[self], move |a| {
            vec![Some(a.grad.masked_fill(&mask, T::ZERO))]
        })
    }

    /// Zeros of `shape` with the slices of this variable added at `indices` along `axis`: slice
    /// `i` of `self` goes to position `indices[i]`, repeated positions add up. The backward of
    /// [`Var::index_select`] (an embedding's gradient), and its own backward is `index_select`.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let rows = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3, 1]));
    /// let table = rows.index_add_to_zeros(&[2, 1], 0, &[1, 0, 1]);
    /// assert_eq!(table.value().to_vec(), vec![2.0, 4.0]); // row 1 got 1 + 3
    /// ```
    #[track_caller]
    pub fn index_add_to_zeros(&self, shape: &[usize], axis: isize, indices: &[usize]) -> Var<T> {
        let value = Tensor::zeros(shape).index_add(axis, indices, &self.value_ref());
        let axis = normalize_axis("index_add_to_zeros", axis, shape.len()) as isize;
        let indices = indices.to_vec();
        Var::from_differentiable_op("index_add_to_zeros", value, &[self], move |a| {
            vec![Some(a.grad.index_select(axis, &indices))]
        })
    }
}
