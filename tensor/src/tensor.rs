//! The [`Tensor`] type: a [`Layout`] over reference-counted storage, and its constructors.

use std::sync::Arc;

use crate::Float;
use crate::error::{ShapeError, op_panic};
use crate::layout::Layout;

/// An n-dimensional array: a [`Layout`] (shape, strides, offset) over shared storage.
///
/// Cloning a tensor or taking a view (reshape, permute, narrow, broadcast, ...) shares the
/// storage through an `Arc` and copies nothing; ops that compute new values allocate a fresh,
/// contiguous result. Tensors are values: no op mutates its inputs. The few in-place methods
/// ([`Tensor::data_mut`]) copy first whenever the storage is shared (copy-on-write).
///
/// ```
/// use tensor::Tensor;
/// let a = Tensor::<f32>::arange(0.0, 6.0, 1.0).reshape(&[2, 3]);
/// let t = a.transpose(0, 1); // a view: same storage, strides swapped
/// assert_eq!(t.shape(), &[3, 2]);
/// assert_eq!(t.to_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
/// assert!(t.shares_storage_with(&a));
/// ```
#[derive(Clone)]
pub struct Tensor<T> {
    pub(crate) storage: Arc<Vec<T>>,
    pub(crate) layout: Layout,
}

impl<T: Float> Tensor<T> {
    /// A tensor from row-major data and a shape.
    ///
    /// # Panics
    /// If `data.len()` differs from the product of `shape`; see [`Tensor::try_from_vec`].
    #[track_caller]
    pub fn from_vec(data: Vec<T>, shape: &[usize]) -> Self {
        match Self::try_from_vec(data, shape) {
            Ok(t) => t,
            Err(e) => op_panic("from_vec", e.to_string()),
        }
    }

