//! Graphviz export: draw the graph behind a value, one box per tensor and one oval per op.
//!
//! Render the text with `dot -Tsvg graph.dot -o graph.svg` (Graphviz), or paste it into any
//! online DOT viewer. Each value box shows its label (or tape index), shape, data (the values
//! themselves up to 4 elements, else their L2 norm) and, once gradients are attached, the
//! gradient the same way. Edges run input → op → output, so the picture reads as forward;
//! backward flows against the arrows.

use std::collections::HashMap;
use std::fmt;

use tensor::{Float, Tensor};

use super::tape::node_kind;
use super::{NodeKind, format_number, format_small, graph_nodes, l2_norm};
use crate::backward::Gradients;
use crate::var::{NodeId, Var};

/// Tensors with at most this many elements are drawn with their values, larger ones by norm.
const SHOWN_ELEMENTS: usize = 4;

struct DotNode {
    id: NodeId,
    kind: NodeKind,
    title: String,
    shape: Vec<usize>,
    data: String,
    grad: Option<String>,
    inputs: Vec<usize>,
}

/// A graph in Graphviz's DOT language; `Display` writes it.
///
/// Built by [`dot`]; [`Dot::with_gradients`] adds each node's gradient. Like
/// [`crate::Tape`], it is a snapshot that holds no reference to the graph.
///
/// ```
/// use autograd::{Var, dot};
/// use tensor::Tensor;
/// let w = Var::parameter(Tensor::<f64>::from_vec(vec![0.5, -1.0], &[2])).labeled("w");
/// let x = Var::constant(Tensor::from_vec(vec![2.0, 3.0], &[2])).labeled("x");
/// let loss = w.mul(&x).sum_all().labeled("loss");
/// let grads = loss.backward_retain_all();
/// let text = dot(&loss).with_gradients(&grads).to_string();
/// assert!(text.starts_with("digraph"));
/// assert!(text.contains("grad [2.0000, 3.0000]")); // d loss / dw = x
/// // Save it with std::fs::write("loss.dot", &text), then draw it: dot -Tsvg loss.dot -o loss.svg
/// ```
pub struct Dot {
    nodes: Vec<DotNode>,
    top_to_bottom: bool,
}

/// The DOT graph of every node `root` was computed from (see [`Dot`]).
pub fn dot<T: Float>(root: &Var<T>) -> Dot {
    let vars = graph_nodes(root);
    let index: HashMap<NodeId, usize> = vars.iter().enumerate().map(|(i, v)| (v.id(), i)).collect();
    let nodes = vars
        .iter()
        .enumerate()
        .map(|(i, var)| DotNode {
            id: var.id(),
            kind: node_kind(var),
            title: var.label().unwrap_or_else(|| format!("#{i}")),
            shape: var.shape(),
            data: describe(&var.value_ref()),
            grad: None,
            inputs: var.inputs().iter().map(|v| index[&v.id()]).collect(),
        })
        .collect();
    Dot { nodes, top_to_bottom: false }
}

/// The values of a small tensor, or `norm <L2 norm>` for a larger one.
fn describe<T: Float>(t: &Tensor<T>) -> String {
    format_small(t, SHOWN_ELEMENTS).unwrap_or_else(|| format!("norm {}", format_number(l2_norm(t))))
}

impl Dot {
    /// Adds each node's gradient found in `grads` (use [`Var::backward_retain_all`] to have
    /// one for every node, not only the leaves).
    pub fn with_gradients<T: Float>(mut self, grads: &Gradients<T>) -> Self {
        for n in &mut self.nodes {
            n.grad = Some(grads.get_id(n.id).map_or_else(|| "none".to_string(), describe));
        }
        self
    }

    /// Lays the graph out from top to bottom (inputs above, the root below) instead of from left
    /// to right: taller and narrower, so a graph of a dozen nodes fits the width of a page. Each
    /// value box then lists its fields one under the other.
    ///
    /// ```
    /// use autograd::{Var, dot};
    /// use tensor::Tensor;
    /// let y = Var::parameter(Tensor::<f64>::scalar(2.0)).labeled("x").tanh();
    /// assert!(dot(&y).to_string().contains("rankdir=LR;"));
    /// assert!(dot(&y).top_to_bottom().to_string().contains("rankdir=TB;"));
    /// ```
    pub fn top_to_bottom(mut self) -> Self {
        self.top_to_bottom = true;
        self
    }
}

/// Escapes text for a field of a `record` label: the characters that structure records
/// (`{ } | < >`), plus quotes, backslashes and line breaks, which end or break the string.
fn escape_record(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '{' | '}' | '|' | '<' | '>' | '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => {}
            _ => out.push(c),
        }
    }
    out
}

/// Escapes text for a plain quoted DOT string.
fn escape_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\r', "")
}

impl fmt::Display for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "digraph autograd {{")?;
        writeln!(f, "  rankdir={};", if self.top_to_bottom { "TB" } else { "LR" })?;
        writeln!(f, "  node [fontname=\"monospace\"];")?;
        for (i, n) in self.nodes.iter().enumerate() {
            let mut fields = vec![escape_record(&n.title), escape_record(&format!("shape {:?}", n.shape))];
            fields.push(escape_record(&format!("data {}", n.data)));
            // Constants never receive a gradient: no grad field rather than a useless `none`.
            if let (Some(g), false) = (&n.grad, n.kind == NodeKind::Const) {
                fields.push(escape_record(&format!("grad {g}")));
            }
            // Parameters bold, constants dashed: gradients reach the former, never the latter.
            let style = match n.kind {
                NodeKind::Param => ", style=bold",
                NodeKind::Const => ", style=dashed",
                NodeKind::Op(_) => "",
            };
            writeln!(f, "  v{i} [shape=record{style}, label=\"{{ {} }}\"];", fields.join(" | "))?;
            if let NodeKind::Op(name) = &n.kind {
                writeln!(f, "  op{i} [shape=ellipse, label=\"{}\"];", escape_string(name))?;
                // Number the edges when argument order matters to the reader (sub, div, matmul).
                let numbered = n.inputs.len() > 1;
                for (k, input) in n.inputs.iter().enumerate() {
                    if numbered {
                        writeln!(f, "  v{input} -> op{i} [label=\"{k}\"];")?;
                    } else {
                        writeln!(f, "  v{input} -> op{i};")?;
                    }
                }
                writeln!(f, "  op{i} -> v{i};")?;
            }
        }
        writeln!(f, "}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the layout line differs between the two directions: nodes, labels and edges are the same.
    #[test]
    fn top_to_bottom_changes_only_the_rank_direction() {
        let x = Var::parameter(Tensor::<f64>::scalar(0.5)).labeled("x");
        let y = x.mul(&x).labeled("y");
        let grads = y.backward_retain_all();
        let across = dot(&y).with_gradients(&grads).to_string();
        let down = dot(&y).with_gradients(&grads).top_to_bottom().to_string();
        assert_eq!(across.replace("rankdir=LR;", "rankdir=TB;"), down);
        assert_eq!(down.matches("rankdir").count(), 1);
        assert!(down.contains("{ y | shape [] | data 0.2500 | grad 1.0000 }"), "{down}");
    }
}
