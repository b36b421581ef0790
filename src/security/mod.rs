//! The edge: who is calling (`jwt`, API keys), what they may call (route policies), how often
//! (`ratelimit`, keyed by `client_ip` or identity), and the request limits that keep hostile
//! input from costing more than a rejection.

pub mod client_ip;
pub mod jwt;
pub mod ratelimit;
