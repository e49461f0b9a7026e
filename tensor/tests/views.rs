//! Property tests for views (permute, transpose, narrow, unsqueeze/squeeze, broadcast_to,
//! reshape) against a naive reference that moves values around in a plain row-major `Vec`,
//! and tests of printing.
//!
//! For a random tensor and a random chain of views, after every step:
//! - the values equal the reference, read both through `to_vec` and by hand from the storage
//!   with `offset + sum(index * stride)`;
//! - the result shares storage with its input, except a `reshape` whose order no strides can
//!   express (checked independently, by trying to fit strides to the element offsets);
//! - negative axes name the same axis as their positive counterparts.

use proptest::prelude::*;
use tensor::{Float, Tensor};

mod common;
use common::indices;

// ---------- the naive reference ----------

/// A row-major array: the obviously-correct model a view is compared with.
#[derive(Clone, Debug)]
struct Naive {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Naive {
    fn get(&self, index: &[usize]) -> f64 {
        let mut flat = 0;
        for (i, d) in index.iter().zip(&self.shape) {
            flat = flat * d + i;
        }
        self.data[flat]
    }

    fn from_fn(shape: Vec<usize>, f: impl Fn(&[usize]) -> f64) -> Naive {
        let data = indices(&shape).iter().map(|i| f(i)).collect();
        Naive { shape, data }
    }

    fn permute(&self, axes: &[usize]) -> Naive {
        let shape = axes.iter().map(|&a| self.shape[a]).collect();
        Naive::from_fn(shape, |i| {
            let mut src = vec![0; i.len()];
            for (k, &a) in axes.iter().enumerate() {
                src[a] = i[k];
            }
            self.get(&src)
        })
    }

    fn narrow(&self, axis: usize, start: usize, len: usize) -> Naive {
        let mut shape = self.shape.clone();
        shape[axis] = len;
        Naive::from_fn(shape, |i| {
            let mut src = i.to_vec();
            src[axis] += start;
            self.get(&src)
        })
    }

    fn unsqueeze(&self, axis: usize) -> Naive {
        let mut shape = self.shape.clone();
        shape.insert(axis, 1);
        Naive { shape, data: self.data.clone() }
    }

    fn squeeze(&self, axis: usize) -> Naive {
        let mut shape = self.shape.clone();
        shape.remove(axis);
        Naive { shape, data: self.data.clone() }
    }

    fn broadcast_to(&self, shape: &[usize]) -> Naive {
        let lead = shape.len() - self.shape.len();
        Naive::from_fn(shape.to_vec(), |i| {
            let src: Vec<usize> =
                i[lead..].iter().zip(&self.shape).map(|(&x, &d)| if d == 1 { 0 } else { x }).collect();
            self.get(&src)
        })
    }

