//! All integration tests in one binary (linking candle once matters on 2 cores).

mod cli;
mod common;
mod parity;
mod real_models;
