//! Anomaly detection: name the first op that produces a NaN or infinity, forward or backward.
//!
//! The checks see plain tensors and the inputs' shapes, never the graph's nodes, so this module
//! depends on nothing else in the engine (the engine calls it, not the other way round).

use tensor::{Float, Tensor};

fn first_non_finite<T: Float>(t: &Tensor<T>) -> Option<T> {
    let mut bad = None;
    t.for_each(|x| {
        if bad.is_none() && !x.is_finite() {
            bad = Some(x);
        }
    });
    bad
}

fn shape_list(shapes: &[Vec<usize>]) -> String {
    shapes.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
}

/// Panics if an op's forward output holds a NaN or infinity; `input_shapes` name its inputs
/// (computed only when there is something to report).
#[track_caller]
pub(crate) fn check_forward<T: Float>(name: &str, value: &Tensor<T>, input_shapes: impl FnOnce() -> Vec<Vec<usize>>) {
    if let Some(x) = first_non_finite(value) {
        panic!(
            "anomaly detected: forward of op '{name}' produced {x} (output shape {:?}, input shapes [{}])",
            value.shape(),
            shape_list(&input_shapes())
        );
    }
}

/// Panics if the gradient arriving at an op's output, or one it sends to an input, holds a NaN
/// or infinity.
pub(crate) fn check_backward<T: Float>(
    name: &str,
    incoming: &Tensor<T>,
    produced: &[Option<Tensor<T>>],
    input_shapes: impl Fn() -> Vec<Vec<usize>>,
) {
    let shapes = || shape_list(&input_shapes());
    if let Some(x) = first_non_finite(incoming) {
        panic!(
            "anomaly detected: backward of op '{name}' received a gradient containing {x} (gradient shape {:?}, input shapes [{}])",
            incoming.shape(),
            shapes()
        );
    }
    for (k, g) in produced.iter().enumerate() {
        if let Some(x) = g.as_ref().and_then(first_non_finite) {
            panic!(
                "anomaly detected: backward of op '{name}' produced {x} in the gradient of input {k} (input shapes [{}])",
                shapes()
            );
        }
    }
}
