//! The track grades what it should: every reference solution passes, every stub is reported as
//! not written yet, and a wrong backward fails with a report that names the wrong input.
//! (`cargo test` runs these: the example is built with `test = true`.)

use std::rc::Rc;

use tensor::Tensor;

use crate::grader::{Comparison, Outcome, Task, grade};
use crate::list::{Answers, exercises};

#[test]
fn every_reference_solution_passes() {
    for ex in exercises(Answers::solutions()) {
        match grade(&ex) {
            Outcome::Passed(_) => {}
            other => panic!("solution {} ({}) does not pass: {other:?}", ex.number, ex.title),
        }
    }
}

/// The exercises as shipped are stubs: a solution committed into a learner's file by mistake
/// would show here. Your own answers are not stubs, so this runs only where `GRADLAB_CHECK_STUBS`
/// is set (the project's CI sets it), and `cargo test` keeps passing while you work.
#[test]
fn every_stub_is_not_written_yet() {
    if std::env::var_os("GRADLAB_CHECK_STUBS").is_none() {
        eprintln!("note: GRADLAB_CHECK_STUBS is not set; the exercise files are not checked to be stubs");
        return;
    }
    let all = exercises(Answers::yours());
    assert!(all.len() >= 10);
    for ex in all {
        assert!(matches!(grade(&ex), Outcome::NotWritten), "exercise {} is not a stub", ex.number);
    }
}

#[test]
fn a_wrong_gradient_fails_naming_its_input_and_worst_element() {
    for number in 1..=exercises(Answers::solutions()).len() {
        let Task::Op { inputs, .. } = &exercises(Answers::solutions())[number - 1].task else { continue };
        let names: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
        for wrong in 0..names.len() {
            let mut ex = exercises(Answers::solutions()).remove(number - 1);
            let Task::Op { backward, .. } = &mut ex.task else { unreachable!() };
            let right = backward.clone();
            // Off by 0.05 everywhere, in one input's gradient only.
            *backward = Rc::new(move |x, y, g| {
                let mut grads = right(x, y, g);
                grads[wrong] = grads[wrong].add_scalar(0.05);
                grads
            });
            let report = match grade(&ex) {
                Outcome::Failed(report) => report,
                other => panic!("exercise {number}: a wrong d{} gave {other:?}", names[wrong]),
            };
            for (i, name) in names.iter().enumerate() {
                let named = report.contains(&format!("  {name} (shape"));
                assert_eq!(named, i == wrong, "exercise {number}, wrong d{}:\n{report}", names[wrong]);
            }
            assert!(report.contains("worst at") && report.contains("analytic"), "{report}");
        }
    }
}

/// A backward that drops the incoming gradient `g` fails, even where the output is one number
/// (exercise 7's loss: the checker weights it by a random factor, not by 1).
#[test]
fn a_backward_that_ignores_the_incoming_gradient_fails() {
    let mut answers = Answers::solutions();
    answers.e07 =
        |logits, targets, _g| (crate::solutions::e07_cross_entropy::backward)(logits, targets, &Tensor::scalar(1.0));
    assert!(matches!(grade(&exercises(answers).remove(6)), Outcome::Failed(_)));
}

/// Layer norm's `eps` matters: a backward that leaves it out of `rstd` fails (one row of `x` is
/// nearly constant, so its variance is small next to `eps`).
#[test]
fn a_layer_norm_backward_without_eps_fails() {
    let mut answers = Answers::solutions();
    answers.e09 = |x, w, _b, g| {
        let rstd = x.var(&[-1], true, false).rsqrt(); // eps forgotten
        let xhat = x.sub(&x.mean(&[-1], true)).mul(&rstd);
        let gh = g.mul(w);
        let dx = rstd.mul(&gh.sub(&gh.mean(&[-1], true)).sub(&xhat.mul(&gh.mul(&xhat).mean(&[-1], true))));
        (dx, g.mul(&xhat).sum(&[0], false), g.sum(&[0], false))
    };
    match grade(&exercises(answers).remove(8)) {
        Outcome::Failed(report) => assert!(report.contains("  x (shape"), "{report}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_backward_that_panics_is_reported_with_its_message() {
    let mut answers = Answers::solutions();
    answers.e03 = |a, b, g| (g.matmul(b), a.mt().matmul(g)); // forgot the transpose: (3, 5) @ (4, 5)
    let ex = exercises(answers).remove(2);
    match grade(&ex) {
        Outcome::Panicked(message) => assert!(message.contains("matmul") && message.contains(" at "), "{message}"),
        other => panic!("expected a panic report, got {other:?}"),
    }
}

/// Grades exercise 11's reference solution with `change` applied to its gradients.
fn grade_mlp(change: impl Fn(&mut [Comparison]) + 'static) -> Outcome {
    let mut ex = exercises(Answers::solutions()).remove(10);
    let Task::ByHand(compare) = ex.task else { panic!("exercise 11 compares by hand") };
    ex.task = Task::ByHand(Box::new(move || {
        let mut comparisons = compare();
        change(&mut comparisons);
        comparisons
    }));
    grade(&ex)
}

/// The comparison of the gradient named `name`.
fn named<'a>(c: &'a mut [Comparison], name: &str) -> &'a mut Comparison {
    c.iter_mut().find(|c| c.name == name).expect("a gradient of that name")
}

#[test]
fn the_mlp_step_names_the_first_wrong_gradient() {
    match grade_mlp(|c| {
        let w2 = named(c, "w2");
        w2.yours = w2.yours.as_ref().map(|w| w.mul_scalar(1.01));
    }) {
        Outcome::Failed(report) => {
            assert!(report.contains("dw2 (shape [10, 8])") && report.contains("worst at"), "{report}");
            assert!(report.contains("dlogits: right") && !report.contains("dw1"), "{report}");
        }
        other => panic!("{other:?}"),
    }
    match grade_mlp(|c| named(c, "b1").yours = Some(Tensor::zeros(&[1, 10]))) {
        Outcome::Failed(report) => assert!(report.contains("db1: WRONG SHAPE"), "{report}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_mlp_step_can_be_written_one_gradient_at_a_time() {
    match grade_mlp(|c| {
        named(c, "x").yours = None;
        named(c, "table").yours = None;
    }) {
        Outcome::Unfinished(report) => {
            assert!(report.contains("dw1: right") && report.contains("dtable: not written yet"), "{report}")
        }
        other => panic!("{other:?}"),
    }
}
