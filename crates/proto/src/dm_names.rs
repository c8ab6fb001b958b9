//! Names for the integers in DM's events, for people reading them (the web
//! UI, `tracekeep-dump show`). dm-tracer's JSON keeps the numbers.
//!
//! - `opType` is DM syncer's `opType` (`syncer/job.go`, pingcap/dm commit
//!   `c4c81d66`, the tree `proto/tracer.proto` comes from).
//! - A binlog event's `eventType` is MySQL's binlog event type as go-mysql's
//!   `replication.EventType` names it (`replication/const.go`); MariaDB's
//!   start at 160.
//!
//! `crates/server/ui/dm-names.js` holds the same tables for the browser; a
//! test of the server crate checks that the two agree.

/// DM syncer's op types, by value.
pub const OP_TYPES: &[(i32, &str)] = &[
    (0, "null"),
    (1, "insert"),
    (2, "update"),
    (3, "delete"),
    (4, "ddl"),
    (5, "xid"),
    (6, "flush"),
    (7, "skip"),
    (8, "rotate"),
];

/// MySQL's and MariaDB's binlog event types, by value.
pub const BINLOG_EVENT_TYPES: &[(i32, &str)] = &[
    (0, "UNKNOWN_EVENT"),
    (1, "START_EVENT_V3"),
    (2, "QUERY_EVENT"),
    (3, "STOP_EVENT"),
    (4, "ROTATE_EVENT"),
    (5, "INTVAR_EVENT"),
    (6, "LOAD_EVENT"),
    (7, "SLAVE_EVENT"),
    (8, "CREATE_FILE_EVENT"),
    (9, "APPEND_BLOCK_EVENT"),
    (10, "EXEC_LOAD_EVENT"),
    (11, "DELETE_FILE_EVENT"),
    (12, "NEW_LOAD_EVENT"),
    (13, "RAND_EVENT"),
    (14, "USER_VAR_EVENT"),
    (15, "FORMAT_DESCRIPTION_EVENT"),
    (16, "XID_EVENT"),
    (17, "BEGIN_LOAD_QUERY_EVENT"),
    (18, "EXECUTE_LOAD_QUERY_EVENT"),
    (19, "TABLE_MAP_EVENT"),
    (20, "WRITE_ROWS_EVENTv0"),
    (21, "UPDATE_ROWS_EVENTv0"),
    (22, "DELETE_ROWS_EVENTv0"),
    (23, "WRITE_ROWS_EVENTv1"),
    (24, "UPDATE_ROWS_EVENTv1"),
    (25, "DELETE_ROWS_EVENTv1"),
    (26, "INCIDENT_EVENT"),
    (27, "HEARTBEAT_EVENT"),
    (28, "IGNORABLE_EVENT"),
    (29, "ROWS_QUERY_EVENT"),
    (30, "WRITE_ROWS_EVENTv2"),
    (31, "UPDATE_ROWS_EVENTv2"),
    (32, "DELETE_ROWS_EVENTv2"),
    (33, "GTID_EVENT"),
    (34, "ANONYMOUS_GTID_EVENT"),
    (35, "PREVIOUS_GTIDS_EVENT"),
    (36, "TRANSACTION_CONTEXT_EVENT"),
    (37, "VIEW_CHANGE_EVENT"),
    (38, "XA_PREPARE_LOG_EVENT"),
    (160, "MARIADB_ANNOTATE_ROWS_EVENT"),
    (161, "MARIADB_BINLOG_CHECKPOINT_EVENT"),
    (162, "MARIADB_GTID_EVENT"),
    (163, "MARIADB_GTID_LIST_EVENT"),
];

fn lookup(table: &[(i32, &'static str)], value: i32) -> Option<&'static str> {
    table.iter().find(|(known, _)| *known == value).map(|(_, name)| *name)
}

/// DM's name for an op type, if it has one.
pub fn op_type_name(value: i32) -> Option<&'static str> {
    lookup(OP_TYPES, value)
}

/// go-mysql's name for a binlog event type, if it has one.
pub fn binlog_event_type_name(value: i32) -> Option<&'static str> {
    lookup(BINLOG_EVENT_TYPES, value)
}

/// `insert(1)`: the name and the number as one token, for `key=value`
/// listings; the bare number for a value without a name.
pub fn compact(name: Option<&str>, value: i32) -> String {
    match name {
        Some(name) => format!("{name}({value})"),
        None => value.to_string(),
    }
}

/// `insert (1)`, or the bare number for a value DM does not name.
pub fn op_type(value: i32) -> String {
    labelled(op_type_name(value), value)
}

/// `WRITE_ROWS_EVENTv2 (30)`, or the bare number for an unknown type.
pub fn binlog_event_type(value: i32) -> String {
    labelled(binlog_event_type_name(value), value)
}

fn labelled(name: Option<&str>, value: i32) -> String {
    match name {
        Some(name) => format!("{name} ({value})"),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_with_their_number_and_unknown_values_stay_numbers() {
        assert_eq!(op_type(1), "insert (1)");
        assert_eq!(op_type(4), "ddl (4)");
        assert_eq!(op_type(8), "rotate (8)");
        assert_eq!(op_type(42), "42");
        assert_eq!(binlog_event_type(2), "QUERY_EVENT (2)");
        assert_eq!(binlog_event_type(30), "WRITE_ROWS_EVENTv2 (30)");
        assert_eq!(binlog_event_type(162), "MARIADB_GTID_EVENT (162)");
        assert_eq!(binlog_event_type(-1), "-1");
        assert_eq!(compact(op_type_name(2), 2), "update(2)");
        assert_eq!(compact(binlog_event_type_name(99), 99), "99");
    }

    #[test]
    fn each_table_names_a_value_once() {
        for table in [OP_TYPES, BINLOG_EVENT_TYPES] {
            let mut values: Vec<i32> = table.iter().map(|(value, _)| *value).collect();
            values.dedup();
            assert_eq!(values.len(), table.len());
        }
    }
}
