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
    assert_eq!((set.get(hash("a"), b"a"), set.get(hash("b"), b"b")), (Some(1), Some(2)));
    assert!(!set.contains(hash("c"), b"c"));
    set.remove(hash("a"), b"a");
    assert!(!set.contains(hash("a"), b"a"));
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
        (set.get(7, b"a"), set.get(7, b"b"), set.get(7, b"c")),
        (Some(10), Some(20), None)
    );
    set.remove(7, b"a");
    assert!(!set.contains(7, b"a") && set.contains(7, b"b"));
}

#[test]
fn positions_find_ids_through_the_list_and_name_the_first_on_a_second_add() {
    let list = ["x", "y", "x", "z"];
    let id_at = |at: usize| list.get(at).map_or(&b""[..], |id| id.as_bytes());
    let mut positions = TracePositions::default();
    let earlier: Vec<Option<usize>> = list
        .iter()
        .enumerate()
        .map(|(at, id)| positions.find_or_add(hash(id), at, id.as_bytes(), id_at))
        .collect();
    assert_eq!(earlier, [None, None, Some(0), None]);
    assert_eq!(positions.find(hash("y"), b"y", id_at), Some(1));
    assert_eq!(positions.find(hash("w"), b"w", id_at), None);
    positions.clear();
    assert_eq!(positions.find(hash("x"), b"x", id_at), None);
}

#[test]
fn a_position_added_as_absent_is_found() {
    let list = ["x", "y"];
    let id_at = |at: usize| list.get(at).map_or(&b""[..], |id| id.as_bytes());
    let mut positions = TracePositions::default();
    positions.add_absent(hash("x"), 0);
    positions.add_absent(hash("y"), 1);
    assert_eq!(
        (
            positions.find(hash("x"), b"x", id_at),
            positions.find(hash("y"), b"y", id_at)
        ),
        (Some(0), Some(1))
    );
    assert_eq!(positions.find(hash("z"), b"z", id_at), None);
}

#[test]
fn positions_tell_apart_ids_that_share_a_hash() {
    let list = ["x", "y"];
    let id_at = |at: usize| list.get(at).map_or(&b""[..], |id| id.as_bytes());
    let mut positions = TracePositions::default();
    assert_eq!(positions.find_or_add(7, 0, b"x", id_at), None);
    assert_eq!(positions.find_or_add(7, 1, b"y", id_at), None);
    assert_eq!(
        (positions.find(7, b"x", id_at), positions.find(7, b"y", id_at)),
        (Some(0), Some(1))
    );
    assert_eq!(positions.find(7, b"w", id_at), None);
}
