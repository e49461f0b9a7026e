//! [`Var`]: a tensor in the computation graph.
//!
//! A `Var` is a cheap handle (`Rc`) to a node holding a value and, when the value was computed
//! from inputs that need gradients, the op that made it: its name, its inputs, and a closure that
//! turns the gradient of the output into gradients of the inputs. Leaves are values made by the
//! user; a leaf that needs gradients is a *parameter*.
//!
//! The graph is freed when the last `Var` referring to it is dropped. Parameters are leaves, so they
//! outlive every graph built from them: each training step builds a fresh graph and drops it.

use std::cell::{Cell, Ref, RefCell};
use std::fmt;
use std::rc::Rc;

use tensor::{Float, Tensor};

use crate::mode::{is_anomaly_enabled, is_grad_enabled};
use crate::op_name::OpName;

/// A first-order backward, on plain tensors: given the gradient of the op's output, the gradient
/// of each input (`None` where an input gets none, e.g. it does not require gradients). This is
/// the form [`Var::from_op`] takes; its gradients cannot be differentiated again.
pub type BackwardFn<T> = Box<dyn Fn(&Tensor<T>) -> Vec<Option<Tensor<T>>>>;

/// A differentiable backward, on variables (see [`Var::from_differentiable_op`]): written with
/// `Var` ops, so that with `create_graph` the gradients it returns are themselves in the graph.
pub type DifferentiableBackwardFn<T> = Box<dyn Fn(&BackwardArgs<'_, T>) -> Vec<Option<Var<T>>>>;

/// A fused op's composed-from-primitives twin: its forward, rebuilt from the inputs with
/// primitives whose backwards are differentiable (see [`Var::from_fused_op`]).
pub type TwinFn<T> = Box<dyn Fn(&[Var<T>]) -> Var<T>>;

/// What a differentiable backward is given. The inputs and the output are passed in rather than
/// captured, because a closure that captured its own output would keep the node alive forever.
pub struct BackwardArgs<'a, T: Float> {
    /// The gradient of the final output with respect to this op's output.
    pub grad: &'a Var<T>,
    /// The op's inputs, in the order they were recorded.
    pub inputs: &'a [Var<T>],
    /// The op's output (the node being differentiated).
    pub output: &'a Var<T>,
}

impl<T: Float> BackwardArgs<'_, T> {
    /// True when the backward pass is building a graph of its own (`create_graph`): then the
    /// gradients must be computed with `Var` ops. When false, recording is off and a fast
    /// tensor path may be used instead.
    pub fn create_graph(&self) -> bool {
        is_grad_enabled()
    }
}

/// A gradient hook (see [`Var::register_hook`]): given the gradient flowing into a variable,
/// `None` to let it pass unchanged, or a replacement of the same shape.
pub type GradHook<T> = Rc<dyn Fn(&Var<T>) -> Option<Var<T>>>;

/// What [`Var::register_hook`] returns: [`HookHandle::remove`] takes the hook off again. Dropping
/// the handle leaves the hook in place. It does not keep the variable alive.
pub struct HookHandle<T: Float> {
    node: std::rc::Weak<Node<T>>,
    id: u64,
}

impl<T: Float> HookHandle<T> {
    /// Removes the hook; later backward passes no longer call it. Does nothing if the variable
    /// is gone.
    pub fn remove(self) {
        if let Some(node) = self.node.upgrade() {
            node.hooks.borrow_mut().retain(|(id, _)| *id != self.id);
        }
    }
}

/// How an op's backward is run.
pub(crate) enum Backward<T: Float> {
    /// Tensors in, tensors out: first order only ([`Var::from_op`], [`crate::Function`]).
    FirstOrder(BackwardFn<T>),
    /// Written with `Var` ops: differentiable to any order ([`Var::from_differentiable_op`]).
    Differentiable(DifferentiableBackwardFn<T>),
    /// A fused kernel's fast first-order backward, and its twin for higher orders
    /// ([`Var::from_fused_op`]).
    Fused { fast: BackwardFn<T>, twin: TwinFn<T> },
}

