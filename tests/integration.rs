//! End-to-end tests: the real `ca` binary, real SQLite files, and `openssl` as the independent
//! verifier of everything written.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod util;

mod acme;
mod adcs;
mod architecture;
mod browser;
mod check;
mod cli;
mod constraints;
mod datafolder;
mod exports;
mod fuzz_seeds;
mod hardening;
mod inventory;
mod lifecycle;
mod nodes;
mod notify;
mod ocsp;
mod package;
mod pages;
mod reliability;
mod service;
mod web;
