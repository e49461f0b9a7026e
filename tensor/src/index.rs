//! Gathering and joining: index_select, index_add, gather, scatter_add, concat, stack, split, chunk.
//!
//! The gathering ops come in adjoint pairs, which is what backprop needs:
//!
//! | forward                            | shapes                                   | its adjoint (the backward) |
//! |------------------------------------|------------------------------------------|----------------------------|
//! | `x.index_select(axis, ids)`        | `(.., n, ..) -> (.., ids.len(), ..)`     | `zeros.index_add(axis, ids, grad)` |
//! | `x.gather(axis, index, shape)`     | `x: (.., n, ..) -> shape`                | `zeros.scatter_add(axis, index, shape, grad)` |
//!
//! Reading picks entries; the adjoint adds each gradient back to where its entry came from, so an
//! index used twice receives the sum of both gradients. `split` and `chunk` are views (`narrow`),
//! and `concat` of the pieces puts them back together.
//!
//! Every kernel here writes a fresh contiguous output through the crate's one strided walker,
//! pairing a view of the input with a view of the output and copying a run at a time; contiguous
//! inputs take a slice-copy path.

use crate::error::op_panic;
use crate::layout::{Layout, Rows, for_each_offsets, normalize_axis};
use crate::{Float, Tensor};

/// The sizes before and after `axis`: a contiguous tensor is `(outer, shape[axis], inner)`.
fn outer_inner(shape: &[usize], axis: usize) -> (usize, usize) {
    (shape[..axis].iter().product(), shape[axis + 1..].iter().product())
}

/// Panics naming `op` unless every index is below the size of `axis`.
#[track_caller]
fn check_indices(op: &str, indices: &[usize], axis: usize, shape: &[usize]) {
    if let Some((pos, &i)) = indices.iter().enumerate().find(|&(_, &i)| i >= shape[axis]) {
        op_panic(
            op,
            format!(
                "index {i} (at position {pos}) is out of range for axis {axis} of size {} (shape {shape:?})",
                shape[axis]
            ),
        );
    }
}

/// `like`'s strides and offset over `shape`, with the stride of `axis` set to 0 when `pin` is
/// set: walking it gives the storage offset of "this position, at index 0 along `axis`", to
/// which gather and scatter_add add `index * stride`. Only corners starting at 0 are walked, so
/// the offset needs no change.
fn corner_layout(shape: &[usize], like: &Layout, pin: Option<usize>) -> Layout {
    let mut strides = like.strides().to_vec();
    if let Some(axis) = pin {
        strides[axis] = 0;
    }
    Layout::new(shape.to_vec(), strides, like.offset())
}

/// `apply(&mut out[d], src[s])` for every pair of offsets `(s, d)` of two same-shaped layouts,
/// walked a run at a time: a unit-stride run on both sides is a plain slice loop.
fn apply_runs<T: Float>(src: &[T], src_l: &Layout, out: &mut [T], dst_l: &Layout, apply: impl Fn(&mut T, T)) {
    let rows = Rows::new(src_l.shape(), [src_l, dst_l]);
    let [ss, sd] = rows.inner_strides;
    rows.for_each_run(0..rows.numel(), |[s, d], len| {
        if ss == 1 && sd == 1 {
            for (o, &x) in out[d..d + len].iter_mut().zip(&src[s..s + len]) {
                apply(o, x);
            }
        } else {
            for e in 0..len {
                apply(&mut out[d + e * sd], src[s + e * ss]);
            }
        }
    });
}

impl<T: Float> Tensor<T> {
    /// `narrow` for split and chunk. A piece with no elements keeps the input's offset: the core
    /// `narrow` advances it even when another axis is empty, which can point past the storage.
    fn piece(&self, axis: usize, start: usize, len: usize) -> Tensor<T> {
        let layout = self.layout.narrow(axis, start, len);
        if layout.numel() > 0 {
            return Tensor::from_storage(self.storage.clone(), layout);
        }
        let layout = Layout::new(layout.shape().to_vec(), layout.strides().to_vec(), self.layout.offset());
        Tensor::from_storage(self.storage.clone(), layout)
    }

