//! Shape, strides and offset: how a tensor's logical elements map onto its storage.
//!
//! A [`Layout`] is the only thing a view changes. Element `[i0, i1, ..]` of a tensor lives at
//! `storage[offset + i0 * strides[0] + i1 * strides[1] + ..]`, with strides counted in elements.
//! A stride of 0 repeats one element along that axis: that is how broadcasting avoids copies.

use crate::error::op_panic;

/// Shape, strides (in elements) and offset of a tensor over its storage.
///
/// ```
/// use tensor::Layout;
/// let l = Layout::contiguous(&[2, 3]);
/// assert_eq!(l.strides(), &[3, 1]);
/// let t = l.permute(&[1, 0]);
/// assert_eq!(t.shape(), &[3, 2]);
/// assert_eq!(t.strides(), &[1, 3]);
/// assert!(!t.is_contiguous());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

/// Row-major ("C order") strides for a shape: the last axis varies fastest.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1;
    for (s, &d) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc *= d.max(1);
    }
    strides
}

/// Resolves a possibly negative axis (`-1` is the last) against `ndim` axes, or panics naming `op`.
#[track_caller]
pub fn normalize_axis(op: &str, axis: isize, ndim: usize) -> usize {
    let n = ndim as isize;
    let a = if axis < 0 { axis + n } else { axis };
    if a < 0 || a >= n {
        op_panic(op, format!("axis {axis} is out of range for a tensor with {ndim} dimensions"));
    }
    a as usize
}

/// Resolves a list of axes (negative allowed), sorted and without repeats, or panics naming `op`.
#[track_caller]
pub fn normalize_axes(op: &str, axes: &[isize], ndim: usize) -> Vec<usize> {
    let mut out: Vec<usize> = axes.iter().map(|&a| normalize_axis(op, a, ndim)).collect();
    out.sort_unstable();
    let len = out.len();
    out.dedup();
    if out.len() != len {
        op_panic(op, format!("axes {axes:?} name the same axis twice"));
    }
    out
}

/// The shape two shapes broadcast to under NumPy/PyTorch rules, or `None` if they don't.
///
/// Shapes are aligned at their last axis; each pair of sizes must be equal or one of them 1.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i < n - a.len() { 1 } else { a[i - (n - a.len())] };
        let db = if i < n - b.len() { 1 } else { b[i - (n - b.len())] };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

impl Layout {
    /// A row-major layout at offset 0.
    pub fn contiguous(shape: &[usize]) -> Self {
        Layout { shape: shape.to_vec(), strides: contiguous_strides(shape), offset: 0 }
    }

    /// A layout from explicit parts. The caller guarantees the storage covers every address.
    pub fn new(shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> Self {
        assert_eq!(shape.len(), strides.len(), "Layout::new: shape and strides differ in length");
        Layout { shape, strides, offset }
    }

    /// Sizes of the axes.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Steps in storage, in elements, between neighbours along each axis.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Storage index of the first element.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements (1 for a scalar of shape `[]`).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when elements sit in row-major order with no gaps (size-1 axes may have any stride).
    pub fn is_contiguous(&self) -> bool {
        if self.numel() == 0 {
            return true;
        }
        let mut expected = 1;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected *= d;
        }
        true
    }

    /// Storage index of the element at a multi-index.
    pub fn index_of(&self, index: &[usize]) -> usize {
        self.offset + index.iter().zip(&self.strides).map(|(i, s)| i * s).sum::<usize>()
    }

    /// One past the largest storage index this layout addresses (0 when empty).
    pub fn storage_extent(&self) -> usize {
        if self.numel() == 0 {
            return 0;
        }
        self.offset + self.shape.iter().zip(&self.strides).map(|(d, s)| (d - 1) * s).sum::<usize>() + 1
    }

    /// Reorders the axes: output axis `i` is input axis `axes[i]`. Never copies.
    #[track_caller]
    pub fn permute(&self, axes: &[usize]) -> Layout {
        let n = self.ndim();
        let mut seen = vec![false; n];
        if axes.len() != n || axes.iter().any(|&a| a >= n || std::mem::replace(&mut seen[a], true)) {
            op_panic("permute", format!("axes {axes:?} are not a permutation of 0..{n} (shape {:?})", self.shape));
        }
        Layout {
            shape: axes.iter().map(|&a| self.shape[a]).collect(),
            strides: axes.iter().map(|&a| self.strides[a]).collect(),
            offset: self.offset,
        }
    }

