//! Elementwise functions of two tensors under broadcasting, comparisons, and selection.
//!
//! `c = a ∘ b` for shapes that broadcast as in NumPy and PyTorch: align the shapes at their last
//! axis; each pair of sizes must be equal or one of them 1 (a missing leading axis counts as 1).
//! The result has the broadcast shape and is contiguous. Broadcasting never copies an input: a
//! size-1 axis is read with stride 0 (see [`Tensor::broadcast_to`]).
//!
//! Comparisons return masks of the same element type, 1.0 where the relation holds and 0.0
//! elsewhere, so a mask multiplies straight into arithmetic (`grad * x.gt(&zero)`).
//!
//! ```
//! use tensor::Tensor;
//! let a = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[3, 1]); // (3, 1)
//! let b = Tensor::<f32>::from_vec(vec![10.0, 20.0], &[2]); //       (2,)
//! let c = a.add(&b); //                                             (3, 2)
//! assert_eq!(c.to_vec(), vec![11.0, 21.0, 12.0, 22.0, 13.0, 23.0]);
//! ```
//!
//! Shapes that don't broadcast panic at the caller's line, naming the op and both shapes:
//! `tensor op 'add': shapes [2, 3] and [3, 2] cannot be broadcast together`.

use crate::error::op_panic;
use crate::layout::{Rows, broadcast_shape};
use crate::unary::indicator;
use crate::{Float, Tensor};

impl<T: Float> Tensor<T> {
    /// c = a + b, broadcasting.
    #[track_caller]
    pub fn add(&self, o: &Tensor<T>) -> Tensor<T> {
        self.zip_with(o, "add", |a, b| a + b)
    }

    /// c = a - b, broadcasting.
    #[track_caller]
    pub fn sub(&self, o: &Tensor<T>) -> Tensor<T> {
        self.zip_with(o, "sub", |a, b| a - b)
    }

    /// c = a * b (elementwise, not matrix product), broadcasting.
    #[track_caller]
    pub fn mul(&self, o: &Tensor<T>) -> Tensor<T> {
        self.zip_with(o, "mul", |a, b| a * b)
    }

    /// c = a / b, broadcasting (IEEE: x / 0 is ±inf, 0 / 0 is NaN).
    #[track_caller]
    pub fn div(&self, o: &Tensor<T>) -> Tensor<T> {
        self.zip_with(o, "div", |a, b| a / b)
    }

    /// c = max(a, b), broadcasting; NaN if either is NaN (as `torch.maximum`).
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::<f64>::from_vec(vec![1.0, 5.0, f64::NAN], &[3]);
    /// let b = Tensor::<f64>::from_vec(vec![3.0], &[1]);
    /// let c = a.maximum(&b).to_vec();
    /// assert_eq!(&c[..2], &[3.0, 5.0]);
    /// assert!(c[2].is_nan());
    /// ```
    #[track_caller]
    pub fn maximum(&self, o: &Tensor<T>) -> Tensor<T> {
        self.zip_with(o, "maximum", T::max_nan)
    }

    /// c = min(a, b), broadcasting; NaN if either is NaN (as `torch.minimum`).
    #[track_caller]
    pub fn minimum(&self, o: &Tensor<T>) -> Tensor<T> {
        self.zip_with(o, "minimum", T::min_nan)
    }

    /// c = 1 where a == b, else 0; broadcasting. NaN equals nothing, itself included.
    #[track_caller]
    pub fn eq_mask(&self, o: &Tensor<T>) -> Tensor<T> {
        self.zip_with(o, "eq_mask", |a, b| indicator(a == b))
    }

    /// c = 1 where a < b, else 0; broadcasting.
    #[track_caller]
    pub fn lt(&self, o: &Tensor<T>) -> Tensor<T> {
        self.zip_with(o, "lt", |a, b| indicator(a < b))
    }

    /// c = 1 where a <= b, else 0; broadcasting.
    #[track_caller]
    pub fn le(&self, o: &Tensor<T>) -> Tensor<T> {
        self.zip_with(o, "le", |a, b| indicator(a <= b))
    }

