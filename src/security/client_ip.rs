//! The client address (being written).
