//! [`Args`]: an event's arguments, as the publisher sent them.
//!
//! socket.io events carry any number of arguments (`emit("move", x, y)`);
//! raw protocol v1 events carry one `data`, or a list in `args`. The bus
//! keeps every argument as validated JSON text, never re-parsed on the
//! delivery path: each protocol front encodes them once per envelope (see
//! [`Envelope::encoded`](crate::Envelope::encoded)). One argument, by far
//! the common case, costs no more than a bare payload.

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::value::RawValue;

use crate::{check_payload, PayloadError, PayloadLimits};

/// An event's arguments, in order, each as validated JSON text.
#[derive(Clone)]
pub struct Args(Repr);

#[derive(Clone)]
enum Repr {
    /// Exactly one argument.
    One(Box<RawValue>),
    /// None, or two and more.
    Many(Box<[Box<RawValue>]>),
}

impl Args {
    /// One argument.
    pub fn one(value: Box<RawValue>) -> Self {
        Args(Repr::One(value))
    }

    /// Every argument, in order (none is allowed: `emit("ping")`).
    pub fn list(mut values: Vec<Box<RawValue>>) -> Self {
        match values.len() {
            1 => Args::one(values.remove(0)),
            _ => Args(Repr::Many(values.into_boxed_slice())),
        }
    }

    /// The arguments of a JSON array, one per item.
    pub fn from_array(array: &RawValue) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<Vec<Box<RawValue>>>(array.get()).map(Args::list)
    }

    /// The arguments of JSON values (a webhook's answer, an emitter's
    /// message).
    pub fn from_values(values: &[serde_json::Value]) -> Result<Self, serde_json::Error> {
        values
            .iter()
            .map(serde_json::value::to_raw_value)
            .collect::<Result<Vec<_>, _>>()
            .map(Args::list)
    }

    /// The arguments of a request that names them either as `data` (one
    /// argument, raw protocol v1's field) or as `args` (every argument, in
    /// order). Neither is one `null`, as `data` alone always meant; both is
    /// an error, even when `data` is `null` (see [`given`]).
    pub fn from_data_or_args(
        data: Option<Box<RawValue>>,
        args: Option<Vec<Box<RawValue>>>,
    ) -> Result<Self, DataAndArgs> {
        match (data, args) {
            (Some(_), Some(_)) => Err(DataAndArgs),
            (Some(data), None) => Ok(Args::one(data)),
            (None, Some(args)) => Ok(Args::list(args)),
            (None, None) => Ok(Args::one(RawValue::NULL.to_owned())),
        }
    }

    /// How many arguments there are.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::One(_) => 1,
            Repr::Many(values) => values.len(),
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first argument, `null` when there is none: raw protocol v1's
    /// `data`.
    pub fn first(&self) -> &RawValue {
        match &self.0 {
            Repr::One(value) => value,
            Repr::Many(values) => values.first().map_or(RawValue::NULL, |value| value),
        }
    }

    /// Every argument, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &RawValue> {
        let values: &[Box<RawValue>] = match &self.0 {
            Repr::One(value) => std::slice::from_ref(value),
            Repr::Many(values) => values,
        };
        values.iter().map(|value| &**value)
    }

    /// Checks every argument against `limits`; binary attachments count
    /// over all of them together.
    pub fn check(&self, limits: PayloadLimits) -> Result<(), PayloadError> {
        let mut attachments = 0;
        for value in self.iter() {
            attachments += check_payload(value, limits)?;
        }
        if attachments > limits.max_binary {
            return Err(PayloadError::TooManyAttachments(limits.max_binary));
        }
        Ok(())
    }
}

/// A request gave both `data` and `args`: one argument or a list, not both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("give either \"data\" (one argument) or \"args\" (an array of every argument), not both")]
pub struct DataAndArgs;

/// Deserialises an optional field so that an explicit `null` counts as
/// given (serde's `Option` reads it as absent): for `data`, where `null`
/// is an argument like any other. Use with `#[serde(default,
/// deserialize_with = "sockgate_core::given")]`.
pub fn given<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Equal when every argument is the same JSON text.
impl PartialEq for Args {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a.get() == b.get())
    }
}

impl Eq for Args {}

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(RawValue::get)).finish()
    }
}

/// Serialises as the JSON array of every argument.
impl Serialize for Args {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for value in self.iter() {
            seq.serialize_element(value)?;
        }
        seq.end()
    }
}

impl From<Box<RawValue>> for Args {
    fn from(value: Box<RawValue>) -> Self {
        Args::one(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn one_many_and_none_keep_their_order_and_their_first() {
        let one = Args::one(raw("{\"a\":1}"));
        assert_eq!((one.len(), one.first().get()), (1, "{\"a\":1}"));
        assert_eq!(serde_json::to_string(&one).unwrap(), "[{\"a\":1}]");

        let many = Args::from_array(&raw("[1,\"2\",{\"three\":3}]")).unwrap();
        assert_eq!((many.len(), many.first().get()), (3, "1"));
        assert_eq!(serde_json::to_string(&many).unwrap(), "[1,\"2\",{\"three\":3}]");

        let none = Args::list(Vec::new());
        assert!(none.is_empty());
        assert_eq!(none.first().get(), "null");
        assert_eq!(serde_json::to_string(&none).unwrap(), "[]");

        // A list of one is one argument.
        assert_eq!(Args::list(vec![raw("5")]), Args::one(raw("5")));
    }

    #[test]
    fn data_is_one_argument_args_every_one_and_both_is_refused() {
        let from = |data: Option<&str>, args: Option<&[&str]>| {
            Args::from_data_or_args(
                data.map(raw),
                args.map(|args| args.iter().map(|arg| raw(arg)).collect()),
            )
        };
        assert_eq!(from(Some("[1,2]"), None), Ok(Args::one(raw("[1,2]"))));
        assert_eq!(from(None, Some(&["1", "2"])).map(|a| a.len()), Ok(2));
        assert_eq!(from(None, Some(&[])).map(|a| a.len()), Ok(0));
        assert_eq!(from(None, None), Ok(Args::one(raw("null"))));
        assert_eq!(from(Some("null"), Some(&["1"])), Err(DataAndArgs));
    }

    #[test]
    fn an_explicit_null_is_given() {
        #[derive(serde::Deserialize)]
        struct Frame {
            #[serde(default, deserialize_with = "given")]
            data: Option<Box<RawValue>>,
        }
        let data = |json: &str| {
            serde_json::from_str::<Frame>(json)
                .unwrap()
                .data
                .map(|d| d.get().to_owned())
        };
        assert_eq!(data(r#"{"data":null}"#).as_deref(), Some("null"));
        assert_eq!(data(r#"{"data":[1]}"#).as_deref(), Some("[1]"));
        assert_eq!(data("{}"), None);
    }

    #[test]
    fn binary_attachments_count_over_every_argument() {
        let limits = PayloadLimits {
            max_depth: 64,
            max_binary: 2,
        };
        let marker = "{\"$binary\":\"AQID\"}";
        let two = Args::list(vec![raw(marker), raw(marker)]);
        assert_eq!(two.check(limits), Ok(()));
        let three = Args::list(vec![raw(marker), raw(&format!("[{marker},{marker}]"))]);
        assert_eq!(three.check(limits), Err(PayloadError::TooManyAttachments(2)));
    }
}