    /// Picks the entries `indices` along `axis`, in that order (repeats allowed), as
    /// `torch.index_select`. Shape `(.., n, ..) -> (.., indices.len(), ..)`.
    ///
    /// With `axis = 0` this is an embedding lookup: row `ids[t]` of a `(vocab, dim)` table.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let weight = Tensor::<f32>::arange(0.0, 6.0, 1.0).reshape(&[3, 2]); // (vocab=3, dim=2)
    /// let emb = weight.index_select(0, &[2, 0, 2]);
    /// assert_eq!(emb.shape(), &[3, 2]);
    /// assert_eq!(emb.to_vec(), vec![4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
    /// ```
    ///
    /// # Panics
    /// If an index is not below the size of `axis`.
    #[track_caller]
    pub fn index_select(&self, axis: isize, indices: &[usize]) -> Tensor<T> {
        let axis = normalize_axis("index_select", axis, self.ndim());
        check_indices("index_select", indices, axis, self.shape());
        let mut out_shape = self.shape().to_vec();
        out_shape[axis] = indices.len();
        let (outer, inner) = outer_inner(self.shape(), axis);

        if let Some(src) = self.as_slice() {
            // Contiguous: each picked entry is a run of `inner` elements (a whole row when axis = 0).
            let n = self.shape()[axis];
            let mut out = Vec::with_capacity(outer * indices.len() * inner);
            for o in 0..outer {
                for &i in indices {
                    let start = (o * n + i) * inner;
                    out.extend_from_slice(&src[start..start + inner]);
                }
            }
            return Tensor::from_vec(out, &out_shape);
        }

        let out_layout = Layout::contiguous(&out_shape);
        let mut out = vec![T::ZERO; outer * indices.len() * inner];
        for (j, &i) in indices.iter().enumerate() {
            let src_l = self.layout.narrow(axis, i, 1);
            let dst_l = out_layout.narrow(axis, j, 1);
            apply_runs(&self.storage, &src_l, &mut out, &dst_l, |o, x| *o = x);
        }
        Tensor::from_vec(out, &out_shape)
    }

    /// `self` with slice `j` of `source` added to slice `indices[j]` along `axis`, for every `j`,
    /// as `torch.index_add`. Repeated indices accumulate, in order. The result is contiguous.
    ///
    /// `source` has `self`'s shape except `indices.len()` along `axis`. This is the adjoint of
    /// [`Tensor::index_select`]: the gradient of an embedding table is
    /// `zeros(table).index_add(0, ids, grad_of_lookup)`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let grad = Tensor::<f64>::from_vec(vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0], &[3, 2]);
    /// let table_grad = Tensor::zeros(&[3, 2]).index_add(0, &[2, 0, 2], &grad);
    /// assert_eq!(table_grad.to_vec(), vec![2.0, 2.0, 0.0, 0.0, 4.0, 4.0]);
    /// ```
    ///
    /// # Panics
    /// If an index is out of range or `source` has the wrong shape.
    #[track_caller]
    pub fn index_add(&self, axis: isize, indices: &[usize], source: &Tensor<T>) -> Tensor<T> {
        let axis = normalize_axis("index_add", axis, self.ndim());
        let mut expected = self.shape().to_vec();
        expected[axis] = indices.len();
        if source.shape() != expected.as_slice() {
            op_panic(
                "index_add",
                format!(
                    "source shape {:?} does not match self shape {:?} with {} indices along axis {axis} (expected {expected:?})",
                    source.shape(),
                    self.shape(),
                    indices.len()
                ),
            );
        }
        check_indices("index_add", indices, axis, self.shape());

        let mut out = self.to_vec();
        let out_layout = Layout::contiguous(self.shape());
        for (j, &i) in indices.iter().enumerate() {
            let src_l = source.layout.narrow(axis, j, 1);
            let dst_l = out_layout.narrow(axis, i, 1);
            apply_runs(&source.storage, &src_l, &mut out, &dst_l, |o, x| *o += x);
        }
        Tensor::from_vec(out, self.shape())
    }

