use super::*;
use crate::trace_set::trace_hash;

fn hash(trace_id: &str) -> u64 {
    trace_hash(trace_id.as_bytes())
}

#[test]
fn every_inserted_trace_is_found_and_most_others_are_not() {
    let mut filter = TraceFilter::with_capacity(0);
    for n in 0..100_000 {
        filter.insert(hash(&format!("trace.{n}")));
    }
    assert!((0..100_000).all(|n| filter.may_contain(hash(&format!("trace.{n}")))));
    let false_positives = (0..100_000)
        .filter(|n| filter.may_contain(hash(&format!("other.{n}"))))
        .count();
    // Far under capacity, so far under the 1% design rate.
    assert!(false_positives < 1_000, "{false_positives} false positives");
}

#[test]
fn it_grows_past_its_capacity_without_losing_anything() {
    let mut filter = TraceFilter::with_capacity(0);
    let first_layer = filter.size_bytes();
    let count = MIN_CAPACITY + MIN_CAPACITY / 2;
    for n in 0..count {
        filter.insert(hash(&n.to_string()));
    }
    assert!(filter.size_bytes() > first_layer);
    assert!((0..count).all(|n| filter.may_contain(hash(&n.to_string()))));
    let false_positives = (count..count + 100_000)
        .filter(|n| filter.may_contain(hash(&n.to_string())))
        .count();
    assert!(false_positives < 3_000, "{false_positives} false positives");
}

#[test]
fn an_absorbed_filter_answers_for_its_traces() {
    let mut live = TraceFilter::with_capacity(10);
    let (old, new) = (hash("old"), hash("new"));
    live.insert(new);
    let mut loaded = TraceFilter::with_capacity(10);
    loaded.insert(old);
    assert!(!live.may_contain(old));
    live.absorb(loaded);
    assert!(live.may_contain(old) && live.may_contain(new));
}

#[test]
fn insert_checked_answers_as_may_contain_did_before_it() {
    let mut filter = TraceFilter::with_capacity(0);
    let mut answers = Vec::new();
    // Past the first layer, so older layers answer too.
    let count = MIN_CAPACITY + 1_000;
    for n in 0..count {
        let trace = hash(&n.to_string());
        let before = filter.may_contain(trace);
        answers.push(before == filter.insert_checked(trace));
    }
    assert!(answers.iter().all(|&same| same));
    assert!(filter.insert_checked(hash("0")), "a trace of the first layer");
    assert!(
        filter.insert_checked(hash(&(count - 1).to_string())),
        "a trace of the newest layer"
    );
}
