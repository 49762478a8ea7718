//! Calling the gateway's HTTP API the way a backend would: plain HTTP/1.1
//! requests with a bearer key.

use serde_json::Value;

use super::Gateway;
use crate::subprotocol::reqwest_like::raw_http;

/// The key the API tests configure.
pub const API_KEY: &str = "test-api-key-0123456789";

/// Config enabling the API with [`API_KEY`].
pub fn api_config() -> String {
    format!("[api]\nkeys = [\"{API_KEY}\"]\n")
}

/// An API answer: status code and JSON body.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: String,
    pub body: Value,
}

impl Gateway {
    /// `POST {path}` with a JSON body and the test key.
    pub async fn api_post(&self, path: &str, body: &Value) -> ApiResponse {
        self.api_request("POST", path, Some(&body.to_string()), Some(API_KEY))
            .await
    }

    /// `GET {path}` with the test key.
    pub async fn api_get(&self, path: &str) -> ApiResponse {
        self.api_request("GET", path, None, Some(API_KEY)).await
    }

    /// Any request, with any key (or none).
    pub async fn api_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        key: Option<&str>,
    ) -> ApiResponse {
        let body = body.unwrap_or("");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(key) = key {
            request.push_str(&format!("Authorization: Bearer {key}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        let answer = raw_http(self, &request).await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {answer:?}"));
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
        };
        ApiResponse {
            status,
            headers: head.to_ascii_lowercase(),
            body,
        }
    }
}
