//! Optimizers, clipping and schedules against steps computed by hand.
//!
//! Every case uses the loss `L = sum(c * p)` with a constant `c`, so the gradient is `c` at every
//! step and the expected parameter values can be worked out on paper (the literals below).

use autograd::{Gradients, Var};
use tensor::Tensor;
use transformer::optim::{AdamW, LrSchedule, Optimizer, ParamGroup, Sgd, clip_grad_norm, global_grad_norm};

fn param(shape: &[usize], value: f64) -> Var<f64> {
    Var::parameter(Tensor::full(shape, value))
}

/// Gradients of `sum(0.5 * p)` for each parameter: 0.5 everywhere.
fn grads_half(params: &[&Var<f64>]) -> Gradients<f64> {
    let mut loss: Option<Var<f64>> = None;
    for p in params {
        let term = p.mul_scalar(0.5).sum_all();
        loss = Some(match loss {
            None => term,
            Some(l) => l.add(&term),
        });
    }
    loss.unwrap().backward()
}

fn value(p: &Var<f64>) -> f64 {
    p.value().to_vec()[0]
}

#[test]
fn sgd_plain_momentum_and_nesterov() {
    // plain: p = 1 - 0.1 * 0.5
    let p = param(&[1], 1.0);
    let mut opt = Sgd::new(vec![p.clone()], 0.1);
    opt.step(&grads_half(&[&p]));
    assert!((value(&p) - 0.95).abs() < 1e-15);

    // momentum 0.9: b1 = 0.5, p1 = 0.95; b2 = 0.9 * 0.5 + 0.5 = 0.95, p2 = 0.95 - 0.095 = 0.855
    let p = param(&[1], 1.0);
    let mut opt = Sgd::new(vec![p.clone()], 0.1).with_momentum(0.9, false);
    opt.step(&grads_half(&[&p]));
    assert!((value(&p) - 0.95).abs() < 1e-15);
    opt.step(&grads_half(&[&p]));
    assert!((value(&p) - 0.855).abs() < 1e-15, "{}", value(&p));

    // Nesterov: b1 = 0.5, d1 = 0.5 + 0.45 = 0.95, p1 = 0.905; b2 = 0.95, d2 = 0.5 + 0.855, p2 = 0.7695
    let p = param(&[1], 1.0);
    let mut opt = Sgd::new(vec![p.clone()], 0.1).with_momentum(0.9, true);
    opt.step(&grads_half(&[&p]));
    assert!((value(&p) - 0.905).abs() < 1e-15);
    opt.step(&grads_half(&[&p]));
    assert!((value(&p) - 0.7695).abs() < 1e-15, "{}", value(&p));
}

#[test]
fn adam_takes_steps_of_lr_on_a_constant_gradient() {
    // m_hat = 0.5 and v_hat = 0.25 at every step, so each step moves lr * 0.5 / (0.5 + eps).
    let p = param(&[2], 1.0);
    let mut opt = AdamW::adam(vec![p.clone()], 0.1);
    opt.step(&grads_half(&[&p]));
    assert!((value(&p) - 0.900000002).abs() < 1e-12, "{}", value(&p));
    opt.step(&grads_half(&[&p]));
    assert!((value(&p) - 0.8000000040000006).abs() < 1e-12, "{}", value(&p));
    assert_eq!(opt.step_count(), 2);
}

#[test]
fn adam_with_l2_penalty_adds_decay_to_the_gradient() {
    let p = param(&[1], 1.0);
    let groups = vec![ParamGroup { param: p.clone(), name: "w".into(), decay: true }];
    let mut opt = AdamW::from_groups(groups, 0.1, 0.1, false);
    opt.step(&grads_half(&[&p]));
    assert!((value(&p) - 0.9000000016666666).abs() < 1e-12, "{}", value(&p));
    opt.step(&grads_half(&[&p]));
    assert!((value(&p) - 0.8000473404883315).abs() < 1e-12, "{}", value(&p));
}

#[test]
fn adamw_decays_only_weight_matrices() {
    let weight = param(&[1, 1], 1.0);
    let bias = param(&[1], 1.0);
    let embedding = param(&[1, 1], 1.0);
    let named = vec![
        ("fc.weight".to_string(), weight.clone()),
        ("fc.bias".to_string(), bias.clone()),
        ("wte.weight".to_string(), embedding.clone()),
    ];
    let mut opt = AdamW::new(named, 0.1, 0.1);
    let decays: Vec<bool> = opt.groups().iter().map(|g| g.decay).collect();
    assert_eq!(decays, vec![true, false, false]);
    for _ in 0..2 {
        opt.step(&grads_half(&[&weight, &bias, &embedding]));
    }
    // decoupled: p *= 1 - lr * wd before the Adam step: 1 -> 0.99 - 0.1 = 0.89 -> 0.8811 - 0.1
    assert!((value(&weight) - 0.7811000039800006).abs() < 1e-12, "{}", value(&weight));
    assert!((value(&bias) - 0.8000000040000006).abs() < 1e-12);
    assert!((value(&embedding) - 0.8000000040000006).abs() < 1e-12);
}

#[test]
fn parameters_without_gradients_are_left_alone() {
    let used = param(&[1], 1.0);
    let unused = param(&[1], 1.0);
    let mut opt = AdamW::adam(vec![used.clone(), unused.clone()], 0.1);
    opt.step(&grads_half(&[&used]));
    assert_eq!(value(&unused), 1.0);
    assert!(value(&used) < 1.0);
}

