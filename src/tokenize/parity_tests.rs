//! Parity with transformers: replays the golden files (placeholder).
