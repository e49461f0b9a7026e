//! Linear layer: `y = x W^T + b`.
//!
//! Shapes: `x: (..., in) -> y: (..., out)`, `W: (out, in)` (PyTorch's layout), `b: (out)`.
//! The leading dimensions are flattened into one so the product is a single 2-D GEMM; `W^T` is a
//! view handed to the GEMM as strides.

use autograd::Var;
use tensor::{Float, TensorRng};

use crate::init;
use crate::module::{Module, named};

/// How to draw a linear layer's initial weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Normal(0, std), as GPT-2 (std 0.02; residual projections 0.02 / sqrt(2 n_layer)).
    Normal(f64),
    /// Xavier uniform, as the encoder-decoder of the paper.
    Xavier,
}

/// `y = x W^T + b`, bias optional.
///
/// ```
/// use transformer::{Init, Linear, Module};
/// use autograd::Var;
/// use tensor::{Tensor, rng_from_seed};
/// let lin = Linear::<f32>::new(4, 3, true, Init::Normal(0.02), &mut rng_from_seed(0));
/// let x = Var::constant(Tensor::ones(&[2, 5, 4]));
/// assert_eq!(lin.forward(&x).shape(), vec![2, 5, 3]);
/// assert_eq!(lin.num_parameters(), 4 * 3 + 3);
/// ```
pub struct Linear<T: Float> {
    /// `(out, in)`.
    pub weight: Var<T>,
    /// `(out)`, if the layer has a bias.
    pub bias: Option<Var<T>>,
}

impl<T: Float> Linear<T> {
    /// A layer mapping `in_features` to `out_features`; biases start at zero.
    pub fn new(in_features: usize, out_features: usize, bias: bool, init: Init, rng: &mut TensorRng) -> Self {
        let weight = match init {
            Init::Normal(std) => init::normal(&[out_features, in_features], std, rng),
            Init::Xavier => init::xavier_uniform(out_features, in_features, rng),
        };
        Linear { weight, bias: bias.then(|| init::zeros(&[out_features])) }
    }

    /// A layer around existing parameters (weight tying, checkpoints).
    pub fn from_parameters(weight: Var<T>, bias: Option<Var<T>>) -> Self {
        Linear { weight, bias }
    }

    /// Input size.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Output size.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }

    /// `x: (..., in) -> (..., out)`.
    #[track_caller]
    pub fn forward(&self, x: &Var<T>) -> Var<T> {
        let shape = x.shape();
        let in_f = self.in_features();
        if shape.last() != Some(&in_f) {
            tensor::layer_panic(
                "Linear",
                format!(
                    "input shape {shape:?} does not end in in_features {in_f} (weight shape {:?})",
                    self.weight.shape()
                ),
            );
        }
        let rows: usize = shape[..shape.len() - 1].iter().product();
        let x2 = x.reshape(&[rows, in_f]); // (N, in)
        let mut y = x2.matmul(&self.weight.mt()); // (N, out)
        if let Some(b) = &self.bias {
            y = y.add(b);
        }
        let mut out_shape = shape;
        *out_shape.last_mut().unwrap() = self.out_features();
        y.reshape(&out_shape)
    }
}

impl<T: Float> Module<T> for Linear<T> {
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut v = vec![named("weight", &self.weight)];
        if let Some(b) = &self.bias {
            v.push(named("bias", b));
        }
        v
    }
}
