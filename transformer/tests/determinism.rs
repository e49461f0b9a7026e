//! Reproducibility: the same seed builds the same model, and the thread count never changes a bit
//! of the result (no floating-point reduction is split by the number of threads).

use tensor::Float;
use transformer::{Gpt, GptConfig, Module};

fn small(bias: bool) -> GptConfig {
    GptConfig { vocab_size: 17, block_size: 8, n_layer: 2, n_head: 2, n_embd: 16, dropout: 0.1, bias }
}

fn parameter_bits<T: Float>(gpt: &Gpt<T>) -> Vec<(String, Vec<u64>)> {
    gpt.named_parameters()
        .into_iter()
        .map(|(n, p)| (n, p.value().to_vec().iter().map(|x| x.to_f64().to_bits()).collect()))
        .collect()
}

fn same_seed_same_parameters<T: Float>() {
    for bias in [false, true] {
        let a = parameter_bits(&Gpt::<T>::new(small(bias), 42));
        assert_eq!(a, parameter_bits(&Gpt::<T>::new(small(bias), 42)), "{}", T::NAME);
        let c = parameter_bits(&Gpt::<T>::new(small(bias), 43));
        let w = |p: &[(String, Vec<u64>)]| p.iter().find(|(n, _)| n == "wte.weight").unwrap().1.clone();
        assert_ne!(w(&a), w(&c), "another seed must give other weights");
    }
}

#[test]
fn same_seed_gives_identical_parameters() {
    same_seed_same_parameters::<f32>();
    same_seed_same_parameters::<f64>();
}

#[test]
fn same_seed_gives_identical_dropout_masks() {
    let ids: Vec<usize> = (0..16).map(|i| (i * 5) % 17).collect();
    let run = || Gpt::<f32>::new(small(true), 7).forward(&ids, [2, 8]).value().to_vec(); // training mode
    assert_eq!(run(), run());
}

/// Logits, loss and the gradient of every parameter of nanoGPT's CPU-sized model (f32) on a batch
/// big enough for the matmul to split across threads: (B*T = 256 rows) x 128 -> 512 is about
/// 3.4e7 flops, above the parallel threshold, with 2 row blocks of 128; the attention products
/// (B*h = 16 batches of 64x32x64) are split across the batch.
fn forward_backward_bits() -> Vec<u32> {
    let config =
        GptConfig { vocab_size: 65, block_size: 64, n_layer: 2, n_head: 4, n_embd: 128, dropout: 0.0, bias: true };
    let gpt = Gpt::<f32>::new(config, 3);
    let ids: Vec<usize> = (0..4 * 64).map(|i| (i * 7 + i / 5) % 65).collect();
    let targets: Vec<usize> = (0..4 * 64).map(|i| (i * 11 + 3) % 65).collect();
    let logits = gpt.forward(&ids, [4, 64]);
    let loss = logits.reshape(&[256, 65]).cross_entropy(&targets, None);
    let grads = loss.backward();
    let mut bits: Vec<u32> = logits.value().to_vec().iter().map(|x| x.to_bits()).collect();
    bits.push(loss.item().to_bits());
    for p in gpt.parameters() {
        bits.extend(grads.get(&p).unwrap().to_vec().iter().map(|x| x.to_bits()));
    }
    bits
}

fn in_pool(threads: usize) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    // The model is built inside the pool: its variables are `Rc`s and stay on one thread.
    pool.install(forward_backward_bits)
}

#[test]
fn thread_count_does_not_change_a_bit() {
    let one = in_pool(1);
    let two = in_pool(2);
    assert_eq!(one.len(), two.len());
    let first_diff = one.iter().zip(&two).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "1 and 2 threads differ");
    assert_eq!(in_pool(3), one, "1 and 3 threads differ");
}
