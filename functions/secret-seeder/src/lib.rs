//! `secret-seeder`: not written yet.