    /// c = 1 where a > b, else 0; broadcasting.
    #[track_caller]
    pub fn gt(&self, o: &Tensor<T>) -> Tensor<T> {
        self.zip_with(o, "gt", |a, b| indicator(a > b))
    }

    /// c = 1 where a >= b, else 0; broadcasting.
    #[track_caller]
    pub fn ge(&self, o: &Tensor<T>) -> Tensor<T> {
        self.zip_with(o, "ge", |a, b| indicator(a >= b))
    }

    /// c = a where mask != 0, else b (as `torch.where(mask, a, b)`); NaN in the mask counts as
    /// nonzero. All three broadcast together; the result has their common shape.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let mask = Tensor::<f32>::from_vec(vec![1.0, 0.0], &[2, 1]); //  (2, 1)
    /// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[3]); //   (3,)
    /// let b = Tensor::<f32>::scalar(-1.0); //                          ()
    /// let c = Tensor::where_mask(&mask, &a, &b); //                    (2, 3)
    /// assert_eq!(c.to_vec(), vec![1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
    /// ```
    #[track_caller]
    pub fn where_mask(mask: &Tensor<T>, a: &Tensor<T>, b: &Tensor<T>) -> Tensor<T> {
        // A `match`, not `unwrap_or_else`: `#[track_caller]` does not reach into closures.
        let shape = match broadcast_shape(mask.shape(), a.shape()).and_then(|s| broadcast_shape(&s, b.shape())) {
            Some(s) => s,
            None => op_panic(
                "where_mask",
                format!(
                    "mask {:?}, a {:?} and b {:?} cannot be broadcast together",
                    mask.shape(),
                    a.shape(),
                    b.shape()
                ),
            ),
        };
        let pick = |m: T, x: T, y: T| if m != T::ZERO { x } else { y };
        let same_shape = mask.shape() == a.shape() && a.shape() == b.shape();
        if let (true, Some(m), Some(x), Some(y)) = (same_shape, mask.as_slice(), a.as_slice(), b.as_slice()) {
            let data = m.iter().zip(x).zip(y).map(|((&m, &x), &y)| pick(m, x, y)).collect();
            return Tensor::from_vec(data, &shape);
        }
        let layouts = [&mask.layout, &a.layout, &b.layout].map(|l| l.broadcast_to(&shape));
        let rows = Rows::new(&shape, [&layouts[0], &layouts[1], &layouts[2]]);
        let [s0, s1, s2] = rows.inner_strides;
        let (sm, sa, sb) = (&mask.storage[..], &a.storage[..], &b.storage[..]);
        let mut out = Vec::with_capacity(rows.numel());
        rows.for_each_run(0..rows.numel(), |[i, j, k], len| {
            out.extend((0..len).map(|e| pick(sm[i + e * s0], sa[j + e * s1], sb[k + e * s2])));
        });
        Tensor::from_vec(out, &shape)
    }

    /// c = value where mask != 0, else self (as `torch.masked_fill`); NaN in the mask counts as
    /// nonzero. The mask broadcasts to self's shape, and the result has self's shape.
    ///
    /// # Panics
    /// If the mask does not broadcast to self's shape (broadcasting would have to grow self).
    ///
    /// ```
    /// use tensor::Tensor;
    /// // A causal attention mask: hide the future before the softmax.
    /// let scores = Tensor::<f32>::zeros(&[2, 2]);
    /// let future = Tensor::<f32>::from_vec(vec![0.0, 1.0, 0.0, 0.0], &[2, 2]);
    /// let masked = scores.masked_fill(&future, f32::NEG_INFINITY);
    /// assert_eq!(masked.to_vec(), vec![0.0, f32::NEG_INFINITY, 0.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn masked_fill(&self, mask: &Tensor<T>, value: T) -> Tensor<T> {
        if broadcast_shape(self.shape(), mask.shape()).as_deref() != Some(self.shape()) {
            op_panic(
                "masked_fill",
                format!("mask of shape {:?} does not broadcast to the tensor's shape {:?}", mask.shape(), self.shape()),
            );
        }
        self.zip_with(mask, "masked_fill", |x, m| if m != T::ZERO { value } else { x })
    }
}