    /// Keeps `len` elements of `axis` starting at `start`. Never copies.
    #[track_caller]
    pub fn narrow(&self, axis: usize, start: usize, len: usize) -> Layout {
        if start + len > self.shape[axis] {
            op_panic(
                "narrow",
                format!(
                    "range {start}..{} exceeds axis {axis} of size {} (shape {:?})",
                    start + len,
                    self.shape[axis],
                    self.shape
                ),
            );
        }
        let mut l = self.clone();
        l.shape[axis] = len;
        // An empty view keeps its offset, so it never points past the end of its storage.
        if l.numel() > 0 {
            l.offset += start * self.strides[axis];
        }
        l
    }

    /// Stretches size-1 axes (and adds leading ones) to `shape` with stride 0. Never copies.
    #[track_caller]
    pub fn broadcast_to(&self, shape: &[usize]) -> Layout {
        let n = shape.len();
        if n < self.ndim() {
            op_panic("broadcast_to", format!("cannot broadcast shape {:?} to fewer dimensions {shape:?}", self.shape));
        }
        let lead = n - self.ndim();
        let mut strides = vec![0; n];
        for i in 0..self.ndim() {
            let (d, t) = (self.shape[i], shape[lead + i]);
            if d == t {
                strides[lead + i] = self.strides[i];
            } else if d != 1 {
                op_panic("broadcast_to", format!("cannot broadcast shape {:?} to {shape:?}", self.shape));
            }
        }
        Layout { shape: shape.to_vec(), strides, offset: self.offset }
    }

    /// Inserts a size-1 axis at `axis` (0..=ndim).
    pub fn unsqueeze(&self, axis: usize) -> Layout {
        let mut l = self.clone();
        let stride = if axis < self.ndim() { self.strides[axis] * self.shape[axis] } else { 1 };
        l.shape.insert(axis, 1);
        l.strides.insert(axis, stride);
        l
    }

    /// Removes `axis`, which must have size 1.
    #[track_caller]
    pub fn squeeze(&self, axis: usize) -> Layout {
        if self.shape[axis] != 1 {
            op_panic("squeeze", format!("axis {axis} has size {} (shape {:?}), not 1", self.shape[axis], self.shape));
        }
        let mut l = self.clone();
        l.shape.remove(axis);
        l.strides.remove(axis);
        l
    }

    /// The same elements in row-major order under a new shape, as a view when the strides allow it
    /// (NumPy's no-copy reshape rule), or `None` when only a copy can produce that order.
    pub fn reshape_view(&self, shape: &[usize]) -> Option<Layout> {
        debug_assert_eq!(self.numel(), shape.iter().product::<usize>());
        if self.is_contiguous() {
            return Some(Layout { shape: shape.to_vec(), strides: contiguous_strides(shape), offset: self.offset });
        }
        // Drop size-1 axes, then match groups of old axes to groups of new axes with the same
        // element count; each old group must be internally contiguous (stride[i] = stride[i+1] * dim[i+1]).
        let old: Vec<(usize, usize)> =
            self.shape.iter().zip(&self.strides).filter(|(d, _)| **d != 1).map(|(&d, &s)| (d, s)).collect();
        let mut new_strides = vec![0; shape.len()];
        let (mut oi, mut ni) = (0, 0);
        while oi < old.len() && ni < shape.len() {
            if shape[ni] == 1 {
                new_strides[ni] = 1;
                ni += 1;
                continue;
            }
            let (o_start, n_start) = (oi, ni);
            let (mut op, mut np) = (old[oi].0, shape[ni]);
            while op != np {
                if op < np {
                    oi += 1;
                    op *= old[oi].0;
                } else {
                    ni += 1;
                    np *= shape[ni];
                }
            }
            for k in o_start..oi {
                if old[k].1 != old[k + 1].1 * old[k + 1].0 {
                    return None;
                }
            }
            let mut stride = old[oi].1;
            for k in (n_start..=ni).rev() {
                new_strides[k] = stride;
                stride *= shape[k];
            }
            oi += 1;
            ni += 1;
        }
        for s in new_strides.iter_mut().skip(ni) {
            *s = 1;
        }
        Some(Layout { shape: shape.to_vec(), strides: new_strides, offset: self.offset })
    }
}

