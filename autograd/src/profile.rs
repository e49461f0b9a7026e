//! Where the time of a training step goes, by kind of work: matmul, attention, softmax, layer
//! norm, elementwise, embedding, loss, optimizer, graph bookkeeping, allocation.
//!
//! [`record`] runs a closure with profiling switched on for this thread and returns, with the
//! closure's result, a [`Profile`]: the closure's wall time split into kinds. Nothing is sampled:
//! a *lap timer* runs through the closure, and every instant between two hook calls is charged
//! to exactly one kind, so the kinds add up to the measured total, to the nanosecond.
//!
//! How time is attributed:
//! - **Named scopes.** Layer code wraps its body in [`scope`] (`scope(LAYER_NORM, || ...)`).
//!   Forward time inside a scope is charged to its kind, excluding the time of nested scopes;
//!   ops recorded inside a scope are tagged with the innermost scope's kind, and the time of
//!   their backward closures is charged to that kind too.
//! - **Op kinds, outside any scope.** Ops compute their value first and then enter the graph
//!   through [`Var::from_op`] or its differentiable and fused forms, so the time since the previous hook is the
//!   op's kernel (plus the glue code around it); it is charged to the kind the op was defined
//!   with ([`OpName`]): `matmul` to matmul, `softmax`/`log_softmax`/`logsumexp` to
//!   softmax, `attention` to attention, `layer_norm` to layer norm, `index_select` to embedding,
//!   the cross-entropies to loss, every op named by a plain string to elementwise.
//! - **The engine's own work.** Recording a node (cloning input handles, boxing the closure),
//!   and in backward everything but the closures (topological sort, hash-map updates, the adds
//!   that accumulate gradients, shape checks) is graph bookkeeping. Freeing a graph (the `Drop`
//!   of its root node, which frees every node and value behind it) is allocation.
//! - Time outside all of these (batch sampling, glue between layers at top level) is "other".
//!
//! The engine calls this module from three places only, each one line: recording an op
//! (`OpTimer`), the backward loop (`BackwardTimer`) and the freeing of a graph (`DropTimer`).
//! Off by default, and free when off: each hook is one read of a thread-local `bool`, with no
//! clock reads and no allocation; [`hook_calls`] lets a test check that nothing ran.
//!
//! [`Var::from_op`]: crate::Var::from_op
//!
//! ```
//! use autograd::{Var, profile};
//! use tensor::Tensor;
//! let x = Var::parameter(Tensor::<f64>::ones(&[4, 4]));
//! let (_, p) = profile::record(|| {
//!     let y = profile::scope(profile::LAYER_NORM, || x.mul(&x)); // tagged "layer norm"
//!     let loss = y.matmul(&x).sum_all(); // "matmul", then "elementwise"
//!     loss.backward()
//! });
//! assert_eq!(p.get(profile::LAYER_NORM).forward_ops, 1);
//! assert_eq!(p.get(profile::LAYER_NORM).backward_ops, 1);
//! assert_eq!(p.get(profile::MATMUL).backward_ops, 1);
//! assert_eq!(p.kinds().iter().map(|k| k.time).sum::<std::time::Duration>(), p.total);
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::time::{Duration, Instant};

use crate::OpName;

/// Matrix products (`matmul` ops outside any scope: linear layers, the LM head).
pub const MATMUL: &str = "matmul";
/// The attention core: scores, mask, softmax and the weighted sum of values.
pub const ATTENTION: &str = "attention";
/// `softmax`, `log_softmax` and `logsumexp` ops outside any scope.
pub const SOFTMAX: &str = "softmax";
/// Layer normalisation.
pub const LAYER_NORM: &str = "layer norm";
/// Every other op outside a scope: adds, multiplies, activations, reshapes, reductions.
pub const ELEMENTWISE: &str = "elementwise";
/// Embedding lookups (`index_select`).
pub const EMBEDDING: &str = "embedding";
/// The loss (`cross_entropy`).
pub const LOSS: &str = "loss";
/// Parameter updates and gradient clipping.
pub const OPTIMIZER: &str = "optimizer";
/// The engine's own work: recording nodes, and backward apart from the closures.
pub const GRAPH: &str = "graph bookkeeping";
/// Freeing graphs and gradient stores.
pub const ALLOCATION: &str = "allocation";
/// Whatever no hook claimed: batch sampling, glue code between layers.
pub const OTHER: &str = "other";