#[test]
fn clipping_scales_to_the_max_norm() {
    let a = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 1.0], &[2]));
    let b = Var::parameter(Tensor::<f64>::from_vec(vec![1.0], &[1]));
    // L = 3 a0 + 0 a1 + 4 b0: gradients (3, 0) and (4): global norm 5.
    let c = Var::constant(Tensor::from_vec(vec![3.0, 0.0], &[2]));
    let loss = a.mul(&c).sum_all().add(&b.mul_scalar(4.0).sum_all());
    let mut g = loss.backward();
    let params = vec![a.clone(), b.clone()];
    assert!((global_grad_norm(&g, &params) - 5.0).abs() < 1e-12);
    let before = clip_grad_norm(&mut g, &params, 1.0);
    assert!((before - 5.0).abs() < 1e-12);
    assert!((global_grad_norm(&g, &params) - 1.0).abs() < 1e-6);
    assert!((g.get(&a).unwrap().to_vec()[0] - 0.6).abs() < 1e-6);
    assert!((g.get(&b).unwrap().to_vec()[0] - 0.8).abs() < 1e-6);
    // Under the limit nothing changes.
    let before = clip_grad_norm(&mut g, &params, 10.0);
    assert!((before - 1.0).abs() < 1e-6);
    assert!((g.get(&b).unwrap().to_vec()[0] - 0.8).abs() < 1e-6);
}

#[test]
fn accumulating_micro_batches_matches_the_full_batch() {
    // Mean loss over 4 rows == average of the mean losses of two halves.
    let w = Var::parameter(Tensor::<f64>::rand_normal(&[3, 2], 0.0, 1.0, 1));
    let x = Tensor::<f64>::rand_normal(&[4, 3], 0.0, 1.0, 2);
    let targets = [0usize, 1, 1, 0];
    let full = Var::constant(x.clone()).matmul(&w).cross_entropy(&targets, None).backward();
    let mut acc = Gradients::new();
    for half in 0..2 {
        let xb = Var::constant(x.narrow(0, 2 * half, 2).contiguous());
        acc.accumulate(xb.matmul(&w).cross_entropy(&targets[2 * half..2 * half + 2], None).backward());
    }
    acc.scale(0.5);
    tensor::assert_allclose(acc.get(&w).unwrap(), full.get(&w).unwrap(), 1e-12, 1e-14);
}

#[test]
fn schedules_match_their_formulas() {
    let s = LrSchedule::WarmupCosine { max_lr: 1e-3, min_lr: 1e-4, warmup_iters: 100, decay_iters: 2000 };
    assert!((s.lr_at(0) - 1e-3 / 101.0).abs() < 1e-15);
    assert!((s.lr_at(99) - 1e-3 * 100.0 / 101.0).abs() < 1e-15);
    assert!((s.lr_at(100) - 1e-3).abs() < 1e-15);
    assert!((s.lr_at(1100) - 0.0005128392945374505).abs() < 1e-15);
    assert!((s.lr_at(2000) - 1e-4).abs() < 1e-15);
    assert_eq!(s.lr_at(2001), 1e-4);
    assert_eq!(LrSchedule::Constant(0.3).lr_at(12345), 0.3);
    let noam = LrSchedule::Noam { d_model: 512, warmup: 4000, factor: 1.0 };
    assert!((noam.lr_at(3999) - 0.0006987712429686843).abs() < 1e-15); // peak at step 4000
    assert!((noam.lr_at(99) - 1.746928107421711e-05).abs() < 1e-15);
    assert!(noam.lr_at(3999) > noam.lr_at(3998) && noam.lr_at(3999) > noam.lr_at(4000));
}

#[test]
fn clipping_is_exact_on_any_thread_count() {
    // Several parameters, some larger than one parallel chunk, in f32: the norm and every scaled
    // element are the same bits on 1, 2 and 3 threads, and each element is exactly g * scale.
    let shapes: [&[usize]; 4] = [&[300, 200], &[7], &[128, 512], &[65, 128]];
    let raw: Vec<Tensor<f32>> =
        shapes.iter().enumerate().map(|(i, s)| Tensor::<f32>::rand_normal(s, 0.0, 1.0, i as u64 + 1)).collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            // Variables are not `Send`: each run builds its own, on the pool's thread.
            let params: Vec<Var<f32>> = shapes.iter().map(|s| Var::parameter(Tensor::<f32>::zeros(s))).collect();
            let mut g = Gradients::new();
            for (p, t) in params.iter().zip(&raw) {
                g.insert(p, t.clone());
            }
            let norm = clip_grad_norm(&mut g, &params, 1.0);
            let bits: Vec<Vec<u32>> =
                params.iter().map(|p| g.get(p).unwrap().to_vec().iter().map(|v| v.to_bits()).collect()).collect();
            (norm.to_bits(), bits)
        })
    };
    let one = run(1);
    for threads in [2, 3] {
        assert!(run(threads) == one, "{threads} threads differ from 1");
    }
    let norm = f64::from_bits(one.0);
    let naive: f64 = raw.iter().flat_map(|t| t.to_vec()).map(|v| (v as f64) * (v as f64)).sum::<f64>().sqrt();
    assert!((norm - naive).abs() <= 1e-12 * naive, "{norm} against {naive}");
    let scale = (1.0 / (norm + 1e-6)) as f32;
    for (t, got) in raw.iter().zip(&one.1) {
        let want: Vec<u32> = t.to_vec().iter().map(|&v| (v * scale).to_bits()).collect();
        assert_eq!(&want, got);
    }
}
