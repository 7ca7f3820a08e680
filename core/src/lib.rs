//! breakwater-core: the sans-IO resilience engine.