/// Every kind, in the order reports print them.
pub const KINDS: [&str; 11] =
    [MATMUL, ATTENTION, SOFTMAX, LAYER_NORM, ELEMENTWISE, EMBEDDING, LOSS, OPTIMIZER, GRAPH, ALLOCATION, OTHER];

/// Time charged to one kind, and how many ops (forward) and backward closures it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindTime {
    /// The kind (one of [`KINDS`], or a scope name of your own).
    pub kind: &'static str,
    /// Wall time charged to it.
    pub time: Duration,
    /// Ops that entered the graph (or would have, under `no_grad`) charged to this kind.
    pub forward_ops: u64,
    /// Backward closures charged to this kind.
    pub backward_ops: u64,
}

/// The wall time of a recorded run split by kind; the kinds' times add up to `total`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// Wall time of the recorded closure(s).
    pub total: Duration,
    /// How many recorded runs were added together (1 from [`record`]).
    pub runs: u64,
    entries: Vec<KindTime>,
}

impl Profile {
    /// Every kind that was charged, [`KINDS`] first in their order, then any other scope names.
    pub fn kinds(&self) -> Vec<KindTime> {
        let mut out: Vec<KindTime> = KINDS.iter().filter_map(|k| self.find(k).copied()).collect();
        out.extend(self.entries.iter().filter(|e| !KINDS.contains(&e.kind)).copied());
        out
    }

    /// The entry for `kind` (zero if nothing was charged to it).
    pub fn get(&self, kind: &str) -> KindTime {
        self.find(kind).copied().unwrap_or(KindTime {
            kind: KINDS.iter().find(|k| **k == kind).copied().unwrap_or("?"),
            time: Duration::ZERO,
            forward_ops: 0,
            backward_ops: 0,
        })
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.total.is_zero()
    }

    /// Adds another profile into this one (to sum the steps of a benchmark).
    pub fn add(&mut self, other: &Profile) {
        self.total += other.total;
        self.runs += other.runs;
        for e in &other.entries {
            let mine = self.entry(e.kind);
            mine.time += e.time;
            mine.forward_ops += e.forward_ops;
            mine.backward_ops += e.backward_ops;
        }
    }

    fn find(&self, kind: &str) -> Option<&KindTime> {
        self.entries.iter().find(|e| e.kind == kind)
    }

    fn entry(&mut self, kind: &'static str) -> &mut KindTime {
        // A dozen kinds at most: a linear search beats hashing here.
        match self.entries.iter().position(|e| e.kind == kind) {
            Some(i) => &mut self.entries[i],
            None => {
                self.entries.push(KindTime { kind, time: Duration::ZERO, forward_ops: 0, backward_ops: 0 });
                self.entries.last_mut().unwrap()
            }
        }
    }
}

impl fmt::Display for Profile {
    /// A table: each kind's time per run in ms, its share of the total, and ops per run.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runs = self.runs.max(1) as f64;
        let total = self.total.as_secs_f64();
        writeln!(f, "{:<18} {:>10} {:>7} {:>9} {:>9}", "kind", "ms/step", "share", "fwd ops", "bwd ops")?;
        for k in KINDS.iter().map(|k| self.get(k)).chain(self.kinds().into_iter().filter(|e| !KINDS.contains(&e.kind)))
        {
            let share = if total > 0.0 { 100.0 * k.time.as_secs_f64() / total } else { 0.0 };
            writeln!(
                f,
                "{:<18} {:>10.3} {:>6.1}% {:>9.0} {:>9.0}",
                k.kind,
                1e3 * k.time.as_secs_f64() / runs,
                share,
                k.forward_ops as f64 / runs,
                k.backward_ops as f64 / runs
            )?;
        }
        write!(f, "{:<18} {:>10.3} {:>6.1}%", "total", 1e3 * total / runs, if total > 0.0 { 100.0 } else { 0.0 })
    }
}

