//! The safetensors container as this program uses it: named little-endian `f32` tensors plus a
//! string-to-string metadata map, and the checks that turn any malformed file into an error.
//!
//! ```text
//! [8 bytes: header length N, u64 LE][N bytes: JSON header][tensor bytes, back to back]
//! header = { "__metadata__": { "format": "gradlab-gpt", ... },
//!            "wte.weight": { "dtype": "F32", "shape": [V, d], "data_offsets": [0, 4 V d] }, ... }
//! ```

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use autograd::Var;
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView, View};
use tensor::Tensor;
use transformer::Module;

use crate::error::{Error, Result};

/// One `f32` tensor ready to serialize: its shape and its values as little-endian bytes.
pub(crate) struct F32Blob {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl F32Blob {
    /// Values already in row-major order.
    pub(crate) fn from_values(shape: Vec<usize>, values: &[f32]) -> Self {
        let bytes = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        F32Blob { shape, bytes }
    }
}

impl View for &F32Blob {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// The bytes of a safetensors file holding `tensors` and `metadata`.
pub(crate) fn encode(tensors: &[(String, F32Blob)], metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let views = tensors.iter().map(|(name, blob)| (name.as_str(), blob));
    // Only a header over 100 MB can fail here: far beyond any model this program trains.
    safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| Error::Config(format!("cannot serialize a checkpoint: {e}")))
}

/// The bytes of a weights file: every parameter of `model` under its `named_parameters` name, and
/// `metadata`. Each parameter's bytes are made only when the serializer appends them, so the
/// file's bytes are the only copy of the weights held at once.
pub(crate) fn encode_parameters(model: &dyn Module<f32>, metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let values: Vec<(String, Tensor<f32>)> =
        model.named_parameters().into_iter().map(|(name, p)| (name, p.value_ref().clone())).collect();
    let views = values.iter().map(|(name, t)| (name.as_str(), F32View { tensor: t, header_only: false }));
    safetensors::tensor::serialize(views, Some(metadata))
        .map_err(|e| Error::Config(format!("cannot serialize a checkpoint: {e}")))
}

/// An `f32` tensor as the serializer sees it: its shape and byte length, and, unless `header_only`,
/// its little-endian bytes, made only when asked for (one tensor at a time). Header-only views
/// give the header alone (see [`write_streamed`]).
struct F32View<'a> {
    tensor: &'a Tensor<f32>,
    header_only: bool,
}

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        self.tensor.shape()
    }

    fn data(&self) -> Cow<'_, [u8]> {
        if self.header_only {
            return Cow::Borrowed(&[]);
        }
        Cow::Owned(self.tensor.to_vec().iter().flat_map(|x| x.to_le_bytes()).collect())
    }

    fn data_len(&self) -> usize {
        self.tensor.numel() * 4
    }
}

/// Writes the safetensors file of `tensors` and `metadata` to `out` one tensor at a time, so a
/// large checkpoint (a 124M model's two AdamW moments are 1 GB) is never held in memory whole.
/// The bytes are those [`encode`] gives for the same tensors (a test checks it): the header comes
/// from the same serializer, fed each tensor's shape and length but no data, and the tensors
/// follow in the order it lays them out (all `F32`, so by name).
pub(crate) fn write_streamed(
    out: &mut impl std::io::Write,
    tensors: &[(String, &Tensor<f32>)],
    metadata: HashMap<String, String>,
) -> std::io::Result<()> {
    let views = tensors.iter().map(|(name, t)| (name.as_str(), F32View { tensor: t, header_only: true }));
    let header = safetensors::tensor::serialize(views, Some(metadata)).map_err(std::io::Error::other)?;
    out.write_all(&header)?;
    let mut ordered: Vec<&(String, &Tensor<f32>)> = tensors.iter().collect();
    ordered.sort_by(|a, b| a.0.cmp(&b.0));
    let mut bytes = Vec::new();
    for (_, t) in ordered {
        // One tensor's bytes at a time, through a buffer reused from tensor to tensor.
        bytes.clear();
        bytes.extend(t.to_vec().iter().flat_map(|x| x.to_le_bytes()));
        out.write_all(&bytes)?;
    }
    Ok(())
}

/// A parsed file: its tensors (views into the bytes) and its metadata.
pub(crate) struct Parsed<'a> {
    pub(crate) tensors: SafeTensors<'a>,
    metadata: HashMap<String, String>,
    path: &'a Path,
}

/// Parses a safetensors file, explaining in words what is wrong with a file that is not one.
pub(crate) fn parse<'a>(bytes: &'a [u8], path: &'a Path) -> Result<Parsed<'a>> {
    let invalid = |e: SafeTensorError| Error::checkpoint(path, describe(&e, bytes.len()));
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(invalid)?;
    let tensors = SafeTensors::deserialize(bytes).map_err(invalid)?;
    let metadata = header.metadata().clone().unwrap_or_default();
    Ok(Parsed { tensors, metadata, path })
}

fn describe(e: &SafeTensorError, len: usize) -> String {
    let what = match e {
        SafeTensorError::HeaderTooSmall => format!("the file has {len} bytes, fewer than a safetensors header needs"),
        SafeTensorError::InvalidHeaderLength | SafeTensorError::HeaderTooLarge => {
            "the header length in its first 8 bytes is past the end (truncated, or not safetensors)".to_string()
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            "the tensor data does not match the header's offsets (the file is truncated or has trailing bytes)"
                .to_string()
        }
        other => format!("corrupt header: {other}"),
    };
    format!("not a valid safetensors file: {what}")
}

