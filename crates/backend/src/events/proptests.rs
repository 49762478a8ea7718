//! Property tests of event routing: which `[[webhooks.routes]]` entry an
//! event name goes to.

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use sockgate_bus::{BusLimits, LocalBus};
use sockgate_core::RoomPolicy;

use super::*;
use crate::webhook::WebhookConfig;

/// Text with no glob metacharacters, so that it stands for itself in a pattern.
const LITERAL: &str = "[a-zA-Z0-9:/._ \\-@#é中]{1,16}";

/// Any event name (control characters, newlines and non-ASCII included).
fn any_event() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "\\PC{0,30}", LITERAL]
}

/// Event webhooks over `routes`; the client and bus are built once and
/// never used (routing calls nobody).
fn webhooks(routes: &[EventRoute]) -> EventWebhooks {
    static SHARED: OnceLock<(Arc<WebhookClient>, Arc<dyn ServerBus>)> = OnceLock::new();
    let (client, bus) = SHARED.get_or_init(|| {
        let bus = LocalBus::new(RoomPolicy::allow_all(128), BusLimits::default());
        (
            Arc::new(WebhookClient::new(WebhookConfig::default()).expect("the client builds")),
            Arc::new(bus) as Arc<dyn ServerBus>,
        )
    });
    EventWebhooks::new(client.clone(), routes, None, bus.clone()).expect("valid patterns")
}

fn route(events: &[String], url: String) -> EventRoute {
    EventRoute {
        events: events.to_vec(),
        url,
    }
}

proptest! {
    #[test]
    fn a_pattern_equal_to_the_event_name_matches_it(event in LITERAL, other in any_event()) {
        let hooks = webhooks(&[route(std::slice::from_ref(&event), "http://a/".into())]);
        prop_assert_eq!(hooks.route(&event), Some("http://a/"));
        let expected = (other == event).then_some("http://a/");
        prop_assert_eq!(hooks.route(&other), expected, "{:?}", other);
    }

    #[test]
    fn star_matches_every_event(event in any_event()) {
        let hooks = webhooks(&[route(&["*".into()], "http://all/".into())]);
        prop_assert_eq!(hooks.route(&event), Some("http://all/"), "{:?}", event);
    }

    #[test]
    fn the_first_matching_route_wins(
        names in proptest::collection::vec(proptest::collection::vec(LITERAL, 1..4), 1..6),
        catch_all in any::<bool>(),
        pick in any::<prop::sample::Index>(),
        stranger in any_event(),
    ) {
        let mut routes: Vec<EventRoute> = names
            .iter()
            .enumerate()
            .map(|(i, events)| route(events, format!("http://route{i}/")))
            .collect();
        if catch_all {
            routes.push(route(&["*".into()], "http://fallback/".into()));
        }
        let hooks = webhooks(&routes);
        let all: Vec<&String> = names.iter().flatten().collect();
        let known = pick.get(&all).to_string();
        for event in [known, stranger] {
            let expected = names
                .iter()
                .position(|events| events.contains(&event))
                .map(|i| format!("http://route{i}/"))
                .or_else(|| catch_all.then(|| "http://fallback/".to_owned()));
            prop_assert_eq!(hooks.route(&event).map(str::to_owned), expected, "{:?}", event);
        }
    }

    #[test]
    fn no_pattern_panics(events in proptest::collection::vec(any_event(), 0..4), event in any_event()) {
        let candidate = route(&events, "http://x/".into());
        match candidate.patterns() {
            Ok(set) => {
                let _ = set.is_match(&event);
            }
            Err(error) => prop_assert!(!error.reason.is_empty()),
        }
    }
}