/// The lap timer of one recording: `mark` is the end of the last charged interval.
struct State {
    mark: Instant,
    /// Open scopes, innermost last.
    scopes: Vec<&'static str>,
    /// Inside a backward pass or a graph's drop: their time is charged by their own timers, so
    /// the forward hooks stand aside.
    suspended: u32,
    profile: Profile,
}

impl State {
    /// Charges the time since the mark to `kind` and moves the mark to `now`.
    fn lap(&mut self, now: Instant, kind: &'static str) {
        let elapsed = now.saturating_duration_since(self.mark);
        self.profile.entry(kind).time += elapsed;
        self.mark = now;
    }

    /// Where glue code at this point belongs: the innermost scope, or "other".
    fn context(&self) -> &'static str {
        self.scopes.last().copied().unwrap_or(OTHER)
    }
}

thread_local! {
    // The only thing a hook reads when profiling is off; const-initialised, so no lazy init.
    static ENABLED: Cell<bool> = const { Cell::new(false) };
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
    static HOOK_CALLS: Cell<u64> = const { Cell::new(0) };
}

/// True while [`record`] runs on this thread.
#[inline]
pub fn is_enabled() -> bool {
    ENABLED.with(|e| e.get())
}

/// How many times a hook did profiling work on this thread since it started. It does not move
/// while profiling is off: a test can check that the hooks cost nothing but their `bool` read.
pub fn hook_calls() -> u64 {
    HOOK_CALLS.with(|c| c.get())
}

/// Runs `f` on the lap timer's state if profiling is on and not suspended.
fn with_active<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    HOOK_CALLS.with(|c| c.set(c.get() + 1));
    STATE.with(|s| match s.borrow_mut().as_mut() {
        Some(state) if state.suspended == 0 => Some(f(state)),
        _ => None,
    })
}

/// Runs `f` with profiling on for this thread and returns its result and where its time went.
///
/// # Panics
/// If called while already recording on this thread (profiles do not nest).
pub fn record<R>(f: impl FnOnce() -> R) -> (R, Profile) {
    assert!(!is_enabled(), "profile::record: already recording on this thread (profiles do not nest)");
    let start = Instant::now();
    STATE.with(|s| {
        *s.borrow_mut() = Some(State { mark: start, scopes: Vec::new(), suspended: 0, profile: Profile::default() })
    });
    // Switched off again even if `f` panics, so a failed test cannot leave the hooks timing.
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            ENABLED.with(|e| e.set(false));
        }
    }
    let off = Off;
    ENABLED.with(|e| e.set(true));
    let result = f();
    let end = Instant::now();
    drop(off);
    let mut state = STATE.with(|s| s.borrow_mut().take()).expect("profile state present while recording");
    state.lap(end, OTHER);
    let mut profile = state.profile;
    profile.total = end.duration_since(start);
    profile.runs = 1;
    (result, profile)
}

/// Runs `f` as a named scope: its forward time (minus nested scopes) and the backward closures
/// of the ops it records are charged to `kind`. When profiling is off this is just `f()`.
///
/// ```
/// use autograd::profile::{self, scope};
/// let y = scope(profile::OPTIMIZER, || 1 + 1); // not recording: runs f, nothing else
/// assert_eq!(y, 2);
/// ```
#[inline]
pub fn scope<R>(kind: &'static str, f: impl FnOnce() -> R) -> R {
    let _scope = enter(kind);
    f()
}

/// Opens a named scope until the returned guard is dropped: the same as [`scope`], for
/// `#[track_caller]` functions (a closure would hide the caller's location from their panics).
///
/// ```
/// use autograd::profile::{self, enter};
/// fn my_layer() {
///     let _scope = enter(profile::ATTENTION); // charged to "attention" until the end of the body
/// }
/// my_layer();
/// ```
#[inline]
pub fn enter(kind: &'static str) -> ScopeGuard {
    if !is_enabled() {
        return ScopeGuard { entered: false };
    }
    let entered = with_active(|s| {
        let now = Instant::now();
        let outer = s.context();
        s.lap(now, outer);
        s.scopes.push(kind);
    })
    .is_some();
    ScopeGuard { entered }
}

