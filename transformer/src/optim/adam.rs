//! Adam and AdamW, as `torch.optim.Adam` / `torch.optim.AdamW`.
//!
//! ```text
//! t = t + 1
//! AdamW: p = p * (1 - lr * weight_decay)            (decoupled decay, only on decayed groups)
//! Adam:  g = g + weight_decay * p                    (L2 penalty in the gradient)
//! m = beta1 * m + (1 - beta1) * g
//! v = beta2 * v + (1 - beta2) * g^2
//! p = p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
//! ```

use autograd::{Gradients, Var};
use rayon::prelude::*;
use tensor::{Float, Tensor};

use super::{Optimizer, PAR_CHUNK};

/// A parameter with its name and whether weight decay applies to it.
#[derive(Clone)]
pub struct ParamGroup<T: Float> {
    /// The parameter.
    pub param: Var<T>,
    /// Its name (for checkpoints of the optimizer state).
    pub name: String,
    /// Whether weight decay applies.
    pub decay: bool,
}

/// Adam with either decoupled weight decay (AdamW, the default) or an L2 penalty (classic Adam).
pub struct AdamW<T: Float> {
    groups: Vec<ParamGroup<T>>,
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Weight decay strength.
    pub weight_decay: f64,
    /// True: decoupled decay (AdamW). False: L2 penalty added to the gradient (Adam).
    pub decoupled: bool,
    step_count: u64,
    m: Vec<Tensor<T>>,
    v: Vec<Tensor<T>>,
}

impl<T: Float> AdamW<T> {
    /// AdamW over named parameters. Weight decay applies to weight matrices only: parameters with
    /// at least 2 dimensions that are not embedding tables; biases, norm gains and embeddings are
    /// not decayed.
    pub fn new(named: Vec<(String, Var<T>)>, lr: f64, weight_decay: f64) -> Self {
        let groups = named
            .into_iter()
            .map(|(name, param)| {
                let decay = param.ndim() >= 2 && !is_embedding(&name);
                ParamGroup { param, name, decay }
            })
            .collect();
        Self::from_groups(groups, lr, weight_decay, true)
    }

    /// Classic Adam (no weight decay) over plain parameters.
    pub fn adam(params: Vec<Var<T>>, lr: f64) -> Self {
        let groups = params
            .into_iter()
            .enumerate()
            .map(|(i, param)| ParamGroup { param, name: i.to_string(), decay: false })
            .collect();
        Self::from_groups(groups, lr, 0.0, false)
    }

    /// Full control over groups and the kind of decay.
    pub fn from_groups(groups: Vec<ParamGroup<T>>, lr: f64, weight_decay: f64, decoupled: bool) -> Self {
        let m = groups.iter().map(|g| Tensor::zeros(&g.param.shape())).collect();
        let v = groups.iter().map(|g| Tensor::zeros(&g.param.shape())).collect();
        AdamW { groups, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay, decoupled, step_count: 0, m, v }
    }

    /// Builder: the moment decays.
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// The parameter groups, in order.
    pub fn groups(&self) -> &[ParamGroup<T>] {
        &self.groups
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step_count
    }

    /// First and second moments of parameter `i`.
    pub fn moments(&self, i: usize) -> (&Tensor<T>, &Tensor<T>) {
        (&self.m[i], &self.v[i])
    }

    /// Restores the state (from a checkpoint): step count and both moments of every parameter.
    #[track_caller]
    pub fn set_state(&mut self, step_count: u64, m: Vec<Tensor<T>>, v: Vec<Tensor<T>>) {
        assert_eq!(
            m.len(),
            self.groups.len(),
            "AdamW::set_state: {} first moments for {} parameters",
            m.len(),
            self.groups.len()
        );
        assert_eq!(
            v.len(),
            self.groups.len(),
            "AdamW::set_state: {} second moments for {} parameters",
            v.len(),
            self.groups.len()
        );
        self.step_count = step_count;
        self.m = m;
        self.v = v;
    }
}

