//! The grader: runs one exercise and turns what happened into a verdict a learner can act on.
//!
//! An op exercise (1-10) puts the exercise's forward and your backward into the graph as one
//! custom op ([`autograd::Function`]) and runs the gradient checker on it: your backward against
//! central differences of the forward, in f64. Exercise 11 compares every gradient you wrote with
//! the engine's gradient of the same model. A `todo!()` still in place is reported as "not
//! written yet"; any other panic (a shape mismatch in your code, say) is reported with its
//! message and line, without a backtrace.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Once;

use autograd::{Function, GradCheck, Var};
use tensor::Tensor;

/// A forward on plain tensors: the exercise's, never changed by the learner.
pub type ForwardFn = Rc<dyn Fn(&[&Tensor<f64>]) -> Tensor<f64>>;
/// A backward: the inputs, the forward's output and the gradient at the output, to one gradient
/// per input.
pub type BackwardFn = Rc<dyn Fn(&[Tensor<f64>], &Tensor<f64>, &Tensor<f64>) -> Vec<Tensor<f64>>>;

/// One gradient written by hand next to the engine's (`None`: not written yet).
pub struct Comparison {
    /// What it is the gradient of (`logits`, `w1`, ...).
    pub name: &'static str,
    /// The learner's gradient.
    pub yours: Option<Tensor<f64>>,
    /// The engine's gradient.
    pub engine: Tensor<f64>,
}

/// What an exercise asks for.
pub enum Task {
    /// Write the backward of one op; the gradient checker grades it.
    Op {
        /// Named inputs at which the gradient is checked.
        inputs: Vec<(&'static str, Tensor<f64>)>,
        /// The forward.
        forward: ForwardFn,
        /// The backward under test.
        backward: BackwardFn,
    },
    /// Write every gradient of a model by hand; each is compared with the engine's, in backward
    /// order.
    ByHand(Box<dyn Fn() -> Vec<Comparison>>),
}

/// One exercise of the track.
pub struct Exercise {
    /// Its number, 1-based.
    pub number: usize,
    /// A short title.
    pub title: &'static str,
    /// The file the learner edits, under `examples/exercises/`.
    pub file: &'static str,
    /// Where to look when it fails.
    pub hint: &'static str,
    /// What to grade.
    pub task: Task,
}

/// The verdict on one exercise.
#[derive(Debug)]
pub enum Outcome {
    /// Every gradient within tolerance; the text summarises the largest error.
    Passed(String),
    /// At least one gradient is wrong; the text is the report (which input, worst element,
    /// yours against the reference).
    Failed(String),
    /// The backward is still `todo!()` (or, for exercise 11, no gradient is written yet).
    NotWritten,
    /// Exercise 11 only: the gradients written so far are right, some are not written yet.
    Unfinished(String),
    /// The code panicked; the text is the message and its location.
    Panicked(String),
}

/// A custom op made of an exercise's forward and a backward under test.
struct Graded {
    name: String,
    forward: ForwardFn,
    backward: BackwardFn,
}

impl Function<f64> for Graded {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn forward(&self, inputs: &[&Tensor<f64>]) -> Tensor<f64> {
        (self.forward)(inputs)
    }

    fn backward(&self, inputs: &[Tensor<f64>], output: &Tensor<f64>, grad: &Tensor<f64>) -> Vec<Option<Tensor<f64>>> {
        (self.backward)(inputs, output, grad).into_iter().map(Some).collect()
    }
}

/// The prefix of the message `todo!()` panics with.
const TODO: &str = "not yet implemented";

/// Grades one exercise. Panics inside it are caught and reported, never printed as a trace.
pub fn grade(exercise: &Exercise) -> Outcome {
    install_panic_hook();
    GRADING.with(|g| g.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| run(exercise)));
    GRADING.with(|g| g.set(false));
    match result {
        Ok(outcome) => outcome,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic without a message".into());
            if message.starts_with(TODO) {
                Outcome::NotWritten
            } else {
                let at = LAST_PANIC.with(|p| p.borrow().clone());
                Outcome::Panicked(format!("{message}\n  at {at}"))
            }
        }
    }
}

