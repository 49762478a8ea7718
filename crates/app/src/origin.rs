//! Which browser origins may connect, and the CORS answers long-polling
//! needs when pages are served from another origin.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_HEADERS, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue};

/// `server.allowed_origins`.
#[derive(Debug, Clone, Default)]
pub(crate) struct OriginPolicy(Vec<String>);

/// What the policy says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OriginCheck {
    /// No list, or no `Origin` header (not a browser): no CORS headers.
    Unchecked,
    /// An allowed browser origin: answer with CORS headers for it.
    Allowed(HeaderValue),
    /// A browser origin not on the list.
    Refused,
}

impl OriginPolicy {
    pub(crate) fn new(origins: Vec<String>) -> Self {
        OriginPolicy(origins)
    }

    pub(crate) fn check(&self, headers: &HeaderMap) -> OriginCheck {
        let Some(origin) = headers.get(ORIGIN) else {
            return OriginCheck::Unchecked;
        };
        if self.0.is_empty() {
            return OriginCheck::Unchecked;
        }
        let text = origin.to_str().unwrap_or_default();
        match self
            .0
            .iter()
            .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(text))
        {
            // A copy: a clone would share (and keep alive) the request's
            // whole read buffer for as long as a long-poll waits.
            true => OriginCheck::Allowed(
                HeaderValue::from_bytes(origin.as_bytes()).unwrap_or_else(|_| origin.clone()),
            ),
            false => OriginCheck::Refused,
        }
    }
}

/// Adds the CORS headers for an allowed origin.
pub(crate) fn add_cors(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    headers.append(VARY, HeaderValue::from_static("Origin"));
}

/// Adds the preflight answer's headers.
pub(crate) fn add_preflight(headers: &mut HeaderMap, request: &HeaderMap) {
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    let asked = request
        .get(ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or(HeaderValue::from_static("content-type"));
    headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_origin(origin: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_static(origin));
        headers
    }

    #[test]
    fn only_listed_origins_pass_and_non_browsers_are_not_checked() {
        let policy = OriginPolicy::new(vec!["https://app.example".into()]);
        assert_eq!(
            policy.check(&with_origin("https://app.example")),
            OriginCheck::Allowed(HeaderValue::from_static("https://app.example"))
        );
        assert_eq!(
            policy.check(&with_origin("https://evil.example")),
            OriginCheck::Refused
        );
        assert_eq!(policy.check(&HeaderMap::new()), OriginCheck::Unchecked);
        assert_eq!(
            OriginPolicy::default().check(&with_origin("https://x")),
            OriginCheck::Unchecked
        );
        let any = OriginPolicy::new(vec!["*".into()]);
        assert!(matches!(
            any.check(&with_origin("https://x")),
            OriginCheck::Allowed(_)
        ));
    }
}
