//! The primitive ops. Each file holds a few related ops, and each op's backward sits right under
//! its forward: reading one function teaches how that op backpropagates.
//!
//! Conventions:
//! - `g` is the gradient of the final scalar with respect to the op's output (same shape).
//! - Backward closures capture the tensors they need (cheap `Arc` clones), never `Var`s.
//! - Broadcasting is honest: an input that was broadcast gets its gradient summed back to its
//!   own shape with [`tensor::Tensor::sum_to_shape`] ("expand backward is sum").

mod arith;
mod attention;
mod dropout;
mod index;
mod join;
mod layer_norm;
pub(crate) mod loss;
mod matmul;
mod pointwise;
mod reduce;
mod shape;
mod softmax;
