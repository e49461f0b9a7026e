//! Reference solutions, one file per exercise, each holding only the backward (the forward is the
//! exercise's own). `cargo run --release --example exercises --features solutions` grades these
//! instead of yours. Try the exercise first: the point is the derivation, not the answer.

pub mod e01_broadcast_mul;
pub mod e02_sum_keepdim;
pub mod e03_matmul;
pub mod e04_tanh;
pub mod e05_gelu;
pub mod e06_softmax;
pub mod e07_cross_entropy;
pub mod e08_embedding;
pub mod e09_layer_norm;
pub mod e10_attention;
pub mod e11_mlp_step;
