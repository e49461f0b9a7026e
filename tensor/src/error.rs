//! How the crate reports misuse.
//!
//! Shapes that don't fit together are programming errors: they panic at the caller's line
//! (every public op is `#[track_caller]`) with the op's name and the shapes involved, as PyTorch
//! and ndarray do; a layer or model built on the ops names itself instead ([`layer_panic`]).
//! Data from outside (a `Vec` whose length doesn't match a shape) can instead go through `try_`
//! constructors that return a [`ShapeError`].

use std::fmt;

/// Panics with a message naming the op: `tensor op 'matmul': ...`.
#[track_caller]
pub fn op_panic(op: &str, detail: String) -> ! {
    panic!("tensor op '{op}': {detail}")
}

/// Panics with a message naming the layer or model that refuses its input: `layer 'Gpt': ...`.
///
/// For layers built from ops (a linear layer, an embedding, a whole model, its caches), so the
/// message names what the caller called rather than an op inside it.
#[track_caller]
pub fn layer_panic(layer: &str, detail: String) -> ! {
    panic!("layer '{layer}': {detail}")
}

/// A data length that does not match the requested shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    /// The shape asked for.
    pub shape: Vec<usize>,
    /// The number of elements the shape needs.
    pub expected: usize,
    /// The number of elements supplied.
    pub found: usize,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shape {:?} needs {} elements but {} were given", self.shape, self.expected, self.found)
    }
}

impl std::error::Error for ShapeError {}