/// A unique identity for a node, stable for its lifetime; keys the [`crate::Gradients`] store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u64);

thread_local! {
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
    static NEXT_HOOK_ID: Cell<u64> = const { Cell::new(0) };
    static LIVE_NODES: Cell<usize> = const { Cell::new(0) };
}

/// How many graph nodes are alive on this thread (parameters, constants and op results).
/// A training loop whose count grows step after step is leaking its graphs.
pub fn live_nodes() -> usize {
    LIVE_NODES.with(|n| n.get())
}

pub(crate) struct OpRecord<T: Float> {
    /// The op's name, and the kind of work the profiler charges its backward to.
    pub(crate) name: OpName,
    pub(crate) inputs: Vec<Var<T>>,
    pub(crate) backward: Backward<T>,
}

pub(crate) struct Node<T: Float> {
    pub(crate) id: NodeId,
    pub(crate) value: RefCell<Tensor<T>>,
    pub(crate) requires_grad: bool,
    pub(crate) op: Option<OpRecord<T>>,
    pub(crate) label: RefCell<Option<String>>,
    /// Functions that see (and may replace) this node's gradient during backward.
    pub(crate) hooks: RefCell<Vec<(u64, GradHook<T>)>>,
}

impl<T: Float> Drop for Node<T> {
    /// Frees the graph behind this node with an explicit stack instead of recursion, so that a
    /// chain of 100,000 ops doesn't overflow the call stack when it is dropped.
    fn drop(&mut self) {
        LIVE_NODES.with(|n| n.set(n.get() - 1));
        if self.op.is_none() {
            return;
        }
        // Profiling hook (does nothing unless `profile::record` runs): freeing a graph is
        // "allocation". Started before `op` is taken so that its closure's drop is timed too.
        let _timer = crate::profile::DropTimer::begin();
        let Some(op) = self.op.take() else { return };
        let mut stack: Vec<Var<T>> = op.inputs;
        while let Some(var) = stack.pop() {
            // Only the last handle to a node takes its inputs; others are still in use.
            if let Ok(mut node) = Rc::try_unwrap(var.0)
                && let Some(op) = node.op.take()
            {
                stack.extend(op.inputs);
            }
        }
    }
}

/// A value in the computation graph: a tensor plus, when it needs gradients, how it was made.
///
/// ```
/// use autograd::Var;
/// use tensor::Tensor;
/// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]));
/// let y = x.mul(&x).sum_all(); // y = sum(x^2)
/// let grads = y.backward();
/// assert_eq!(grads.get(&x).unwrap().to_vec(), vec![2.0, 4.0, 6.0]); // dy/dx = 2x
/// ```
pub struct Var<T: Float>(pub(crate) Rc<Node<T>>);

impl<T: Float> Clone for Var<T> {
    fn clone(&self) -> Self {
        Var(self.0.clone())
    }
}

impl<T: Float> Var<T> {
    fn make(value: Tensor<T>, requires_grad: bool, op: Option<OpRecord<T>>) -> Self {
        let id = NEXT_ID.with(|n| {
            let id = n.get();
            n.set(id + 1);
            NodeId(id)
        });
        LIVE_NODES.with(|n| n.set(n.get() + 1));
        Var(Rc::new(Node {
            id,
            value: RefCell::new(value),
            requires_grad,
            op,
            label: RefCell::new(None),
            hooks: RefCell::new(Vec::new()),
        }))
    }

    /// A leaf; `requires_grad` says whether backward computes its gradient.
    pub fn new(value: Tensor<T>, requires_grad: bool) -> Self {
        Self::make(value, requires_grad, None)
    }

    /// A leaf that needs no gradient (data, targets, masks).
    pub fn constant(value: Tensor<T>) -> Self {
        Self::new(value, false)
    }

    /// A leaf that needs a gradient: a trainable parameter or an input under study.
    pub fn parameter(value: Tensor<T>) -> Self {
        Self::new(value, true)
    }

