//! The rules every event payload meets on the bus, in one place: how deep
//! it may nest, and what counts as a binary attachment.
//!
//! Binary data travels the bus as `{"$binary":"<base64>"}` objects, and
//! socket.io receivers get each one back as a binary attachment. Whatever
//! decides whether a publish carries too many of them must read the
//! payload exactly as that conversion does, or a payload can pass the
//! count and still become too many attachments on the way out (socket.io
//! clients then drop the connection: socket.io-client refuses more than
//! 10). So both use [`binary_bytes`] on the parsed JSON, after the same
//! cheap test, [`may_carry_binary`]; escapes such as `\u0024binary` are
//! decoded by the parser and counted like the literal form.

use base64::Engine;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The deepest nesting `limits.max_payload_depth` may allow: serde_json
/// refuses to parse anything deeper, and an outlet must be able to parse
/// whatever the bus accepted (the event frame adds a level of its own).
pub const MAX_PAYLOAD_DEPTH_LIMIT: usize = 120;

/// The bytes of a `{"$binary":"<base64>"}` object: exactly one key, and a
/// string that is valid standard base64. Anything else is plain JSON.
pub fn binary_bytes(object: &Map<String, Value>) -> Option<Vec<u8>> {
    if object.len() != 1 {
        return None;
    }
    let encoded = object.get("$binary")?.as_str()?;
    base64::engine::general_purpose::STANDARD.decode(encoded).ok()
}

/// Whether `json` may hold a binary marker, so that it must be parsed to
/// know: it names `"$binary"` literally, or holds a `\u` escape, which
/// could spell the name. Payloads without either (nearly all) are never
/// parsed for binary.
pub fn may_carry_binary(json: &str) -> bool {
    json.contains("\"$binary\"") || json.contains("\\u")
}

/// The binary markers in `value`, as [`binary_bytes`] recognises them (a
/// marker's own contents are not searched further).
pub fn count_binary(value: &Value) -> usize {
    match value {
        Value::Array(items) => items.iter().map(count_binary).sum(),
        Value::Object(object) if binary_bytes(object).is_some() => 1,
        Value::Object(object) => object.values().map(count_binary).sum(),
        _ => 0,
    }
}

/// How deeply arrays and objects nest in valid JSON text: `1` is `1`,
/// `[1]` is 1, `{"a":[1]}` is 2. One pass over the bytes, no allocation.
pub fn nesting_depth(json: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for byte in json.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// It nests deeper than `limits.max_payload_depth`.
    #[error("payload nests deeper than {0} levels (limits.max_payload_depth)")]
    TooDeep(usize),
    /// It holds more `{"$binary":…}` objects than `limits.max_binary_attachments`.
    #[error("more than {0} binary attachments (limits.max_binary_attachments)")]
    TooManyAttachments(usize),
}

/// The limits of [`check_payload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadLimits {
    /// `limits.max_payload_depth`.
    pub max_depth: usize,
    /// `limits.max_binary_attachments`.
    pub max_binary: usize,
}

impl Default for PayloadLimits {
    fn default() -> Self {
        PayloadLimits {
            max_depth: 64,
            max_binary: 10,
        }
    }
}

/// Checks one payload against `limits`: its depth by a scan, its binary
/// markers by parsing it when it may carry any. Returns how many binary
/// markers it holds.
pub fn check_payload(data: &RawValue, limits: PayloadLimits) -> Result<usize, PayloadError> {
    let json = data.get();
    if nesting_depth(json) > limits.max_depth {
        return Err(PayloadError::TooDeep(limits.max_depth));
    }
    if !may_carry_binary(json) {
        return Ok(0);
    }
    // The depth check keeps this within the parser's own limit.
    let value: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    match count_binary(&value) {
        count if count > limits.max_binary => Err(PayloadError::TooManyAttachments(limits.max_binary)),
        count => Ok(count),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn binary_markers_are_recognised_only_in_their_exact_shape() {
        let marker = |v: Value| binary_bytes(v.as_object().unwrap());
        assert_eq!(marker(json!({"$binary": "AQID"})), Some(vec![1, 2, 3]));
        assert_eq!(marker(json!({"$binary": "AQID", "x": 1})), None);
        assert_eq!(marker(json!({"$binary": "not base64!"})), None);
        assert_eq!(marker(json!({"$binary": 5})), None);
    }

    #[test]
    fn markers_are_counted_as_the_conversion_sees_them() {
        let count = |json: &str| count_binary(&serde_json::from_str(json).unwrap());
        assert_eq!(count(r#"[{"$binary":"AQ=="},{"x":{"$binary":"Ag=="}}]"#), 2);
        assert_eq!(count(r#"{"text":"say \"$binary\" twice: \"$binary\""}"#), 0);
        // An escaped name is the same name once parsed.
        assert_eq!(count(r#"[{"\u0024binary":"AQ=="},{"$bin\u0061ry":"AQ=="}]"#), 2);
        assert_eq!(count("null"), 0);
    }

    /// Regression (outside probe): a raw publish of one literal marker and
    /// 2,000 escaped ones passed a count of literal text matches, and every
    /// socket.io member of the room was disconnected by the attachments.
    #[test]
    fn escaped_and_literal_markers_count_alike() {
        let limits = PayloadLimits::default();
        let mut items = vec![r#"{"$binary":"AQ=="}"#.to_owned()];
        items.extend((0..2000).map(|_| r#"{"\u0024binary":"AQ=="}"#.to_owned()));
        let poisoned = raw(&format!("[{}]", items.join(",")));
        assert_eq!(
            check_payload(&poisoned, limits),
            Err(PayloadError::TooManyAttachments(10))
        );
        let only_escaped = raw(&format!("[{}]", items[1..12].join(",")));
        assert!(!only_escaped.get().contains("\"$binary\""));
        assert_eq!(
            check_payload(&only_escaped, limits),
            Err(PayloadError::TooManyAttachments(10))
        );
        let ten = raw(&format!("[{}]", items[1..11].join(",")));
        assert_eq!(check_payload(&ten, limits), Ok(10));
    }

    #[test]
    fn depth_is_measured_outside_strings_only() {
        assert_eq!(nesting_depth("1"), 0);
        assert_eq!(nesting_depth("[1]"), 1);
        assert_eq!(nesting_depth(r#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(nesting_depth(r#"["[[[{{{", "\"[["]"#), 1);
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(nesting_depth(&deep), 100);
        assert_eq!(
            check_payload(&raw(&deep), PayloadLimits::default()),
            Err(PayloadError::TooDeep(64))
        );
        let fine = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert_eq!(check_payload(&raw(&fine), PayloadLimits::default()), Ok(0));
    }
}
