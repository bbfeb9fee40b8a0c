//! All integration tests in one binary (linking candle once matters on 2 cores).

mod batch_cmd;
mod bench_cmd;
mod cli;
mod clients;
mod common;
mod desk;
mod device_pick;
mod faults;
mod glossary;
mod glossary_modes;
mod http;
mod http_errors;
mod http_socket;
mod joining;
mod kernel_paths;
mod languages;
mod loadtest_cmd;
mod ninjs;
mod openapi_truth;
mod parity;
mod quant;
mod real_models;
mod runaway;
mod unpad;