    fn reshape(&self, shape: &[usize]) -> Naive {
        Naive { shape: shape.to_vec(), data: self.data.clone() }
    }
}

// ---------- random view chains ----------

/// One view op, with its axes as passed (possibly negative).
#[derive(Clone, Debug)]
enum Step {
    Permute(Vec<isize>),
    Transpose(isize, isize),
    Narrow(isize, usize, usize),
    Unsqueeze(isize),
    Squeeze(isize),
    BroadcastTo(Vec<usize>),
    Reshape(Vec<usize>),
}

/// Raw draws for one step, turned into a valid step for the current shape by [`resolve`].
type Raw = (u8, usize, usize, usize, bool);

/// An axis in `0..ndim` written negative when `neg`, as the op's caller may.
fn signed(axis: usize, ndim: usize, neg: bool) -> isize {
    if neg { axis as isize - ndim as isize } else { axis as isize }
}

fn unsign(axis: isize, ndim: usize) -> usize {
    if axis < 0 { (axis + ndim as isize) as usize } else { axis as usize }
}

/// Turns raw draws into a step that fits `shape`, or `None` when this kind doesn't apply
/// (nothing to squeeze, too many axes or elements).
fn resolve((kind, a, b, c, neg): Raw, shape: &[usize]) -> Option<Step> {
    let nd = shape.len();
    let numel: usize = shape.iter().product();
    match kind % 7 {
        0 if nd > 0 => {
            // A permutation from the draws: Fisher-Yates driven by a small LCG.
            let mut axes: Vec<usize> = (0..nd).collect();
            let mut r = a as u64;
            for i in (1..nd).rev() {
                r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                axes.swap(i, (r >> 33) as usize % (i + 1));
            }
            Some(Step::Permute(axes.iter().map(|&x| signed(x, nd, neg)).collect()))
        }
        1 if nd > 0 => Some(Step::Transpose(signed(a % nd, nd, neg), signed(b % nd, nd, !neg))),
        2 if nd > 0 => {
            let axis = a % nd;
            let start = b % shape[axis];
            let len = 1 + c % (shape[axis] - start);
            Some(Step::Narrow(signed(axis, nd, neg), start, len))
        }
        3 if nd < 6 => Some(Step::Unsqueeze(signed(a % (nd + 1), nd + 1, neg))),
        4 => {
            let ones: Vec<usize> = (0..nd).filter(|&d| shape[d] == 1).collect();
            (!ones.is_empty()).then(|| Step::Squeeze(signed(ones[a % ones.len()], nd, neg)))
        }
        5 if numel <= 100 && nd < 6 => {
            // Stretch every size-1 axis to 1..=3, and sometimes add a leading axis.
            let mut target: Vec<usize> =
                shape.iter().enumerate().map(|(d, &s)| if s == 1 { 1 + (a + d) % 3 } else { s }).collect();
            if b % 2 == 0 {
                target.insert(0, 1 + c % 3);
            }
            Some(Step::BroadcastTo(target))
        }
        6 => Some(Step::Reshape(reshape_target(shape, a, b))),
        _ => None,
    }
}

/// A new shape with the same element count: merge two neighbours, split an axis by one of its
/// divisors, flatten, or insert a size-1 axis.
fn reshape_target(shape: &[usize], a: usize, b: usize) -> Vec<usize> {
    let nd = shape.len();
    let mut s = shape.to_vec();
    match a % 4 {
        0 if nd >= 2 => {
            let d = b % (nd - 1);
            let merged = s[d] * s[d + 1];
            s.splice(d..d + 2, [merged]);
        }
        1 if nd >= 1 => {
            let d = b % nd;
            let divisors: Vec<usize> = (1..=s[d]).filter(|f| s[d].is_multiple_of(*f)).collect();
            let f = divisors[(a / 4) % divisors.len()];
            let rest = s[d] / f;
            s.splice(d..d + 1, [f, rest]);
        }
        2 => s = vec![shape.iter().product()],
        _ => s.insert(b % (nd + 1), 1),
    }
    s
}

/// Applies a step to both the tensor and the reference.
fn apply<T: Float>(t: &Tensor<T>, r: &Naive, step: &Step) -> (Tensor<T>, Naive) {
    let nd = r.shape.len();
    match step {
        Step::Permute(axes) => {
            let ax: Vec<usize> = axes.iter().map(|&a| unsign(a, nd)).collect();
            (t.permute(axes), r.permute(&ax))
        }
        Step::Transpose(a, b) => {
            let mut ax: Vec<usize> = (0..nd).collect();
            ax.swap(unsign(*a, nd), unsign(*b, nd));
            (t.transpose(*a, *b), r.permute(&ax))
        }
        Step::Narrow(axis, start, len) => (t.narrow(*axis, *start, *len), r.narrow(unsign(*axis, nd), *start, *len)),
        Step::Unsqueeze(axis) => (t.unsqueeze(*axis), r.unsqueeze(unsign(*axis, nd + 1))),
        Step::Squeeze(axis) => (t.squeeze(*axis), r.squeeze(unsign(*axis, nd))),
        Step::BroadcastTo(shape) => (t.broadcast_to(shape), r.broadcast_to(shape)),
        Step::Reshape(shape) => (t.reshape(shape), r.reshape(shape)),
    }
}

/// The storage offset of every element, in row-major order, straight from shape/strides/offset.
fn element_offsets<T: Float>(t: &Tensor<T>) -> Vec<usize> {
    let off = t.layout().offset();
    indices(t.shape()).iter().map(|i| off + i.iter().zip(t.strides()).map(|(x, s)| x * s).sum::<usize>()).collect()
}

/// Whether some strides (and the same offset) give the elements of `t`, in row-major order,
/// under `shape`: i.e. whether a reshape can be a view. Fits each stride from the neighbour of
/// the origin along that axis, then checks every element.
fn expressible<T: Float>(t: &Tensor<T>, shape: &[usize]) -> bool {
    let offsets = element_offsets(t);
    let idx = indices(shape);
    let base = offsets[0] as i64;
    let mut strides = vec![0i64; shape.len()];
    for (d, s) in strides.iter_mut().enumerate() {
        if shape[d] > 1 {
            let flat = idx.iter().position(|i| i.iter().enumerate().all(|(k, &x)| x == usize::from(k == d))).unwrap();
            *s = offsets[flat] as i64 - base;
        }
    }
    strides.iter().all(|&s| s >= 0)
        && idx
            .iter()
            .zip(&offsets)
            .all(|(i, &o)| base + i.iter().zip(&strides).map(|(&x, s)| x as i64 * s).sum::<i64>() == o as i64)
}

fn check_chain<T: Float>(shape: &[usize], raws: &[Raw]) -> Result<(), TestCaseError> {
    let n: usize = shape.iter().product();
    // Distinct values, so any element out of place shows.
    let values: Vec<f64> = (0..n).map(|v| v as f64).collect();
    let mut t = Tensor::<T>::from_vec(values.iter().map(|&v| T::from_f64(v)).collect(), shape);
    let mut r = Naive { shape: shape.to_vec(), data: values };
    let mut done = Vec::new();
    for &raw in raws {
        let Some(step) = resolve(raw, &r.shape) else { continue };
        done.push(step.clone());
        let (next, next_r) = apply(&t, &r, &step);
        prop_assert_eq!(next.shape(), next_r.shape.as_slice(), "after {:?}", done);
        let want: Vec<T> = next_r.data.iter().map(|&v| T::from_f64(v)).collect();
        prop_assert_eq!(next.to_vec(), want.clone(), "to_vec after {:?}", done);
        let by_hand: Vec<T> = element_offsets(&next).iter().map(|&o| next.storage()[o]).collect();
        prop_assert_eq!(by_hand, want, "strided read after {:?}", done);

        let should_share = match &step {
            Step::Reshape(s) => expressible(&t, s),
            _ => true,
        };
        prop_assert_eq!(next.shares_storage_with(&t), should_share, "sharing after {:?}", done);
        if t.is_contiguous() {
            prop_assert!(should_share, "a contiguous tensor must always reshape as a view");
        }
        t = next;
        r = next_r;
    }

    let c = t.contiguous();
    prop_assert!(c.is_contiguous());
    prop_assert_eq!(c.shares_storage_with(&t), t.is_contiguous());
    let want: Vec<T> = r.data.iter().map(|&v| T::from_f64(v)).collect();
    prop_assert_eq!(c.as_slice().unwrap(), want.as_slice(), "contiguous after {:?}", done);
    // A contiguous tensor reshapes to anything of its size without a copy.
    let flat = c.reshape(&[c.numel()]);
    prop_assert!(flat.shares_storage_with(&c));
    prop_assert_eq!(flat.as_slice().unwrap(), want.as_slice());
    Ok(())
}

fn arb_raw() -> impl Strategy<Value = Raw> {
    (any::<u8>(), any::<usize>(), any::<usize>(), any::<usize>(), any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn view_chains_match_the_reference(
        shape in prop::collection::vec(1..5usize, 0..=4),
        raws in prop::collection::vec(arb_raw(), 1..8),
    ) {
        check_chain::<f32>(&shape, &raws)?;
        check_chain::<f64>(&shape, &raws)?;
    }

    #[test]
    fn negative_axes_name_the_same_axes(
        shape in prop::collection::vec(1..5usize, 1..=4),
        a in any::<usize>(),
        b in any::<usize>(),
    ) {
        let n: usize = shape.iter().product();
        let t = Tensor::<f64>::arange(0.0, n as f64, 1.0).reshape(&shape);
        let nd = shape.len();
        let (x, y) = (a % nd, b % nd);
        let neg = |i: usize| i as isize - nd as isize;
        prop_assert_eq!(t.transpose(neg(x), neg(y)).to_vec(), t.transpose(x as isize, y as isize).to_vec());
        prop_assert_eq!(t.narrow(neg(x), 0, 1).to_vec(), t.narrow(x as isize, 0, 1).to_vec());
        prop_assert_eq!(t.dim(neg(x)), shape[x]);
        // unsqueeze(-1) appends, as PyTorch: the new axis counts in the range.
        prop_assert_eq!(t.unsqueeze(-1).shape().to_vec(), [shape.clone(), vec![1]].concat());
        prop_assert_eq!(t.unsqueeze(neg(x) - 1).shape().to_vec(), t.unsqueeze(x as isize).shape().to_vec());
    }
}

// ---------- fixed cases ----------

#[test]
fn reshape_copies_only_when_the_strides_cannot_express_it() {
    let a = Tensor::<f32>::arange(0.0, 24.0, 1.0).reshape(&[2, 3, 4]);
    let p = a.permute(&[2, 0, 1]); // (4, 2, 3)
    assert!(p.reshape(&[4, 6]).shares_storage_with(&a)); // merges two axes that stay in order
    assert!(!p.reshape(&[8, 3]).shares_storage_with(&a)); // merges axes out of order
    assert_eq!(p.reshape(&[8, 3]).to_vec()[..6], [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]);
}

#[test]
fn broadcast_is_a_stride_zero_view() {
    let col = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2, 1]);
    let b = col.broadcast_to(&[3, 2, 4]);
    assert!(b.shares_storage_with(&col));
    assert_eq!(b.strides()[0], 0);
    assert_eq!(b.strides()[2], 0);
    assert_eq!(b.get(&[2, 1, 3]), 2.0);
}