    /// Picks one entry along `axis` for every position of `index`, as `torch.gather`. For a 2-D
    /// tensor and `axis = 1`: `out[i][j] = self[i][index[i][j]]`.
    ///
    /// `index` is given row-major with its shape `index_shape`, which has `self`'s number of axes
    /// and sizes no larger than `self`'s on every axis but `axis`. The output has `index_shape`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// // The logit of each row's target class: (B=2, C=3) -> (2, 1).
    /// let logits = Tensor::<f32>::from_vec(vec![0.1, 0.2, 0.7, 0.5, 0.3, 0.2], &[2, 3]);
    /// let picked = logits.gather(1, &[2, 0], &[2, 1]);
    /// assert_eq!(picked.to_vec(), vec![0.7, 0.5]);
    /// ```
    ///
    /// # Panics
    /// If the index shape doesn't fit `self` or an index is out of range.
    #[track_caller]
    pub fn gather(&self, axis: isize, index: &[usize], index_shape: &[usize]) -> Tensor<T> {
        let axis = normalize_axis("gather", axis, self.ndim());
        self.check_index_shape("gather", axis, index, index_shape);
        check_indices_at("gather", index, index_shape, axis, self.shape());

        // Walk self's layout cut down to index_shape, with axis pinned at 0; add index * stride.
        let base = corner_layout(index_shape, &self.layout, Some(axis));
        let stride = self.strides()[axis];
        let mut out = Vec::with_capacity(index.len());
        let mut p = 0;
        for_each_offsets(index_shape, [&base], |[s]| {
            out.push(self.storage[s + index[p] * stride]);
            p += 1;
        });
        Tensor::from_vec(out, index_shape)
    }

    /// `self` with `src[pos]` added at `pos` with its `axis` coordinate replaced by `index[pos]`,
    /// for every position `pos` of `index`, as `torch.scatter_add`. For 2-D and `axis = 1`:
    /// `out[i][index[i][j]] += src[i][j]`. Repeated targets accumulate. The result is contiguous.
    ///
    /// `index` is row-major with shape `index_shape`; `src` must be at least `index_shape` on
    /// every axis (only that corner is read). This is the adjoint of [`Tensor::gather`].
    ///
    /// ```
    /// use tensor::Tensor;
    /// let grad = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2, 1]);
    /// let g = Tensor::zeros(&[2, 3]).scatter_add(1, &[2, 0], &[2, 1], &grad);
    /// assert_eq!(g.to_vec(), vec![0.0, 0.0, 1.0, 2.0, 0.0, 0.0]);
    /// ```
    ///
    /// # Panics
    /// If the shapes don't fit or an index is out of range.
    #[track_caller]
    pub fn scatter_add(&self, axis: isize, index: &[usize], index_shape: &[usize], src: &Tensor<T>) -> Tensor<T> {
        let axis = normalize_axis("scatter_add", axis, self.ndim());
        self.check_index_shape("scatter_add", axis, index, index_shape);
        if src.ndim() != index_shape.len() || src.shape().iter().zip(index_shape).any(|(s, i)| s < i) {
            op_panic(
                "scatter_add",
                format!(
                    "src shape {:?} is smaller than index shape {index_shape:?} (self shape {:?})",
                    src.shape(),
                    self.shape()
                ),
            );
        }
        check_indices_at("scatter_add", index, index_shape, axis, self.shape());

        let src_l = corner_layout(index_shape, &src.layout, None);
        let out_layout = Layout::contiguous(self.shape());
        let dst_l = corner_layout(index_shape, &out_layout, Some(axis));
        let stride = out_layout.strides()[axis];
        let mut out = self.to_vec();
        let mut p = 0;
        for_each_offsets(index_shape, [&dst_l, &src_l], |[d, s]| {
            out[d + index[p] * stride] += src.storage[s];
            p += 1;
        });
        Tensor::from_vec(out, self.shape())
    }

