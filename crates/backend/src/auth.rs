//! API key check.

use http::HeaderMap;
use subtle::ConstantTimeEq;

/// Whether `headers` carry `Authorization: Bearer <one of keys>`.
///
/// Every key is compared, in constant time for keys of the presented
/// length, so the answer's timing does not tell how much of a key matched.
pub(crate) fn authorized(headers: &HeaderMap, keys: &[String]) -> bool {
    let Some(presented) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return false;
    };
    let presented = presented.as_bytes();
    keys.iter().fold(false, |matched, key| {
        let key = key.as_bytes();
        let equal = key.len() == presented.len() && bool::from(key.ct_eq(presented));
        matched | equal
    })
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_a_configured_bearer_key_passes() {
        let keys = vec![
            "first-key-0123456789".to_owned(),
            "second-key-0123456789".to_owned(),
        ];
        assert!(authorized(&headers("Bearer first-key-0123456789"), &keys));
        assert!(authorized(&headers("Bearer second-key-0123456789"), &keys));
        assert!(!authorized(&headers("Bearer first-key-012345678"), &keys));
        assert!(!authorized(&headers("Basic first-key-0123456789"), &keys));
        assert!(!authorized(&headers("first-key-0123456789"), &keys));
        assert!(!authorized(&HeaderMap::new(), &keys));
        assert!(!authorized(&headers("Bearer "), &[]));
    }
}
