//! Reverse-mode differentiation: the topological walk and the gradient store.
//!
//! `backward` visits the graph once, from the output back to the leaves, in reverse topological
//! order (every node after all the nodes that use it), so by the time a node is visited its
//! gradient is complete: the sum of what every consumer sent it. The walk uses an explicit
//! stack, not recursion, so a chain of 10,000 ops is fine.

use std::collections::{HashMap, HashSet};

use tensor::{Float, Tensor};

use crate::mode::{GradModeGuard, is_anomaly_enabled};
use crate::var::{NodeId, Var};

/// Gradients from one backward pass, keyed by variable.
///
/// `backward` never changes the graph or the variables: each call returns a fresh store, so
/// calling it twice gives the same gradients twice and nothing accumulates behind your back.
/// To accumulate over micro-batches, add stores with [`Gradients::accumulate`].
///
/// By default the store keeps the gradients of leaves that require them (parameters and
/// inputs under study); intermediate gradients are freed as soon as they have been passed on.
/// [`Var::backward_retain_all`] keeps every node's gradient, for study and printing.
#[derive(Clone, Default)]
pub struct Gradients<T: Float> {
    map: HashMap<NodeId, Tensor<T>>,
}

impl<T: Float> Gradients<T> {
    /// An empty store.
    pub fn new() -> Self {
        Gradients { map: HashMap::new() }
    }

    /// The gradient of the final output with respect to `var`, if it received one.
    pub fn get(&self, var: &Var<T>) -> Option<&Tensor<T>> {
        self.map.get(&var.id())
    }

    /// The gradient with respect to `var`, or zeros of its shape if it received none
    /// (it does not influence the output).
    pub fn get_or_zeros(&self, var: &Var<T>) -> Tensor<T> {
        self.get(var).cloned().unwrap_or_else(|| Tensor::zeros(&var.shape()))
    }

    /// The gradient stored under a raw id.
    pub fn get_id(&self, id: NodeId) -> Option<&Tensor<T>> {
        self.map.get(&id)
    }

    /// Mutable access to the gradient of `var` (for in-place scaling such as clipping).
    pub fn get_mut(&mut self, var: &Var<T>) -> Option<&mut Tensor<T>> {
        self.map.get_mut(&var.id())
    }

    /// Sets the gradient of `var`, replacing any earlier one.
    pub fn insert(&mut self, var: &Var<T>, grad: Tensor<T>) {
        self.map.insert(var.id(), grad);
    }

    /// Removes and returns the gradient of `var`.
    pub fn remove(&mut self, var: &Var<T>) -> Option<Tensor<T>> {
        self.map.remove(&var.id())
    }

    /// Number of gradients held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no gradient is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Adds every gradient of `other` into this store (gradient accumulation over micro-batches).
    pub fn accumulate(&mut self, other: Gradients<T>) {
        for (id, g) in other.map {
            add_into(&mut self.map, id, g);
        }
    }

    /// Multiplies every gradient by `factor` (e.g. 1 / number of micro-batches, or clipping).
    pub fn scale(&mut self, factor: T) {
        for g in self.map.values_mut() {
            // In place: `data_mut` copies first only if `g` shares its storage.
            for x in g.data_mut() {
                *x *= factor;
            }
        }
    }
}

/// Adds `g` to the entry for `id`, or stores it if there is none: a node used several times
/// receives the sum of its gradients.
fn add_into<T: Float>(map: &mut HashMap<NodeId, Tensor<T>>, id: NodeId, g: Tensor<T>) {
    match map.get_mut(&id) {
        Some(acc) => {
            if acc.shape() == g.shape() {
                // In place: `data_mut` copies first only if `acc` shares its storage.
                let gs = g.contiguous();
                for (a, &b) in acc.data_mut().iter_mut().zip(gs.as_slice().expect("contiguous")) {
                    *a += b;
                }
            } else {
                *acc = acc.add(&g);
            }
        }
        None => {
            map.insert(id, g);
        }
    }
}