    /// Panics naming `op` unless `index_shape` fits `self` as gather/scatter_add require.
    #[track_caller]
    fn check_index_shape(&self, op: &str, axis: usize, index: &[usize], index_shape: &[usize]) {
        if index.len() != index_shape.iter().product::<usize>() {
            op_panic(
                op,
                format!(
                    "index has {} entries but index shape {index_shape:?} needs {}",
                    index.len(),
                    index_shape.iter().product::<usize>()
                ),
            );
        }
        let fits = index_shape.len() == self.ndim()
            && index_shape.iter().zip(self.shape()).enumerate().all(|(d, (i, s))| d == axis || i <= s);
        if !fits {
            op_panic(
                op,
                format!(
                    "index shape {index_shape:?} does not fit self shape {:?} along axis {axis} (needs the same number of axes, and no larger sizes except on axis {axis})",
                    self.shape()
                ),
            );
        }
    }

    /// Joins tensors along an existing `axis`; all other sizes must agree, as `torch.cat`.
    /// Shapes `(.., n1, ..), (.., n2, ..), .. -> (.., n1 + n2 + .., ..)`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::<f32>::zeros(&[2, 1]);
    /// let b = Tensor::<f32>::ones(&[2, 2]);
    /// let c = Tensor::concat(&[&a, &b], -1);
    /// assert_eq!(c.shape(), &[2, 3]);
    /// assert_eq!(c.to_vec(), vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
    /// ```
    ///
    /// # Panics
    /// On an empty list, 0-d tensors, or sizes that differ off `axis`.
    #[track_caller]
    pub fn concat(tensors: &[&Tensor<T>], axis: isize) -> Tensor<T> {
        let Some(first) = tensors.first() else { op_panic("concat", "needs at least one tensor, got none".into()) };
        let axis = normalize_axis("concat", axis, first.ndim());
        for (k, t) in tensors.iter().enumerate() {
            let same_rest = t.ndim() == first.ndim()
                && t.shape().iter().zip(first.shape()).enumerate().all(|(d, (a, b))| d == axis || a == b);
            if !same_rest {
                let shapes: Vec<&[usize]> = tensors.iter().map(|t| t.shape()).collect();
                op_panic(
                    "concat",
                    format!(
                        "tensor {k} has shape {:?}, which differs from tensor 0 off axis {axis}; shapes {shapes:?}",
                        t.shape()
                    ),
                );
            }
        }
        let mut out_shape = first.shape().to_vec();
        out_shape[axis] = tensors.iter().map(|t| t.shape()[axis]).sum();
        let (outer, inner) = outer_inner(&out_shape, axis);
        let numel = out_shape.iter().product();

        if tensors.iter().all(|t| t.is_contiguous()) {
            // Each tensor contributes one run of `n_k * inner` elements per outer index.
            let slices: Vec<&[T]> = tensors.iter().map(|t| t.as_slice().unwrap()).collect();
            let mut out = Vec::with_capacity(numel);
            for o in 0..outer {
                for (t, s) in tensors.iter().zip(&slices) {
                    let run = t.shape()[axis] * inner;
                    out.extend_from_slice(&s[o * run..(o + 1) * run]);
                }
            }
            return Tensor::from_vec(out, &out_shape);
        }

        let out_layout = Layout::contiguous(&out_shape);
        let mut out = vec![T::ZERO; numel];
        let mut start = 0;
        for t in tensors {
            let dst_l = out_layout.narrow(axis, start, t.shape()[axis]);
            apply_runs(&t.storage, &t.layout, &mut out, &dst_l, |o, x| *o = x);
            start += t.shape()[axis];
        }
        Tensor::from_vec(out, &out_shape)
    }

