//! Every safe function that wraps `unsafe` code refuses the inputs its safety argument rules out:
//! each kernel below writes into memory it sized from its inputs' shapes, so a shape that does not
//! fit would make it write out of bounds. Each must panic, naming the op, before any write.

use tensor::{LayerNormStats, Tensor};

fn t(shape: &[usize]) -> Tensor<f64> {
    Tensor::rand_normal(shape, 0.0, 1.0, 0)
}

#[test]
#[should_panic(expected = "matmul_into")]
fn matmul_into_a_buffer_too_short() {
    let mut out = vec![0.0; 3];
    t(&[2, 3]).matmul_into(&t(&[3, 2]), &mut out);
}

#[test]
#[should_panic(expected = "matmul_into")]
fn matmul_into_a_buffer_too_long() {
    let mut out = vec![0.0; 5];
    t(&[2, 3]).matmul_into(&t(&[3, 2]), &mut out);
}

#[test]
#[should_panic(expected = "add")]
fn zip_with_shapes_that_do_not_broadcast() {
    let _ = t(&[2, 3]).zip_with(&t(&[4]), "add", |a, b| a + b);
}

#[test]
#[should_panic(expected = "gelu_erf_backward_with_cdf")]
fn gelu_backward_with_a_cdf_of_another_shape() {
    let x = t(&[2, 3]);
    let _ = x.gelu_erf_backward_with_cdf(&t(&[3, 2]), &t(&[2, 3]));
}

#[test]
#[should_panic(expected = "gelu_erf_backward_with_cdf")]
fn gelu_backward_with_a_gradient_of_another_shape() {
    let x = t(&[2, 3]);
    let _ = x.gelu_erf_backward_with_cdf(&t(&[2, 3]), &t(&[6]));
}

#[test]
#[should_panic(expected = "layer_norm")]
fn layer_norm_with_a_weight_of_another_width() {
    let _ = t(&[2, 3]).layer_norm(&t(&[4]), None, 1e-5);
}

#[test]
#[should_panic(expected = "layer_norm_backward")]
fn layer_norm_backward_with_stats_for_other_rows() {
    let x = t(&[2, 3]);
    let stats = LayerNormStats { mean: vec![0.0; 5], rstd: vec![1.0; 5] };
    let _ = Tensor::layer_norm_backward(&x, &t(&[3]), &stats, &t(&[2, 3]));
}

#[test]
#[should_panic(expected = "attention")]
fn attention_with_a_mask_that_does_not_broadcast() {
    let q = t(&[2, 4, 3]);
    let _ = Tensor::attention(&q, &q, &q, Some(&t(&[3, 4])), 1.0);
}

#[test]
#[should_panic(expected = "attention_backward")]
fn attention_backward_with_weights_of_another_shape() {
    let q = t(&[2, 4, 3]);
    let _ = Tensor::attention_backward(&q, &q, &q, &t(&[2, 4, 5]), &t(&[2, 4, 3]), 1.0);
}

#[test]
#[should_panic(expected = "attention_backward_packed")]
fn attention_backward_packed_with_a_gradient_of_another_shape() {
    let packed = t(&[2, 4, 12]); // d = 4, 2 heads
    let _ = Tensor::attention_backward_packed(&packed, 2, &t(&[2, 2, 4, 4]), &t(&[2, 2, 4, 3]), 1.0);
}
