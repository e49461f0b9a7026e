//! Printing tensors as NumPy and PyTorch do.
//! (Implementation in progress: see the tensor issue.)