    /// Records the result of an op. This is how every primitive (and [`crate::Function`]) enters the graph:
    /// `backward` maps the output's gradient to one optional gradient per input, in order.
    /// `name` is a plain string, or an [`OpName`] that also says which kind of work the profiler
    /// charges the op to (a string means elementwise).
    ///
    /// If recording is off ([`crate::no_grad`]) or no input requires a gradient, nothing is recorded
    /// and the result is a plain constant: inference pays nothing for the graph.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// // y = 3x, written as a new op with its backward right here.
    /// fn triple(x: &Var<f64>) -> Var<f64> {
    ///     let value = x.value().mul_scalar(3.0);
    ///     Var::from_op("triple", value, &[x], |g| vec![Some(g.mul_scalar(3.0))])
    /// }
    /// let x = Var::parameter(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    /// let g = triple(&x).sum_all().backward();
    /// assert_eq!(g.get(&x).unwrap().to_vec(), vec![3.0, 3.0]);
    /// ```
    #[track_caller]
    pub fn from_op(
        name: impl Into<OpName>,
        value: Tensor<T>,
        inputs: &[&Var<T>],
        backward: impl Fn(&Tensor<T>) -> Vec<Option<Tensor<T>>> + 'static,
    ) -> Var<T> {
        Self::record(name.into(), value, inputs, || Backward::FirstOrder(Box::new(backward)))
    }

    /// Records an op whose backward is written with `Var` ops, so that its gradients can be
    /// differentiated again ([`crate::grad`] with `create_graph`). Every primitive enters the graph
    /// this way. The backward gets the output's gradient, the inputs and the output as
    /// [`BackwardArgs`]; without `create_graph` it runs with recording off, on plain values.
    ///
    /// ```
    /// use autograd::{Var, grad};
    /// use tensor::Tensor;
    /// // y = x^3, dy/dx = 3x^2, written with Var ops so it can be differentiated again.
    /// fn cube(x: &Var<f64>) -> Var<f64> {
    ///     let value = x.value().powf(3.0);
    ///     Var::from_differentiable_op("cube", value, &[x], |a| {
    ///         let x = &a.inputs[0];
    ///         vec![Some(a.grad.mul(&x.mul(x)).mul_scalar(3.0))]
    ///     })
    /// }
    /// let x = Var::parameter(Tensor::scalar(2.0));
    /// let dy = grad(&[&cube(&x)], &[&x], true)[0].clone().unwrap(); // 3x^2 = 12
    /// let d2y = grad(&[&dy], &[&x], false)[0].clone().unwrap(); // 6x = 12
    /// assert_eq!((dy.value().item(), d2y.value().item()), (12.0, 12.0));
    /// ```
    #[track_caller]
    pub fn from_differentiable_op(
        name: impl Into<OpName>,
        value: Tensor<T>,
        inputs: &[&Var<T>],
        backward: impl Fn(&BackwardArgs<'_, T>) -> Vec<Option<Var<T>>> + 'static,
    ) -> Var<T> {
        Self::record(name.into(), value, inputs, || Backward::Differentiable(Box::new(backward)))
    }

    /// Records a fused op: `fast` is its first-order backward on tensors (the fused kernel), and
    /// `twin` rebuilds its forward from the inputs with primitives. A plain backward uses `fast`;
    /// with `create_graph` the gradients come from differentiating the twin, so they are correct
    /// to every order.
    #[track_caller]
    pub fn from_fused_op(
        name: impl Into<OpName>,
        value: Tensor<T>,
        inputs: &[&Var<T>],
        fast: impl Fn(&Tensor<T>) -> Vec<Option<Tensor<T>>> + 'static,
        twin: impl Fn(&[Var<T>]) -> Var<T> + 'static,
    ) -> Var<T> {
        Self::record(name.into(), value, inputs, || Backward::Fused { fast: Box::new(fast), twin: Box::new(twin) })
    }

    /// Puts an op's result in the graph when an input needs a gradient; otherwise returns it as
    /// a constant, and `backward` (only built when needed) is never made.
    #[track_caller]
    fn record(
        mut name: OpName,
        value: Tensor<T>,
        inputs: &[&Var<T>],
        backward: impl FnOnce() -> Backward<T>,
    ) -> Var<T> {
        // Profiling hook (does nothing unless `profile::record` runs): the time until now was
        // this op's kernel, the time until the guard drops is recording it.
        let _recording = crate::profile::OpTimer::begin(&mut name);
        if is_anomaly_enabled() {
            crate::anomaly::check_forward(name.name(), &value, || inputs.iter().map(|v| v.shape()).collect());
        }
        let needs = is_grad_enabled() && inputs.iter().any(|v| v.requires_grad());
        if !needs {
            return Var::constant(value);
        }
        let op = OpRecord { name, inputs: inputs.iter().map(|v| (*v).clone()).collect(), backward: backward() };
        Self::make(value, true, Some(op))
    }

    /// The node's identity (keys the gradient store).
    pub fn id(&self) -> NodeId {
        self.0.id
    }

    /// The value (a cheap clone: tensors share storage).
    pub fn value(&self) -> Tensor<T> {
        self.0.value.borrow().clone()
    }

    /// Borrows the value without cloning.
    pub fn value_ref(&self) -> Ref<'_, Tensor<T>> {
        self.0.value.borrow()
    }

