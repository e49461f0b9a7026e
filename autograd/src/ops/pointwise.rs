//! Elementwise functions: exp, log, sqrt, rsqrt, powf, abs, tanh, sigmoid, relu, the two GELUs,
//! and the broadcasting maximum and minimum.
//!
//! For `y = f(x)` applied elementwise, the chain rule is elementwise too: `dL/dx = dL/dy * f'(x)`.
//! Each backward writes `f'` with `Var` ops, so that it can be differentiated again (see
//! [`crate::grad`]). Where `f'` is a function of the output (exp, tanh, sigmoid, sqrt, rsqrt,
//! relu), it reads the output `y` rather than `x`: no transcendental function is evaluated twice.
//! The GELUs are fused: one tensor kernel each way, and a composed twin for higher orders.
//!
//! At a kink (abs at 0, relu at 0, maximum/minimum at a tie) the derivative is undefined; each op
//! documents the value it picks, which is PyTorch's.

use tensor::{Float, GELU_CUBIC, SQRT_2_OVER_PI, Tensor};

use crate::var::Var;

impl<T: Float> Var<T> {
    /// `y = e^x`. dy/dx = e^x = y: backward reuses the output, `dx = g * y`.
    #[track_caller]
    pub fn exp(&self) -> Var<T> {
        let y = self.value_ref().exp();
        Var::from_differentiable_op("exp", y, &[self], |a| vec![Some(a.grad.mul(a.output))])
    }

    /// `y = ln x`. dy/dx = 1 / x: `dx = g / x` (infinite at x = 0, as the function is).
    #[track_caller]
    pub fn log(&self) -> Var<T> {
        let y = self.value_ref().log();
        Var::from_differentiable_op("log", y, &[self], |a| vec![Some(a.grad.div(&a.inputs[0]))])
    }

    /// `y = sqrt x`. dy/dx = 1 / (2 sqrt x) = 1 / (2y): `dx = g / (2y)`, from the output.
    #[track_caller]
    pub fn sqrt(&self) -> Var<T> {
        let y = self.value_ref().sqrt();
        Var::from_differentiable_op("sqrt", y, &[self], |a| vec![Some(a.grad.div(&a.output.add(a.output)))])
    }

    /// `y = 1 / sqrt x` (layer norm's `(var + eps).rsqrt()`).
    /// dy/dx = d/dx x^(-1/2) = -1/2 x^(-3/2) = -y^3 / 2: `dx = -g y^3 / 2`, from the output.
    #[track_caller]
    pub fn rsqrt(&self) -> Var<T> {
        let y = self.value_ref().rsqrt();
        Var::from_differentiable_op("rsqrt", y, &[self], |a| {
            let y = a.output;
            vec![Some(a.grad.mul(&y.mul(y).mul(y)).mul_scalar(T::from_f64(-0.5)))]
        })
    }

