//! The learner's guide (`docs/guide/`), one module per chapter, so that every Rust code block in
//! the guide is compiled and run as a doctest: the guide breaks the build when the code changes
//! under it. Read it on disk from `docs/guide/README.md`, or here with `cargo doc --open`.

#[doc = include_str!("../docs/guide/01-tensors.md")]
pub mod ch01_tensors {}

#[doc = include_str!("../docs/guide/02-autodiff.md")]
pub mod ch02_autodiff {}

#[doc = include_str!("../docs/guide/03-backward-of-every-primitive.md")]
pub mod ch03_backward_of_every_primitive {}

#[doc = include_str!("../docs/guide/04-gradient-checking.md")]
pub mod ch04_gradient_checking {}

#[doc = include_str!("../docs/guide/05-embeddings-and-positions.md")]
pub mod ch05_embeddings_and_positions {}

#[doc = include_str!("../docs/guide/06-attention.md")]
pub mod ch06_attention {}

#[doc = include_str!("../docs/guide/07-feed-forward-norms-residuals.md")]
pub mod ch07_feed_forward_norms_residuals {}

#[doc = include_str!("../docs/guide/08-encoder-decoder-and-gpt.md")]
pub mod ch08_encoder_decoder_and_gpt {}

#[doc = include_str!("../docs/guide/09-training.md")]
pub mod ch09_training {}

#[doc = include_str!("../docs/guide/10-where-the-time-goes.md")]
pub mod ch10_where_the_time_goes {}

#[doc = include_str!("../docs/guide/11-from-bigram-to-gpt.md")]
pub mod ch11_from_bigram_to_gpt {}

#[doc = include_str!("../docs/guide/12-the-backward-is-a-computation-too.md")]
pub mod ch12_the_backward_is_a_computation_too {}
