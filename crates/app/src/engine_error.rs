//! engine.io's error answers, as the protocol and Node's engine.io write
//! them: `400 {"code":N,"message":"…"}` with a numeric code.
//!
//! socketioxide writes the code as a string (`"code":"1"`) and answers a
//! malformed packet with an empty 400. Its 400s are rewritten here, so
//! every client and proxy sees the same errors as from a Node server:
//!
//! | code | message |
//! |---|---|
//! | 0 | Transport unknown |
//! | 1 | Session ID unknown |
//! | 2 | Bad handshake method |
//! | 3 | Bad request |
//! | 4 | Forbidden |
//! | 5 | Unsupported protocol version |

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Response};
use http_body_util::{BodyExt, Limited};

/// Largest error body read back from the engine (its errors are a few dozen bytes).
const MAX_ERROR_BODY: usize = 1024;

/// An engine.io error body with a numeric code.
pub(crate) fn body(code: u8, message: &str) -> String {
    serde_json::json!({"code": code, "message": message}).to_string()
}

/// Rewrites a 400 from the engine into the protocol's form (call it for
/// 400s only: it reads the whole body).
pub(crate) async fn normalize<B>(response: Response<B>) -> Response<Bytes>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (mut parts, engine_body) = response.into_parts();
    let bytes = match Limited::new(engine_body, MAX_ERROR_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let parsed: Option<(u8, String)> =
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|value| {
                let code = match &value["code"] {
                    serde_json::Value::String(code) => code.parse().ok()?,
                    serde_json::Value::Number(code) => u8::try_from(code.as_u64()?).ok()?,
                    _ => return None,
                };
                Some((code, value["message"].as_str()?.to_owned()))
            });
    // An empty 400 is a malformed packet or an overlapping poll: "Bad request".
    let (code, message) = parsed.unwrap_or((3, "Bad request".to_owned()));
    let text = body(code, &message);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
    Response::from_parts(parts, Bytes::from(text))
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use http_body_util::Full;

    use super::*;

    async fn rewrite(status: StatusCode, body: &'static str) -> (StatusCode, String) {
        let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = status;
        let response = normalize(response).await;
        let body = String::from_utf8(response.body().to_vec()).unwrap();
        (response.status(), body)
    }

    #[tokio::test]
    async fn string_codes_become_numbers_and_empty_errors_say_bad_request() {
        assert_eq!(
            rewrite(
                StatusCode::BAD_REQUEST,
                r#"{"code":"1","message":"Session ID unknown"}"#
            )
            .await,
            (
                StatusCode::BAD_REQUEST,
                r#"{"code":1,"message":"Session ID unknown"}"#.into()
            )
        );
        assert_eq!(
            rewrite(StatusCode::BAD_REQUEST, "").await,
            (
                StatusCode::BAD_REQUEST,
                r#"{"code":3,"message":"Bad request"}"#.into()
            )
        );
    }
}