    /// `y = x^p` for a constant real exponent `p`. dy/dx = p x^(p-1): `dx = g p x^(p-1)`.
    ///
    /// The derivative is computed from `x`, not as `p y / x`, which would be 0/0 at x = 0.
    /// For `p = 0` the gradient is exactly 0 everywhere (x^-1 would give 0 * inf = NaN at x = 0;
    /// PyTorch masks that case the same way).
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// // d/dx sum(x^2) = 2x
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![-1.0, 0.5, 3.0], &[3]));
    /// let g = x.powf(2.0).sum_all().backward();
    /// assert_eq!(g.get(&x).unwrap().to_vec(), vec![-2.0, 1.0, 6.0]);
    /// ```
    #[track_caller]
    pub fn powf(&self, p: T) -> Var<T> {
        let y = self.value_ref().powf(p);
        Var::from_differentiable_op("powf", y, &[self], move |a| {
            let x = &a.inputs[0];
            if p == T::ZERO {
                return vec![Some(Var::constant(Tensor::zeros(&x.shape())))];
            }
            vec![Some(a.grad.mul(&x.powf(p - T::ONE)).mul_scalar(p))]
        })
    }

    /// `y = |x|`. dy/dx = sign(x), taken as 0 at x = 0 (PyTorch's `sgn`): `dx = g sign(x)`.
    #[track_caller]
    pub fn abs(&self) -> Var<T> {
        let y = self.value_ref().abs();
        Var::from_differentiable_op("abs", y, &[self], |a| {
            let sign = |x: T| {
                if x > T::ZERO {
                    T::ONE
                } else if x < T::ZERO {
                    -T::ONE
                } else {
                    // 0 at the kink; NaN stays NaN so a bad input is not silently hidden.
                    x * T::ZERO
                }
            };
            // The sign is a constant of the input (its derivative is zero away from the kink).
            let sign = Var::constant(a.inputs[0].value_ref().map(sign));
            vec![Some(a.grad.mul(&sign))]
        })
    }

    /// `y = tanh x`. dy/dx = 1 - tanh^2 x = 1 - y^2: `dx = g (1 - y^2)`, from the output.
    ///
    /// For large |x|, y is exactly ±1 and the gradient exactly 0 (never NaN).
    #[track_caller]
    pub fn tanh(&self) -> Var<T> {
        let y = self.value_ref().tanh();
        Var::from_differentiable_op("tanh", y, &[self], |a| {
            let y = a.output;
            vec![Some(a.grad.mul(&y.mul(y).neg().add_scalar(T::ONE)))]
        })
    }

    /// `y = sigmoid x = 1 / (1 + e^-x)`.
    ///
    /// dy/dx = e^-x / (1 + e^-x)^2 = y (1 - y): `dx = g y (1 - y)`, from the output. Computing it
    /// from `y` avoids e^-x, which overflows for x < -88 (f32); at ±1e4 the gradient is exactly 0.
    #[track_caller]
    pub fn sigmoid(&self) -> Var<T> {
        let y = self.value_ref().sigmoid();
        Var::from_differentiable_op("sigmoid", y, &[self], |a| {
            let y = a.output;
            vec![Some(a.grad.mul(y).mul(&y.neg().add_scalar(T::ONE)))]
        })
    }

    /// `y = max(x, 0)`. dy/dx = 1 for x > 0 and 0 for x < 0; at x = 0 it is taken as 0 (PyTorch).
    ///
    /// Since y > 0 exactly when x > 0, the mask is read from the output. Written as "zero where
    /// y <= 0" so that a NaN input passes its gradient through, as PyTorch's `threshold_backward`.
    #[track_caller]
    pub fn relu(&self) -> Var<T> {
        let y = self.value_ref().relu();
        Var::from_differentiable_op("relu", y, &[self], |a| {
            // The mask is a constant of the input (relu's second derivative is zero a.e.).
            let blocked = a.output.value_ref().map(|y| if y <= T::ZERO { T::ONE } else { T::ZERO });
            vec![Some(a.grad.masked_fill(&blocked, T::ZERO))]
        })
    }

    /// GELU, tanh approximation (GPT-2): `y = x/2 (1 + tanh(c (x + k x^3)))`, c = sqrt(2/pi),
    /// k = 0.044715.
    ///
    /// With `u = c (x + k x^3)` and `t = tanh u`, `y = x/2 (1 + t)` and the product rule gives
    ///
    /// dy/dx = (1 + t)/2 + x/2 (1 - t^2) du/dx,    du/dx = c (1 + 3k x^2),
    ///
    /// using d tanh(u)/du = 1 - tanh^2 u. The input is saved and t recomputed in backward.
    #[track_caller]
    pub fn gelu_tanh(&self) -> Var<T> {
        let x = self.value();
        let y = x.gelu_tanh();
        let (c, k, half) = (T::from_f64(SQRT_2_OVER_PI), T::from_f64(GELU_CUBIC), T::from_f64(0.5));
        let three_k = T::from_f64(3.0 * GELU_CUBIC);
        let dydx = move |x: T| {
            let t = (c * (x + k * x * x * x)).tanh();
            let sech2 = T::ONE - t * t;
            // Far from 0, t is exactly ±1; skip the second term, whose x^2 could overflow and
            // turn 0 * inf into NaN.
            if sech2 == T::ZERO {
                half * (T::ONE + t)
            } else {
                half * (T::ONE + t) + half * x * sech2 * c * (T::ONE + three_k * x * x)
            }
        };
        let fast = move |g: &Tensor<T>| vec![Some(g.zip_with(&x, "gelu_tanh_backward", |g, x| g * dydx(x)))];
        Var::from_fused_op("gelu_tanh", y, &[self], fast, |v| crate::composed::gelu_tanh(&v[0]))
    }

    /// GELU, exact form (PyTorch's default): `y = x Phi(x) = x/2 (1 + erf(x / sqrt 2))`, with Phi
    /// the standard normal CDF.
    ///
    /// By the product rule dy/dx = Phi(x) + x Phi'(x), and Phi' is the normal density phi:
    /// d/dz erf(z) = 2/sqrt(pi) e^(-z^2), so with z = x / sqrt 2,
    ///
    /// Phi'(x) = 1/2 * 2/sqrt(pi) * e^(-x^2/2) * 1/sqrt(2) = e^(-x^2/2) / sqrt(2 pi) = phi(x),
    ///
    /// dy/dx = Phi(x) + x phi(x).
    #[track_caller]
    pub fn gelu_erf(&self) -> Var<T> {
        let x = self.value();
        // Phi(x) comes out of the forward pass and is saved: the backward needs no erf.
        let (y, cdf) = x.gelu_erf_with_cdf();
        // g * (Phi(x) + x * phi(x)), as one vectorised tensor kernel.
        let fast = move |g: &Tensor<T>| vec![Some(x.gelu_erf_backward_with_cdf(&cdf, g))];
        Var::from_fused_op("gelu_erf", y, &[self], fast, |v| crate::composed::gelu_erf(&v[0]))
    }

    /// `y = erf x`, the error function. dy/dx = 2/sqrt(pi) e^(-x^2): `dx = g 2/sqrt(pi) e^(-x^2)`,
    /// written with `Var` ops so that it can be differentiated again (the exact GELU's twin,
    /// [`crate::composed::gelu_erf`], is built on it).
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let x = Var::parameter(Tensor::<f64>::from_vec(vec![0.0], &[1]));
    /// let g = x.erf().sum_all().backward();
    /// assert!((g.get(&x).unwrap().item() - 2.0 / std::f64::consts::PI.sqrt()).abs() < 1e-15);
    /// ```
    #[track_caller]
    pub fn erf(&self) -> Var<T> {
        let y = self.value_ref().map(T::erf);
        Var::from_differentiable_op("erf", y, &[self], |a| {
            let x = &a.inputs[0];
            let slope = x.mul(x).neg().exp().mul_scalar(T::from_f64(std::f64::consts::FRAC_2_SQRT_PI));
            vec![Some(a.grad.mul(&slope))]
        })
    }

    /// `c = max(a, b)` elementwise with broadcasting; NaN if either is NaN.
    ///
    /// The gradient goes to the larger input: d/da = 1 where a > b, 0 where a < b, and d/db the
    /// other way round. At a tie (a == b) the derivative is undefined; as `torch.maximum`, each
    /// input gets half (`g/2`), so the two halves add back to `g`. Where either input is NaN,
    /// both get the full `g` (PyTorch's formula `where(a == b, g/2, g).masked_fill(a < b, 0)`
    /// does the same: every comparison with NaN is false). Each gradient is summed back to its
    /// input's shape.
    ///
    /// ```
    /// use autograd::Var;
    /// use tensor::Tensor;
    /// let a = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]));
    /// let b = Var::parameter(Tensor::<f64>::from_vec(vec![2.0], &[1])); // broadcast
    /// let g = a.maximum(&b).sum_all().backward();
    /// assert_eq!(g.get(&a).unwrap().to_vec(), vec![0.0, 0.5, 1.0]); // the tie splits
    /// assert_eq!(g.get(&b).unwrap().to_vec(), vec![1.5]); //           1 + 0.5 + 0
    /// ```
    #[track_caller]
    pub fn maximum(&self, other: &Var<T>) -> Var<T> {
        let (a, b) = (self.value(), other.value());
        let value = a.maximum(&b);
        Var::from_differentiable_op("maximum", value, &[self, other], move |args| {
            // share(x, y): the part of g that goes to x when y is the other input. The weights
            // are constants of the inputs (the second derivative is zero away from ties).
            let share = |x: &Tensor<T>, y: &Tensor<T>| {
                let w = x.zip_with(y, "maximum_backward", |x, y| split_weight(x == y, x < y));
                args.grad.mul(&Var::constant(w)).sum_to_shape(x.shape())
            };
            let [va, vb] = [&args.inputs[0], &args.inputs[1]];
            vec![va.requires_grad().then(|| share(&a, &b)), vb.requires_grad().then(|| share(&b, &a))]
        })
    }

    /// `c = min(a, b)` elementwise with broadcasting; NaN if either is NaN.
    ///
    /// The mirror of [`Var::maximum`]: the gradient goes to the smaller input, a tie splits it
    /// half and half (as `torch.minimum`), and a NaN passes the full `g` to both inputs.
    #[track_caller]
    pub fn minimum(&self, other: &Var<T>) -> Var<T> {
        let (a, b) = (self.value(), other.value());
        let value = a.minimum(&b);
        Var::from_differentiable_op("minimum", value, &[self, other], move |args| {
            let share = |x: &Tensor<T>, y: &Tensor<T>| {
                let w = x.zip_with(y, "minimum_backward", |x, y| split_weight(x == y, x > y));
                args.grad.mul(&Var::constant(w)).sum_to_shape(x.shape())
            };
            let [va, vb] = [&args.inputs[0], &args.inputs[1]];
            vec![va.requires_grad().then(|| share(&a, &b)), vb.requires_grad().then(|| share(&b, &a))]
        })
    }
}

/// The fraction of the gradient an input of maximum/minimum receives: half at a tie, none when
/// it loses, and all of it otherwise: when it wins, or when a NaN makes every comparison false.
fn split_weight<T: Float>(tie: bool, loses: bool) -> T {
    if tie {
        T::from_f64(0.5)
    } else if loses {
        T::ZERO
    } else {
        T::ONE
    }
}
