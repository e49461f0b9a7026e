//! Property tests for gathering and joining (index_select, index_add, gather, scatter_add,
//! concat, stack, split, split_sizes, chunk) against naive index-by-index references on plain
//! `Vec`s, over random shapes and over contiguous, permuted, narrowed and broadcast inputs,
//! in f32 and f64.
//!
//! Inputs hold arbitrary values and every reference accumulates in the same order as the op
//! is documented to (index order), so results are compared exactly.

use proptest::prelude::*;
use tensor::{Float, Tensor, assert_allclose};

mod common;
use common::indices;

// ---------- inputs: a logical shape, row-major values, and a layout that is not plain ----------

/// How an input tensor is laid out over its storage.
#[derive(Clone, Debug)]
enum Kind {
    Contiguous,
    /// Stored in the axis order `perm`, then permuted back: strides out of order.
    Permuted(Vec<usize>),
    /// Cut out of a larger tensor: `(start, extra)` per axis, so rows have gaps.
    Narrowed(Vec<(usize, usize)>),
    /// Axes marked `true` are stored with size 1 and broadcast (stride 0).
    Broadcast(Vec<bool>),
}

/// A recipe for a tensor: `data` fills the storage tensor that `kind` turns into `shape`.
#[derive(Clone, Debug)]
struct Input {
    shape: Vec<usize>,
    kind: Kind,
    data: Vec<f64>,
}

impl Input {
    fn build<T: Float>(&self) -> Tensor<T> {
        let data: Vec<T> = self.data.iter().map(|&v| T::from_f64(v)).collect();
        let base = Tensor::from_vec(data, &base_shape(&self.shape, &self.kind));
        let t = match &self.kind {
            Kind::Contiguous => base,
            Kind::Permuted(perm) => {
                let mut inverse = vec![0isize; perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    inverse[p] = i as isize;
                }
                base.permute(&inverse)
            }
            Kind::Narrowed(cuts) => {
                let mut t = base;
                for (axis, &(start, _)) in cuts.iter().enumerate() {
                    t = t.narrow(axis as isize, start, self.shape[axis]);
                }
                t
            }
            Kind::Broadcast(_) => base.broadcast_to(&self.shape),
        };
        assert_eq!(t.shape(), self.shape.as_slice());
        t
    }
}

fn base_shape(shape: &[usize], kind: &Kind) -> Vec<usize> {
    match kind {
        Kind::Contiguous => shape.to_vec(),
        Kind::Permuted(perm) => perm.iter().map(|&p| shape[p]).collect(),
        Kind::Narrowed(cuts) => shape.iter().zip(cuts).map(|(&d, &(_, extra))| d + extra).collect(),
        Kind::Broadcast(flags) => shape.iter().zip(flags).map(|(&d, &b)| if b { 1 } else { d }).collect(),
    }
}

fn arb_kind(ndim: usize) -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Contiguous),
        Just((0..ndim).collect::<Vec<_>>()).prop_shuffle().prop_map(Kind::Permuted),
        prop::collection::vec((0usize..3).prop_flat_map(|extra| (0..=extra, Just(extra))), ndim)
            .prop_map(Kind::Narrowed),
        prop::collection::vec(any::<bool>(), ndim).prop_map(Kind::Broadcast),
    ]
}

/// A random input with exactly this shape.
///
/// Empty shapes are only built contiguous: narrowing an empty tensor in the core `Layout` can
/// move the offset past the end of the (empty) storage, which `to_vec` then trips over.
fn arb_input(shape: Vec<usize>) -> impl Strategy<Value = Input> {
    let kind = if shape.contains(&0) { Just(Kind::Contiguous).boxed() } else { arb_kind(shape.len()).boxed() };
    kind.prop_flat_map(move |kind| {
        let n: usize = base_shape(&shape, &kind).iter().product();
        let shape = shape.clone();
        prop::collection::vec(-10.0f64..10.0, n).prop_map(move |data| Input {
            shape: shape.clone(),
            kind: kind.clone(),
            data,
        })
    })
}

