//! An n-dimensional strided tensor for studying and training neural networks on a CPU.
//!
//! A [`Tensor`] is a [`Layout`] (shape, strides and offset, in elements) over reference-counted
//! storage. Views — [`reshape`](Tensor::reshape), [`permute`](Tensor::permute),
//! [`transpose`](Tensor::transpose), [`narrow`](Tensor::narrow), [`broadcast_to`](Tensor::broadcast_to)
//! — return a new layout over the same storage and never copy. Elementwise ops broadcast as NumPy
//! and PyTorch do; reductions take several axes and `keepdim`; [`matmul`](Tensor::matmul) hands
//! strided operands straight to the project's packed GEMM ([`gemm`]) and runs batches and row blocks on rayon.
//!
//! Everything is generic over [`Float`], implemented for `f32` and `f64`.
//!
//! ```
//! use tensor::Tensor;
//! let x = Tensor::<f32>::arange(0.0, 6.0, 1.0).reshape(&[2, 3]);
//! let w = Tensor::<f32>::ones(&[2, 3]);
//! let y = x.matmul(&w.mt()); // (2, 3) @ (3, 2): the transpose is a view, passed as strides
//! assert_eq!(y.to_vec(), vec![3.0, 3.0, 12.0, 12.0]);
//! ```
//!
//! Misuse (shapes that don't fit) panics with the op's name and the shapes, at the caller's line.

// Every `unsafe` block and impl says why it is sound, in a `SAFETY:` comment the lint checks.
#![deny(clippy::undocumented_unsafe_blocks)]

mod element;
mod error;
mod fast_erf;
mod fast_exp;
pub mod gemm;
mod lanes;
mod layout;
mod map;
mod random;
mod tensor;
mod view;

mod attention;
mod binary;
mod compare;
mod display;
mod gelu;
mod index;
mod layer_norm;
mod matmul;
mod ops_traits;
pub mod parallel;
mod reduce;
mod softmax;
mod unary;

pub use compare::assert_allclose;
pub use element::Float;
pub use error::{ShapeError, layer_panic, op_panic};
pub use gelu::{GELU_CUBIC, SQRT_2_OVER_PI, gelu_erf_scalar};
pub use layer_norm::LayerNormStats;
pub use layout::{
    Layout, broadcast_shape, contiguous_strides, for_each_offsets, normalize_axes, normalize_axis, unravel_index,
};
pub use random::{TensorRng, rng_from_seed, standard_normal};
pub use tensor::Tensor;
