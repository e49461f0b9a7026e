//! Tools to see backprop: print the graph behind a value as a tape, or draw it with Graphviz.
//!
//! - [`tape`] lists every node in the order forward computed it (and backward visits it in
//!   reverse): which op made it, from which nodes, with which shapes, and, once you have run
//!   backward, how large each gradient is.
//! - [`dot`] writes the same graph in Graphviz's DOT language, one box per value and one oval
//!   per op, like micrograd's `draw_dot` but for tensors.
//!
//! ```
//! use autograd::{Var, tape};
//! use tensor::Tensor;
//! let a = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])).labeled("a");
//! let b = Var::constant(Tensor::from_vec(vec![3.0, 4.0], &[2])).labeled("b");
//! let c = a.mul(&b).labeled("c");
//! let grads = c.backward_with_grad(&Tensor::ones(&[2]));
//! let printed = tape(&c).with_gradients(&grads).to_string();
//! assert!(printed.contains("mul"));
//! assert!(printed.contains("const"));
//! println!("{printed}");
//! ```
//!
//! Both read the graph through [`graph_nodes`]: the nodes backward visits
//! ([`crate::topological_order`]) plus the constants that feed them, which backward skips
//! because no gradient flows into them but which a picture of the computation should show.

mod dot;
mod tape;

use std::collections::HashSet;

use tensor::{Float, Tensor};

use crate::backward::topological_order;
use crate::var::Var;

pub use dot::{Dot, dot};
pub use tape::{NodeKind, Tape, TapeEntry, tape};

/// Every node `root` was computed from, `root` last, each after all of its inputs.
///
/// This is [`topological_order`] with the constant inputs (data, targets, detached values)
/// added, each right before the first op that reads it. Constants are always leaves (an op
/// whose inputs need no gradient records nothing), so inserting them cannot break the order.
pub fn graph_nodes<T: Float>(root: &Var<T>) -> Vec<Var<T>> {
    let order = topological_order(root);
    let mut seen = HashSet::with_capacity(order.len());
    let mut nodes = Vec::with_capacity(order.len());
    for var in order {
        for input in var.inputs() {
            if !input.requires_grad() && seen.insert(input.id()) {
                nodes.push(input);
            }
        }
        seen.insert(var.id());
        nodes.push(var);
    }
    nodes
}

/// The Euclidean (L2) norm of all elements, accumulated in f64.
pub(crate) fn l2_norm<T: Float>(t: &Tensor<T>) -> f64 {
    let mut sum = 0.0;
    t.for_each(|x| sum += x.to_f64() * x.to_f64());
    sum.sqrt()
}

/// A number in a short, readable form: fixed point for ordinary magnitudes, scientific for
/// very large or very small ones (so a tiny gradient doesn't print as 0.0000).
pub(crate) fn format_number(x: f64) -> String {
    let m = x.abs();
    if x == 0.0 || !x.is_finite() || (1e-3..1e5).contains(&m) { format!("{x:.4}") } else { format!("{x:.3e}") }
}

/// The elements of a small tensor (`2.0000`, or `[1.0000, -2.0000]`), or `None` when it holds
/// more than `max` elements.
pub(crate) fn format_small<T: Float>(t: &Tensor<T>, max: usize) -> Option<String> {
    if t.numel() > max {
        return None;
    }
    let values: Vec<String> = t.to_vec().into_iter().map(|x| format_number(x.to_f64())).collect();
    Some(if t.ndim() == 0 || t.numel() == 1 { values.join("") } else { format!("[{}]", values.join(", ")) })
}
