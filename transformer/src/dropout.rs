//! Dropout with a train/eval switch shared by every dropout layer of a model.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use autograd::Var;
use tensor::{Float, TensorRng, rng_from_seed};

/// The train/eval flag and the random stream shared by all dropout layers of one model, so
/// `model.train()` / `model.eval()` flip one switch and one RNG state is all a checkpoint needs.
pub struct DropoutState {
    training: Cell<bool>,
    rng: RefCell<TensorRng>,
}

impl DropoutState {
    /// A shared state, in training mode, with its own seeded stream.
    pub fn new(seed: u64) -> Rc<Self> {
        Rc::new(DropoutState { training: Cell::new(true), rng: RefCell::new(rng_from_seed(seed)) })
    }

    /// True in training mode.
    pub fn is_training(&self) -> bool {
        self.training.get()
    }

    /// Switches between training (dropout active) and evaluation (identity).
    pub fn set_training(&self, training: bool) {
        self.training.set(training);
    }

    /// The random stream (to save or restore it).
    pub fn rng(&self) -> &RefCell<TensorRng> {
        &self.rng
    }
}

/// Inverted dropout: in training, zero each element with probability `p` and scale the rest
/// by `1 / (1 - p)`; in evaluation, the identity.
pub struct Dropout {
    /// Drop probability in `[0, 1)`.
    pub p: f64,
    state: Rc<DropoutState>,
}

impl Dropout {
    /// A dropout layer drawing from a model's shared state.
    ///
    /// # Panics
    /// Unless `p` is in `[0, 1)`.
    #[track_caller]
    pub fn new(p: f64, state: &Rc<DropoutState>) -> Self {
        if !(0.0..1.0).contains(&p) {
            tensor::layer_panic("Dropout", format!("p must be in [0, 1), got {p}"));
        }
        Dropout { p, state: state.clone() }
    }

    /// True when [`Dropout::forward`] is the identity: in evaluation, or when `p = 0`.
    pub fn is_identity(&self) -> bool {
        self.p == 0.0 || !self.state.is_training()
    }

    /// `x -> x` in evaluation or when `p = 0`; `x * mask / (1 - p)` in training.
    pub fn forward<T: Float>(&self, x: &Var<T>) -> Var<T> {
        if self.is_identity() {
            return x.clone();
        }
        x.dropout(T::from_f64(self.p), &mut self.state.rng.borrow_mut())
    }
}
