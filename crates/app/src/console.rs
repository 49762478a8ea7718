//! Pages served from the binary: the demo (`console.demo_path`), the admin
//! dashboard (`console.admin_path`), and the socket.io browser client
//! (`socketio.serve_client`). Every file is compiled in, so there is
//! nothing to install or find at run time.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Response, StatusCode};
use include_dir::{include_dir, Dir};
use serde_json::json;

use crate::GatewayConfig;

static DEMO: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/assets/demo");
static ADMIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/assets/admin");
/// The raw-protocol client SDK (`clients/js`), which the demo uses.
static CLIENT_SDK: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../clients/js/src");
/// socket.io-client 4.8.4's browser bundle (`assets/vendor`, MIT).
static SOCKET_IO_CLIENT: &[u8] = include_bytes!("../assets/vendor/socket.io.min.js");

/// One page: where it is served, its files, and its generated `config.json`.
struct Page {
    path: String,
    files: &'static Dir<'static>,
    config: Bytes,
    /// Also serves the client SDK under `client/`.
    with_sdk: bool,
}

/// Both pages may load and talk to nothing but this gateway: the admin
/// page handles an API key, and the demo shows what others type (it
/// renders text only, but a policy keeps a slip from becoming a hole).
const PAGE_POLICY: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The console's pages and the socket.io client, as configured.
pub(crate) struct Console {
    pages: Vec<Page>,
    /// `<socketio.path>socket.io.min.js` and `…socket.io.js`, when served.
    client_paths: Option<[String; 2]>,
    prefix: String,
}

impl Console {
    pub(crate) fn new(config: &GatewayConfig) -> Self {
        let prefix = config.path_prefix.clone();
        let mut pages = Vec::new();
        if let Some(path) = &config.demo_path {
            let settings = json!({
                "socketio_path": config.socketio.path,
                "raw_path": config.raw_paths.first(),
                "room": "demo",
                "prefix": prefix,
            });
            pages.push(Page {
                path: path.clone(),
                files: &DEMO,
                config: Bytes::from(settings.to_string()),
                with_sdk: true,
            });
        }
        if let Some(path) = &config.admin_path {
            let settings = json!({
                "api_path": config.api.path,
                "api_enabled": !config.api.keys.is_empty(),
                "prefix": prefix,
            });
            pages.push(Page {
                path: path.clone(),
                files: &ADMIN,
                config: Bytes::from(settings.to_string()),
                with_sdk: false,
            });
        }
        let sio = &config.socketio.path;
        Console {
            pages,
            client_paths: config
                .serve_client
                .then(|| [format!("{sio}socket.io.min.js"), format!("{sio}socket.io.js")]),
            prefix,
        }
    }

    /// The answer to a GET for `path`, if the console serves it.
    pub(crate) fn serve(&self, path: &str) -> Option<Response<Bytes>> {
        if self
            .client_paths
            .as_ref()
            .is_some_and(|paths| paths.iter().any(|p| p == path))
        {
            return Some(file(
                Bytes::from_static(SOCKET_IO_CLIENT),
                "text/javascript; charset=utf-8",
            ));
        }
        let page = self.pages.iter().find(|page| {
            path.strip_prefix(page.path.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })?;
        let rest = &path[page.path.len()..];
        let mut response = match rest {
            // Relative links resolve against the directory, so the page
            // lives at "<path>/".
            "" => redirect(&format!("{}{}/", self.prefix, page.path)),
            "/" | "/index.html" => page_file(page.files, "index.html")?,
            "/config.json" => file(page.config.clone(), "application/json"),
            _ => match rest.strip_prefix("/client/").filter(|_| page.with_sdk) {
                Some(module) => page_file(&CLIENT_SDK, module)?,
                None => page_file(page.files, &rest[1..])?,
            },
        };
        response
            .headers_mut()
            .insert("content-security-policy", HeaderValue::from_static(PAGE_POLICY));
        Some(response)
    }
}

fn page_file(files: &'static Dir<'static>, name: &str) -> Option<Response<Bytes>> {
    let found = files.get_file(name)?;
    Some(file(Bytes::from_static(found.contents()), content_type(name)))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn file(body: Bytes, content_type: &'static str) -> Response<Bytes> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Small files that change with every release: always revalidate.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // The pages are never to be framed by another site (clickjacking).
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

fn redirect(location: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(toml: &str) -> Console {
        Console::new(&GatewayConfig::from_toml(toml).unwrap())
    }

    #[test]
    fn every_page_has_an_index_and_the_demo_has_the_sdk() {
        let console = console("");
        for path in [
            "/demo/",
            "/admin/",
            "/demo/client/index.js",
            "/demo/client/client.js",
        ] {
            let response = console
                .serve(path)
                .unwrap_or_else(|| panic!("{path} is not served"));
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert!(!response.body().is_empty(), "{path}");
        }
        assert!(console.serve("/admin/client/index.js").is_none());
        assert!(console.serve("/demo/no-such-file.js").is_none());
        assert!(console.serve("/demonstration").is_none());
    }

    /// Regression (outside probe): `/demo` was served without a policy.
    #[test]
    fn both_pages_may_talk_to_this_gateway_only() {
        for page in ["/admin/", "/demo/", "/demo/demo.js", "/demo/client/index.js"] {
            let response = console("").serve(page).unwrap();
            let policy = response.headers()["content-security-policy"].to_str().unwrap();
            assert!(
                policy.contains("connect-src 'self'") && policy.contains("frame-ancestors 'none'"),
                "{page}: {policy}"
            );
        }
    }

    #[test]
    fn a_page_without_its_slash_redirects_under_the_prefix() {
        let response = console("[server]\npath_prefix = \"/rt\"").serve("/demo").unwrap();
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(response.headers()[LOCATION], "/rt/demo/");
    }

    #[test]
    fn config_json_tells_the_page_where_things_are() {
        let response = console("[raw]\npaths = [\"/mp\"]")
            .serve("/demo/config.json")
            .unwrap();
        let settings: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(settings["raw_path"], "/mp");
        assert_eq!(settings["socketio_path"], "/socket.io/");
    }

    #[test]
    fn pages_and_the_socket_io_client_can_be_turned_off() {
        let console = console("[console]\ndemo_path = \"\"\n[socketio]\nserve_client = false");
        assert!(console.serve("/demo/").is_none());
        assert!(console.serve("/socket.io/socket.io.min.js").is_none());
        assert!(console.serve("/admin/").is_some());
    }

    #[test]
    fn the_socket_io_client_is_served_like_node_serves_it() {
        let console = console("");
        for path in ["/socket.io/socket.io.min.js", "/socket.io/socket.io.js"] {
            let response = console.serve(path).unwrap();
            assert!(response.body().starts_with(b"/*!\n * Socket.IO v4.8.4"));
        }
    }
}
