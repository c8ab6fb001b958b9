//! Each span's own bytes in an encoded `ExportTraceServiceRequest`, so the
//! span's stored OTLP form can be copied as it arrived instead of re-encoded
//! from the decoded message.
//!
//! The walk reads only the nesting (request → resource spans → scope spans →
//! span) and skips every other field by its wire type; prost still decodes
//! the whole request, and any bytes the walk does not understand make it give
//! up, so the caller falls back to encoding.

use tracekeep_proto::otlp_form::next_field;

/// The bytes of every span, by resource spans, then scope spans, in wire
/// order (the order prost decodes repeated fields in).
pub type RawSpans<'a> = Vec<Vec<Vec<&'a [u8]>>>;

/// `ExportTraceServiceRequest.resource_spans`, `ResourceSpans.scope_spans`
/// and `ScopeSpans.spans` are all field 2 but the first (field 1).
const RESOURCE_SPANS: u32 = 1;
const SCOPE_SPANS: u32 = 2;
const SPANS: u32 = 2;

/// The spans' bytes of an encoded request, or `None` when it is not well
/// formed (prost's decode then reports why).
pub fn raw_spans(request: &[u8]) -> Option<RawSpans<'_>> {
    let mut resources = Vec::new();
    for_each_field(request, |tag, value| {
        if tag == RESOURCE_SPANS {
            let mut scopes = Vec::new();
            for_each_field(value?, |tag, value| {
                if tag == SCOPE_SPANS {
                    let mut spans = Vec::new();
                    for_each_field(value?, |tag, value| {
                        if tag == SPANS {
                            spans.push(value?);
                        }
                        Some(())
                    })?;
                    scopes.push(spans);
                }
                Some(())
            })?;
            resources.push(scopes);
        }
        Some(())
    })?;
    Some(resources)
}

/// Calls `visit` with each field's number and, for length-delimited fields,
/// its contents (`None` for the other wire types, whose values are skipped).
fn for_each_field<'a>(mut message: &'a [u8], mut visit: impl FnMut(u32, Option<&'a [u8]>) -> Option<()>) -> Option<()> {
    while !message.is_empty() {
        let field = next_field(&mut message)?;
        visit(field.number, field.value)?;
    }
    Some(())
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
