//! Position-wise feed-forward network: the same two-layer MLP applied at every position.
//!
//! `FFN(x) = act(x W1^T + b1) W2^T + b2`, `act` = ReLU (the paper) or GELU (GPT-2).
//! Shapes: `x: (B, T, d) -> (B, T, d_ff) -> (B, T, d)`.

use autograd::Var;
use tensor::{Float, TensorRng};

use crate::linear::{Init, Linear};
use crate::module::{Module, prefixed};

/// The nonlinearity between the two linear maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// max(x, 0), as "Attention Is All You Need".
    Relu,
    /// GELU with the tanh approximation, as GPT-2.
    GeluTanh,
    /// GELU in its exact erf form.
    GeluErf,
}

impl Activation {
    /// Applies the activation.
    pub fn apply<T: Float>(self, x: &Var<T>) -> Var<T> {
        match self {
            Activation::Relu => x.relu(),
            Activation::GeluTanh => x.gelu_tanh(),
            Activation::GeluErf => x.gelu_erf(),
        }
    }
}

/// Two linear maps with an activation between them (`fc` widens to `d_ff`, `proj` narrows back).
pub struct FeedForward<T: Float> {
    /// `d -> d_ff`.
    pub fc: Linear<T>,
    /// `d_ff -> d`.
    pub proj: Linear<T>,
    /// The nonlinearity.
    pub activation: Activation,
}

impl<T: Float> FeedForward<T> {
    /// A feed-forward block; `proj_init` lets GPT-2 scale the residual projection.
    pub fn new(
        d: usize,
        d_ff: usize,
        activation: Activation,
        bias: bool,
        init: Init,
        proj_init: Init,
        rng: &mut TensorRng,
    ) -> Self {
        FeedForward {
            fc: Linear::new(d, d_ff, bias, init, rng),
            proj: Linear::new(d_ff, d, bias, proj_init, rng),
            activation,
        }
    }

    /// `x: (..., d) -> (..., d)`.
    pub fn forward(&self, x: &Var<T>) -> Var<T> {
        let h = self.activation.apply(&self.fc.forward(x)); // (..., d_ff)
        self.proj.forward(&h) // (..., d)
    }
}

impl<T: Float> Module<T> for FeedForward<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut v = prefixed("fc", self.fc.named_parameters());
        v.extend(prefixed("proj", self.proj.named_parameters()));
        v
    }
}
