//! Copies a request's URI and header values out of hyper's read buffer.
//!
//! hyper parses a request without copying: its URI and every header value
//! are slices of the connection's read buffer (8 KiB), and that buffer
//! stays allocated for as long as any slice of it lives. socketioxide keeps
//! the request that opened an engine.io session for the session's whole
//! life, so each socket.io connection kept a dead 8 KiB buffer. Copying
//! the few hundred bytes that matter into one exact-sized allocation lets
//! the buffer go as soon as the request has been handled.

use http::{Request, Uri};

/// Makes `req`'s URI and header values own their bytes (one allocation for
/// all values), so that keeping `req` does not keep the read buffer.
pub(crate) fn detach_from_read_buffer<B>(req: &mut Request<B>) {
    if let Ok(uri) = req.uri().to_string().parse::<Uri>() {
        *req.uri_mut() = uri;
    }
    sockgate_engine::detach_headers(req.headers_mut());
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn keeps_every_value_and_the_uri() {
        let mut req = Request::builder()
            .uri("/socket.io/?EIO=4&transport=websocket")
            .header("host", "example.com")
            .header("x-forwarded-for", "1.2.3.4")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(())
            .unwrap();
        let before = req.headers().clone();
        detach_from_read_buffer(&mut req);
        assert_eq!(req.headers(), &before);
        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=websocket");
        let cookies: Vec<_> = req.headers().get_all("cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
    }

    #[test]
    fn no_value_points_into_the_read_buffer_afterwards() {
        // What hyper hands over: values sliced out of one big buffer.
        let mut buffer = vec![b' '; 8192];
        buffer[100..107].copy_from_slice(b"1.2.3.4");
        let buffer = bytes::Bytes::from(buffer);
        let value = HeaderValue::from_maybe_shared(buffer.slice(100..107)).unwrap();
        let mut req = Request::builder().uri("/").body(()).unwrap();
        req.headers_mut().insert("x-forwarded-for", value);
        let inside = buffer.as_ptr_range();
        assert!(inside.contains(&req.headers()["x-forwarded-for"].as_bytes().as_ptr()));

        detach_from_read_buffer(&mut req);
        let copied = &req.headers()["x-forwarded-for"];
        assert_eq!(copied, "1.2.3.4");
        assert!(!inside.contains(&copied.as_bytes().as_ptr()));
    }
}
