//! Optional bearer tokens: with `auth-token-file` set, the mutating HTTP
//! endpoints (delete, truncate, checkpoint) need `Authorization: Bearer
//! <token>`; with `auth-ingest = true` every ingest route does too (gRPC
//! metadata `authorization`). DM workers send no token, so ingest stays open
//! unless asked. Tokens are compared in constant time and never logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::routes::{self, Access};

/// Why the token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// It could not be read.
    #[error("read auth-token-file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// It holds no token: everything it guards would be locked.
    #[error("auth-token-file {path} holds no token (one per line)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// The accepted tokens, re-read from their file on SIGHUP.
#[derive(Debug)]
pub struct Tokens {
    path: PathBuf,
    tokens: RwLock<Vec<Vec<u8>>>,
}

fn read_tokens(path: &Path) -> Result<Vec<Vec<u8>>, TokenFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let tokens: Vec<Vec<u8>> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.as_bytes().to_vec())
        .collect();
    if tokens.is_empty() {
        return Err(TokenFileError::Empty { path: path.to_owned() });
    }
    Ok(tokens)
}

impl Tokens {
    /// Reads `path`: one token per line; blank lines and `#` comments are skipped.
    pub fn load(path: &Path) -> Result<Tokens, TokenFileError> {
        Ok(Tokens {
            path: path.to_owned(),
            tokens: RwLock::new(read_tokens(path)?),
        })
    }

    /// Re-reads the file; on failure the tokens in use stay. Returns how
    /// many tokens are in use now.
    pub fn reload(&self) -> Result<usize, TokenFileError> {
        let fresh = read_tokens(&self.path)?;
        let count = fresh.len();
        let mut tokens = self.tokens.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *tokens = fresh;
        Ok(count)
    }

    /// Whether `offered` is one of the tokens, comparing every token in
    /// constant time for its length (no early exit on the first differing
    /// byte, and every token is compared).
    pub fn accepts(&self, offered: &[u8]) -> bool {
        let tokens = self.tokens.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        tokens
            .iter()
            .fold(false, |found, token| found | constant_time_eq(token, offered))
    }
}

/// Equal in length and bytes; the time depends on the lengths only.
fn constant_time_eq(expected: &[u8], offered: &[u8]) -> bool {
    let mut difference = u8::from(expected.len() != offered.len());
    for (index, byte) in offered.iter().enumerate() {
        // Past the expected token's end, a byte that differs: the loop runs
        // over the offered token whatever the expected one's length.
        let against = expected.get(index).copied().unwrap_or(!byte);
        difference |= against ^ byte;
    }
    std::hint::black_box(difference) == 0
}

/// What the middleware guards.
#[derive(Clone, Debug)]
pub struct Auth {
    /// The tokens; `None` when `auth-token-file` is not set (nothing guarded).
    pub tokens: Option<Arc<Tokens>>,
    /// Whether ingest needs a token too.
    pub ingest: bool,
}

/// The bearer token of a request, if it carries one.
fn bearer(request: &Request) -> Option<&[u8]> {
    let value = request.headers().get(header::AUTHORIZATION)?.as_bytes();
    let scheme = value.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| value.get(7..).unwrap_or_default().trim_ascii())
}

/// Answers 401 (or gRPC `UNAUTHENTICATED`) to a guarded request without a
/// valid token; everything else passes.
pub async fn require_token(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    let Some(tokens) = &auth.tokens else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    let guarded = request.method() == Method::POST
        && match routes::classify(path).kind {
            Access::Mutating => true,
            Access::Ingest => auth.ingest,
            Access::Read => false,
        };
    if !guarded {
        return next.run(request).await;
    }
    let verdict = match bearer(&request) {
        Some(token) if tokens.accepts(token) => None,
        Some(_) => Some("the bearer token is not valid"),
        None => Some("this endpoint needs Authorization: Bearer <token> (auth-token-file)"),
    };
    let Some(reason) = verdict else {
        return next.run(request).await;
    };
    tracing::warn!(path, method = %request.method(), "refused a request without a valid token");
    if crate::body_guard::is_grpc(request.headers()) {
        return tonic::Status::unauthenticated(reason).into_http();
    }
    let mut response = ApiError::Unauthorized(reason.into()).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
