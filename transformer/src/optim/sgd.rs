//! Stochastic gradient descent with momentum and Nesterov momentum, as `torch.optim.SGD`.
//!
//! ```text
//! g = grad + weight_decay * p
//! b = momentum * b + g              (b = g on the first step)
//! d = g + momentum * b  if nesterov, else b   (d = g without momentum)
//! p = p - lr * d
//! ```

use autograd::{Gradients, Var};
use tensor::{Float, Tensor};

use super::Optimizer;

/// SGD over a list of parameters.
pub struct Sgd<T: Float> {
    params: Vec<Var<T>>,
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0 disables momentum).
    pub momentum: f64,
    /// Use Nesterov momentum.
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    velocity: Vec<Option<Tensor<T>>>,
}

impl<T: Float> Sgd<T> {
    /// Plain SGD.
    pub fn new(params: Vec<Var<T>>, lr: f64) -> Self {
        let n = params.len();
        Sgd { params, lr, momentum: 0.0, nesterov: false, weight_decay: 0.0, velocity: vec![None; n] }
    }

    /// Builder: momentum, optionally Nesterov.
    pub fn with_momentum(mut self, momentum: f64, nesterov: bool) -> Self {
        self.momentum = momentum;
        self.nesterov = nesterov;
        self
    }

    /// Builder: L2 weight decay.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The momentum buffer of parameter `i` (None before its first step).
    pub fn velocity(&self, i: usize) -> Option<&Tensor<T>> {
        self.velocity[i].as_ref()
    }
}

impl<T: Float> Optimizer<T> for Sgd<T> {
    fn step(&mut self, grads: &Gradients<T>) {
        let (lr, mu, wd) = (T::from_f64(self.lr), T::from_f64(self.momentum), T::from_f64(self.weight_decay));
        for (p, vel) in self.params.iter().zip(self.velocity.iter_mut()) {
            let Some(grad) = grads.get(p) else { continue };
            let grad = grad.contiguous();
            let g_in = grad.as_slice().expect("contiguous");
            p.update_value(|value| {
                let pv = value.data_mut();
                let mut g: Vec<T> = g_in.iter().zip(pv.iter()).map(|(&g, &x)| g + wd * x).collect();
                if self.momentum != 0.0 {
                    let b = match vel.take() {
                        None => Tensor::from_vec(g.clone(), grad.shape()),
                        Some(mut b) => {
                            for (bi, &gi) in b.data_mut().iter_mut().zip(&g) {
                                *bi = mu * *bi + gi;
                            }
                            b
                        }
                    };
                    let bs = b.as_slice().expect("contiguous");
                    if self.nesterov {
                        for (gi, &bi) in g.iter_mut().zip(bs) {
                            *gi += mu * bi;
                        }
                    } else {
                        g.copy_from_slice(bs);
                    }
                    *vel = Some(b);
                }
                for (x, gi) in pv.iter_mut().zip(g) {
                    *x -= lr * gi;
                }
            });
        }
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
}
