//! Realistic DM job events (~300 bytes encoded).

use prost::Message;
use tracekeep_proto::pb;

/// A job event as a DM syncer emits it for a row change.
pub fn job(trace: &str, n: i64) -> pb::SyncerJobEvent {
    pb::SyncerJobEvent {
        base: Some(pb::BaseEvent {
            filename: "/go/src/github.com/pingcap/dm/syncer/syncer.go".into(),
            line: 1130,
            tso: 1_763_800_000_000_000_000 + n,
            trace_id: trace.into(),
            group_id: String::new(),
            r#type: pb::TraceType::JobEvent as i32,
        }),
        op_type: 2,
        pos: Some(pb::MySqlPosition {
            name: "mysql-bin|000001.000042".into(),
            pos: (n % 4_000_000_000) as u32,
        }),
        current_pos: Some(pb::MySqlPosition {
            name: "mysql-bin|000001.000042".into(),
            pos: (n % 4_000_000_000) as u32 + 312,
        }),
        sql: format!(
            "INSERT INTO `shop`.`orders` (`id`,`customer_id`,`amount`,`status`,`created_at`) VALUES ({n},{},{}.99,'paid','2026-11-22 23:00:{:02}')",
            n % 100_000,
            n % 1000,
            n % 60
        ),
        ddls: Vec::new(),
        args_checksum: (n as u32).wrapping_mul(2_654_435_761),
        ddl_info: None,
        queue_bucket: format!("q_{}", n % 16),
        state: pb::SyncerJobState::Success as i32,
    }
}

/// Encoded size of a typical event.
pub fn encoded_size() -> usize {
    job("mysql-replica-01.42", 123_456).encoded_len()
}
