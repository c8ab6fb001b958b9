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
fn a_set_holds_each_trace_once_with_its_number_and_forgets_what_is_removed() {
    let mut set = TraceSet::with_capacity(4);
    for (id, first_seq) in [("a", 1), ("b", 2), ("a", 3)] {
        set.insert(hash(id), id.to_owned(), first_seq);
    }
    assert_eq!(set.len(), 2);
    assert_eq!((set.get(hash("a"), "a"), set.get(hash("b"), "b")), (Some(1), Some(2)));
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
    set.insert(7, "a".to_owned(), 10);
    set.insert(7, "b".to_owned(), 20);
    assert_eq!(set.len(), 2);
    assert_eq!(
        (set.get(7, "a"), set.get(7, "b"), set.get(7, "c")),
        (Some(10), Some(20), None)
    );
    set.remove(7, "a");
    assert!(!set.contains(7, "a") && set.contains(7, "b"));
}

#[test]
fn positions_find_ids_through_the_list_and_name_the_first_on_a_second_add() {
    let list = ["x", "y", "x", "z"];
    let id_at = |at: usize| list.get(at).copied().unwrap_or("");
    let mut positions = TracePositions::default();
    let earlier: Vec<Option<usize>> = list
        .iter()
        .enumerate()
        .map(|(at, id)| positions.find_or_add(hash(id), at, id, id_at))
        .collect();
    assert_eq!(earlier, [None, None, Some(0), None]);
    assert_eq!(positions.find(hash("y"), "y", id_at), Some(1));
    assert_eq!(positions.find(hash("w"), "w", id_at), None);
    positions.clear();
    assert_eq!(positions.find(hash("x"), "x", id_at), None);
}

#[test]
fn a_position_added_as_absent_is_found() {
    let list = ["x", "y"];
    let id_at = |at: usize| list.get(at).copied().unwrap_or("");
    let mut positions = TracePositions::default();
    positions.add_absent(hash("x"), 0);
    positions.add_absent(hash("y"), 1);
    assert_eq!(
        (
            positions.find(hash("x"), "x", id_at),
            positions.find(hash("y"), "y", id_at)
        ),
        (Some(0), Some(1))
    );
    assert_eq!(positions.find(hash("z"), "z", id_at), None);
}

#[test]
fn positions_tell_apart_ids_that_share_a_hash() {
    let list = ["x", "y"];
    let id_at = |at: usize| list.get(at).copied().unwrap_or("");
    let mut positions = TracePositions::default();
    assert_eq!(positions.find_or_add(7, 0, "x", id_at), None);
    assert_eq!(positions.find_or_add(7, 1, "y", id_at), None);
    assert_eq!(
        (positions.find(7, "x", id_at), positions.find(7, "y", id_at)),
        (Some(0), Some(1))
    );
    assert_eq!(positions.find(7, "w", id_at), None);
}
