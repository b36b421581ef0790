//! JWT verification (being written).
