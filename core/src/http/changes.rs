//! Finding what a request changed in its session's data.
//!
//! The app hands back the data as it left it; the changes are the top-level keys whose JSON value
//! differs from what the request loaded, and the keys it removed. Comparing JSON values (not the
//! host language's objects) catches what "modified" flags and shallow snapshots miss: a list
//! appended to in place, `1` becoming `true` (equal in Python), `1` becoming `1.0`. Writing only
//! those keys, atomically, keeps two concurrent requests that change different keys from
//! overwriting each other.

use serde_json::Value;

use crate::data::Data;

/// The per-key changes from one data object to another.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    /// Keys to set, with their new values.
    pub set: Data,
    /// Keys to remove.
    pub remove: Vec<String>,
}

impl Changes {
    /// The changes that turn `before` into `after`.
    ///
    /// ```
    /// use serde_json::json;
    /// use tessera::http::Changes;
    /// let before = json!({"n": 1, "cart": [1], "gone": 0});
    /// let after = json!({"n": true, "cart": [1, 2], "new": "x"});
    /// let c = Changes::between(before.as_object().unwrap(), after.as_object().unwrap());
    /// assert_eq!(serde_json::Value::Object(c.set), json!({"n": true, "cart": [1, 2], "new": "x"}));
    /// assert_eq!(c.remove, vec!["gone".to_string()]);
    /// ```
    pub fn between(before: &Data, after: &Data) -> Changes {
        let mut set = Data::new();
        for (key, value) in after {
            if !same(before.get(key), value) {
                set.insert(key.clone(), value.clone());
            }
        }
        let remove = before
            .keys()
            .filter(|k| !after.contains_key(*k))
            .cloned()
            .collect();
        Changes { set, remove }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    /// `data` with these changes applied.
    pub fn applied_to(&self, data: &Data) -> Data {
        let mut out = data.clone();
        for key in &self.remove {
            out.remove(key);
        }
        for (key, value) in &self.set {
            out.insert(key.clone(), value.clone());
        }
        out
    }
}

/// Whether two JSON values serialize alike. `serde_json`'s equality already is that, number
/// representation included (`1` is not `1.0`, nor `true`); object key order does not count.
fn same(before: Option<&Value>, after: &Value) -> bool {
    before == Some(after)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Data {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test data is an object"),
        }
    }

    #[test]
    fn equal_data_has_no_changes() {
        let d = obj(json!({"a": [1, {"b": null}], "c": "x"}));
        assert!(Changes::between(&d, &d.clone()).is_empty());
    }

    #[test]
    fn booleans_numbers_and_floats_are_told_apart() {
        let before = obj(json!({"one": 1, "zero": 0, "int": 2}));
        let after = obj(json!({"one": true, "zero": false, "int": 2.0}));
        let c = Changes::between(&before, &after);
        assert_eq!(c.set.len(), 3);
    }

    #[test]
    fn nested_changes_count_and_apply() {
        let before = obj(json!({"cart": {"items": [1]}, "keep": 1, "drop": 2}));
        let after = obj(json!({"cart": {"items": [1, 2]}, "keep": 1}));
        let c = Changes::between(&before, &after);
        assert_eq!(
            Value::Object(c.set.clone()),
            json!({"cart": {"items": [1, 2]}})
        );
        assert_eq!(c.remove, vec!["drop".to_string()]);
        assert_eq!(c.applied_to(&before), after);
    }
}
