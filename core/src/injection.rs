//! Failure injection (being written).
