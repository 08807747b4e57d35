//! The `db-migration` Lambda function: wiring only.

fn main() {}