fn arb_shape(min_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(min_dim..5usize, 1..=4)
}

/// An axis of an `ndim`-axis tensor, sometimes written negative.
fn arb_axis(ndim: usize) -> impl Strategy<Value = (usize, isize)> {
    (0..ndim, any::<bool>()).prop_map(move |(a, neg)| (a, if neg { a as isize - ndim as isize } else { a as isize }))
}

// ---------- naive index math ----------

fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

fn ravel(index: &[usize], shape: &[usize]) -> usize {
    index.iter().zip(strides_of(shape)).map(|(i, s)| i * s).sum()
}

fn with_axis(index: &[usize], axis: usize, value: usize) -> Vec<usize> {
    let mut i = index.to_vec();
    i[axis] = value;
    i
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Maps raw draws to indices below `n` (none when the axis is empty).
fn wrap(raw: &[usize], n: usize) -> Vec<usize> {
    if n == 0 { vec![] } else { raw.iter().map(|r| r % n).collect() }
}

// ---------- references and checks, generic over the element type ----------

fn check_index_select<T: Float>(x: &Input, axis: (usize, isize), ids: &[usize]) -> Result<(), TestCaseError> {
    let t = x.build::<T>();
    let vals = t.to_vec();
    let out = t.index_select(axis.1, ids);
    let want_shape = with_axis(&x.shape, axis.0, ids.len());
    prop_assert_eq!(out.shape(), want_shape.as_slice());
    let want: Vec<T> =
        indices(&want_shape).iter().map(|o| vals[ravel(&with_axis(o, axis.0, ids[o[axis.0]]), &x.shape)]).collect();
    prop_assert_eq!(out.to_vec(), want);
    Ok(())
}

fn check_index_add<T: Float>(x: &Input, axis: usize, ids: &[usize], src: &Input) -> Result<(), TestCaseError> {
    let (t, s) = (x.build::<T>(), src.build::<T>());
    let out = t.index_add(axis as isize, ids, &s);
    let mut want = t.to_vec();
    let svals = s.to_vec();
    for (j, &i) in ids.iter().enumerate() {
        for p in indices(&src.shape).iter().filter(|p| p[axis] == j) {
            want[ravel(&with_axis(p, axis, i), &x.shape)] += svals[ravel(p, &src.shape)];
        }
    }
    prop_assert!(out.is_contiguous());
    prop_assert_eq!(out.shape(), x.shape.as_slice());
    prop_assert_eq!(out.to_vec(), want);
    Ok(())
}

fn check_gather<T: Float>(x: &Input, axis: usize, index: &[usize], index_shape: &[usize]) -> Result<(), TestCaseError> {
    let t = x.build::<T>();
    let vals = t.to_vec();
    let out = t.gather(axis as isize, index, index_shape);
    prop_assert_eq!(out.shape(), index_shape);
    let want: Vec<T> = indices(index_shape)
        .iter()
        .map(|p| vals[ravel(&with_axis(p, axis, index[ravel(p, index_shape)]), &x.shape)])
        .collect();
    prop_assert_eq!(out.to_vec(), want);
    Ok(())
}

fn check_scatter_add<T: Float>(
    x: &Input,
    axis: usize,
    index: &[usize],
    index_shape: &[usize],
    src: &Input,
) -> Result<(), TestCaseError> {
    let (t, s) = (x.build::<T>(), src.build::<T>());
    let out = t.scatter_add(axis as isize, index, index_shape, &s);
    let mut want = t.to_vec();
    let svals = s.to_vec();
    for p in indices(index_shape) {
        let target = with_axis(&p, axis, index[ravel(&p, index_shape)]);
        want[ravel(&target, &x.shape)] += svals[ravel(&p, &src.shape)];
    }
    prop_assert!(out.is_contiguous());
    prop_assert_eq!(out.to_vec(), want);
    Ok(())
}

fn check_concat<T: Float>(inputs: &[Input], axis: (usize, isize)) -> Result<(), TestCaseError> {
    let ts: Vec<Tensor<T>> = inputs.iter().map(Input::build).collect();
    let out = Tensor::concat(&ts.iter().collect::<Vec<_>>(), axis.1);
    let sizes: Vec<usize> = inputs.iter().map(|i| i.shape[axis.0]).collect();
    let out_shape = with_axis(&inputs[0].shape, axis.0, sizes.iter().sum());
    prop_assert_eq!(out.shape(), out_shape.as_slice());
    let vals: Vec<Vec<T>> = ts.iter().map(|t| t.to_vec()).collect();
    let want: Vec<T> = indices(&out_shape)
        .iter()
        .map(|o| {
            // Find the input that holds coordinate o[axis], and the coordinate within it.
            let (mut k, mut c) = (0, o[axis.0]);
            while c >= sizes[k] {
                c -= sizes[k];
                k += 1;
            }
            vals[k][ravel(&with_axis(o, axis.0, c), &inputs[k].shape)]
        })
        .collect();
    prop_assert_eq!(out.to_vec(), want);
    Ok(())
}

fn check_stack<T: Float>(inputs: &[Input], axis: (usize, isize)) -> Result<(), TestCaseError> {
    let ts: Vec<Tensor<T>> = inputs.iter().map(Input::build).collect();
    let out = Tensor::stack(&ts.iter().collect::<Vec<_>>(), axis.1);
    let shape = &inputs[0].shape;
    let mut out_shape = shape.clone();
    out_shape.insert(axis.0, inputs.len());
    prop_assert_eq!(out.shape(), out_shape.as_slice());
    let vals: Vec<Vec<T>> = ts.iter().map(|t| t.to_vec()).collect();
    let want: Vec<T> = indices(&out_shape)
        .iter()
        .map(|o| {
            let mut inner = o.clone();
            let k = inner.remove(axis.0);
            vals[k][ravel(&inner, shape)]
        })
        .collect();
    prop_assert_eq!(out.to_vec(), want);
    Ok(())
}

/// Pieces must be views of `t`, cover the axis in order with the expected sizes, hold the
/// values of the matching slice, and concatenate back to `t`.
fn check_pieces<T: Float>(
    t: &Tensor<T>,
    axis: usize,
    pieces: &[Tensor<T>],
    sizes: &[usize],
) -> Result<(), TestCaseError> {
    let got: Vec<usize> = pieces.iter().map(|p| p.shape()[axis]).collect();
    prop_assert_eq!(got, sizes.to_vec());
    let vals = t.to_vec();
    let mut start = 0;
    for p in pieces {
        prop_assert!(p.shares_storage_with(t), "piece is a copy, not a view");
        let want_shape = with_axis(t.shape(), axis, p.shape()[axis]);
        prop_assert_eq!(p.shape(), want_shape.as_slice());
        let want: Vec<T> =
            indices(p.shape()).iter().map(|i| vals[ravel(&with_axis(i, axis, i[axis] + start), t.shape())]).collect();
        prop_assert_eq!(p.to_vec(), want);
        start += p.shape()[axis];
    }
    let back = Tensor::concat(&pieces.iter().collect::<Vec<_>>(), axis as isize);
    prop_assert_eq!(back.to_vec(), vals);
    Ok(())
}

fn check_split<T: Float>(x: &Input, axis: (usize, isize), size: usize) -> Result<(), TestCaseError> {
    let t = x.build::<T>();
    let n = x.shape[axis.0];
    // As torch.split, an empty axis gives one empty piece.
    let sizes: Vec<usize> = if n == 0 { vec![0] } else { (0..n).step_by(size).map(|s| size.min(n - s)).collect() };
    check_pieces(&t, axis.0, &t.split(size, axis.1), &sizes)
}

fn check_split_sizes<T: Float>(x: &Input, axis: (usize, isize), cuts: &[usize]) -> Result<(), TestCaseError> {
    let t = x.build::<T>();
    // Random cut points in 0..=n give a partition of the axis (empty pieces included).
    let n = x.shape[axis.0];
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (n + 1)).collect();
    points.push(0);
    points.push(n);
    points.sort_unstable();
    let sizes: Vec<usize> = points.windows(2).map(|w| w[1] - w[0]).collect();
    check_pieces(&t, axis.0, &t.split_sizes(&sizes, axis.1), &sizes)
}

