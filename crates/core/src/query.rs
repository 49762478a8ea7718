//! Reading one parameter of a URL query string.

use percent_encoding::percent_decode_str;

/// The first non-empty value of `name` in `query`, percent-decoded
/// (`+` is left as is, as in RFC 3986 queries).
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| percent_decode_str(value).decode_utf8_lossy().into_owned())
        .find(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_decodes_one_parameter() {
        let query = Some("a=1&token=abc.def%2Dg&EIO=3");
        assert_eq!(query_param(query, "token").as_deref(), Some("abc.def-g"));
        assert_eq!(query_param(query, "EIO").as_deref(), Some("3"));
        assert_eq!(query_param(Some("token="), "token"), None);
        assert_eq!(query_param(Some("tokens=x"), "token"), None);
        assert_eq!(query_param(None, "token"), None);
    }
}
