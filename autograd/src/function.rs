//! User-defined ops: implement [`Function`] and call [`Var::apply`]; the result takes part in
//! backward, the tape and the gradient checker exactly like a built-in op.

use tensor::{Float, Tensor};

use crate::var::Var;

/// A differentiable op written by a user: a forward on plain tensors and its backward.
///
/// ```
/// use autograd::{Function, GradCheck, Var};
/// use tensor::{Float, Tensor};
///
/// /// softplus(x) = ln(1 + e^x); its derivative is sigmoid(x).
/// struct Softplus;
/// impl<T: Float> Function<T> for Softplus {
///     fn name(&self) -> String { "softplus".into() }
///     fn forward(&self, inputs: &[&Tensor<T>]) -> Tensor<T> {
///         inputs[0].map(|x| (T::ONE + x.exp()).ln())
///     }
///     fn backward(&self, inputs: &[Tensor<T>], _out: &Tensor<T>, grad: &Tensor<T>) -> Vec<Option<Tensor<T>>> {
///         let sig = inputs[0].map(|x| T::ONE / (T::ONE + (-x).exp()));
///         vec![Some(grad.zip_with(&sig, "softplus_backward", |g, s| g * s))]
///     }
/// }
///
/// let x = Tensor::<f64>::rand_normal(&[3, 4], 0.0, 1.0, 0);
/// GradCheck::default().assert(&[x], |v| Var::apply(Softplus, &[&v[0]]));
/// ```
pub trait Function<T: Float>: 'static {
    /// The op's name, shown on the tape, in DOT graphs and in error messages.
    fn name(&self) -> String;

    /// Computes the output from the input values.
    fn forward(&self, inputs: &[&Tensor<T>]) -> Tensor<T>;

    /// Given the inputs, the output and the gradient of the final scalar with respect to the
    /// output, returns the gradient with respect to each input (same shape as that input), or
    /// `None` for an input that gets no gradient.
    fn backward(&self, inputs: &[Tensor<T>], output: &Tensor<T>, grad_output: &Tensor<T>) -> Vec<Option<Tensor<T>>>;
}

impl<T: Float> Var<T> {
    /// Applies a user-defined [`Function`] to variables, recording it for backward when needed.
    #[track_caller]
    pub fn apply<F: Function<T>>(function: F, inputs: &[&Var<T>]) -> Var<T> {
        let values: Vec<Tensor<T>> = inputs.iter().map(|v| v.value()).collect();
        let refs: Vec<&Tensor<T>> = values.iter().collect();
        let output = function.forward(&refs);
        let saved_output = output.clone();
        Var::from_op(function.name(), output, inputs, move |g| function.backward(&values, &saved_output, g))
    }
}