    /// Joins same-shaped tensors along a new axis placed at `axis` (`0..=ndim`, negative allowed),
    /// as `torch.stack`. `k` tensors of shape `(a, b)` stacked at axis 1 give `(a, k, b)`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]);
    /// let b = Tensor::<f64>::from_vec(vec![3.0, 4.0], &[2]);
    /// assert_eq!(Tensor::stack(&[&a, &b], 0).to_vec(), vec![1.0, 2.0, 3.0, 4.0]);
    /// assert_eq!(Tensor::stack(&[&a, &b], -1).to_vec(), vec![1.0, 3.0, 2.0, 4.0]);
    /// ```
    ///
    /// # Panics
    /// On an empty list or shapes that differ.
    #[track_caller]
    pub fn stack(tensors: &[&Tensor<T>], axis: isize) -> Tensor<T> {
        let Some(first) = tensors.first() else { op_panic("stack", "needs at least one tensor, got none".into()) };
        let axis = normalize_axis("stack", axis, first.ndim() + 1);
        if let Some(k) = tensors.iter().position(|t| t.shape() != first.shape()) {
            let shapes: Vec<&[usize]> = tensors.iter().map(|t| t.shape()).collect();
            op_panic(
                "stack",
                format!("all tensors need the same shape, tensor {k} differs from tensor 0; shapes {shapes:?}"),
            );
        }
        let unsqueezed: Vec<Tensor<T>> = tensors.iter().map(|t| t.unsqueeze(axis as isize)).collect();
        Tensor::concat(&unsqueezed.iter().collect::<Vec<_>>(), axis as isize)
    }

    /// Consecutive pieces of `split_size` along `axis` (the last may be smaller), as
    /// `torch.split`. The pieces are views: nothing is copied.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f32>::arange(0.0, 5.0, 1.0);
    /// let parts = x.split(2, 0);
    /// assert_eq!(parts.iter().map(|p| p.to_vec()).collect::<Vec<_>>(), vec![vec![0.0, 1.0], vec![2.0, 3.0], vec![4.0]]);
    /// assert!(parts[1].shares_storage_with(&x));
    /// ```
    ///
    /// # Panics
    /// If `split_size` is 0.
    #[track_caller]
    pub fn split(&self, split_size: usize, axis: isize) -> Vec<Tensor<T>> {
        let ax = normalize_axis("split", axis, self.ndim());
        if split_size == 0 {
            op_panic("split", format!("split_size must be positive (shape {:?}, axis {ax})", self.shape()));
        }
        let n = self.shape()[ax];
        if n == 0 {
            return vec![self.clone()];
        }
        (0..n).step_by(split_size).map(|start| self.piece(ax, start, split_size.min(n - start))).collect()
    }

    /// Consecutive pieces with the given `sizes` along `axis`, which must add up to its size, as
    /// `torch.split` with a list. The pieces are views.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let qkv = Tensor::<f32>::zeros(&[4, 9]); // (T, 3 * C) from one fused projection
    /// let parts = qkv.split_sizes(&[3, 3, 3], -1);
    /// assert_eq!(parts[2].shape(), &[4, 3]);
    /// ```
    ///
    /// # Panics
    /// If the sizes don't add up to the size of `axis`.
    #[track_caller]
    pub fn split_sizes(&self, sizes: &[usize], axis: isize) -> Vec<Tensor<T>> {
        let ax = normalize_axis("split_sizes", axis, self.ndim());
        let total: usize = sizes.iter().sum();
        if total != self.shape()[ax] {
            op_panic(
                "split_sizes",
                format!(
                    "sizes {sizes:?} add up to {total}, but axis {ax} has size {} (shape {:?})",
                    self.shape()[ax],
                    self.shape()
                ),
            );
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&len| {
                let piece = self.piece(ax, start, len);
                start += len;
                piece
            })
            .collect()
    }

    /// At most `chunks` nearly equal pieces along `axis`, as `torch.chunk`: pieces of
    /// `ceil(n / chunks)`, the last smaller, so fewer than `chunks` may come back (`n = 5`,
    /// `chunks = 4` gives sizes 2, 2, 1). An empty axis gives `chunks` empty pieces. Views, no copy.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let x = Tensor::<f64>::zeros(&[2, 6]);
    /// let sizes: Vec<usize> = x.chunk(4, 1).iter().map(|c| c.shape()[1]).collect();
    /// assert_eq!(sizes, vec![2, 2, 2]);
    /// ```
    ///
    /// # Panics
    /// If `chunks` is 0.
    #[track_caller]
    pub fn chunk(&self, chunks: usize, axis: isize) -> Vec<Tensor<T>> {
        let ax = normalize_axis("chunk", axis, self.ndim());
        if chunks == 0 {
            op_panic("chunk", format!("chunks must be positive (shape {:?}, axis {ax})", self.shape()));
        }
        let n = self.shape()[ax];
        if n == 0 {
            return vec![self.clone(); chunks];
        }
        self.split(n.div_ceil(chunks), ax as isize)
    }
}

