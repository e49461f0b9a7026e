//! Parameter initialisation, seeded and reproducible.

use autograd::Var;
use tensor::{Float, Tensor, TensorRng};

/// Normal(0, std) weights, as GPT-2 and nanoGPT (`std = 0.02`).
pub fn normal<T: Float>(shape: &[usize], std: f64, rng: &mut TensorRng) -> Var<T> {
    Var::parameter(Tensor::rand_normal_with(shape, T::ZERO, T::from_f64(std), rng))
}

/// Xavier/Glorot uniform for a `(fan_out, fan_in)` matrix: U(-a, a), a = sqrt(6 / (fan_in + fan_out)),
/// as used for the encoder-decoder of "Attention Is All You Need".
pub fn xavier_uniform<T: Float>(fan_out: usize, fan_in: usize, rng: &mut TensorRng) -> Var<T> {
    let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
    Var::parameter(Tensor::rand_uniform_with(&[fan_out, fan_in], T::from_f64(-a), T::from_f64(a), rng))
}

/// A parameter of zeros (biases, layer-norm shifts).
pub fn zeros<T: Float>(shape: &[usize]) -> Var<T> {
    Var::parameter(Tensor::zeros(shape))
}

/// A parameter of ones (layer-norm gains).
pub fn ones<T: Float>(shape: &[usize]) -> Var<T> {
    Var::parameter(Tensor::ones(shape))
}
