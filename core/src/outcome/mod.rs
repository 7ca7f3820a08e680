//! Outcome classification and error taxonomy (being written).
