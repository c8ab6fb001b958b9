// Names for the integers in DM's events: DM syncer's op types and MySQL's
// binlog event types as go-mysql names them. The same tables as
// crates/proto/src/dm_names.rs (a test of the server crate compares them).

export const OP_TYPES = {
  0: "null",
  1: "insert",
  2: "update",
  3: "delete",
  4: "ddl",
  5: "xid",
  6: "flush",
  7: "skip",
  8: "rotate",
};

export const BINLOG_EVENT_TYPES = {
  0: "UNKNOWN_EVENT",
  1: "START_EVENT_V3",
  2: "QUERY_EVENT",
  3: "STOP_EVENT",
  4: "ROTATE_EVENT",
  5: "INTVAR_EVENT",
  6: "LOAD_EVENT",
  7: "SLAVE_EVENT",
  8: "CREATE_FILE_EVENT",
  9: "APPEND_BLOCK_EVENT",
  10: "EXEC_LOAD_EVENT",
  11: "DELETE_FILE_EVENT",
  12: "NEW_LOAD_EVENT",
  13: "RAND_EVENT",
  14: "USER_VAR_EVENT",
  15: "FORMAT_DESCRIPTION_EVENT",
  16: "XID_EVENT",
  17: "BEGIN_LOAD_QUERY_EVENT",
  18: "EXECUTE_LOAD_QUERY_EVENT",
  19: "TABLE_MAP_EVENT",
  20: "WRITE_ROWS_EVENTv0",
  21: "UPDATE_ROWS_EVENTv0",
  22: "DELETE_ROWS_EVENTv0",
  23: "WRITE_ROWS_EVENTv1",
  24: "UPDATE_ROWS_EVENTv1",
  25: "DELETE_ROWS_EVENTv1",
  26: "INCIDENT_EVENT",
  27: "HEARTBEAT_EVENT",
  28: "IGNORABLE_EVENT",
  29: "ROWS_QUERY_EVENT",
  30: "WRITE_ROWS_EVENTv2",
  31: "UPDATE_ROWS_EVENTv2",
  32: "DELETE_ROWS_EVENTv2",
  33: "GTID_EVENT",
  34: "ANONYMOUS_GTID_EVENT",
  35: "PREVIOUS_GTIDS_EVENT",
  36: "TRANSACTION_CONTEXT_EVENT",
  37: "VIEW_CHANGE_EVENT",
  38: "XA_PREPARE_LOG_EVENT",
  160: "MARIADB_ANNOTATE_ROWS_EVENT",
  161: "MARIADB_BINLOG_CHECKPOINT_EVENT",
  162: "MARIADB_GTID_EVENT",
  163: "MARIADB_GTID_LIST_EVENT",
};

/** "insert (1)", or the bare number for a value without a name. */
export function named(table, value) {
  const number = Number(value || 0);
  const name = table[number];
  return name ? `${name} (${number})` : String(number);
}
