//! [`OpName`]: what an op is called, and what kind of work it is.

use std::borrow::Cow;
use std::fmt;

use crate::profile;

/// The name an op is recorded under, and the kind of work it does.
///
/// The name is what the tape, DOT graphs, anomaly mode and error messages show. The kind is one
/// of the [`profile`] kinds: the profiler charges the op's forward kernel and its backward
/// closure to it. Each primitive states its kind where it is defined, so renaming an op cannot
/// file its time under another kind:
///
/// ```
/// use autograd::{OpName, Var, profile};
/// use tensor::Tensor;
/// let x = Var::parameter(Tensor::<f64>::ones(&[2, 2]));
/// let value = x.value().matmul(&x.value());
/// let y = Var::from_op(OpName::new("my_matmul", profile::MATMUL), value, &[&x], |g| vec![Some(g.clone())]);
/// assert_eq!(y.op_name(), Some("my_matmul"));
/// ```
///
/// A plain string is an op of kind [`profile::ELEMENTWISE`]: `Var::from_op("triple", ...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpName {
    name: Cow<'static, str>,
    kind: &'static str,
}

impl OpName {
    /// An op called `name` whose time the profiler charges to `kind` (a [`profile`] kind such as
    /// [`profile::MATMUL`], or a name of your own).
    pub const fn new(name: &'static str, kind: &'static str) -> Self {
        OpName { name: Cow::Borrowed(name), kind }
    }

    /// The op's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind of work the profiler charges this op to.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The same op charged to `kind` instead (the profiler's innermost scope overrides an op's own
    /// kind).
    pub(crate) fn charged_to(&mut self, kind: &'static str) {
        self.kind = kind;
    }
}

impl From<&'static str> for OpName {
    /// An elementwise op: adds, multiplies, activations, reshapes, reductions, your own ops.
    fn from(name: &'static str) -> Self {
        OpName::new(name, profile::ELEMENTWISE)
    }
}

impl From<String> for OpName {
    /// An elementwise op with a name built at run time (a [`crate::Function`]'s name).
    fn from(name: String) -> Self {
        OpName { name: Cow::Owned(name), kind: profile::ELEMENTWISE }
    }
}

impl fmt::Display for OpName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
