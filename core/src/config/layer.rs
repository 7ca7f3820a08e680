//! Field-by-field layering of JSON objects (environment → preset → explicit).

use serde_json::Value;

/// Merges `top` over `base`: objects merge key by key (recursively), anything else replaces.
pub(crate) fn merge(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, t) => *b = t.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_layers_win_field_by_field() {
        let mut v = json!({"breaker": {"a": 1, "b": 2}, "t": 5});
        merge(&mut v, &json!({"breaker": {"b": 3, "c": {"d": 4}}, "t": 6}));
        assert_eq!(
            v,
            json!({"breaker": {"a": 1, "b": 3, "c": {"d": 4}}, "t": 6})
        );
    }
}
