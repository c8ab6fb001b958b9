//! The web UI: plain HTML, CSS and JavaScript modules compiled into the
//! binary and served under `/ui/` (no CDN, no build step). Every view reads
//! the documented HTTP API; the UI keeps no state of its own on the server.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};

use crate::error::ApiError;

/// The prefix the UI is served under.
pub const PREFIX: &str = "/ui/";

/// One file of the UI.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// Its name under [`PREFIX`].
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static str,
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("../ui/", $name)),
        }
    };
}

/// Every file of the UI, `index.html` first.
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("spans.js", "text/javascript; charset=utf-8"),
    asset!("search.js", "text/javascript; charset=utf-8"),
    asset!("trace.js", "text/javascript; charset=utf-8"),
    asset!("dm.js", "text/javascript; charset=utf-8"),
    asset!("dm-names.js", "text/javascript; charset=utf-8"),
    asset!("dependencies.js", "text/javascript; charset=utf-8"),
    asset!("status.js", "text/javascript; charset=utf-8"),
];

/// Scripts and styles come only from this server and never inline: even a
/// mistake that put user data into markup could not run it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The UI's routes, and `/` sending browsers to it.
pub fn router() -> Router {
    Router::new()
        .route("/", any(root))
        .route("/ui", get(|| async { Redirect::permanent(PREFIX) }))
        .route("/ui/", get(|| async { asset_response("index.html") }))
        .route(
            "/ui/{name}",
            get(|Path(name): Path<String>| async move { asset_response(&name) }),
        )
}

fn asset_response(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return ApiError::NotFound(format!("no UI file {name:?}")).into_response();
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, asset.content_type),
            // Revalidated on each load, so an upgraded server's UI shows at once.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        asset.body,
    )
        .into_response()
}

/// A browser (a GET asking for HTML) opening `/` is sent to the UI; anything
/// else keeps dm-tracer's answer for a path it does not serve.
async fn root(method: Method, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html && (method == Method::GET || method == Method::HEAD) {
        Redirect::to(PREFIX).into_response()
    } else {
        crate::http::fallback(headers).await
    }
}

#[cfg(test)]
#[path = "ui_tests.rs"]
mod tests;
