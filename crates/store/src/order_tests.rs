use super::*;

fn item(trace_id: &str, first_seq: u64) -> OrderItem {
    OrderItem {
        trace_id: trace_id.into(),
        first_seq,
    }
}

#[test]
fn a_batch_round_trips_under_its_first_number() {
    let items = vec![item("a", 7), item("b\0|.", 9), item("c", 30)];
    let (key, value) = encode(&to_batch(items.clone())).unwrap();
    assert_eq!(key, keys::order_key(7));
    assert_eq!(decode(&key, 7, &value).unwrap(), items);
    assert!(encode(&OrderBatch::default()).is_none());
}

#[test]
fn a_format_1_entry_reads_as_one_item() {
    let key = keys::order_key(4);
    let value = records::encode_message(&key, records::KIND_ORDER, &OrderEntry { trace_id: "t".into() });
    assert_eq!(decode(&key, 4, &value).unwrap(), vec![item("t", 4)]);
}

#[test]
fn inconsistent_batches_are_corruption() {
    let cases = [
        (
            OrderBatch {
                trace_ids: vec!["a".into()],
                first_seqs: vec![],
            },
            "trace IDs but",
        ),
        (
            OrderBatch {
                trace_ids: vec!["a".into()],
                first_seqs: vec![8],
            },
            "not the one the key names",
        ),
        (
            OrderBatch {
                trace_ids: vec!["a".into(), "b".into()],
                first_seqs: vec![7, 7],
            },
            "do not ascend",
        ),
    ];
    let key = keys::order_key(7);
    for (batch, expected) in cases {
        let value = records::encode_message(&key, records::KIND_ORDER_BATCH, &batch);
        match decode(&key, 7, &value) {
            Err(StoreError::Corrupted { reason, .. }) => assert!(reason.contains(expected), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
    let event = records::encode(&key, 1, b"");
    assert!(decode(&key, 7, &event).is_err());
}