    /// A tensor from row-major data and a shape, or a [`ShapeError`] if the sizes differ.
    ///
    /// ```
    /// use tensor::Tensor;
    /// let err = Tensor::<f64>::try_from_vec(vec![1.0, 2.0, 3.0], &[2, 2]).unwrap_err();
    /// assert_eq!(err.to_string(), "shape [2, 2] needs 4 elements but 3 were given");
    /// ```
    pub fn try_from_vec(data: Vec<T>, shape: &[usize]) -> Result<Self, ShapeError> {
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(ShapeError { shape: shape.to_vec(), expected, found: data.len() });
        }
        Ok(Tensor { storage: Arc::new(data), layout: Layout::contiguous(shape) })
    }

    /// A tensor over existing storage with an explicit layout.
    ///
    /// # Panics
    /// If the layout addresses elements beyond the end of `storage`.
    #[track_caller]
    pub fn from_storage(storage: Arc<Vec<T>>, layout: Layout) -> Self {
        if layout.storage_extent() > storage.len() {
            op_panic("from_storage", format!("layout {:?} reaches past storage of {} elements", layout, storage.len()));
        }
        Tensor { storage, layout }
    }

    /// A 0-dimensional tensor (shape `[]`) holding one value.
    pub fn scalar(value: T) -> Self {
        Self::from_vec(vec![value], &[])
    }

    /// A tensor of the given shape filled with `value`.
    pub fn full(shape: &[usize], value: T) -> Self {
        Self::from_vec(vec![value; shape.iter().product()], shape)
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, T::ZERO)
    }

    /// A tensor of ones.
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(shape, T::ONE)
    }

    /// Zeros with the shape of `other`.
    pub fn zeros_like(other: &Tensor<T>) -> Self {
        Self::zeros(other.shape())
    }

    /// The 1-D tensor `start, start + step, ...` up to but excluding `end`, as `torch.arange`.
    ///
    /// ```
    /// use tensor::Tensor;
    /// assert_eq!(Tensor::<f32>::arange(1.0, 2.0, 0.25).to_vec(), vec![1.0, 1.25, 1.5, 1.75]);
    /// ```
    #[track_caller]
    pub fn arange(start: T, end: T, step: T) -> Self {
        if step == T::ZERO || step.is_nan() {
            op_panic("arange", format!("step must be non-zero, got {step}"));
        }
        let n = ((end - start) / step).to_f64().ceil().max(0.0) as usize;
        let data = (0..n).map(|i| start + T::from_usize(i) * step).collect::<Vec<_>>();
        Self::from_vec(data, &[n])
    }

    /// The `n x n` identity matrix.
    pub fn eye(n: usize) -> Self {
        let mut data = vec![T::ZERO; n * n];
        for i in 0..n {
            data[i * n + i] = T::ONE;
        }
        Self::from_vec(data, &[n, n])
    }

    /// The layout: shape, strides and offset.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Sizes of the axes.
    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }

    /// Strides in elements.
    pub fn strides(&self) -> &[usize] {
        self.layout.strides()
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.layout.ndim()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }

    /// Size of one axis (negative counts from the end).
    #[track_caller]
    pub fn dim(&self, axis: isize) -> usize {
        self.shape()[crate::layout::normalize_axis("dim", axis, self.ndim())]
    }

    /// True when the elements sit in row-major order without gaps.
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// True when both tensors view the same storage allocation.
    pub fn shares_storage_with(&self, other: &Tensor<T>) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// The underlying storage (all of it, including elements outside this view).
    pub fn storage(&self) -> &Arc<Vec<T>> {
        &self.storage
    }

    /// The elements as a slice in row-major order, if the tensor is contiguous.
    pub fn as_slice(&self) -> Option<&[T]> {
        if self.numel() == 0 {
            return Some(&[]);
        }
        if self.is_contiguous() {
            let start = self.layout.offset();
            Some(&self.storage[start..start + self.numel()])
        } else {
            None
        }
    }

    /// This tensor if already contiguous (sharing storage), else a row-major copy.
    pub fn contiguous(&self) -> Tensor<T> {
        if self.is_contiguous() { self.clone() } else { Self::from_vec(self.to_vec(), self.shape()) }
    }

    /// The elements in row-major order, copied into a new `Vec`.
    ///
    /// A strided view is copied a row at a time (see [`Tensor::map`]): a permuted
    /// `(B, h, T, dh) -> (B, T, h, dh)` head merge moves whole `dh`-long runs.
    pub fn to_vec(&self) -> Vec<T> {
        match self.as_slice() {
            Some(s) => s.to_vec(),
            None => self.map_to_vec(|x| x),
        }
    }

    /// The element at a multi-index.
    #[track_caller]
    pub fn get(&self, index: &[usize]) -> T {
        if index.len() != self.ndim() || index.iter().zip(self.shape()).any(|(i, d)| i >= d) {
            op_panic("get", format!("index {index:?} is out of bounds for shape {:?}", self.shape()));
        }
        self.storage[self.layout.index_of(index)]
    }

    /// The single value of a one-element tensor (any shape with numel 1).
    #[track_caller]
    pub fn item(&self) -> T {
        if self.numel() != 1 {
            op_panic("item", format!("needs exactly one element, shape {:?} has {}", self.shape(), self.numel()));
        }
        self.storage[self.layout.offset()]
    }

    /// Mutable access to the elements in row-major order, for in-place updates
    /// (optimizers, gradient accumulation).
    ///
    /// Copies first when the storage is shared with another tensor or the layout is not a plain
    /// contiguous block of the whole storage, so no other tensor ever sees the change.
    pub fn data_mut(&mut self) -> &mut [T] {
        let n = self.numel();
        if !self.is_contiguous() || self.layout.offset() != 0 || self.storage.len() != n {
            *self = Self::from_vec(self.to_vec(), self.shape());
        }
        // Copy-on-write: clones the Vec only if another tensor still holds this storage.
        Arc::make_mut(&mut self.storage).as_mut_slice()
    }

    /// The same elements converted to another float type.
    pub fn cast<U: Float>(&self) -> Tensor<U> {
        Tensor::from_vec(self.to_vec().into_iter().map(|v| U::from_f64(v.to_f64())).collect(), self.shape())
    }
}
