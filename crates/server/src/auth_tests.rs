use super::*;

#[test]
fn tokens_match_whole_and_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    std::fs::write(&path, "# operators\nalpha-123\n\n  beta-456  \n").unwrap();
    let tokens = Tokens::load(&path).unwrap();
    assert!(tokens.accepts(b"alpha-123"));
    assert!(tokens.accepts(b"beta-456"), "lines are trimmed");
    for wrong in [
        &b""[..],
        b"alpha-12",
        b"alpha-1234",
        b"ALPHA-123",
        b"# operators",
        b"beta-456 ",
    ] {
        assert!(!tokens.accepts(wrong), "{:?}", String::from_utf8_lossy(wrong));
    }
}

#[test]
fn a_reload_replaces_the_tokens_and_a_bad_file_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    std::fs::write(&path, "old\n").unwrap();
    let tokens = Tokens::load(&path).unwrap();
    std::fs::write(&path, "new\n").unwrap();
    assert_eq!(tokens.reload().unwrap(), 1);
    assert!(tokens.accepts(b"new") && !tokens.accepts(b"old"));
    std::fs::write(&path, "\n# nothing\n").unwrap();
    assert!(matches!(tokens.reload(), Err(TokenFileError::Empty { .. })));
    assert!(tokens.accepts(b"new"), "an empty file must not lock everyone out");
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(tokens.reload(), Err(TokenFileError::Read { .. })));
    assert!(tokens.accepts(b"new"));
}

#[test]
fn an_empty_token_file_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    std::fs::write(&path, "   \n").unwrap();
    assert!(matches!(Tokens::load(&path), Err(TokenFileError::Empty { .. })));
}

#[test]
fn constant_time_eq_is_equality() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
    assert!(!constant_time_eq(b"ab", b"abc"));
    assert!(!constant_time_eq(b"", b"a"));
    assert!(constant_time_eq(b"", b""));
}