thread_local! {
    /// True while this thread is grading: its panics are reported by [`grade`], not printed.
    static GRADING: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic on this thread happened (the panic hook records it; the payload of
    /// `catch_unwind` does not carry it).
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Once per process: a panic hook that, on a thread that is grading, records where the panic
/// happened and prints nothing; on any other thread it does what the previous hook did.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GRADING.with(Cell::get) {
                let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

fn run(exercise: &Exercise) -> Outcome {
    match &exercise.task {
        Task::Op { inputs, forward, backward } => {
            let vars: Vec<(String, Var<f64>)> =
                inputs.iter().map(|(name, t)| (name.to_string(), Var::parameter(t.clone()))).collect();
            let op = || {
                let refs: Vec<&Var<f64>> = vars.iter().map(|(_, v)| v).collect();
                let graded =
                    Graded { name: exercise.title.into(), forward: forward.clone(), backward: backward.clone() };
                Var::apply(graded, &refs)
            };
            match GradCheck::default().check_vars(&vars, op) {
                Ok(report) => {
                    let worst = report.inputs.iter().map(|i| i.max_abs_err).fold(0.0, f64::max);
                    Outcome::Passed(format!("largest |yours - numeric| = {worst:.1e}"))
                }
                Err(failure) => Outcome::Failed(failure.to_string()),
            }
        }
        Task::ByHand(compare) => compare_by_hand(&compare()),
    }
}

/// Within tolerance: `|yours - engine| <= 1e-9 + 1e-6 |engine|` for every element (both are
/// exact computations in f64, so only rounding separates a right answer from the engine's).
fn compare_by_hand(comparisons: &[Comparison]) -> Outcome {
    let written: Vec<&Comparison> = comparisons.iter().filter(|c| c.yours.is_some()).collect();
    if written.is_empty() {
        return Outcome::NotWritten;
    }
    let mut report = String::new();
    let mut worst_ok = 0.0f64;
    for c in comparisons {
        let Some(yours) = &c.yours else {
            report.push_str(&format!("  d{}: not written yet\n", c.name));
            continue;
        };
        if yours.shape() != c.engine.shape() {
            report.push_str(&format!(
                "  d{}: WRONG SHAPE: yours {:?}, the engine's {:?}\n",
                c.name,
                yours.shape(),
                c.engine.shape()
            ));
            return Outcome::Failed(report + FIRST_WRONG);
        }
        let (y, e) = (yours.to_vec(), c.engine.to_vec());
        let bad = (0..e.len()).filter(|&i| (y[i] - e[i]).abs() > 1e-9 + 1e-6 * e[i].abs()).collect::<Vec<_>>();
        let worst = (0..e.len()).max_by(|&a, &b| (y[a] - e[a]).abs().total_cmp(&(y[b] - e[b]).abs()));
        match (bad.is_empty(), worst) {
            (true, w) => {
                worst_ok = worst_ok.max(w.map_or(0.0, |w| (y[w] - e[w]).abs()));
                report.push_str(&format!("  d{}: right\n", c.name));
            }
            (false, Some(w)) => {
                report.push_str(&format!(
                    "  d{} (shape {:?}): {} element(s) wrong; worst at {:?}: yours {:e}, the engine's {:e}\n",
                    c.name,
                    c.engine.shape(),
                    bad.len(),
                    tensor::unravel_index(w, c.engine.shape()),
                    y[w],
                    e[w]
                ));
                return Outcome::Failed(report + FIRST_WRONG);
            }
            (false, None) => unreachable!("a failing element exists"),
        }
    }
    if written.len() < comparisons.len() {
        // Right so far, but not finished: show which are still missing.
        return Outcome::Unfinished(report);
    }
    Outcome::Passed(format!(
        "all {} gradients match the engine's (largest difference {worst_ok:.1e})",
        comparisons.len()
    ))
}

const FIRST_WRONG: &str = "  (gradients are checked in backward order: the later ones depend on this one)\n";