    /// The value's shape.
    pub fn shape(&self) -> Vec<usize> {
        self.0.value.borrow().shape().to_vec()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.value.borrow().numel()
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.0.value.borrow().ndim()
    }

    /// The single value of a one-element variable (a loss).
    #[track_caller]
    pub fn item(&self) -> T {
        self.0.value.borrow().item()
    }

    /// True when backward computes a gradient for this node.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    /// True for values made by the user rather than by an op.
    pub fn is_leaf(&self) -> bool {
        self.0.op.is_none()
    }

    /// The name of the op that made this value, or `None` for a leaf.
    pub fn op_name(&self) -> Option<&str> {
        self.0.op.as_ref().map(|o| o.name.name())
    }

    /// The inputs of the op that made this value (empty for a leaf).
    pub fn inputs(&self) -> Vec<Var<T>> {
        self.0.op.as_ref().map(|o| o.inputs.clone()).unwrap_or_default()
    }

    /// A new leaf with the same value and no history (as `tensor.detach()`): gradients stop here.
    pub fn detach(&self) -> Var<T> {
        Var::constant(self.value())
    }

    /// Replaces a leaf's value (optimizers; loading checkpoints). The shape must stay the same.
    #[track_caller]
    pub fn set_value(&self, value: Tensor<T>) {
        assert!(
            self.is_leaf(),
            "set_value: only leaves can be assigned, this is the output of '{}'",
            self.op_name().unwrap_or("")
        );
        let mut v = self.0.value.borrow_mut();
        if v.shape() != value.shape() {
            tensor::op_panic(
                "set_value",
                format!("new shape {:?} differs from the variable's shape {:?}", value.shape(), v.shape()),
            );
        }
        *v = value;
    }

    /// Updates a leaf's value in place through `f` (an optimizer step without reallocating when
    /// no graph still holds the old value).
    #[track_caller]
    pub fn update_value(&self, f: impl FnOnce(&mut Tensor<T>)) {
        assert!(self.is_leaf(), "update_value: only leaves can be assigned");
        let mut v = self.0.value.borrow_mut();
        let shape = v.shape().to_vec();
        f(&mut v);
        assert_eq!(v.shape(), shape.as_slice(), "update_value: the closure changed the shape");
    }

