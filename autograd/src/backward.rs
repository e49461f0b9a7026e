//! Reverse-mode differentiation: the topological walk and the gradient store.
//!
//! `backward` visits the graph once, from the output back to the leaves, in reverse topological
//! order (every node after all the nodes that use it), so by the time a node is visited its
//! gradient is complete: the sum of what every consumer sent it. The walk uses an explicit
//! stack, not recursion, so a chain of 10,000 ops is fine.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use tensor::{Float, Tensor};

use crate::mode::{GradModeGuard, is_anomaly_enabled, is_grad_enabled, with_anomaly};
use crate::var::{Backward, BackwardArgs, NodeId, OpRecord, TwinFn, Var};

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
        Some(acc) => add_in_place(acc, &g),
        None => {
            map.insert(id, g);
        }
    }
}

/// `acc += g`, in place when the shapes agree (`data_mut` copies first only if `acc` shares its
/// storage).
fn add_in_place<T: Float>(acc: &mut Tensor<T>, g: &Tensor<T>) {
    if acc.shape() == g.shape() {
        let gs = g.contiguous();
        for (a, &b) in acc.data_mut().iter_mut().zip(gs.as_slice().expect("contiguous")) {
            *a += b;
        }
    } else {
        *acc = acc.add(g);
    }
}

/// The sum of two gradients of one node. With a graph being built (`create_graph`) it is a
/// recorded `add`; otherwise a plain sum, in place when nothing else holds `acc`.
fn sum_grads<T: Float>(acc: Var<T>, g: &Var<T>) -> Var<T> {
    if is_grad_enabled() {
        return acc.add(g);
    }
    if Rc::strong_count(&acc.0) == 1 && acc.is_leaf() {
        add_in_place(&mut acc.0.value.borrow_mut(), &g.value_ref());
        return acc;
    }
    Var::constant(acc.value_ref().add(&g.value_ref()))
}

/// Every node reachable from `root` through inputs that require gradients, each after all of
/// its inputs (topological order). Iterative depth-first search with an explicit stack.
pub fn topological_order<T: Float>(root: &Var<T>) -> Vec<Var<T>> {
    topological_order_of(std::slice::from_ref(root), None)
}

