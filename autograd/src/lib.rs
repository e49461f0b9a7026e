//! A reverse-mode automatic differentiation engine, written to be read.
//!
//! - [`Var`] is a tensor in the computation graph. Ops on `Var`s compute a value and, when an
//!   input needs a gradient, record how to send the output's gradient back to the inputs.
//! - [`Var::backward`] walks the graph once in reverse topological order and returns a
//!   [`Gradients`] store keyed by variable. Nothing is accumulated on the variables themselves:
//!   calling backward twice returns the same gradients twice.
//! - [`no_grad`] turns recording off (evaluation, generation); [`detect_anomaly`] names the first
//!   op that makes a NaN or infinity.
//! - [`GradCheck`] compares backward with central finite differences in f64: call it from your own
//!   tests for your own ops ([`Function`]) and layers.
//!
//! ```
//! use autograd::{GradCheck, Var};
//! use tensor::Tensor;
//! // f(a, b) = sum(a * b + a): df/da = b + 1, df/db = a
//! let a = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]));
//! let b = Var::parameter(Tensor::<f64>::from_vec(vec![3.0, 4.0], &[2]));
//! let f = (&(&a * &b) + &a).sum_all();
//! let g = f.backward();
//! assert_eq!(g.get(&a).unwrap().to_vec(), vec![4.0, 5.0]);
//! assert_eq!(g.get(&b).unwrap().to_vec(), vec![1.0, 2.0]);
//! // The same gradients, checked numerically:
//! GradCheck::default().assert(&[a.value(), b.value()], |v| (&(&v[0] * &v[1]) + &v[0]).sum_all());
//! ```

// Every `unsafe` block and impl says why it is sound, in a `SAFETY:` comment the lint checks.
#![deny(clippy::undocumented_unsafe_blocks)]

mod anomaly;
mod backward;
pub mod composed;
mod function;
pub mod functional;
mod gradcheck;
mod gradgradcheck;
mod inspect;
mod mode;
mod op_name;
mod ops;
pub mod profile;
mod var;

pub use backward::{Gradients, grad, grad_with, topological_order};
pub use function::Function;
pub use gradcheck::{GradCheck, GradCheckFailure, GradCheckReport, InputCheck};
pub use gradgradcheck::GradGradCheck;
pub use inspect::{Dot, NodeKind, Tape, TapeEntry, dot, graph_nodes, tape};
pub use mode::{GradModeGuard, detect_anomaly, is_anomaly_enabled, is_grad_enabled, no_grad};
pub use op_name::OpName;
pub use var::{
    BackwardArgs, BackwardFn, DifferentiableBackwardFn, GradHook, HookHandle, NodeId, TwinFn, Var, live_nodes,
};
