//! Tests of `params.rs`.

use super::*;

fn parse(raw: &str) -> Result<Params, ApiError> {
    let mut params = Params::default();
    params.add(raw.as_bytes())?;
    Ok(params)
}

#[test]
fn decodes_escapes_plus_and_utf8() {
    let params = parse("trace_id=t.1%00x%7C%E5%A4%9A+y&flag&limit=3").unwrap();
    assert_eq!(params.get("trace_id"), Some("t.1\0x|多 y"));
    assert_eq!(params.get("flag"), Some(""));
    assert_eq!(params.count("limit", 10).unwrap(), 3);
    assert_eq!(params.count("offset", 0).unwrap(), 0);
}

#[test]
fn bad_bytes_and_numbers_are_bad_requests() {
    assert!(parse("trace_id=%FF%FE").is_err());
    assert!(parse("trace_id=%zz").is_err());
    assert!(parse("trace_id=%4").is_err());
    let params = parse("offset=-1&limit=abc").unwrap();
    let error = params.count("offset", 0).unwrap_err().to_string();
    assert!(error.starts_with("offset: -1 not valid"), "{error}");
    assert!(params.count("limit", 10).unwrap_err().to_string().starts_with("limit:"));
}
