//! `.proto` files compiled at run time.
