//! Local replies (being written).