fn check_chunk<T: Float>(x: &Input, axis: (usize, isize), chunks: usize) -> Result<(), TestCaseError> {
    let t = x.build::<T>();
    let pieces = t.chunk(chunks, axis.1);
    let n = x.shape[axis.0];
    // torch.chunk: pieces of ceil(n / chunks), the last one smaller, so at most `chunks` of them;
    // an empty axis gives `chunks` empty pieces.
    let sizes: Vec<usize> = if n == 0 {
        vec![0; chunks]
    } else {
        let size = n.div_ceil(chunks);
        (0..n).step_by(size).map(|s| size.min(n - s)).collect()
    };
    prop_assert!(pieces.len() <= chunks);
    check_pieces(&t, axis.0, &pieces, &sizes)
}

// ---------- strategies for each op ----------

/// An input, an axis, and raw draws for indices (duplicates likely: axes are at most 4 long).
fn arb_select() -> impl Strategy<Value = (Input, (usize, isize), Vec<usize>)> {
    arb_shape(0).prop_flat_map(|shape| {
        let ndim = shape.len();
        let n = shape.clone();
        (arb_input(shape), arb_axis(ndim), prop::collection::vec(any::<usize>(), 0..7))
            .prop_map(move |(x, axis, raw)| (x, axis, wrap(&raw, n[axis.0])))
    })
}