impl Parsed<'_> {
    /// The `"format"` entry of the metadata, if there is one.
    pub(crate) fn format_name(&self) -> Option<&str> {
        self.metadata.get("format").map(String::as_str)
    }

    /// A metadata value, if there is one (for optional entries).
    pub(crate) fn meta_optional(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// A metadata value, or an error naming the missing key.
    pub(crate) fn meta(&self, key: &str) -> Result<&str> {
        self.metadata.get(key).map(String::as_str).ok_or_else(|| self.error(format!("metadata has no \"{key}\" entry")))
    }

    /// A metadata value parsed with `FromStr` (integers, written in decimal).
    pub(crate) fn meta_parse<V: std::str::FromStr>(&self, key: &str) -> Result<V> {
        let s = self.meta(key)?;
        s.parse().map_err(|_| self.error(format!("metadata \"{key}\" is {s:?}, expected a non-negative integer")))
    }

    /// Checks `"format"` and `"version"`.
    pub(crate) fn check_format(&self, format: &str, version: &str) -> Result<()> {
        let found = self.metadata.get("format").map(String::as_str);
        if found != Some(format) {
            let found = found.map_or("no \"format\" entry".to_string(), |f| format!("format {f:?}"));
            return Err(self.error(format!("expected a {format:?} file, found {found}")));
        }
        let v = self.meta("version")?;
        if v != version {
            return Err(
                self.error(format!("format version {v:?} is not supported (this program reads version {version})"))
            );
        }
        Ok(())
    }

    /// Checks that the file holds exactly the tensors `expected` (name, shape) as `f32`, naming the
    /// first missing, extra, wrongly typed or wrongly shaped tensor.
    pub(crate) fn check_tensors(&self, expected: &[(String, Vec<usize>)]) -> Result<()> {
        let names: BTreeSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
        let mut extra: Vec<&str> = self.tensors.names().into_iter().filter(|n| !names.contains(n)).collect();
        extra.sort_unstable();
        if let Some(name) = extra.first() {
            return Err(self.error(format!("unexpected tensor {name:?} ({} extra in all)", extra.len())));
        }
        for (name, shape) in expected {
            let view = self.view(name)?;
            if view.dtype() != Dtype::F32 {
                return Err(self.error(format!("tensor {name:?} has dtype {:?}, expected F32", view.dtype())));
            }
            if view.shape() != shape.as_slice() {
                return Err(self.error(format!("tensor {name:?} has shape {:?}, expected {shape:?}", view.shape())));
            }
        }
        Ok(())
    }

    fn view(&self, name: &str) -> Result<TensorView<'_>> {
        self.tensors.tensor(name).map_err(|_| self.error(format!("tensor {name:?} is missing")))
    }

    /// The `f32` tensor `name` (already checked by [`Parsed::check_tensors`]).
    pub(crate) fn tensor(&self, name: &str) -> Result<Tensor<f32>> {
        let view = self.view(name)?;
        if view.dtype() != Dtype::F32 {
            return Err(self.error(format!("tensor {name:?} has dtype {:?}, expected F32", view.dtype())));
        }
        // The container guarantees data length = 4 * numel for F32, so chunks are exact.
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(Tensor::from_vec(values, view.shape()))
    }

    /// Sets each parameter of `params` to its tensor in the file (checked by
    /// [`Parsed::check_tensors`]), refusing NaN or infinite values: a diverged run's weights would
    /// only make NaN logits downstream.
    pub(crate) fn set_parameters(&self, params: &[(String, Var<f32>)]) -> Result<()> {
        for (name, p) in params {
            let value = self.tensor(name)?;
            if value.as_slice().is_some_and(|v| v.iter().any(|x| !x.is_finite())) {
                return Err(self.error(format!("tensor {name} contains NaN or infinite values")));
            }
            p.set_value(value);
        }
        Ok(())
    }

    /// A checkpoint error about this file.
    pub(crate) fn error(&self, reason: impl Into<String>) -> Error {
        Error::checkpoint(self.path, reason)
    }
}

/// FNV-1a, 64 bits: a fingerprint of the weights file stored in the train state, so a state
/// from another save (an interrupted save, a copied file) is refused rather than resumed.
pub(crate) fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_file_has_the_bytes_of_one_encoded_whole() {
        let a = Tensor::<f32>::rand_uniform(&[3, 5], -1.0, 1.0, 1);
        let b = Tensor::<f32>::rand_uniform(&[4, 2], -1.0, 1.0, 2).mt(); // a transposed view
        let c = Tensor::<f32>::rand_uniform(&[7], -1.0, 1.0, 3);
        // Names out of order: both must lay the tensors out sorted by name.
        let tensors = [("m.zeta".to_string(), &a), ("m.alpha".to_string(), &b), ("v.mid".to_string(), &c)];
        let metadata =
            HashMap::from([("format".to_string(), "test".to_string()), ("step".to_string(), "7".to_string())]);
        let mut streamed = Vec::new();
        write_streamed(&mut streamed, &tensors, metadata.clone()).unwrap();
        let blobs: Vec<(String, F32Blob)> =
            tensors.iter().map(|(n, t)| (n.clone(), F32Blob::from_values(t.shape().to_vec(), &t.to_vec()))).collect();
        assert_eq!(streamed, encode(&blobs, metadata).unwrap());
    }
}