/// Calls `f` with the storage offsets of `N` same-shaped layouts, for every multi-index in
/// row-major order. This is the crate's one strided walker: every kernel that cannot take a
/// contiguous fast path goes through it (or through `Rows`, the same walk a row at a time).
///
/// ```
/// use tensor::{for_each_offsets, Layout};
/// let a = Layout::contiguous(&[2, 2]).permute(&[1, 0]);
/// let mut seen = vec![];
/// for_each_offsets(a.shape(), [&a], |[i]| seen.push(i));
/// assert_eq!(seen, vec![0, 2, 1, 3]);
/// ```
pub fn for_each_offsets<const N: usize>(shape: &[usize], layouts: [&Layout; N], mut f: impl FnMut([usize; N])) {
    let rows = Rows::new(shape, layouts);
    let step = rows.inner_strides;
    rows.for_each_run(0..rows.numel(), |mut off, len| {
        for _ in 0..len {
            f(off);
            for k in 0..N {
                off[k] += step[k];
            }
        }
    });
}

/// The walk of [`for_each_offsets`] cut into rows: `N` same-shaped layouts seen as a stack of
/// equally long rows, each row stepping through every layout with a fixed stride.
///
/// Before walking, the shape is simplified without changing the visiting order: size-1 axes are
/// dropped, and two neighbouring axes merge into one wherever every layout steps through them as
/// through a single axis (`stride[i] == stride[i + 1] * shape[i + 1]`, a stride-0 broadcast pair
/// included). A contiguous `(12, 64, 128)` tensor becomes one row of 98 304 elements, a
/// `(768, 128) + (128)` bias add 768 rows of 128 with strides `[1, 1]`, and layer norm's
/// `(768, 128) * (768, 1)` 768 rows of 128 with strides `[1, 0]`. Kernels then run a plain slice
/// loop per row (auto-vectorised when the strides are 1 or 0) and pay the index arithmetic once
/// per row instead of once per element.
pub(crate) struct Rows<const N: usize> {
    /// The merged outer axes (all but the row axis), outermost first.
    outer_shape: Vec<usize>,
    /// Each layout's strides over `outer_shape`.
    outer_strides: [Vec<usize>; N],
    /// Each layout's offset of element 0.
    base: [usize; N],
    /// Elements per row (the merged innermost axis); 0 when the shape holds no elements.
    pub(crate) len: usize,
    /// Each layout's stride along a row.
    pub(crate) inner_strides: [usize; N],
}

impl<const N: usize> Rows<N> {
    /// The row decomposition of `N` layouts that all have shape `shape`.
    pub(crate) fn new(shape: &[usize], layouts: [&Layout; N]) -> Self {
        for l in &layouts {
            debug_assert_eq!(l.shape(), shape);
        }
        let base: [usize; N] = std::array::from_fn(|k| layouts[k].offset);
        if shape.contains(&0) {
            let outer_strides = std::array::from_fn(|_| Vec::new());
            return Rows { outer_shape: vec![], outer_strides, base, len: 0, inner_strides: [0; N] };
        }
        // Merge from the innermost axis outwards; `dims` and `strides` are built innermost first.
        let mut dims: Vec<usize> = Vec::with_capacity(shape.len());
        let mut strides: [Vec<usize>; N] = std::array::from_fn(|_| Vec::with_capacity(shape.len()));
        for axis in (0..shape.len()).rev() {
            let d = shape[axis];
            if d == 1 {
                continue;
            }
            let merges = match dims.last() {
                Some(&inner) => (0..N).all(|k| layouts[k].strides[axis] == strides[k].last().unwrap() * inner),
                None => false,
            };
            if merges {
                *dims.last_mut().unwrap() *= d;
            } else {
                dims.push(d);
                for k in 0..N {
                    strides[k].push(layouts[k].strides[axis]);
                }
            }
        }
        if dims.is_empty() {
            // One element (a scalar, or every axis of size 1): a single row of length 1.
            let outer_strides = std::array::from_fn(|_| Vec::new());
            return Rows { outer_shape: vec![], outer_strides, base, len: 1, inner_strides: [0; N] };
        }
        let len = dims[0];
        let inner_strides = std::array::from_fn(|k| strides[k][0]);
        let outer_shape: Vec<usize> = dims[1..].iter().rev().copied().collect();
        let outer_strides = std::array::from_fn(|k| strides[k][1..].iter().rev().copied().collect());
        Rows { outer_shape, outer_strides, base, len, inner_strides }
    }