/// Closes the scope opened by [`enter`] when dropped (also during a panic, so the stack of
/// scopes stays balanced).
#[must_use = "the scope closes when the guard is dropped"]
pub struct ScopeGuard {
    entered: bool,
}

impl Drop for ScopeGuard {
    #[inline]
    fn drop(&mut self) {
        if self.entered {
            with_active(|s| {
                let now = Instant::now();
                let kind = s.scopes.pop().unwrap_or(OTHER);
                s.lap(now, kind);
            });
        }
    }
}

/// Times the recording of one op by [`Var::from_op`](crate::Var::from_op). Begun after the op
/// computed its value: charges the time since the last hook to the op's kind (or the innermost
/// scope's, which then tags the op for its backward too); the time until it drops, recording the
/// node, is graph bookkeeping. Inactive when profiling is off, in a backward pass or a drop.
pub(crate) struct OpTimer {
    active: bool,
}

impl OpTimer {
    /// Starts timing the recording of `op`, charging the kernel before it.
    #[inline]
    pub(crate) fn begin(op: &mut OpName) -> Self {
        if !is_enabled() {
            return OpTimer { active: false };
        }
        let active = with_active(|s| {
            let now = Instant::now();
            if let Some(&scope) = s.scopes.last() {
                op.charged_to(scope);
            }
            s.lap(now, op.kind());
            s.profile.entry(op.kind()).forward_ops += 1;
        })
        .is_some();
        OpTimer { active }
    }
}

impl Drop for OpTimer {
    #[inline]
    fn drop(&mut self) {
        if self.active {
            with_active(|s| s.lap(Instant::now(), GRAPH));
        }
    }
}

/// Closes the running lap (charged to the current context) and suspends lap timing while a
/// timer of its own measures what follows; `None` when profiling is off or already suspended.
fn suspend_laps() -> Option<Instant> {
    with_active(|s| {
        let now = Instant::now();
        let ctx = s.context();
        s.lap(now, ctx);
        s.suspended += 1;
        now
    })
}

/// Ends what [`suspend_laps`] began: lets `charge` book the timer's own time on the state (given
/// the current instant), then resumes lap timing from that instant.
fn resume_laps(charge: impl FnOnce(&mut State, Instant)) {
    let end = Instant::now();
    STATE.with(|s| {
        if let Some(state) = s.borrow_mut().as_mut() {
            charge(state, end);
            state.mark = end;
            state.suspended -= 1;
        }
    });
}

/// Times one backward pass: its closures by their ops' kinds, the rest as graph bookkeeping.
/// Inactive (times nothing) when profiling is off or the pass runs inside another timer.
pub(crate) struct BackwardTimer {
    /// When the pass began; `None` when inactive.
    start: Option<Instant>,
    in_closures: Duration,
}

impl BackwardTimer {
    /// Starts timing a backward pass, closing the lap before it.
    #[inline]
    pub(crate) fn begin() -> Self {
        let start = if is_enabled() { suspend_laps() } else { None };
        BackwardTimer { start, in_closures: Duration::ZERO }
    }

    /// Runs one backward closure, charging its time to `kind`.
    #[inline]
    pub(crate) fn closure<R>(&mut self, kind: &'static str, f: impl FnOnce() -> R) -> R {
        if self.start.is_none() {
            return f();
        }
        let t0 = Instant::now();
        let r = f();
        let elapsed = t0.elapsed();
        self.in_closures += elapsed;
        STATE.with(|s| {
            if let Some(state) = s.borrow_mut().as_mut() {
                let e = state.profile.entry(kind);
                e.time += elapsed;
                e.backward_ops += 1;
            }
        });
        r
    }
}

impl Drop for BackwardTimer {
    /// Charges the pass's time outside its closures to graph bookkeeping.
    fn drop(&mut self) {
        let Some(start) = self.start else { return };
        let in_closures = self.in_closures;
        resume_laps(|s, end| {
            s.profile.entry(GRAPH).time += end.saturating_duration_since(start).saturating_sub(in_closures)
        });
    }
}

