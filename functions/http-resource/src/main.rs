//! The `http-resource` Lambda function: wiring only.

fn main() {}