    /// [`Var::update_value`] for several leaves at once: `f` gets every value mutably, so an
    /// optimizer can update all parameters in one parallel pass.
    ///
    /// # Panics
    /// If a variable is not a leaf, appears twice, or `f` changes a shape.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let (a, b) = (Var::parameter(Tensor::<f32>::ones(&[2])), Var::parameter(Tensor::<f32>::ones(&[3])));
    /// Var::update_values(&[a.clone(), b.clone()], |values| {
    ///     for v in values.iter_mut() {
    ///         v.data_mut().iter_mut().for_each(|x| *x *= 2.0);
    ///     }
    /// });
    /// assert_eq!(b.value().to_vec(), vec![2.0; 3]);
    /// ```
    #[track_caller]
    pub fn update_values(vars: &[Var<T>], f: impl FnOnce(&mut [&mut Tensor<T>])) {
        assert!(vars.iter().all(Var::is_leaf), "update_values: only leaves can be assigned");
        // A variable listed twice would be borrowed mutably twice: RefCell panics on that.
        let mut guards: Vec<_> = vars.iter().map(|v| v.0.value.borrow_mut()).collect();
        let shapes: Vec<Vec<usize>> = guards.iter().map(|g| g.shape().to_vec()).collect();
        let mut values: Vec<&mut Tensor<T>> = guards.iter_mut().map(|g| &mut **g).collect();
        f(&mut values);
        for (g, shape) in guards.iter().zip(&shapes) {
            assert_eq!(g.shape(), shape.as_slice(), "update_values: the closure changed a shape");
        }
    }

    /// Registers a hook that backward calls with this variable's gradient once it is complete
    /// (the sum over every use), before passing it on to the op that made the variable; the hook
    /// may return a replacement (as PyTorch's `Tensor.register_hook`). Hooks run in the order
    /// they were registered, each seeing the previous one's result. With `create_graph` the
    /// gradient is in the graph, and so is whatever the hook computes from it.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]));
    /// let h = x.mul_scalar(3.0);
    /// h.register_hook(|g| {
    ///     println!("gradient into h: {:?}", g.value().to_vec());
    ///     Some(g.mul_scalar(0.0)) // stop it here
    /// });
    /// let y = h.add(&x).sum_all(); // x reaches y directly and through h
    /// assert_eq!(y.backward().get(&x).unwrap().to_vec(), vec![1.0, 1.0]); // only the direct path
    /// ```
    ///
    /// A hook stays until removed: it runs in every later backward pass that reaches the
    /// variable, first or higher order. The returned [`HookHandle`] removes it (PyTorch's
    /// `RemovableHandle`). Gradients kept for a hooked variable (by [`Var::backward_retain_all`]
    /// or [`crate::grad`]) are the ones after its hooks, the ones that flowed on.
    ///
    /// # Panics
    /// If the variable does not require gradients: no gradient would ever reach the hook.
    #[track_caller]
    pub fn register_hook(&self, hook: impl Fn(&Var<T>) -> Option<Var<T>> + 'static) -> HookHandle<T> {
        if !self.requires_grad() {
            tensor::op_panic(
                "register_hook",
                format!(
                    "the variable (shape {:?}) does not require gradients, so no gradient will reach a hook on it",
                    self.shape()
                ),
            );
        }
        let id = NEXT_HOOK_ID.with(|n| {
            let id = n.get();
            n.set(id + 1);
            id
        });
        self.0.hooks.borrow_mut().push((id, Rc::new(hook)));
        HookHandle { node: Rc::downgrade(&self.0), id }
    }

    /// Attaches a human-readable label (shown by the tape printer and the DOT export).
    pub fn set_label(&self, label: impl Into<String>) {
        *self.0.label.borrow_mut() = Some(label.into());
    }

    /// The label, if one was set.
    pub fn label(&self) -> Option<String> {
        self.0.label.borrow().clone()
    }

    /// Builder form of [`Var::set_label`].
    pub fn labeled(self, label: impl Into<String>) -> Self {
        self.set_label(label);
        self
    }
}

impl<T: Float> fmt::Debug for Var<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Var(id={}, op={}, shape={:?}, requires_grad={})",
            self.0.id.0,
            self.op_name().unwrap_or("leaf"),
            self.shape(),
            self.requires_grad()
        )
    }
}

impl NodeId {
    /// The raw number (creation order on this thread).
    pub fn raw(self) -> u64 {
        self.0
    }
}
