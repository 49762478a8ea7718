//! A real HTTP backend for webhook tests: a hyper server on a free port
//! that answers with a handler the test chooses and records every request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

use super::WAIT;

type Handler = dyn Fn(String, Value) -> Pin<Box<dyn Future<Output = (u16, Value)> + Send>> + Send + Sync;

/// One request the backend received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// A running test backend; stops when dropped.
pub struct Backend {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    /// Starts a backend answering every request with `handler(path, body)`;
    /// a 3xx answer's `location` field becomes its `Location` header.
    pub async fn start<F, Fut>(handler: F) -> Backend
    where
        F: Fn(String, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = (u16, Value)> + Send + 'static,
    {
        let handler: Arc<Handler> = Arc::new(move |path, body| Box::pin(handler(path, body)));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (handler, log) = (handler.clone(), log.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (handler, log) = (handler.clone(), log.clone());
                        async move {
                            let path = req.uri().path().to_owned();
                            let authorization = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned);
                            let bytes = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                            log.lock().unwrap().push(Received {
                                path: path.clone(),
                                authorization,
                                body: body.clone(),
                            });
                            let (status, answer) = handler(path, body).await;
                            let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
                            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            response
                                .headers_mut()
                                .insert("content-type", "application/json".parse().unwrap());
                            if let (300..=399, Some(location)) = (status, answer["location"].as_str()) {
                                response
                                    .headers_mut()
                                    .insert("location", location.parse().unwrap());
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Backend { url, received, task }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits for a request to `path` and returns the first one.
    pub async fn wait_for(&self, path: &str) -> Received {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(found) = self.received().into_iter().find(|r| r.path == path) {
                    return found;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the backend never got a request to {path}"))
    }
}
