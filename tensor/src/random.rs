//! Seeded random tensors: the same seed gives the same numbers on every machine.
//!
//! The generator is ChaCha8 ([`TensorRng`]), whose output stream is fixed by its specification,
//! and normals are drawn with the Box-Muller transform written out here, so no library version
//! or platform detail can change a value.

use rand::{Rng, SeedableRng};

use crate::{Float, Tensor};

/// The crate's random generator: portable and reproducible from a `u64` seed.
pub type TensorRng = rand_chacha::ChaCha8Rng;

/// A generator from a seed.
pub fn rng_from_seed(seed: u64) -> TensorRng {
    TensorRng::seed_from_u64(seed)
}

/// One standard normal draw (Box-Muller, using two uniforms in (0, 1]).
pub fn standard_normal(rng: &mut TensorRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl<T: Float> Tensor<T> {
    /// Uniform values in `[low, high)` drawn from `rng`.
    pub fn rand_uniform_with(shape: &[usize], low: T, high: T, rng: &mut TensorRng) -> Self {
        let (lo, hi) = (low.to_f64(), high.to_f64());
        let data =
            (0..shape.iter().product::<usize>()).map(|_| T::from_f64(lo + (hi - lo) * rng.random::<f64>())).collect();
        Self::from_vec(data, shape)
    }

    /// Normal values with the given mean and standard deviation drawn from `rng`.
    pub fn rand_normal_with(shape: &[usize], mean: T, std: T, rng: &mut TensorRng) -> Self {
        let (m, s) = (mean.to_f64(), std.to_f64());
        let data = (0..shape.iter().product::<usize>()).map(|_| T::from_f64(m + s * standard_normal(rng))).collect();
        Self::from_vec(data, shape)
    }

    /// Uniform values in `[low, high)` from a fresh generator seeded with `seed`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let a = Tensor::<f32>::rand_uniform(&[3], -1.0, 1.0, 7);
    /// let b = Tensor::<f32>::rand_uniform(&[3], -1.0, 1.0, 7);
    /// assert_eq!(a.to_vec(), b.to_vec());
    /// assert!(a.to_vec().iter().all(|v| (-1.0..1.0).contains(v)));
    /// ```
    pub fn rand_uniform(shape: &[usize], low: T, high: T, seed: u64) -> Self {
        Self::rand_uniform_with(shape, low, high, &mut rng_from_seed(seed))
    }

    /// Normal values from a fresh generator seeded with `seed`.
    pub fn rand_normal(shape: &[usize], mean: T, std: T, seed: u64) -> Self {
        Self::rand_normal_with(shape, mean, std, &mut rng_from_seed(seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_moments_are_close() {
        let t = Tensor::<f64>::rand_normal(&[20000], 1.0, 2.0, 3);
        let v = t.to_vec();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!((mean - 1.0).abs() < 0.05, "mean {mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.05, "std {}", var.sqrt());
    }

    #[test]
    fn seeds_are_reproducible_and_distinct() {
        let a = Tensor::<f32>::rand_normal(&[8], 0.0, 1.0, 1).to_vec();
        assert_eq!(a, Tensor::<f32>::rand_normal(&[8], 0.0, 1.0, 1).to_vec());
        assert_ne!(a, Tensor::<f32>::rand_normal(&[8], 0.0, 1.0, 2).to_vec());
    }
}
