//! The sinusoidal table against its formula, and how both positional layers are added.

use std::panic::AssertUnwindSafe;

use autograd::Var;
use tensor::{Tensor, rng_from_seed};
use transformer::{LearnedPositional, SinusoidalEncoding};

const D: usize = 16;

/// `pos / 10000^(2i/d)`, written differently from the layer (exp of a log) so that a shared
/// mistake is unlikely.
fn angle(pos: usize, i: usize) -> f64 {
    pos as f64 * (-(2.0 * i as f64 / D as f64) * 10000f64.ln()).exp()
}

#[test]
fn sinusoidal_values_match_the_formula() {
    let pe64 = SinusoidalEncoding::<f64>::new(10, D);
    let pe32 = SinusoidalEncoding::<f32>::new(10, D);
    assert_eq!(pe64.table().shape(), &[10, D]);
    for pos in [0, 1, 7] {
        for i in [0, 1, D / 2 - 1] {
            let (s, c) = (angle(pos, i).sin(), angle(pos, i).cos());
            for (col, want) in [(2 * i, s), (2 * i + 1, c)] {
                let got = pe64.table().get(&[pos, col]);
                assert!((got - want).abs() < 1e-12, "PE({pos}, {col}) = {got}, formula {want}");
                let got32 = pe32.table().get(&[pos, col]) as f64;
                assert!((got32 - want).abs() < 1e-6, "f32 PE({pos}, {col}) = {got32}, formula {want}");
            }
        }
    }
    // Hand-checked anchors: position 0 is (0, 1, 0, 1, ...); at i = 0 the angle is the position itself.
    assert_eq!(pe64.table().narrow(0, 0, 1).to_vec(), (0..D).map(|c| (c % 2) as f64).collect::<Vec<_>>());
    assert!((pe64.table().get(&[7, 0]) - 7f64.sin()).abs() < 1e-15);
    assert!((pe64.table().get(&[1, 1]) - 1f64.cos()).abs() < 1e-15);
    // The last pair turns slowest: 10000^(-14/16) = 10^(-3.5).
    assert!((pe64.table().get(&[7, D - 2]) - (7.0 * 10f64.powf(-3.5)).sin()).abs() < 1e-15);
}

#[test]
fn sinusoidal_forward_adds_rows_from_start() {
    let pe = SinusoidalEncoding::<f64>::new(10, D);
    let x = Tensor::<f64>::rand_normal(&[2, 3, D], 0.0, 1.0, 1);
    let y = pe.forward(&Var::constant(x.clone()), 4).value();
    for b in 0..2 {
        for t in 0..3 {
            for c in 0..D {
                assert_eq!(y.get(&[b, t, c]), x.get(&[b, t, c]) + pe.table().get(&[4 + t, c]));
            }
        }
    }
    let past_the_end = std::panic::catch_unwind(AssertUnwindSafe(|| pe.forward(&Var::constant(x.clone()), 8)));
    assert!(past_the_end.is_err());
}

#[test]
fn learned_positional_adds_rows_from_start() {
    let pos = LearnedPositional::<f64>::new(6, 4, 1.0, &mut rng_from_seed(2));
    let x = Tensor::<f64>::rand_normal(&[2, 3, 4], 0.0, 1.0, 3);
    let y = pos.forward(&Var::constant(x.clone()), 2).value();
    let w = pos.weight.value();
    for b in 0..2 {
        for t in 0..3 {
            for c in 0..4 {
                assert_eq!(y.get(&[b, t, c]), x.get(&[b, t, c]) + w.get(&[2 + t, c]));
            }
        }
    }
    assert!(std::panic::catch_unwind(AssertUnwindSafe(|| pos.positions(4, 3))).is_err());
}
