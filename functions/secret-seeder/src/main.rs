//! The `secret-seeder` Lambda function: wiring only.

fn main() {}