/// self, axis, indices and a source shaped for index_add.
fn arb_index_add() -> impl Strategy<Value = (Input, usize, Vec<usize>, Input)> {
    arb_select().prop_flat_map(|(x, axis, ids)| {
        let src_shape = with_axis(&x.shape, axis.0, ids.len());
        (Just(x), Just(axis.0), Just(ids), arb_input(src_shape))
    })
}

/// self, axis, a valid index with its shape (at most self's size off the axis, any size on it).
fn arb_gather() -> impl Strategy<Value = (Input, usize, Vec<usize>, Vec<usize>)> {
    arb_shape(1).prop_flat_map(|shape| {
        let ndim = shape.len();
        (arb_input(shape.clone()), 0..ndim, Just(shape)).prop_flat_map(|(x, axis, shape)| {
            let dims: Vec<BoxedStrategy<usize>> = shape
                .iter()
                .enumerate()
                .map(|(d, &n)| if d == axis { (0..5usize).boxed() } else { (0..=n).boxed() })
                .collect();
            let n = shape[axis];
            (Just(x), Just(axis), dims).prop_flat_map(move |(x, axis, index_shape)| {
                let len: usize = index_shape.iter().product();
                (Just(x), Just(axis), prop::collection::vec(0..n, len), Just(index_shape))
            })
        })
    })
}

/// gather's draws plus a source at least as large as the index on every axis.
fn arb_scatter() -> impl Strategy<Value = (Input, usize, Vec<usize>, Vec<usize>, Input)> {
    arb_gather().prop_flat_map(|(x, axis, index, index_shape)| {
        let extra = prop::collection::vec(0..2usize, index_shape.len());
        (Just(x), Just(axis), Just(index), Just(index_shape.clone()), extra).prop_flat_map(
            |(x, axis, index, index_shape, extra)| {
                let src_shape: Vec<usize> = index_shape.iter().zip(&extra).map(|(a, b)| a + b).collect();
                (Just(x), Just(axis), Just(index), Just(index_shape), arb_input(src_shape))
            },
        )
    })
}

/// 1 to 4 inputs that agree off `axis` and have any size (0 included) on it.
fn arb_concat() -> impl Strategy<Value = (Vec<Input>, (usize, isize))> {
    arb_shape(1).prop_flat_map(|shape| {
        let ndim = shape.len();
        (Just(shape), arb_axis(ndim), prop::collection::vec(0..4usize, 1..=4)).prop_flat_map(|(shape, axis, sizes)| {
            let inputs: Vec<_> = sizes.iter().map(|&s| arb_input(with_axis(&shape, axis.0, s))).collect();
            (inputs, Just(axis))
        })
    })
}

