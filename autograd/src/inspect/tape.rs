//! The tape: the graph behind a value, one line per node, in the order forward computed it.
//!
//! Reading it top to bottom replays the forward pass; reading it bottom to top is the order in
//! which backward visits the nodes, each after every node that used it.

use std::collections::HashMap;
use std::fmt;

use tensor::Float;

use super::{format_number, graph_nodes, l2_norm};
use crate::backward::Gradients;
use crate::var::{NodeId, Var};

/// What made a node: the user (a parameter or a constant) or an op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A leaf that requires a gradient (a trainable parameter or an input under study).
    Param,
    /// A value that needs no gradient: data, targets, or the result of `detach` / `no_grad`.
    Const,
    /// The output of the named op.
    Op(String),
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeKind::Param => f.write_str("param"),
            NodeKind::Const => f.write_str("const"),
            NodeKind::Op(name) => f.write_str(name),
        }
    }
}

/// One line of a [`Tape`].
#[derive(Clone, Debug)]
pub struct TapeEntry {
    /// Position on the tape (the other entries refer to this node by it).
    pub index: usize,
    /// The node's identity (keys [`Gradients`]).
    pub id: NodeId,
    /// Parameter, constant, or the op that made it.
    pub kind: NodeKind,
    /// The label set with [`Var::set_label`], if any.
    pub label: Option<String>,
    /// Tape indices of the op's inputs, in argument order (empty for leaves). A node used twice
    /// by one op (`a + a`) appears twice.
    pub inputs: Vec<usize>,
    /// Shapes of the op's inputs, in the same order.
    pub input_shapes: Vec<Vec<usize>>,
    /// Shape of the node's value.
    pub shape: Vec<usize>,
    /// L2 norm of the node's gradient, when the tape was given gradients that hold one.
    pub grad_norm: Option<f64>,
}

/// The graph behind a value as a list of nodes in topological order; `Display` prints a table.
///
/// Built by [`tape`]; [`Tape::with_gradients`] adds the gradient norms from a backward pass.
/// The tape is a snapshot: it holds no reference to the graph, so it can outlive it.
///
/// ```
/// use autograd::{Var, tape};
/// use tensor::Tensor;
/// let x = Var::parameter(Tensor::<f64>::from_vec(vec![3.0], &[1])).labeled("x");
/// let y = x.mul(&x).add_scalar(1.0).labeled("y"); // y = x^2 + 1
/// let grads = y.backward_retain_all();
/// let t = tape(&y).with_gradients(&grads);
/// assert_eq!(t.len(), 3); // x, x*x, +1
/// assert_eq!(t.entries()[1].inputs, vec![0, 0]); // mul reads x twice
/// assert_eq!(t.entries()[0].grad_norm, Some(6.0)); // dy/dx = 2x
/// print!("{t}");
/// ```
#[derive(Clone, Debug)]
pub struct Tape {
    entries: Vec<TapeEntry>,
    has_gradients: bool,
}

/// The tape of every node `root` was computed from (see [`Tape`]).
pub fn tape<T: Float>(root: &Var<T>) -> Tape {
    let nodes = graph_nodes(root);
    let index: HashMap<NodeId, usize> = nodes.iter().enumerate().map(|(i, v)| (v.id(), i)).collect();
    let entries = nodes
        .iter()
        .enumerate()
        .map(|(i, var)| {
            let inputs = var.inputs();
            TapeEntry {
                index: i,
                id: var.id(),
                kind: node_kind(var),
                label: var.label(),
                inputs: inputs.iter().map(|v| index[&v.id()]).collect(),
                input_shapes: inputs.iter().map(|v| v.shape()).collect(),
                shape: var.shape(),
                grad_norm: None,
            }
        })
        .collect();
    Tape { entries, has_gradients: false }
}

pub(crate) fn node_kind<T: Float>(var: &Var<T>) -> NodeKind {
    match var.op_name() {
        Some(name) => NodeKind::Op(name.to_string()),
        None if var.requires_grad() => NodeKind::Param,
        None => NodeKind::Const,
    }
}

impl Tape {
    /// Adds the L2 norm of each node's gradient found in `grads`. [`Var::backward`] keeps only
    /// the leaves' gradients; use [`Var::backward_retain_all`] to see every node's.
    pub fn with_gradients<T: Float>(mut self, grads: &Gradients<T>) -> Self {
        for e in &mut self.entries {
            e.grad_norm = grads.get_id(e.id).map(l2_norm);
        }
        self.has_gradients = true;
        self
    }

    /// The entries, inputs before the nodes that use them; the last one is the root.
    pub fn entries(&self) -> &[TapeEntry] {
        &self.entries
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for an empty tape (never the case for a tape built by [`tape`]).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn list<I: IntoIterator<Item = String>>(items: I) -> String {
    let v: Vec<String> = items.into_iter().collect();
    if v.is_empty() { "-".to_string() } else { v.join(", ") }
}

impl fmt::Display for Tape {
    /// One row per node: `#`, label, op, input indices, input shapes, output shape, and the
    /// gradient's norm (`-` where the gradients hold none) when gradients were given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rows: Vec<[String; 7]> = vec![[
            "#".into(),
            "label".into(),
            "op".into(),
            "inputs".into(),
            "input shapes".into(),
            "shape".into(),
            "|grad|".into(),
        ]];
        for e in &self.entries {
            rows.push([
                e.index.to_string(),
                e.label.clone().unwrap_or_else(|| "-".into()),
                e.kind.to_string(),
                list(e.inputs.iter().map(|i| i.to_string())),
                list(e.input_shapes.iter().map(|s| format!("{s:?}"))),
                format!("{:?}", e.shape),
                e.grad_norm.map_or_else(|| "-".into(), format_number),
            ]);
        }
        let columns = if self.has_gradients { 7 } else { 6 };
        let widths: Vec<usize> =
            (0..columns).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        for row in &rows {
            let mut line = String::new();
            for c in 0..columns {
                let cell = &row[c];
                let pad = widths[c] - cell.chars().count();
                // Numbers right-aligned, text left-aligned.
                if c == 0 || c == 6 {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad));
                }
                if c + 1 < columns {
                    line.push_str("  ");
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}
