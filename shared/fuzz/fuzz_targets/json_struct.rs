//! JSON ⇄ google.protobuf.Struct over any JSON object: conversion never
//! panics, depth and storability checks never panic, and a Struct made from
//! JSON converts back to the same JSON (numbers as f64).
#![no_main]

use boost_proto::json::{json_to_struct, struct_depth, struct_to_json, struct_unstorable};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if !json.is_object() {
        return;
    }
    let value = json_to_struct(&json);
    let _ = struct_depth(&value);
    let _ = struct_unstorable(&value);
    let back = struct_to_json(&value);
    assert_eq!(json_to_struct(&back), value, "Struct → JSON → Struct changed it");
});