fn arb_stack() -> impl Strategy<Value = (Vec<Input>, (usize, isize))> {
    arb_shape(0).prop_flat_map(|shape| {
        let ndim = shape.len();
        (prop::collection::vec(arb_input(shape), 1..=4), arb_axis(ndim + 1))
    })
}

fn arb_splittable() -> impl Strategy<Value = (Input, (usize, isize))> {
    prop::collection::vec(0..7usize, 1..=3).prop_flat_map(|shape| {
        let ndim = shape.len();
        (arb_input(shape), arb_axis(ndim))
    })
}

// ---------- the properties ----------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn index_select_matches_reference((x, axis, ids) in arb_select()) {
        check_index_select::<f32>(&x, axis, &ids)?;
        check_index_select::<f64>(&x, axis, &ids)?;
    }

    #[test]
    fn index_add_matches_reference((x, axis, ids, src) in arb_index_add()) {
        check_index_add::<f32>(&x, axis, &ids, &src)?;
        check_index_add::<f64>(&x, axis, &ids, &src)?;
    }

    #[test]
    fn gather_matches_reference((x, axis, index, index_shape) in arb_gather()) {
        check_gather::<f32>(&x, axis, &index, &index_shape)?;
        check_gather::<f64>(&x, axis, &index, &index_shape)?;
    }

    #[test]
    fn scatter_add_matches_reference((x, axis, index, index_shape, src) in arb_scatter()) {
        check_scatter_add::<f32>(&x, axis, &index, &index_shape, &src)?;
        check_scatter_add::<f64>(&x, axis, &index, &index_shape, &src)?;
    }

    #[test]
    fn concat_matches_reference((inputs, axis) in arb_concat()) {
        check_concat::<f32>(&inputs, axis)?;
        check_concat::<f64>(&inputs, axis)?;
    }

    #[test]
    fn stack_matches_reference((inputs, axis) in arb_stack()) {
        check_stack::<f32>(&inputs, axis)?;
        check_stack::<f64>(&inputs, axis)?;
    }

    #[test]
    fn split_gives_views_in_order(((x, axis), size) in (arb_splittable(), 1..5usize)) {
        check_split::<f32>(&x, axis, size)?;
        check_split::<f64>(&x, axis, size)?;
    }

    #[test]
    fn split_sizes_gives_views_in_order(((x, axis), cuts) in (arb_splittable(), prop::collection::vec(any::<usize>(), 0..4))) {
        check_split_sizes::<f32>(&x, axis, &cuts)?;
        check_split_sizes::<f64>(&x, axis, &cuts)?;
    }

    #[test]
    fn chunk_gives_views_in_order(((x, axis), chunks) in (arb_splittable(), 1..6usize)) {
        check_chunk::<f32>(&x, axis, chunks)?;
        check_chunk::<f64>(&x, axis, chunks)?;
    }

    /// <index_select(x), y> == <x, index_add(0, y)>: index_add is the adjoint, so it is the backward.
    #[test]
    fn index_add_is_the_adjoint_of_index_select((x, axis, ids, y) in arb_index_add()) {
        let (xt, yt) = (x.build::<f64>(), y.build::<f64>());
        let lhs = dot(&xt.index_select(axis as isize, &ids).to_vec(), &yt.to_vec());
        let rhs = dot(&xt.to_vec(), &Tensor::zeros(&x.shape).index_add(axis as isize, &ids, &yt).to_vec());
        prop_assert!((lhs - rhs).abs() <= 1e-12 * (1.0 + lhs.abs()), "{} vs {}", lhs, rhs);
    }

    /// <gather(x), y> == <x, scatter_add(0, y)>.
    #[test]
    fn scatter_add_is_the_adjoint_of_gather((x, axis, index, index_shape, y) in arb_scatter()) {
        let (xt, yt) = (x.build::<f64>(), y.build::<f64>());
        // Only the index-shaped corner of y takes part in scatter_add; gather's output has that shape.
        let mut corner = yt.clone();
        for (d, &n) in index_shape.iter().enumerate() {
            corner = corner.narrow(d as isize, 0, n);
        }
        let lhs = dot(&xt.gather(axis as isize, &index, &index_shape).to_vec(), &corner.to_vec());
        let rhs = dot(&xt.to_vec(), &Tensor::zeros(&x.shape).scatter_add(axis as isize, &index, &index_shape, &yt).to_vec());
        prop_assert!((lhs - rhs).abs() <= 1e-12 * (1.0 + lhs.abs()), "{} vs {}", lhs, rhs);
    }
}

