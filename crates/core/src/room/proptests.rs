//! Property tests of room names and glob policies.

use proptest::prelude::*;

use super::*;

/// Text with no glob metacharacters, so that it stands for itself in a pattern.
const LITERAL: &str = "[a-zA-Z0-9:/._ \\-@#é中]{1,24}";

/// Any text at all (control characters, newlines and non-ASCII included).
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "\\PC{0,40}", LITERAL]
}

proptest! {
    #[test]
    fn names_of_1_to_max_bytes_are_accepted_and_round_trip(raw in any_text(), max in 1usize..64) {
        let policy = RoomPolicy::allow_all(max);
        match policy.name(&raw) {
            Ok(name) => {
                prop_assert!((1..=max).contains(&raw.len()));
                prop_assert_eq!(name.as_str(), raw.as_str());
                prop_assert_eq!(name.to_string(), raw);
            }
            Err(error) => {
                prop_assert!(raw.is_empty() || raw.len() > max);
                prop_assert_eq!(error, RoomPolicyError::NameLength { len: raw.len(), max });
            }
        }
    }

    #[test]
    fn star_allows_every_valid_name(raw in any_text()) {
        let policy = RoomPolicy::allow_all(256);
        if let Ok(name) = policy.name(&raw) {
            prop_assert!(policy.may_join(&name), "join {:?}", raw);
            prop_assert!(policy.may_publish(&name), "publish {:?}", raw);
        }
    }

    #[test]
    fn a_literal_pattern_allows_exactly_itself(
        literal in LITERAL,
        other in prop_oneof![any_text(), LITERAL],
        suffix in any_text(),
    ) {
        let policy = RoomPolicy::new(&[literal.as_str()], &[literal.as_str()], 512).unwrap();
        let longer = format!("{literal}{suffix}");
        let shorter = literal[..literal.len() - literal.chars().last().map_or(0, char::len_utf8)].to_owned();
        for candidate in [&literal, &other, &longer, &shorter] {
            if let Ok(name) = policy.name(candidate) {
                prop_assert_eq!(policy.may_join(&name), candidate == &literal, "{:?}", candidate);
                prop_assert_eq!(policy.may_publish(&name), candidate == &literal, "{:?}", candidate);
            }
        }
    }

    #[test]
    fn a_prefix_pattern_allows_exactly_names_with_that_prefix(
        prefix in LITERAL,
        rest in any_text(),
        other in any_text(),
    ) {
        let pattern = format!("{prefix}:*");
        let policy = RoomPolicy::new(&[pattern.as_str()], &[], 512).unwrap();
        let inside = format!("{prefix}:{rest}");
        for candidate in [&inside, &other, &prefix] {
            if let Ok(name) = policy.name(candidate) {
                let expected = candidate.starts_with(&format!("{prefix}:"));
                prop_assert_eq!(policy.may_join(&name), expected, "{:?} against {:?}", candidate, pattern);
                // An empty list allows nothing.
                prop_assert!(!policy.may_publish(&name));
            }
        }
    }

    #[test]
    fn no_pattern_or_name_panics(
        join in proptest::collection::vec(any_text(), 0..4),
        publish in proptest::collection::vec(any_text(), 0..4),
        max in any::<usize>(),
        raw in any_text(),
    ) {
        match RoomPolicy::new(&join, &publish, max) {
            Ok(policy) => {
                if let Ok(name) = policy.name(&raw) {
                    let _ = (policy.may_join(&name), policy.may_publish(&name));
                }
            }
            Err(RoomPolicyError::BadPattern { pattern, reason }) => {
                prop_assert!(!reason.is_empty());
                prop_assert!(join.contains(&pattern) || publish.contains(&pattern) || pattern.contains(", "));
            }
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }
}
