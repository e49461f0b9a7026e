//! Arithmetic with broadcasting: add, sub, mul, div, neg, and their scalar forms.

use tensor::{Float, Tensor};

use crate::var::Var;

impl<T: Float> Var<T> {
    /// `a + b` with broadcasting. d/da = 1, d/db = 1, each summed back to its input's shape.
    #[track_caller]
    pub fn add(&self, other: &Var<T>) -> Var<T> {
        let value = self.value_ref().add(&other.value_ref());
        let (sa, sb) = (self.shape(), other.shape());
        Var::from_op("add", value, &[self, other], move |g| vec![Some(g.sum_to_shape(&sa)), Some(g.sum_to_shape(&sb))])
    }

    /// `a - b` with broadcasting. d/da = 1, d/db = -1.
    #[track_caller]
    pub fn sub(&self, other: &Var<T>) -> Var<T> {
        let value = self.value_ref().sub(&other.value_ref());
        let (sa, sb) = (self.shape(), other.shape());
        Var::from_op("sub", value, &[self, other], move |g| {
            vec![Some(g.sum_to_shape(&sa)), Some(g.neg().sum_to_shape(&sb))]
        })
    }

    /// `a * b` with broadcasting. d/da = b, d/db = a.
    #[track_caller]
    pub fn mul(&self, other: &Var<T>) -> Var<T> {
        let (a, b) = (self.value(), other.value());
        let value = a.mul(&b);
        let (need_a, need_b) = (self.requires_grad(), other.requires_grad());
        Var::from_op("mul", value, &[self, other], move |g| {
            vec![need_a.then(|| g.mul(&b).sum_to_shape(a.shape())), need_b.then(|| g.mul(&a).sum_to_shape(b.shape()))]
        })
    }

    /// `a / b` with broadcasting. d/da = 1/b, d/db = -a/b^2.
    #[track_caller]
    pub fn div(&self, other: &Var<T>) -> Var<T> {
        let (a, b) = (self.value(), other.value());
        let value = a.div(&b);
        let (need_a, need_b) = (self.requires_grad(), other.requires_grad());
        Var::from_op("div", value, &[self, other], move |g| {
            vec![
                need_a.then(|| g.div(&b).sum_to_shape(a.shape())),
                need_b.then(|| g.mul(&a).div(&b.mul(&b)).neg().sum_to_shape(b.shape())),
            ]
        })
    }

    /// `-a`. d/da = -1.
    pub fn neg(&self) -> Var<T> {
        Var::from_op("neg", self.value_ref().neg(), &[self], |g| vec![Some(g.neg())])
    }

    /// `a + s` for a scalar `s`. d/da = 1.
    pub fn add_scalar(&self, s: T) -> Var<T> {
        Var::from_op("add_scalar", self.value_ref().add_scalar(s), &[self], |g| vec![Some(g.clone())])
    }

    /// `a - s` for a scalar `s`. d/da = 1.
    pub fn sub_scalar(&self, s: T) -> Var<T> {
        Var::from_op("sub_scalar", self.value_ref().sub_scalar(s), &[self], |g| vec![Some(g.clone())])
    }

    /// `a * s` for a scalar `s`. d/da = s.
    pub fn mul_scalar(&self, s: T) -> Var<T> {
        Var::from_op("mul_scalar", self.value_ref().mul_scalar(s), &[self], move |g| vec![Some(g.mul_scalar(s))])
    }

    /// `a / s` for a scalar `s`. d/da = 1/s.
    pub fn div_scalar(&self, s: T) -> Var<T> {
        Var::from_op("div_scalar", self.value_ref().div_scalar(s), &[self], move |g| vec![Some(g.div_scalar(s))])
    }
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
