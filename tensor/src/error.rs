//! How the crate reports misuse.
//!
//! Shapes that don't fit together are programming errors: they panic at the caller's line
//! (every public op is `#[track_caller]`) with the op's name and the shapes involved, as PyTorch
//! and ndarray do. Data from outside (a `Vec` whose length doesn't match a shape) can instead go
//! through `try_` constructors that return a [`ShapeError`].

use std::fmt;

/// Panics with a message naming the op: `tensor op 'matmul': ...`.
#[track_caller]
pub fn op_panic(op: &str, detail: String) -> ! {
    panic!("tensor op '{op}': {detail}")
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
