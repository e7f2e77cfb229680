//! `google.protobuf.Struct` ⇄ JSON, for storing event properties as jsonb.

use prost_types::{ListValue, Struct, Value, value::Kind};
use serde_json::{Map, Number, Value as Json};

/// Converts a protobuf `Struct` to a JSON object.
pub fn struct_to_json(value: &Struct) -> Json {
    Json::Object(
        value
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect::<Map<_, _>>(),
    )
}

fn value_to_json(value: &Value) -> Json {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        // Whole numbers stay integers in JSON so equality filters match them.
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => Json::from(*n as i64),
        Some(Kind::NumberValue(n)) => Number::from_f64(*n).map_or(Json::Null, Json::Number),
        Some(Kind::StringValue(s)) => Json::String(s.clone()),
        Some(Kind::ListValue(list)) => Json::Array(list.values.iter().map(value_to_json).collect()),
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

/// Converts a JSON value to a protobuf `Struct`; a non-object becomes an empty struct.
pub fn json_to_struct(value: &Json) -> Struct {
    match value {
        Json::Object(map) => Struct {
            fields: map
                .iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        },
        _ => Struct::default(),
    }
}

fn json_to_value(value: &Json) -> Value {
    let kind = match value {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        Json::Object(_) => Kind::StructValue(json_to_struct(value)),
    };
    Value { kind: Some(kind) }
}

/// Nesting depth of a `Struct`: 1 for a flat object.
pub fn struct_depth(value: &Struct) -> usize {
    1 + value.fields.values().map(value_depth).max().unwrap_or(0)
}

fn value_depth(value: &Value) -> usize {
    match &value.kind {
        Some(Kind::StructValue(s)) => struct_depth(s),
        Some(Kind::ListValue(l)) => 1 + l.values.iter().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Why a `Struct` cannot be stored as jsonb unchanged, if it cannot:
/// PostgreSQL's jsonb refuses NUL characters (one such event would fail its
/// whole batch insert), and JSON has no NaN or infinity (they would turn
/// into null: silently changed).
pub fn struct_unstorable(value: &Struct) -> Option<&'static str> {
    value
        .fields
        .iter()
        .find_map(|(k, v)| key_unstorable(k).or_else(|| value_unstorable(v)))
}

const NUL: &str = "must not contain NUL characters";
const NOT_FINITE: &str = "must not contain NaN or infinite numbers";

fn key_unstorable(key: &str) -> Option<&'static str> {
    key.contains('\0').then_some(NUL)
}

fn value_unstorable(value: &Value) -> Option<&'static str> {
    match &value.kind {
        Some(Kind::StringValue(s)) => key_unstorable(s),
        Some(Kind::NumberValue(n)) => (!n.is_finite()).then_some(NOT_FINITE),
        Some(Kind::StructValue(s)) => struct_unstorable(s),
        Some(Kind::ListValue(l)) => l.values.iter().find_map(value_unstorable),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_round_trip_keeps_shape() {
        let json = serde_json::json!({"plan": "pro", "seats": 3, "ratio": 0.5, "tags": ["a", null], "nested": {"ok": true}});
        assert_eq!(struct_to_json(&json_to_struct(&json)), json);
    }

    #[test]
    fn test_nul_found_in_nested_values_and_keys() {
        let clean = serde_json::json!({"a": ["x", {"b": "y"}]});
        assert_eq!(struct_unstorable(&json_to_struct(&clean)), None);
        let nested = serde_json::json!({"a": ["x", {"b": "y\u{0}"}]});
        assert_eq!(struct_unstorable(&json_to_struct(&nested)), Some(NUL));
        let key = serde_json::json!({"a\u{0}": 1});
        assert_eq!(struct_unstorable(&json_to_struct(&key)), Some(NUL));
    }

    #[test]
    fn test_nan_and_infinity_found_in_nested_values() {
        for n in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let number = Value {
                kind: Some(Kind::NumberValue(n)),
            };
            let list = Value {
                kind: Some(Kind::ListValue(ListValue {
                    values: vec![number],
                })),
            };
            let nested = Struct {
                fields: [("a".to_string(), list)].into_iter().collect(),
            };
            assert_eq!(struct_unstorable(&nested), Some(NOT_FINITE), "{n}");
        }
    }

    #[test]
    fn test_depth() {
        let json = serde_json::json!({"a": {"b": {"c": 1}}, "d": 1});
        assert_eq!(struct_depth(&json_to_struct(&json)), 3);
        assert_eq!(struct_depth(&Struct::default()), 1);
    }
}