// ---------- fixed cases ----------

#[test]
fn embedding_lookup_and_its_gradient() {
    // (vocab=4, dim=3) table; tokens with a repeat.
    let weight = Tensor::<f32>::arange(0.0, 12.0, 1.0).reshape(&[4, 3]);
    let ids = [3, 1, 3];
    let emb = weight.index_select(0, &ids);
    assert_eq!(emb.to_vec(), vec![9.0, 10.0, 11.0, 3.0, 4.0, 5.0, 9.0, 10.0, 11.0]);
    let grad = Tensor::<f32>::ones(&[3, 3]);
    let wgrad = Tensor::zeros(&[4, 3]).index_add(0, &ids, &grad);
    assert_eq!(wgrad.to_vec(), vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0]);
}

#[test]
fn cross_entropy_pick_with_gather_and_its_gradient() {
    let logits = Tensor::<f64>::arange(0.0, 12.0, 1.0).reshape(&[3, 4]);
    let targets = [1, 3, 0];
    let picked = logits.gather(1, &targets, &[3, 1]);
    assert_eq!(picked.to_vec(), vec![1.0, 7.0, 8.0]);
    let grad = Tensor::zeros(&[3, 4]).scatter_add(1, &targets, &[3, 1], &Tensor::full(&[3, 1], -1.0));
    let want = Tensor::from_vec(vec![0., -1., 0., 0., 0., 0., 0., -1., -1., 0., 0., 0.], &[3, 4]);
    assert_allclose(&grad, &want, 0.0, 0.0);
}

#[test]
fn chunk_of_an_empty_axis_gives_empty_pieces() {
    let x = Tensor::<f32>::zeros(&[0, 2]);
    let pieces = x.chunk(3, 0);
    assert_eq!(pieces.len(), 3);
    assert!(pieces.iter().all(|p| p.shape() == [0, 2]));
}

#[test]
#[should_panic(expected = "tensor op 'concat': needs at least one tensor")]
fn concat_of_nothing_panics() {
    Tensor::<f64>::concat(&[], 0);
}

#[test]
#[should_panic(expected = "tensor op 'gather': index shape [3, 1] does not fit self shape [2, 4]")]
fn gather_index_larger_than_self_off_axis_panics() {
    Tensor::<f32>::zeros(&[2, 4]).gather(1, &[0, 0, 0], &[3, 1]);
}

#[test]
#[should_panic(expected = "tensor op 'scatter_add': src shape [2, 1] is smaller than index shape [2, 2]")]
fn scatter_add_src_too_small_panics() {
    Tensor::<f32>::zeros(&[2, 4]).scatter_add(1, &[0, 1, 2, 3], &[2, 2], &Tensor::zeros(&[2, 1]));
}

#[test]
#[should_panic(expected = "tensor op 'stack': all tensors need the same shape, tensor 1 differs")]
fn stack_shape_mismatch_panics() {
    Tensor::stack(&[&Tensor::<f32>::zeros(&[2]), &Tensor::zeros(&[3])], 0);
}

#[test]
#[should_panic(expected = "tensor op 'split': split_size must be positive")]
fn split_by_zero_panics() {
    Tensor::<f32>::zeros(&[2]).split(0, 0);
}
