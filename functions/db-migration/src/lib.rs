//! `db-migration`: not written yet.
