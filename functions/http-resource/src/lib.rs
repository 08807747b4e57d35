//! `http-resource`: not written yet.
