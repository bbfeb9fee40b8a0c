//! Segmentation tests.
