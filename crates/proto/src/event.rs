//! [`TraceEvent`]: one event of any kind, as the store appends and returns it.

use prost::Message;

use crate::pb;

/// What kind of event a record holds.
///
/// The codes are `pb.TraceType` values (and the `type` of dm-tracer's JSON),
/// and they are persisted in every record header: never renumber them. New
/// kinds (spans) take new codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventKind {
    /// A `pb.SyncerBinlogEvent` (`TraceType::BinlogEvent`).
    Binlog,
    /// A `pb.SyncerJobEvent` (`TraceType::JobEvent`).
    Job,
    /// A `pb.SpanEvent` of the span tracer (`TraceType::SpanEvent`).
    Span,
}

impl EventKind {
    /// Every kind this build knows, in code order.
    pub const ALL: [EventKind; 3] = [EventKind::Binlog, EventKind::Job, EventKind::Span];

    /// The persisted code (the `pb.TraceType` value).
    pub fn code(self) -> u8 {
        match self {
            EventKind::Binlog => 1,
            EventKind::Job => 2,
            EventKind::Span => 3,
        }
    }

    /// The kind with this code, if this build knows it.
    pub fn from_code(code: u8) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// A short lowercase name for humans and logs.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Binlog => "binlog",
            EventKind::Job => "job",
            EventKind::Span => "span",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One trace event of any kind.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "events are built once and moved a few times; boxing spans would cost an allocation each"
)]
pub enum TraceEvent {
    /// A binlog event sent with `UploadSyncerBinlogEvent`.
    Binlog(pb::SyncerBinlogEvent),
    /// A job event sent with `UploadSyncerJobEvent`.
    Job(pb::SyncerJobEvent),
    /// A finished span sent with `UploadSpans`.
    Span(pb::Span),
}

impl From<pb::Span> for TraceEvent {
    fn from(event: pb::Span) -> Self {
        TraceEvent::Span(event)
    }
}

impl From<pb::SyncerBinlogEvent> for TraceEvent {
    fn from(event: pb::SyncerBinlogEvent) -> Self {
        TraceEvent::Binlog(event)
    }
}

impl From<pb::SyncerJobEvent> for TraceEvent {
    fn from(event: pb::SyncerJobEvent) -> Self {
        TraceEvent::Job(event)
    }
}

impl TraceEvent {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            TraceEvent::Binlog(_) => EventKind::Binlog,
            TraceEvent::Job(_) => EventKind::Job,
            TraceEvent::Span(_) => EventKind::Span,
        }
    }

    /// The common header every DM event carries, if the sender set it.
    pub fn base(&self) -> Option<&pb::BaseEvent> {
        match self {
            TraceEvent::Binlog(event) => event.base.as_ref(),
            TraceEvent::Job(event) => event.base.as_ref(),
            TraceEvent::Span(event) => event.base.as_ref(),
        }
    }

    /// The trace the event belongs to: `base.traceID`, if there is a base.
    pub fn trace_id(&self) -> Option<&str> {
        self.base().map(|base| base.trace_id.as_str())
    }

    /// The sender's timestamp (`base.tso`), or 0 without a base.
    pub fn tso(&self) -> i64 {
        self.base().map_or(0, |base| base.tso)
    }

    /// The protobuf encoding of the event message (without the kind).
    pub fn encode_to_vec(&self) -> Vec<u8> {
        match self {
            TraceEvent::Binlog(event) => event.encode_to_vec(),
            TraceEvent::Job(event) => event.encode_to_vec(),
            TraceEvent::Span(event) => event.encode_to_vec(),
        }
    }

    /// The length of [`TraceEvent::encode_to_vec`]'s output.
    pub fn encoded_len(&self) -> usize {
        match self {
            TraceEvent::Binlog(event) => event.encoded_len(),
            TraceEvent::Job(event) => event.encoded_len(),
            TraceEvent::Span(event) => event.encoded_len(),
        }
    }

    /// Appends the protobuf encoding of the event message to `buffer`.
    pub fn encode_into(&self, buffer: &mut Vec<u8>) -> Result<(), prost::EncodeError> {
        match self {
            TraceEvent::Binlog(event) => event.encode(buffer),
            TraceEvent::Job(event) => event.encode(buffer),
            TraceEvent::Span(event) => event.encode(buffer),
        }
    }

    /// Decodes an event message of the given kind.
    pub fn decode(kind: EventKind, bytes: &[u8]) -> Result<TraceEvent, prost::DecodeError> {
        Ok(match kind {
            EventKind::Binlog => TraceEvent::Binlog(pb::SyncerBinlogEvent::decode(bytes)?),
            EventKind::Job => TraceEvent::Job(pb::SyncerJobEvent::decode(bytes)?),
            EventKind::Span => TraceEvent::Span(pb::Span::decode(bytes)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_are_the_trace_type_values() {
        assert_eq!(EventKind::Binlog.code(), pb::TraceType::BinlogEvent as u8);
        assert_eq!(EventKind::Job.code(), pb::TraceType::JobEvent as u8);
        assert_eq!(EventKind::Span.code(), pb::TraceType::SpanEvent as u8);
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(EventKind::from_code(0), None);
        assert_eq!(EventKind::from_code(200), None);
    }

    #[test]
    fn events_round_trip_through_their_encoding() {
        let event = TraceEvent::Job(pb::SyncerJobEvent {
            base: Some(pb::BaseEvent {
                trace_id: "src.7".into(),
                tso: 42,
                ..Default::default()
            }),
            sql: "INSERT INTO t VALUES (1)".into(),
            ..Default::default()
        });
        let bytes = event.encode_to_vec();
        let decoded = TraceEvent::decode(EventKind::Job, &bytes);
        assert_eq!(decoded, Ok(event.clone()));
        assert_eq!(event.trace_id(), Some("src.7"));
        assert_eq!(event.tso(), 42);
    }
}