    /// Number of elements walked.
    pub(crate) fn numel(&self) -> usize {
        self.len * self.outer_shape.iter().product::<usize>()
    }

    /// Calls `f(offsets, n)` for each run of consecutive elements whose row-major positions lie in
    /// `range`, in order. A run is one row, or the part of a row that `range` covers; `offsets` are
    /// the storage offsets of its first element in each layout, and the run continues with
    /// [`Rows::inner_strides`]. Splitting a walk into ranges (e.g. fixed-size chunks for parallel
    /// tasks) visits exactly the elements of the whole walk, in the same order.
    pub(crate) fn for_each_run(&self, range: std::ops::Range<usize>, mut f: impl FnMut([usize; N], usize)) {
        if range.is_empty() {
            return;
        }
        debug_assert!(range.end <= self.numel());
        let nd = self.outer_shape.len();
        // The outer multi-index of the first row and the column where the range starts in it.
        let (mut row, mut col) = (range.start / self.len, range.start % self.len);
        let mut index = vec![0usize; nd];
        for a in (0..nd).rev() {
            index[a] = row % self.outer_shape[a];
            row /= self.outer_shape[a];
        }
        let mut start: [usize; N] = std::array::from_fn(|k| {
            self.base[k] + index.iter().zip(&self.outer_strides[k]).map(|(i, s)| i * s).sum::<usize>()
        });
        let mut remaining = range.len();
        loop {
            let n = (self.len - col).min(remaining);
            f(std::array::from_fn(|k| start[k] + col * self.inner_strides[k]), n);
            remaining -= n;
            if remaining == 0 {
                return;
            }
            col = 0;
            // Advance the outer multi-index (odometer), updating each layout's row start. The
            // range ends inside the walk, so this never runs past the last row.
            let mut a = nd;
            loop {
                a -= 1;
                index[a] += 1;
                for (s, strides) in start.iter_mut().zip(&self.outer_strides) {
                    *s += strides[a];
                }
                if index[a] < self.outer_shape[a] {
                    break;
                }
                for (s, strides) in start.iter_mut().zip(&self.outer_strides) {
                    *s -= strides[a] * self.outer_shape[a];
                }
                index[a] = 0;
            }
        }
    }
}

