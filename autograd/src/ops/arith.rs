//! Arithmetic with broadcasting: add, sub, mul, div, neg, and their scalar forms.

use tensor::{Float, Tensor};

use crate::var::Var;

impl<T: Float> Var<T> {
    /// `a + b` with broadcasting. d/da = 1, d/db = 1, each summed back to its input's shape.
    #[track_caller]
    pub fn add(&self, other: &Var<T>) -> Var<T> {
        let value = self.value_ref().add(&other.value_ref());
        let (sa, sb) = (self.shape(), other.shape());
        Var::from_differentiable_op("add", value, &[self, other], move |a| {
            vec![Some(a.grad.sum_to_shape(&sa)), Some(a.grad.sum_to_shape(&sb))]
        })
    }

    /// `a - b` with broadcasting. d/da = 1, d/db = -1.
    #[track_caller]
    pub fn sub(&self, other: &Var<T>) -> Var<T> {
        let value = self.value_ref().sub(&other.value_ref());
        let (sa, sb) = (self.shape(), other.shape());
        Var::from_differentiable_op("sub", value, &[self, other], move |a| {
            vec![Some(a.grad.sum_to_shape(&sa)), Some(a.grad.neg().sum_to_shape(&sb))]
        })
    }

    /// `a * b` with broadcasting. d/da = b, d/db = a.
    #[track_caller]
    pub fn mul(&self, other: &Var<T>) -> Var<T> {
        let value = self.value_ref().mul(&other.value_ref());
        Var::from_differentiable_op("mul", value, &[self, other], |args| {
            let ([a, b], g) = (binary(args.inputs), args.grad);
            vec![
                a.requires_grad().then(|| g.mul(b).sum_to_shape(&a.shape())),
                b.requires_grad().then(|| g.mul(a).sum_to_shape(&b.shape())),
            ]
        })
    }

    /// `a / b` with broadcasting. d/da = 1/b, d/db = -a/b^2.
    #[track_caller]
    pub fn div(&self, other: &Var<T>) -> Var<T> {
        let value = self.value_ref().div(&other.value_ref());
        Var::from_differentiable_op("div", value, &[self, other], |args| {
            let ([a, b], g) = (binary(args.inputs), args.grad);
            vec![
                a.requires_grad().then(|| g.div(b).sum_to_shape(&a.shape())),
                b.requires_grad().then(|| g.mul(a).div(&b.mul(b)).neg().sum_to_shape(&b.shape())),
            ]
        })
    }

    /// `-a`. d/da = -1.
    pub fn neg(&self) -> Var<T> {
        Var::from_differentiable_op("neg", self.value_ref().neg(), &[self], |a| vec![Some(a.grad.neg())])
    }

    /// `a + s` for a scalar `s`. d/da = 1.
    pub fn add_scalar(&self, s: T) -> Var<T> {
        Var::from_differentiable_op("add_scalar", self.value_ref().add_scalar(s), &[self], |a| {
            vec![Some(a.grad.clone())]
        })
    }

    /// `a - s` for a scalar `s`. d/da = 1.
    pub fn sub_scalar(&self, s: T) -> Var<T> {
        Var::from_differentiable_op("sub_scalar", self.value_ref().sub_scalar(s), &[self], |a| {
            vec![Some(a.grad.clone())]
        })
    }

    /// `a * s` for a scalar `s`. d/da = s.
    pub fn mul_scalar(&self, s: T) -> Var<T> {
        Var::from_differentiable_op("mul_scalar", self.value_ref().mul_scalar(s), &[self], move |a| {
            vec![Some(a.grad.mul_scalar(s))]
        })
    }

    /// `a / s` for a scalar `s`. d/da = 1/s.
    pub fn div_scalar(&self, s: T) -> Var<T> {
        Var::from_differentiable_op("div_scalar", self.value_ref().div_scalar(s), &[self], move |a| {
            vec![Some(a.grad.div_scalar(s))]
        })
    }
}

/// The two inputs of a binary op.
fn binary<T: Float>(inputs: &[Var<T>]) -> [&Var<T>; 2] {
    [&inputs[0], &inputs[1]]
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident) => {
        impl<T: Float> std::ops::$trait<&Var<T>> for &Var<T> {
            type Output = Var<T>;
            #[track_caller]
            fn $method(self, rhs: &Var<T>) -> Var<T> {
                Var::$method(self, rhs)
            }
        }
        impl<T: Float> std::ops::$trait<Var<T>> for Var<T> {
            type Output = Var<T>;
            #[track_caller]
            fn $method(self, rhs: Var<T>) -> Var<T> {
                Var::$method(&self, &rhs)
            }
        }
        impl<T: Float> std::ops::$trait<&Var<T>> for Var<T> {
            type Output = Var<T>;
            #[track_caller]
            fn $method(self, rhs: &Var<T>) -> Var<T> {
                Var::$method(&self, rhs)
            }
        }
        impl<T: Float> std::ops::$trait<Var<T>> for &Var<T> {
            type Output = Var<T>;
            #[track_caller]
            fn $method(self, rhs: Var<T>) -> Var<T> {
                Var::$method(self, &rhs)
            }
        }
    };
}

binary_operator!(Add, add);
binary_operator!(Sub, sub);
binary_operator!(Mul, mul);
binary_operator!(Div, div);

macro_rules! scalar_operator {
    ($trait:ident, $method:ident, $scalar_method:ident) => {
        impl<T: Float> std::ops::$trait<T> for &Var<T> {
            type Output = Var<T>;
            fn $method(self, rhs: T) -> Var<T> {
                self.$scalar_method(rhs)
            }
        }
        impl<T: Float> std::ops::$trait<T> for Var<T> {
            type Output = Var<T>;
            fn $method(self, rhs: T) -> Var<T> {
                self.$scalar_method(rhs)
            }
        }
    };
}

scalar_operator!(Add, add, add_scalar);
scalar_operator!(Sub, sub, sub_scalar);
scalar_operator!(Mul, mul, mul_scalar);
scalar_operator!(Div, div, div_scalar);

impl<T: Float> std::ops::Neg for &Var<T> {
    type Output = Var<T>;
    fn neg(self) -> Var<T> {
        Var::neg(self)
    }
}

impl<T: Float> std::ops::Neg for Var<T> {
    type Output = Var<T>;
    fn neg(self) -> Var<T> {
        Var::neg(&self)
    }
}

/// Turns a tensor into a constant variable, so tensors mix with variables in expressions.
impl<T: Float> From<Tensor<T>> for Var<T> {
    fn from(t: Tensor<T>) -> Self {
        Var::constant(t)
    }
}