// ---------- printing ----------

#[test]
fn display_small_matrix_exactly() {
    let x = Tensor::<f32>::from_vec(vec![0.0, -1.5, 2.25, 100.0, 0.125, 3.0], &[2, 3]);
    assert_eq!(
        x.to_string(),
        "tensor([[  0.0000,  -1.5000,   2.2500],\n        [100.0000,   0.1250,   3.0000]], shape=[2, 3], dtype=f32)"
    );
    assert_eq!(Tensor::<f64>::from_vec(vec![2.0], &[1]).to_string(), "tensor([2.0000], shape=[1], dtype=f64)");
    assert_eq!(Tensor::<f32>::scalar(-0.5).to_string(), "tensor(-0.5000, dtype=f32)");
}

#[test]
fn display_walks_the_strides_of_a_view() {
    let a = Tensor::<f64>::arange(0.0, 12.0, 1.0).reshape(&[3, 4]);
    let v = a.mt().narrow(0, 1, 2); // (2, 3), non-contiguous
    assert_eq!(v.to_string(), v.contiguous().to_string());
    assert_eq!(
        v.to_string(),
        "tensor([[ 1.0000,  5.0000,  9.0000],\n        [ 2.0000,  6.0000, 10.0000]], shape=[2, 3], dtype=f64)"
    );
    let debug = format!("{v:?}");
    assert!(debug.ends_with("shape=[2, 3], strides=[1, 4], offset=1,\n       dtype=f64)"), "{debug}");
}

