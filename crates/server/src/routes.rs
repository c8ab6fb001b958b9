//! Every path the server answers, listed once: its protocol and label for
//! `/metrics`, and what a POST there does, for the token check.

/// What a POST to a route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reads, or does nothing a token guards.
    Read,
    /// Stores events or spans (guarded with `auth-ingest`).
    Ingest,
    /// Deletes or copies stored data (guarded whenever tokens are set).
    Mutating,
}

/// A path's route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    /// `dm`, `zipkin`, `otlp`, `tracekeep`, `ops`, `ui` or `other`.
    pub protocol: &'static str,
    /// The path, or its pattern (`/api/v2/trace/{traceId}`), or `unmatched`.
    pub label: &'static str,
    /// What a POST there does.
    pub kind: Access,
}

/// `(protocol, route, what a POST there does)`.
const ROUTES: &[(&str, &str, Access)] = &[
    ("dm", "/status", Access::Read),
    ("dm", "/events/query", Access::Read),
    ("dm", "/events/scan", Access::Read),
    ("dm", "/events/delete", Access::Mutating),
    ("dm", "/events/truncate", Access::Mutating),
    ("dm", "/pb.Tracer/GetTSO", Access::Read),
    ("dm", "/pb.Tracer/UploadSyncerBinlogEvent", Access::Ingest),
    ("dm", "/pb.Tracer/UploadSyncerJobEvent", Access::Ingest),
    ("dm", "/pb.Tracer/UploadSpans", Access::Ingest),
    ("zipkin", "/api/v2/spans", Access::Ingest),
    ("zipkin", "/api/v1/spans", Access::Ingest),
    ("zipkin", "/api/v2/traceMany", Access::Read),
    ("zipkin", "/api/v2/traces", Access::Read),
    ("zipkin", "/api/v2/services", Access::Read),
    ("zipkin", "/api/v2/remoteServices", Access::Read),
    ("zipkin", "/api/v2/dependencies", Access::Read),
    ("zipkin", "/api/v2/autocompleteKeys", Access::Read),
    ("zipkin", "/api/v2/autocompleteValues", Access::Read),
    ("otlp", "/v1/traces", Access::Ingest),
    ("otlp", crate::otlp::EXPORT_PATH, Access::Ingest),
    ("tracekeep", "/api/tracekeep/stats", Access::Read),
    ("tracekeep", "/api/tracekeep/traces", Access::Read),
    ("tracekeep", "/api/tracekeep/checkpoint", Access::Mutating),
    ("tracekeep", "/api/tracekeep/openapi.yaml", Access::Read),
    ("ops", "/health", Access::Read),
    ("ops", "/ready", Access::Read),
    ("ops", "/metrics", Access::Read),
    ("ui", "/", Access::Read),
    ("ui", "/ui", Access::Read),
    ("ui", "/ui/", Access::Read),
];

/// The route a path belongs to; `unmatched` for any path the server does
/// not serve, so a label never holds a client's arbitrary path.
pub(crate) fn classify(path: &str) -> Route {
    let route = |protocol, label, kind| Route { protocol, label, kind };
    if let Some(&(protocol, label, kind)) = ROUTES.iter().find(|(_, label, _)| *label == path) {
        return route(protocol, label, kind);
    }
    if path.starts_with("/api/v2/trace/") {
        return route("zipkin", "/api/v2/trace/{traceId}", Access::Read);
    }
    if path.starts_with("/ui/") {
        return route("ui", "/ui/{file}", Access::Read);
    }
    route("other", "unmatched", Access::Read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(path: &str) -> (&'static str, &'static str, bool) {
        let route = classify(path);
        (route.protocol, route.label, route.kind == Access::Ingest)
    }

    #[test]
    fn labels_never_hold_a_clients_own_path() {
        assert_eq!(parts("/events/query"), ("dm", "/events/query", false));
        assert_eq!(
            parts("/pb.Tracer/UploadSyncerJobEvent"),
            ("dm", "/pb.Tracer/UploadSyncerJobEvent", true)
        );
        assert_eq!(parts("/api/v2/trace/abc"), ("zipkin", "/api/v2/trace/{traceId}", false));
        assert_eq!(parts("/ui/app.js"), ("ui", "/ui/{file}", false));
        assert_eq!(
            parts(crate::otlp::EXPORT_PATH),
            ("otlp", crate::otlp::EXPORT_PATH, true)
        );
        for arbitrary in ["/etc/passwd", "/pb.Tracer/Nope", "/api/v2/tracesX", "/metrics/x"] {
            assert_eq!(parts(arbitrary), ("other", "unmatched", false), "{arbitrary}");
        }
    }

    #[test]
    fn deletes_truncates_and_checkpoints_are_the_mutating_routes() {
        let mutating: Vec<&str> = ROUTES
            .iter()
            .filter(|(_, _, kind)| *kind == Access::Mutating)
            .map(|(_, label, _)| *label)
            .collect();
        assert_eq!(
            mutating,
            ["/events/delete", "/events/truncate", "/api/tracekeep/checkpoint"]
        );
    }
}
