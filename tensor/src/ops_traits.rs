//! Arithmetic operators: `&a + &b`, `&a * 2.0`, `1.0 - &a`, `-&a`.
//!
//! Each operator is the named method of the same meaning ([`Tensor::add`], [`Tensor::mul_scalar`],
//! [`Tensor::neg`], ...) with the same broadcasting and the same bit-for-bit results. Both sides
//! may be borrowed or owned; borrowing (`&a + &b`) keeps `a` and `b` usable afterwards.
//! A scalar may stand on either side (on the left for `f32` and `f64`, the only element types).
//!
//! Operators return a `Tensor`, not a `Result`: a shape mismatch is a programming error and
//! panics at the line that wrote the operator (every impl here is `#[track_caller]`).
//!
//! ```
//! use tensor::Tensor;
//! let x = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[3]);
//! let b = Tensor::<f32>::from_vec(vec![0.5], &[1]);
//! let y = &(&x * 2.0) + &b; // 2x + b, broadcasting b
//! assert_eq!(y.to_vec(), vec![2.5, 4.5, 6.5]);
//! assert_eq!((-&x).to_vec(), vec![-1.0, -2.0, -3.0]);
//! assert_eq!((1.0 - &x).to_vec(), vec![0.0, -1.0, -2.0]);
//! ```

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::{Float, Tensor};

/// Implements one operator trait between tensors (all four owned/borrowed pairings) and with a
/// scalar `T` on the right, each forwarding to the named inherent method.
macro_rules! tensor_operator {
    ($trait:ident, $method:ident, $scalar_method:ident) => {
        impl<T: Float> $trait<&Tensor<T>> for &Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<T>) -> Tensor<T> {
                Tensor::<T>::$method(self, rhs)
            }
        }

        impl<T: Float> $trait<Tensor<T>> for &Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: Tensor<T>) -> Tensor<T> {
                Tensor::<T>::$method(self, &rhs)
            }
        }

        impl<T: Float> $trait<&Tensor<T>> for Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<T>) -> Tensor<T> {
                Tensor::<T>::$method(&self, rhs)
            }
        }

        impl<T: Float> $trait<Tensor<T>> for Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: Tensor<T>) -> Tensor<T> {
                Tensor::<T>::$method(&self, &rhs)
            }
        }

        impl<T: Float> $trait<T> for &Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: T) -> Tensor<T> {
                self.$scalar_method(rhs)
            }
        }

        impl<T: Float> $trait<T> for Tensor<T> {
            type Output = Tensor<T>;
            #[track_caller]
            fn $method(self, rhs: T) -> Tensor<T> {
                self.$scalar_method(rhs)
            }
        }
    };
}

tensor_operator!(Add, add, add_scalar);
tensor_operator!(Sub, sub, sub_scalar);
tensor_operator!(Mul, mul, mul_scalar);
tensor_operator!(Div, div, div_scalar);

/// Implements `s ∘ tensor` for a concrete scalar type (Rust's orphan rule forbids a generic
/// `impl<T> Add<Tensor<T>> for T`). `$f` computes one element from the scalar and an element.
macro_rules! scalar_on_left {
    ($t:ty, $trait:ident, $method:ident, $f:expr) => {
        impl $trait<&Tensor<$t>> for $t {
            type Output = Tensor<$t>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<$t>) -> Tensor<$t> {
                let f: fn($t, $t) -> $t = $f;
                rhs.map(|x| f(self, x))
            }
        }

        impl $trait<Tensor<$t>> for $t {
            type Output = Tensor<$t>;
            #[track_caller]
            fn $method(self, rhs: Tensor<$t>) -> Tensor<$t> {
                <$t as $trait<&Tensor<$t>>>::$method(self, &rhs)
            }
        }
    };
}

macro_rules! scalar_on_left_all {
    ($($t:ty),*) => {$(
        scalar_on_left!($t, Add, add, |s, x| s + x);
        scalar_on_left!($t, Sub, sub, |s, x| s - x);
        scalar_on_left!($t, Mul, mul, |s, x| s * x);
        scalar_on_left!($t, Div, div, |s, x| s / x);
    )*};
}

scalar_on_left_all!(f32, f64);

impl<T: Float> Neg for &Tensor<T> {
    type Output = Tensor<T>;
    #[track_caller]
    fn neg(self) -> Tensor<T> {
        Tensor::<T>::neg(self)
    }
}

impl<T: Float> Neg for Tensor<T> {
    type Output = Tensor<T>;
    #[track_caller]
    fn neg(self) -> Tensor<T> {
        Tensor::<T>::neg(&self)
    }
}
