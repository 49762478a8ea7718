//! [`Args`]: an event's arguments, as the publisher sent them.
//!
//! socket.io events carry any number of arguments (`emit("move", x, y)`);
//! raw protocol v1 events carry one `data`. The bus keeps every argument
//! as validated JSON text, never re-parsed on the delivery path: each
//! protocol front encodes them once per envelope (see
//! [`Envelope::encoded`](crate::Envelope::encoded)). One argument, by far
//! the common case, costs no more than a bare payload.

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