/// Panics naming `op` unless every entry of a row-major `index` fits the size of `axis`,
/// reporting the entry's multi-index within `index_shape`.
#[track_caller]
fn check_indices_at(op: &str, index: &[usize], index_shape: &[usize], axis: usize, shape: &[usize]) {
    if let Some(pos) = index.iter().position(|&i| i >= shape[axis]) {
        let mut at = vec![0; index_shape.len()];
        let mut rest = pos;
        for (a, &d) in at.iter_mut().zip(index_shape).rev() {
            *a = rest % d;
            rest /= d;
        }
        op_panic(
            op,
            format!(
                "index value {} at {at:?} (index shape {index_shape:?}) is out of range for axis {axis} of size {} (shape {shape:?})",
                index[pos], shape[axis]
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn index_select_on_a_transposed_view_matches_the_copy() {
        let x = Tensor::<f32>::arange(0.0, 12.0, 1.0).reshape(&[3, 4]).mt(); // (4, 3), not contiguous
        let picked = x.index_select(1, &[2, 2, 0]);
        let want = x.contiguous().index_select(1, &[2, 2, 0]);
        assert_eq!(picked.shape(), &[4, 3]);
        assert_eq!(picked.to_vec(), want.to_vec());
        assert_eq!(picked.to_vec()[..3], [8.0, 8.0, 0.0]);
    }

    #[test]
    fn gather_and_scatter_add_on_axis_zero() {
        let x = Tensor::<f64>::arange(0.0, 6.0, 1.0).reshape(&[3, 2]);
        // out[i][j] = x[index[i][j]][j]
        let g = x.gather(0, &[2, 0, 1, 1], &[2, 2]);
        assert_eq!(g.to_vec(), vec![4.0, 1.0, 2.0, 3.0]);
        let s = Tensor::<f64>::zeros(&[3, 2]).scatter_add(0, &[2, 0, 2, 0], &[2, 2], &Tensor::ones(&[2, 2]));
        assert_eq!(s.to_vec(), vec![0.0, 2.0, 0.0, 0.0, 2.0, 0.0]);
    }

    #[test]
    #[should_panic(expected = "tensor op 'index_select': index 3 (at position 1) is out of range for axis 0 of size 3")]
    fn index_select_out_of_range_names_the_index() {
        Tensor::<f32>::zeros(&[3, 2]).index_select(0, &[0, 3]);
    }

    #[test]
    #[should_panic(expected = "tensor op 'gather': index value 5 at [1, 0]")]
    fn gather_out_of_range_names_the_position() {
        Tensor::<f32>::zeros(&[2, 3]).gather(1, &[0, 5], &[2, 1]);
    }

    #[test]
    #[should_panic(expected = "tensor op 'concat': tensor 1 has shape [2, 3]")]
    fn concat_mismatch_names_the_shapes() {
        Tensor::concat(&[&Tensor::<f32>::zeros(&[3, 2]), &Tensor::zeros(&[2, 3])], 0);
    }

    #[test]
    #[should_panic(expected = "tensor op 'stack': needs at least one tensor")]
    fn stack_of_nothing_panics() {
        Tensor::<f32>::stack(&[], 0);
    }

    #[test]
    #[should_panic(expected = "tensor op 'split_sizes': sizes [1, 1] add up to 2, but axis 0 has size 3")]
    fn split_sizes_must_cover_the_axis() {
        Tensor::<f32>::zeros(&[3]).split_sizes(&[1, 1], 0);
    }

    #[test]
    #[should_panic(expected = "tensor op 'index_add': source shape [2, 2] does not match")]
    fn index_add_checks_the_source_shape() {
        Tensor::<f32>::zeros(&[3, 2]).index_add(0, &[0], &Tensor::zeros(&[2, 2]));
    }
}
