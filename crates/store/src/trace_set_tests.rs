use super::*;

fn hash(trace_id: &str) -> u64 {
    trace_hash(trace_id.as_bytes())
}

#[test]
fn a_trace_id_hashes_the_same_whichever_way_it_is_held() {
    let owned = String::from("trace.1");
    assert_eq!(trace_hash(owned.as_bytes()), trace_hash(b"trace.1"));
    assert_ne!(trace_hash(b"trace.1"), trace_hash(b"trace.2"));
}

#[test]
fn a_set_holds_each_trace_once_and_forgets_what_is_removed() {
    let mut set = TraceSet::with_capacity(4);
    for id in ["a", "b", "a"] {
        set.insert(hash(id), id.to_owned());
    }
    assert_eq!(set.len(), 2);
    assert!(set.contains(hash("a"), "a") && set.contains(hash("b"), "b"));
    assert!(!set.contains(hash("c"), "c"));
    set.remove(hash("a"), "a");
    assert!(!set.contains(hash("a"), "a"));
    set.clear();
    assert_eq!(set.len(), 0);
}

#[test]
fn a_set_tells_apart_ids_that_share_a_hash() {
    // Two IDs forced into one hash: the ID, not the hash, decides membership.
    let mut set = TraceSet::default();
    set.insert(7, "a".to_owned());
    set.insert(7, "b".to_owned());
    assert_eq!(set.len(), 2);
    assert!(set.contains(7, "a") && set.contains(7, "b") && !set.contains(7, "c"));
    set.remove(7, "a");
    assert!(!set.contains(7, "a") && set.contains(7, "b"));
}

#[test]
fn positions_find_ids_through_the_list_and_refuse_a_second_add() {
    let list = ["x", "y", "x", "z"];
    let id_at = |at: usize| list.get(at).copied().unwrap_or("");
    let mut positions = TracePositions::default();
    let added: Vec<bool> = list
        .iter()
        .enumerate()
        .map(|(at, id)| positions.add(hash(id), at, id, id_at))
        .collect();
    assert_eq!(added, [true, true, false, true]);
    assert!(positions.contains(hash("y"), "y", id_at));
    assert!(!positions.contains(hash("w"), "w", id_at));
    positions.clear();
    assert!(!positions.contains(hash("x"), "x", id_at));
}

#[test]
fn a_position_added_as_absent_is_found() {
    let list = ["x", "y"];
    let id_at = |at: usize| list.get(at).copied().unwrap_or("");
    let mut positions = TracePositions::default();
    positions.add_absent(hash("x"), 0);
    positions.add_absent(hash("y"), 1);
    assert!(positions.contains(hash("x"), "x", id_at) && positions.contains(hash("y"), "y", id_at));
    assert!(!positions.contains(hash("z"), "z", id_at));
}

#[test]
fn positions_tell_apart_ids_that_share_a_hash() {
    let list = ["x", "y"];
    let id_at = |at: usize| list.get(at).copied().unwrap_or("");
    let mut positions = TracePositions::default();
    assert!(positions.add(7, 0, "x", id_at));
    assert!(positions.add(7, 1, "y", id_at));
    assert!(positions.contains(7, "x", id_at) && positions.contains(7, "y", id_at));
    assert!(!positions.contains(7, "w", id_at));
}
