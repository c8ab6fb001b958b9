//! Request parameters from the query string and form bodies, decoded strictly.
//!
//! Like Go's `Request.FormValue`, a value in a form body wins over the same
//! name in the query string. Unlike it, bytes that do not decode (a bad `%`
//! escape, non-UTF-8) are a 400 instead of being silently mangled.

use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Decoded `name=value` pairs.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn decode_component(raw: &[u8]) -> Result<String, ApiError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut index = 0;
    while let Some(&byte) = raw.get(index) {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = raw.get(index + 1).copied().and_then(hex_value);
                let low = raw.get(index + 2).copied().and_then(hex_value);
                match (high, low) {
                    (Some(high), Some(low)) => bytes.push(high << 4 | low),
                    _ => return Err(ApiError::BadRequest("malformed %-escape in request parameters".into())),
                }
                index += 2;
            }
            other => bytes.push(other),
        }
        index += 1;
    }
    String::from_utf8(bytes).map_err(|_| ApiError::BadRequest("request parameters are not valid UTF-8".into()))
}

impl Params {
    /// Adds the pairs of an `application/x-www-form-urlencoded` string.
    pub fn add(&mut self, raw: &[u8]) -> Result<(), ApiError> {
        for pair in raw.split(|&byte| byte == b'&').filter(|pair| !pair.is_empty()) {
            let (name, value) = match pair.iter().position(|&byte| byte == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            self.0.push((decode_component(name)?, decode_component(value)?));
        }
        Ok(())
    }

    /// The first value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A non-negative integer parameter, `default` when absent or empty.
    pub fn count(&self, name: &str, default: u64) -> Result<u64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(text) => text.trim().parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!("{name}: {text} not valid: a non-negative integer is required"))
            }),
        }
    }
}

/// A request's method and its parameters (query string, plus a form body for
/// POST, PUT and PATCH), as an axum extractor. The parameters are parsed up
/// front but their error is kept for the handler, so that a wrong method can
/// be reported first.
#[derive(Debug)]
pub struct FormRequest {
    /// The request's method.
    pub method: Method,
    params: Result<Params, ApiError>,
}

impl FormRequest {
    /// The parameters, or why they could not be read.
    pub fn params(self) -> Result<Params, ApiError> {
        self.params
    }
}

impl<S: Send + Sync> FromRequest<S> for FormRequest {
    type Rejection = Response;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let method = request.method().clone();
        let query = request.uri().query().map(str::to_owned);
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
        // The body guard refused a declared length over the limit already; this
        // bounds a body sent without one (chunked), and maps a stall to 408.
        let body = crate::body_guard::collect(
            request.into_body(),
            crate::body_guard::FORM_BODY_LIMIT,
            crate::body_guard::FORM_LIMIT_NAME,
        )
        .await
        .map_err(IntoResponse::into_response)?;
        let mut params = Params::default();
        let mut parsed = Ok(());
        if is_form && matches!(method, Method::POST | Method::PUT | Method::PATCH) {
            parsed = params.add(&body);
        }
        if let (Ok(()), Some(query)) = (&parsed, &query) {
            parsed = params.add(query.as_bytes());
        }
        Ok(FormRequest {
            method,
            params: parsed.map(|()| params),
        })
    }
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