/// Every node reachable from `root` through inputs that require gradients, each after all of
/// its inputs (topological order). Iterative depth-first search with an explicit stack.
pub fn topological_order<T: Float>(root: &Var<T>) -> Vec<Var<T>> {
    let mut order = Vec::new();
    let mut visited: HashSet<NodeId> = HashSet::new();
    // (node, whether its inputs have been pushed already)
    let mut stack: Vec<(Var<T>, bool)> = vec![(root.clone(), false)];
    while let Some((var, expanded)) = stack.pop() {
        if expanded {
            order.push(var);
            continue;
        }
        if !visited.insert(var.id()) {
            continue;
        }
        stack.push((var.clone(), true));
        if let Some(op) = &var.0.op {
            for input in op.inputs.iter().rev() {
                if input.requires_grad() && !visited.contains(&input.id()) {
                    stack.push((input.clone(), false));
                }
            }
        }
    }
    order
}

impl<T: Float> Var<T> {
    /// Gradients of this scalar (one-element) value with respect to every leaf that requires one.
    ///
    /// # Panics
    /// If the value has more than one element (use [`Var::backward_with_grad`]) or does not
    /// require gradients.
    #[track_caller]
    pub fn backward(&self) -> Gradients<T> {
        if self.numel() != 1 {
            tensor::op_panic(
                "backward",
                format!(
                    "needs a one-element output, shape is {:?}; pass the output gradient with backward_with_grad",
                    self.shape()
                ),
            );
        }
        self.run_backward(Tensor::ones(&self.shape()), false)
    }

    /// Gradients when the output is not a scalar: `grad` is the gradient of some final scalar
    /// with respect to this value (vector-Jacobian product), with this value's shape.
    #[track_caller]
    pub fn backward_with_grad(&self, grad: &Tensor<T>) -> Gradients<T> {
        if grad.shape() != self.shape().as_slice() {
            tensor::op_panic(
                "backward_with_grad",
                format!("gradient shape {:?} differs from output shape {:?}", grad.shape(), self.shape()),
            );
        }
        self.run_backward(grad.clone(), false)
    }

    /// Like [`Var::backward`], but keeps the gradient of every node in the graph, intermediate
    /// ones included (for printing the tape or studying a graph).
    #[track_caller]
    pub fn backward_retain_all(&self) -> Gradients<T> {
        if self.numel() != 1 {
            tensor::op_panic("backward_retain_all", format!("needs a one-element output, shape is {:?}", self.shape()));
        }
        self.run_backward(Tensor::ones(&self.shape()), true)
    }

    #[track_caller]
    fn run_backward(&self, seed: Tensor<T>, retain_all: bool) -> Gradients<T> {
        if !self.requires_grad() {
            tensor::op_panic("backward", "the output does not require gradients: no parameter or input with requires_grad reached it (or it was computed under no_grad)".to_string());
        }
        // Backward closures compute with plain tensors, but nothing they do should be recorded.
        let _no_record = GradModeGuard::set(false);
        // Profiling hook (does nothing unless `profile::record` runs): closures are charged to
        // their ops' kinds, the rest to bookkeeping. Declared first so it is dropped last.
        let mut timer = crate::profile::BackwardTimer::begin();
        let order = topological_order(self);
        let mut grads: HashMap<NodeId, Tensor<T>> = HashMap::new();
        grads.insert(self.id(), seed);
        let mut kept: HashMap<NodeId, Tensor<T>> = HashMap::new();
        for var in order.iter().rev() {
            let Some(op) = &var.0.op else {
                // A leaf: its gradient is final.
                if let Some(g) = grads.remove(&var.id()) {
                    kept.insert(var.id(), g);
                }
                continue;
            };
            let Some(grad) = grads.remove(&var.id()) else { continue };
            let input_grads = timer.closure(op.name.kind(), || (op.backward)(&grad));
            if is_anomaly_enabled() {
                let input_shapes = || op.inputs.iter().map(|v| v.shape()).collect();
                crate::anomaly::check_backward(op.name.name(), &grad, &input_grads, input_shapes);
            }
            debug_assert_eq!(
                input_grads.len(),
                op.inputs.len(),
                "op '{}' returned the wrong number of gradients",
                op.name
            );
            for (input, g) in op.inputs.iter().zip(input_grads) {
                let Some(g) = g else { continue };
                if !input.requires_grad() {
                    continue;
                }
                if g.shape() != input.shape().as_slice() {
                    tensor::op_panic(
                        op.name.name(),
                        format!(
                            "backward produced a gradient of shape {:?} for an input of shape {:?}",
                            g.shape(),
                            input.shape()
                        ),
                    );
                }
                add_into(&mut grads, input.id(), g);
            }
            if retain_all {
                kept.insert(var.id(), grad);
            }
        }
        Gradients { map: kept }
    }
}