/// Times the freeing of a graph (the outermost node drop) as allocation.
pub(crate) struct DropTimer {
    active: bool,
}

impl DropTimer {
    /// Starts timing, closing the lap before it; inactive when profiling is off or nested in
    /// another timer.
    #[inline]
    pub(crate) fn begin() -> Self {
        let active = is_enabled() && suspend_laps().is_some();
        DropTimer { active }
    }
}

impl Drop for DropTimer {
    fn drop(&mut self) {
        if self.active {
            resume_laps(|s, end| s.lap(end, ALLOCATION));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each primitive is charged, forward and backward, to the kind it was defined with: one
    /// profile per op, outside any scope, so nothing else can claim its two ops.
    #[test]
    fn every_primitive_is_charged_to_its_own_kind() {
        use crate::Var;
        use tensor::Tensor;
        let x = || Var::parameter(Tensor::<f64>::from_vec((0..24).map(|i| f64::from(i) / 10.0).collect(), &[2, 3, 4]));
        let m = || Var::parameter(Tensor::<f64>::ones(&[4, 4]));
        type Case = (&'static str, fn(&Var<f64>, &Var<f64>) -> Var<f64>);
        let cases: [Case; 10] = [
            (MATMUL, |x, m| x.matmul(m)),
            (SOFTMAX, |x, _| x.softmax(-1)),
            (SOFTMAX, |x, _| x.log_softmax(-1)),
            (SOFTMAX, |x, _| x.logsumexp(-1, false)),
            (LAYER_NORM, |x, m| x.layer_norm(&m.sum(&[0], false), None, 1e-5)),
            (ATTENTION, |x, _| x.attention(x, x, None).0),
            (ATTENTION, |x, _| Var::concat(&[x, x, x], -1).attention_packed(1, None).0),
            (EMBEDDING, |x, _| x.index_select(0, &[1, 0, 1])),
            (LOSS, |x, _| x.reshape(&[6, 4]).cross_entropy(&[0, 1, 2, 3, 0, 1], None)),
            (LOSS, |x, _| x.reshape(&[6, 4]).cross_entropy_smoothed(&[0, 1, 2, 3, 0, 1], None, 0.1)),
        ];
        for (i, (kind, op)) in cases.iter().enumerate() {
            let (x, m) = (x(), m());
            let (y, forward) = record(|| op(&x, &m));
            let (_, backward) = record(|| y.sum_all().backward());
            assert_eq!(forward.get(kind).forward_ops, 1, "case {i}: forward not charged to {kind}:\n{forward}");
            assert_eq!(backward.get(kind).backward_ops, 1, "case {i}: backward not charged to {kind}:\n{backward}");
        }
    }

    #[test]
    fn nested_scopes_charge_the_innermost_and_sum_to_total() {
        let (_, p) = record(|| {
            scope(OPTIMIZER, || {
                std::thread::sleep(Duration::from_millis(2));
                scope(LAYER_NORM, || std::thread::sleep(Duration::from_millis(2)));
            })
        });
        // Each scope holds at least its own sleep; the outer one does not include the inner one's.
        assert!(p.get(OPTIMIZER).time >= Duration::from_millis(2), "{p}");
        assert!(p.get(LAYER_NORM).time >= Duration::from_millis(2), "{p}");
        assert!(p.get(OPTIMIZER).time < p.total - p.get(LAYER_NORM).time + Duration::from_nanos(1), "{p}");
        assert_eq!(p.kinds().iter().map(|k| k.time).sum::<Duration>(), p.total);
        assert!(!is_enabled());
    }

    #[test]
    fn scope_stack_survives_a_panic() {
        let (_, p) = record(|| {
            let r = std::panic::catch_unwind(|| scope(ATTENTION, || panic!("inside")));
            assert!(r.is_err());
            STATE.with(|s| assert!(s.borrow().as_ref().unwrap().scopes.is_empty()));
        });
        assert_eq!(p.kinds().iter().map(|k| k.time).sum::<Duration>(), p.total);
    }
}