/// The scalars of one step, shared by every parameter.
#[derive(Clone, Copy)]
struct AdamCoeffs<T> {
    b1: T,
    b2: T,
    one_m_b1: T,
    one_m_b2: T,
    lr: T,
    /// `lr / (1 - beta1^t)`.
    step_size: T,
    /// `sqrt(1 - beta2^t)`.
    bc2_sqrt: T,
    eps: T,
}

impl<T: Float> AdamCoeffs<T> {
    /// One pass over a parameter's elements: decay, both moments and the update, in the loop the
    /// compiler vectorises (the `decoupled` choice is made once, outside it).
    #[inline]
    fn update(&self, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], wd: T, decoupled: bool) {
        let c = *self;
        let one = |p: &mut T, gj: T, m: &mut T, v: &mut T| {
            *m = c.b1 * *m + c.one_m_b1 * gj;
            *v = c.b2 * *v + c.one_m_b2 * gj * gj;
            // PyTorch's form: lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
            let denom = v.sqrt() / c.bc2_sqrt + c.eps;
            *p -= c.step_size * *m / denom;
        };
        let it = p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut());
        if decoupled {
            for (((p, &gj), m), v) in it {
                *p -= c.lr * wd * *p;
                one(p, gj, m, v);
            }
        } else {
            for (((p, &gj), m), v) in it {
                one(p, gj + wd * *p, m, v);
            }
        }
    }
}

/// True for names of embedding tables (`wte`, `wpe`, `*_embed`, `embedding`).
fn is_embedding(name: &str) -> bool {
    name.split('.').any(|p| p == "wte" || p == "wpe" || p.ends_with("embed") || p.contains("embedding"))
}

impl<T: Float> Optimizer<T> for AdamW<T> {
    fn step(&mut self, grads: &Gradients<T>) {
        autograd::profile::scope(autograd::profile::OPTIMIZER, || {
            self.step_count += 1;
            let t = self.step_count as i32;
            let (b1, b2) = (T::from_f64(self.beta1), T::from_f64(self.beta2));
            let (one_m_b1, one_m_b2) = (T::from_f64(1.0 - self.beta1), T::from_f64(1.0 - self.beta2));
            let bc1 = T::from_f64(1.0 - self.beta1.powi(t));
            let bc2_sqrt = T::from_f64((1.0 - self.beta2.powi(t)).sqrt());
            let coeffs = AdamCoeffs {
                b1,
                b2,
                one_m_b1,
                one_m_b2,
                lr: T::from_f64(self.lr),
                step_size: T::from_f64(self.lr) / bc1,
                bc2_sqrt,
                eps: T::from_f64(self.eps),
            };
            let wd = T::from_f64(self.weight_decay);
            let decoupled = self.decoupled;
            // The parameters that have a gradient, with their moments and decay.
            let mut params = Vec::new();
            let mut work = Vec::new();
            for ((group, m), v) in self.groups.iter().zip(self.m.iter_mut()).zip(self.v.iter_mut()) {
                let Some(grad) = grads.get(&group.param) else { continue };
                params.push(group.param.clone());
                work.push((grad.contiguous(), m, v, if group.decay { wd } else { T::ZERO }));
            }
            Var::update_values(&params, |values| {
                // Every element is updated on its own: one parallel pass over fixed chunks of all
                // the parameters (how they are cut changes nothing but the speed).
                let mut chunks = Vec::new();
                for (value, (grad, m, v, wd)) in values.iter_mut().zip(work.iter_mut()) {
                    let g = grad.as_slice().expect("contiguous");
                    let (p, m, v) = (value.data_mut(), m.data_mut(), v.data_mut());
                    for (((p, g), m), v) in p
                        .chunks_mut(PAR_CHUNK)
                        .zip(g.chunks(PAR_CHUNK))
                        .zip(m.chunks_mut(PAR_CHUNK))
                        .zip(v.chunks_mut(PAR_CHUNK))
                    {
                        chunks.push((p, g, m, v, *wd));
                    }
                }
                chunks.into_par_iter().for_each(|(p, g, m, v, wd)| coeffs.update(p, g, m, v, wd, decoupled));
            });
        });
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
}
