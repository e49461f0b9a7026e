//! What every layer and model shares: a list of named parameters.

use autograd::Var;
use tensor::Float;

/// A layer or model: something with learnable parameters under stable hierarchical names
/// (`blocks.0.attn.q_proj.weight`), as PyTorch's `named_parameters()`.
pub trait Module<T: Float> {
    /// Every learnable parameter with its dotted name, in a fixed order.
    fn named_parameters(&self) -> Vec<(String, Var<T>)>;

    /// The parameters without names, in the same order.
    fn parameters(&self) -> Vec<Var<T>> {
        self.named_parameters().into_iter().map(|(_, p)| p).collect()
    }

    /// Total number of learnable scalars.
    fn num_parameters(&self) -> usize {
        self.named_parameters().iter().map(|(_, p)| p.numel()).sum()
    }
}

/// Prefixes every name of a child's parameters with `prefix.`, for composing
/// `named_parameters` of nested modules.
pub fn prefixed<T: Float>(prefix: &str, params: Vec<(String, Var<T>)>) -> Vec<(String, Var<T>)> {
    params.into_iter().map(|(n, p)| (format!("{prefix}.{n}"), p)).collect()
}

/// A named parameter, labelled with its name so tapes and DOT graphs show it.
pub fn named<T: Float>(name: &str, p: &Var<T>) -> (String, Var<T>) {
    (name.to_string(), p.clone())
}