#[test]
fn display_elides_big_tensors_like_torch() {
    // 11 x 100 = 1100 elements > 1000: first and last 3 of each axis. Values r + 1 + c / 100.
    let x = Tensor::<f64>::arange(0.0, 1100.0, 1.0).reshape(&[11, 100]).map(|v| v / 100.0 + 1.0);
    let want = "\
tensor([[ 1.0000,  1.0100,  1.0200,  ...,  1.9700,  1.9800,  1.9900],
        [ 2.0000,  2.0100,  2.0200,  ...,  2.9700,  2.9800,  2.9900],
        [ 3.0000,  3.0100,  3.0200,  ...,  3.9700,  3.9800,  3.9900],
        ...,
        [ 9.0000,  9.0100,  9.0200,  ...,  9.9700,  9.9800,  9.9900],
        [10.0000, 10.0100, 10.0200,  ..., 10.9700, 10.9800, 10.9900],
        [11.0000, 11.0100, 11.0200,  ..., 11.9700, 11.9800, 11.9900]],
       shape=[11, 100], dtype=f64)";
    assert_eq!(x.to_string(), want);
}

#[test]
fn display_elides_every_long_axis_of_a_3d_tensor() {
    let x = Tensor::<f32>::zeros(&[10, 2, 60]);
    let s = x.to_string();
    // Axis 0 shows 3 + 3 blocks around a "...," line; axis 1 (size 2) is kept whole.
    assert_eq!(s.matches("...,\n").count(), 1, "{s}");
    assert_eq!(s.matches("[[").count(), 6, "{s}"); // one per shown block
    // 12 rows, the "..." line, 6 blank lines between the 7 entries of axis 0, the suffix line.
    assert_eq!(s.lines().count(), 12 + 1 + 6 + 1, "{s}");
    assert!(s.starts_with("tensor([[[0.0000, 0.0000, 0.0000,  ..., 0.0000, 0.0000, 0.0000],\n"), "{s}");
    assert!(s.ends_with("]]],\n       shape=[10, 2, 60], dtype=f32)"), "{s}");
}