/// [`topological_order`] of every node reachable from any of `roots`, not looking past the
/// nodes in `frontier` (their inputs are not visited unless reached another way).
fn topological_order_of<T: Float>(roots: &[Var<T>], frontier: Option<&HashSet<NodeId>>) -> Vec<Var<T>> {
    let mut order = Vec::new();
    let mut visited: HashSet<NodeId> = HashSet::new();
    // (node, whether its inputs have been pushed already)
    let mut stack: Vec<(Var<T>, bool)> = roots.iter().rev().map(|r| (r.clone(), false)).collect();
    while let Some((var, expanded)) = stack.pop() {
        if expanded {
            order.push(var);
            continue;
        }
        if !visited.insert(var.id()) {
            continue;
        }
        stack.push((var.clone(), true));
        if frontier.is_some_and(|f| f.contains(&var.id())) {
            continue;
        }
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

/// Which gradients a backward pass hands back.
enum Keep {
    /// Leaves' (parameters and inputs under study): [`Var::backward`].
    Leaves,
    /// Every node's: [`Var::backward_retain_all`].
    All,
    /// These nodes', whether leaves or not: [`grad`]. The walk runs only the backwards that lead
    /// to one of them.
    Only(HashSet<NodeId>),
    /// These nodes', treated as the edge of the graph: the walk does not look past them. For a
    /// fused op's twin, whose stand-in inputs are the edge (see [`twin_gradients`]).
    Frontier(HashSet<NodeId>),
}

impl Keep {
    fn wants<T: Float>(&self, var: &Var<T>) -> bool {
        match self {
            Keep::Leaves => var.is_leaf(),
            Keep::All => true,
            Keep::Only(ids) | Keep::Frontier(ids) => ids.contains(&var.id()),
        }
    }

    /// The nodes whose gradients are asked for, when only some are.
    fn targets(&self) -> Option<&HashSet<NodeId>> {
        match self {
            Keep::Leaves | Keep::All => None,
            Keep::Only(ids) | Keep::Frontier(ids) => Some(ids),
        }
    }
}

/// The nodes of `order` (inputs before consumers) from which one of `targets` can be reached: a
/// target itself, or a node with such an input. Only their backwards need to run; the rest of
/// the graph (everything behind the targets) is left alone, as PyTorch's `autograd.grad` does.
fn leading_to<T: Float>(order: &[Var<T>], targets: &HashSet<NodeId>) -> HashSet<NodeId> {
    let mut needed = HashSet::new();
    for var in order {
        let leads = targets.contains(&var.id())
            || var.0.op.as_ref().is_some_and(|op| op.inputs.iter().any(|i| needed.contains(&i.id())));
        if leads {
            needed.insert(var.id());
        }
    }
    needed
}

/// The backward pass. Seeds each root with its gradient, then visits every node once, from the
/// roots back to the leaves, so that a node's gradient is complete (the sum over its uses) when
/// its turn comes: its hooks see it, then its op's backward sends it on to the op's inputs.
///
/// With `create_graph`, recording stays on, so every gradient is itself a recorded `Var` that
/// can be differentiated again; without it, recording is off and gradients are plain values.
#[track_caller]
fn run_backward<T: Float>(roots: &[(Var<T>, Var<T>)], create_graph: bool, keep: &Keep) -> HashMap<NodeId, Var<T>> {
    for (root, _) in roots {
        if !root.requires_grad() {
            tensor::op_panic("backward", "the output does not require gradients: no parameter or input with requires_grad reached it (or it was computed under no_grad)".to_string());
        }
    }
    let _mode = GradModeGuard::set(create_graph);
    // Profiling hook (does nothing unless `profile::record` runs): closures are charged to
    // their ops' kinds, the rest to bookkeeping. Declared first so it is dropped last.
    let mut timer = crate::profile::BackwardTimer::begin();
    let frontier = match keep {
        Keep::Frontier(ids) => Some(ids),
        _ => None,
    };
    let order = topological_order_of(&roots.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(), frontier);
    // With only some gradients wanted, the backwards that cannot reach them are skipped.
    let needed = keep.targets().map(|targets| leading_to(&order, targets));
    let is_needed = |id: &NodeId| needed.as_ref().is_none_or(|n| n.contains(id));
    let mut grads: HashMap<NodeId, Var<T>> = HashMap::new();
    for (root, seed) in roots {
        accumulate(&mut grads, root.id(), seed.clone());
    }
    let mut kept: HashMap<NodeId, Var<T>> = HashMap::new();
    for var in order.iter().rev() {
        let Some(grad) = grads.remove(&var.id()) else { continue };
        let grad = run_hooks(var, grad);
        if keep.wants(var) {
            kept.insert(var.id(), grad.clone());
        }
        let Some(op) = &var.0.op else { continue };
        if !op.inputs.iter().any(|i| is_needed(&i.id())) {
            continue;
        }
        let input_grads = timer.closure(op.name.kind(), || {
            // A first-order backward's ops make plain values: anomalies are checked in what it returns.
            with_anomaly(create_graph && is_anomaly_enabled(), || call_backward(op, var, &grad, create_graph))
        });
        if is_anomaly_enabled() {
            let values: Vec<Option<Tensor<T>>> = input_grads.iter().map(|g| g.as_ref().map(Var::value)).collect();
            let input_shapes = || op.inputs.iter().map(|v| v.shape()).collect();
            crate::anomaly::check_backward(op.name.name(), &grad.value_ref(), &values, input_shapes);
        }
        debug_assert_eq!(input_grads.len(), op.inputs.len(), "op '{}' returned the wrong number of gradients", op.name);
        for (input, g) in op.inputs.iter().zip(input_grads) {
            let Some(g) = g else { continue };
            if !input.requires_grad() || !is_needed(&input.id()) {
                continue;
            }
            if g.shape() != input.shape() {
                tensor::op_panic(
                    op.name.name(),
                    format!(
                        "backward produced a gradient of shape {:?} for an input of shape {:?}",
                        g.shape(),
                        input.shape()
                    ),
                );
            }
            accumulate(&mut grads, input.id(), g);
        }
    }
    kept
}

/// Adds `g` to the gradient held for `id`, or holds it if there is none.
fn accumulate<T: Float>(grads: &mut HashMap<NodeId, Var<T>>, id: NodeId, g: Var<T>) {
    let sum = match grads.remove(&id) {
        Some(acc) => sum_grads(acc, &g),
        None => g,
    };
    grads.insert(id, sum);
}

/// `var`'s gradient after its hooks (see [`Var::register_hook`]), each given the last one's result.
#[track_caller]
fn run_hooks<T: Float>(var: &Var<T>, grad: Var<T>) -> Var<T> {
    // Cloned out (cheap `Rc`s), so a hook may register further hooks without a borrow conflict.
    let hooks = var.0.hooks.borrow().clone();
    hooks.iter().fold(grad, |g, (_, hook)| match hook(&g) {
        Some(replaced) if replaced.shape() != g.shape() => tensor::op_panic(
            "register_hook",
            format!("a hook replaced a gradient of shape {:?} with one of shape {:?}", g.shape(), replaced.shape()),
        ),
        Some(replaced) => replaced,
        None => g,
    })
}

/// Runs one op's backward in the form it was recorded with.
#[track_caller]
fn call_backward<T: Float>(
    op: &OpRecord<T>,
    output: &Var<T>,
    grad: &Var<T>,
    create_graph: bool,
) -> Vec<Option<Var<T>>> {
    let constants = |gs: Vec<Option<Tensor<T>>>| gs.into_iter().map(|g| g.map(Var::constant)).collect();
    match &op.backward {
        Backward::Differentiable(f) => f(&BackwardArgs { grad, inputs: &op.inputs, output }),
        Backward::Fused { fast, .. } if !create_graph => constants(fast(&grad.value_ref())),
        Backward::Fused { twin, .. } => twin_gradients(twin, &op.inputs, grad),
        Backward::FirstOrder(_) if create_graph => tensor::op_panic(
            op.name.name(),
            "has a first-order backward only (Var::from_op or a Function): gradients of its gradient need a backward written with Var ops (Var::from_differentiable_op)".to_string(),
        ),
        Backward::FirstOrder(f) => constants(f(&grad.value_ref())),
    }
}

/// A fused op's backward with `create_graph`: its forward rebuilt with primitives (the twin) and
/// differentiated, with the graph kept, so the gradients can be differentiated again.
///
/// The twin is built on one stand-in per input slot (an identity op), and the walk stops at the
/// stand-ins. That gives each slot its own partial derivative, as a backward must: the same node
/// may fill two slots (`x.attention(&x, &x, None)`), and the outer walk adds the slots' shares
/// itself. It also keeps the walk from running on into the graph behind the inputs.
#[track_caller]
fn twin_gradients<T: Float>(twin: &TwinFn<T>, inputs: &[Var<T>], grad: &Var<T>) -> Vec<Option<Var<T>>> {
    let slots: Vec<Var<T>> = inputs.iter().map(stand_in).collect();
    let y = twin(&slots);
    if !y.requires_grad() {
        return vec![None; inputs.len()];
    }
    let edge = Keep::Frontier(slots.iter().map(Var::id).collect());
    let kept = run_backward(&[(y, grad.clone())], true, &edge);
    slots.iter().map(|s| kept.get(&s.id()).cloned()).collect()
}

/// `x` itself, as a new node (an identity op) standing in for one input slot of a fused op.
fn stand_in<T: Float>(x: &Var<T>) -> Var<T> {
    let value = x.value();
    Var::from_differentiable_op("twin_input", value, &[x], |a| vec![Some(a.grad.clone())])
}

/// Gradients of `outputs` with respect to `inputs`, as variables: the analogue of PyTorch's
/// `torch.autograd.grad(outputs, inputs, create_graph=...)`. Each output must have one element;
/// their gradients are summed. An input that does not influence the outputs gets `None`.
///
/// With `create_graph`, the backward pass is recorded: the gradients are connected to the
/// inputs and can be used in a new loss and differentiated again, to any order. Without it they
/// are plain values, as from [`Var::backward`].
///
/// ```
/// use autograd::{Var, grad};
/// use tensor::Tensor;
/// let x = Var::parameter(Tensor::<f64>::scalar(0.5));
/// let y = x.tanh();
/// let dy = grad(&[&y], &[&x], true)[0].clone().unwrap(); // 1 - tanh^2
/// let d2y = grad(&[&dy], &[&x], false)[0].clone().unwrap(); // -2 tanh (1 - tanh^2)
/// let t = 0.5f64.tanh();
/// assert!((dy.value().item() - (1.0 - t * t)).abs() < 1e-15);
/// assert!((d2y.value().item() + 2.0 * t * (1.0 - t * t)).abs() < 1e-15);
/// ```
#[track_caller]
pub fn grad<T: Float>(outputs: &[&Var<T>], inputs: &[&Var<T>], create_graph: bool) -> Vec<Option<Var<T>>> {
    let seeds: Vec<Var<T>> = outputs
        .iter()
        .map(|y| {
            if y.numel() != 1 {
                tensor::op_panic(
                    "grad",
                    format!(
                        "needs one-element outputs, shape is {:?}; pass output gradients with grad_with",
                        y.shape()
                    ),
                );
            }
            Var::constant(Tensor::ones(&y.shape()))
        })
        .collect();
    grad_with(outputs, &seeds.iter().collect::<Vec<_>>(), inputs, create_graph)
}

/// [`grad`] for outputs of any shape: `grad_outputs[i]` is the gradient of some final scalar
/// with respect to `outputs[i]` (same shape), so the result is a vector-Jacobian product. A
/// `grad_outputs` entry that is itself in the graph (requires gradients) makes the result depend
/// on it too, which is how [`crate::functional::jvp`] is built.
#[track_caller]
pub fn grad_with<T: Float>(
    outputs: &[&Var<T>],
    grad_outputs: &[&Var<T>],
    inputs: &[&Var<T>],
    create_graph: bool,
) -> Vec<Option<Var<T>>> {
    if outputs.len() != grad_outputs.len() {
        tensor::op_panic("grad_with", format!("{} outputs but {} output gradients", outputs.len(), grad_outputs.len()));
    }
    for (y, g) in outputs.iter().zip(grad_outputs) {
        if y.shape() != g.shape() {
            tensor::op_panic(
                "grad_with",
                format!("output gradient shape {:?} differs from output shape {:?}", g.shape(), y.shape()),
            );
        }
    }
    let roots: Vec<(Var<T>, Var<T>)> =
        outputs.iter().zip(grad_outputs).map(|(y, g)| ((*y).clone(), (*g).clone())).collect();
    let keep = Keep::Only(inputs.iter().map(|v| v.id()).collect());
    let kept = run_backward(&roots, create_graph, &keep);
    inputs.iter().map(|v| kept.get(&v.id()).cloned()).collect()
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
        self.leaf_gradients(Tensor::ones(&self.shape()), &Keep::Leaves)
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
        self.leaf_gradients(grad.clone(), &Keep::Leaves)
    }

    /// Like [`Var::backward`], but keeps the gradient of every node in the graph, intermediate
    /// ones included (for printing the tape or studying a graph).
    #[track_caller]
    pub fn backward_retain_all(&self) -> Gradients<T> {
        if self.numel() != 1 {
            tensor::op_panic("backward_retain_all", format!("needs a one-element output, shape is {:?}", self.shape()));
        }
        self.leaf_gradients(Tensor::ones(&self.shape()), &Keep::All)
    }

    /// One first-order backward pass from this output, seeded with `seed`, as a gradient store.
    #[track_caller]
    fn leaf_gradients(&self, seed: Tensor<T>, keep: &Keep) -> Gradients<T> {
        let kept = run_backward(&[(self.clone(), Var::constant(seed))], false, keep);
        // Each store entry is the only handle left to its tensor once the `Var` is dropped.
        Gradients { map: kept.into_iter().map(|(id, g)| (id, g.value())).collect() }
    }
}