/// The multi-index of the `flat`-th element of `shape` in row-major order.
///
/// ```
/// assert_eq!(tensor::unravel_index(5, &[2, 3]), vec![1, 2]);
/// ```
pub fn unravel_index(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &d) in index.iter_mut().zip(shape).rev() {
        *i = flat % d;
        flat /= d;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(l: &Layout) -> Vec<usize> {
        let mut v = vec![];
        for_each_offsets(l.shape(), [l], |[i]| v.push(i));
        v
    }

    #[test]
    fn reshape_view_of_transposed_splits_and_merges_when_possible() {
        let base = Layout::contiguous(&[4, 6]);
        let t = base.permute(&[1, 0]); // (6, 4), strides (1, 6)
        // Splitting axis 0 (stride 1) is a view.
        let v = t.reshape_view(&[2, 3, 4]).unwrap();
        assert_eq!(offsets(&v), offsets(&t));
        // Merging the two axes is not.
        assert!(t.reshape_view(&[24]).is_none());
    }

    #[test]
    fn reshape_view_keeps_order_for_sliced_rows() {
        let base = Layout::contiguous(&[4, 6]).narrow(1, 1, 4); // rows with a gap
        let v = base.reshape_view(&[4, 2, 2]).unwrap();
        assert_eq!(offsets(&v), offsets(&base));
        assert!(base.reshape_view(&[16]).is_none());
        let u = base.reshape_view(&[1, 4, 1, 4, 1]).unwrap();
        assert_eq!(offsets(&u), offsets(&base));
    }

    #[test]
    fn broadcast_rules_match_numpy() {
        assert_eq!(broadcast_shape(&[3, 1], &[4]), Some(vec![3, 4]));
        assert_eq!(broadcast_shape(&[], &[2, 2]), Some(vec![2, 2]));
        assert_eq!(broadcast_shape(&[2, 3], &[3, 2]), None);
    }

    #[test]
    fn walker_visits_broadcast_and_empty() {
        let l = Layout::contiguous(&[3]).broadcast_to(&[2, 3]);
        assert_eq!(offsets(&l), vec![0, 1, 2, 0, 1, 2]);
        assert!(offsets(&Layout::contiguous(&[2, 0, 3])).is_empty());
        assert_eq!(offsets(&Layout::contiguous(&[])), vec![0]);
    }

    /// The offsets of every multi-index in row-major order, computed one index at a time.
    fn naive_offsets(l: &Layout) -> Vec<usize> {
        let shape = l.shape();
        let n: usize = shape.iter().product();
        (0..n)
            .map(|mut flat| {
                let mut index = vec![0; shape.len()];
                for a in (0..shape.len()).rev() {
                    index[a] = flat % shape[a];
                    flat /= shape[a];
                }
                l.index_of(&index)
            })
            .collect()
    }

    /// Offsets of the elements at positions `range`, from `Rows::for_each_run`.
    fn run_offsets(rows: &Rows<1>, range: std::ops::Range<usize>) -> Vec<usize> {
        let mut v = vec![];
        rows.for_each_run(range, |[i], len| v.extend((0..len).map(|k| i + k * rows.inner_strides[0])));
        v
    }

    #[test]
    fn rows_merge_axes_that_step_as_one() {
        let r = Rows::new(&[12, 64, 128], [&Layout::contiguous(&[12, 64, 128])]);
        assert_eq!((r.len, r.outer_shape.clone()), (12 * 64 * 128, vec![]));
        // A bias add: (768, 128) + (128) broadcast.
        let (a, b) = (Layout::contiguous(&[768, 128]), Layout::contiguous(&[128]).broadcast_to(&[768, 128]));
        let r = Rows::new(&[768, 128], [&a, &b]);
        assert_eq!((r.len, r.inner_strides, r.outer_shape.clone()), (128, [1, 1], vec![768]));
        // Layer norm's (768, 128) * (768, 1): one scalar per row.
        let b = Layout::contiguous(&[768, 1]).broadcast_to(&[768, 128]);
        let r = Rows::new(&[768, 128], [&a, &b]);
        assert_eq!((r.len, r.inner_strides, r.outer_strides[1].clone()), (128, [1, 0], vec![1]));
        // Merging heads: (B, h, T, dh) viewed as (B, T, h, dh) keeps runs of dh.
        let p = Layout::contiguous(&[12, 4, 64, 32]).permute(&[0, 2, 1, 3]);
        let r = Rows::new(p.shape(), [&p]);
        assert_eq!((r.len, r.outer_shape.clone()), (32, vec![12, 64, 4]));
        // Broadcast axes merge with each other; size-1 axes vanish whatever their stride.
        let s = Layout::contiguous(&[1, 1]).broadcast_to(&[3, 5, 7]);
        let r = Rows::new(s.shape(), [&s]);
        assert_eq!((r.len, r.inner_strides, r.outer_shape.clone()), (105, [0], vec![]));
        let u = Layout::new(vec![1, 4, 1], vec![99, 1, 7], 2);
        let r = Rows::new(u.shape(), [&u]);
        assert_eq!((r.len, r.inner_strides, r.base), (4, [1], [2]));
    }

    #[test]
    fn runs_of_any_range_are_that_slice_of_the_walk() {
        let base = Layout::contiguous(&[3, 4, 5]);
        let layouts = [
            base.clone(),
            base.permute(&[2, 0, 1]),
            base.narrow(2, 1, 3).narrow(0, 1, 2),
            base.permute(&[1, 0, 2]).narrow(2, 0, 4),
            Layout::contiguous(&[4, 1]).broadcast_to(&[3, 4, 5]),
            Layout::contiguous(&[5]).broadcast_to(&[2, 3, 5]),
            Layout::new(vec![2, 1, 3], vec![1, 50, 2], 4),
            Layout::contiguous(&[]),
            Layout::contiguous(&[2, 0, 3]),
        ];
        for l in &layouts {
            let want = naive_offsets(l);
            assert_eq!(offsets(l), want, "{l:?}");
            let rows = Rows::new(l.shape(), [l]);
            assert_eq!(rows.numel(), want.len());
            for start in 0..=want.len() {
                for end in start..=want.len() {
                    assert_eq!(run_offsets(&rows, start..end), want[start..end], "{l:?} {start}..{end}");
                }
            }
        }
    }
}
