//! Retry policy (being written).
