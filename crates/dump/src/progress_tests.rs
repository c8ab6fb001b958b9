#![allow(clippy::unwrap_used)]

use std::io;
use std::sync::{Arc, Mutex};

use indicatif::TermLike;

use super::*;

/// Bytes written, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A terminal 120 columns wide that keeps what is drawn on it.
#[derive(Clone, Default, Debug)]
struct Screen(Arc<Mutex<String>>);

impl TermLike for Screen {
    fn width(&self) -> u16 {
        120
    }
    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn write_line(&self, line: &str) -> io::Result<()> {
        self.0.lock().unwrap().push_str(&format!("{line}\n"));
        Ok(())
    }
    fn write_str(&self, text: &str) -> io::Result<()> {
        self.0.lock().unwrap().push_str(text);
        Ok(())
    }
    fn clear_line(&self) -> io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
}

/// The plain-line form writing into a buffer the test reads.
fn lines(job: &'static str, unit: &'static str, total: Total, every: Duration) -> (Progress, Captured) {
    let out = Captured::default();
    (Progress::lines(job, unit, total, Box::new(out.clone()), every), out)
}

#[test]
fn plain_lines_give_the_count_the_total_the_rate_and_the_time_left() {
    let (mut progress, out) = lines("export", "events", Total::Exact(100), Duration::ZERO);
    progress.set(30);
    let text = out.text();
    assert!(text.starts_with("export: 30 of 100 events (30%), "), "{text}");
    assert!(text.contains("/s"), "{text}");
    progress.finish();
    let last = out.text().lines().last().unwrap().to_owned();
    assert!(last.starts_with("export: 30 events in "), "{last}");
}

#[test]
fn an_estimated_total_is_marked_and_grows_when_passed() {
    let (mut progress, out) = lines("verify", "records", Total::About(100), Duration::ZERO);
    progress.set(50);
    progress.set(150);
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("verify: 50 of ~100 records (50%)"), "{text}");
    assert!(lines[1].starts_with("verify: 150 of ~150 records (100%)"), "{text}");
}

#[test]
fn plain_lines_wait_for_their_interval() {
    let (mut progress, out) = lines("verify", "records", Total::About(100), Duration::from_secs(3600));
    progress.set(10);
    progress.set(20);
    assert_eq!(out.text(), "", "nothing before the interval has passed");
}

#[test]
fn the_bar_shows_the_job_the_position_the_total_and_the_time_left() {
    let screen = Screen::default();
    let mut progress = Progress::bar(
        "verify",
        "records",
        Total::About(1000),
        ProgressDrawTarget::term_like(Box::new(screen.clone())),
    );
    progress.set(250);
    let drawn = screen.0.lock().unwrap().clone();
    assert!(drawn.contains("verify"), "{drawn:?}");
    assert!(drawn.contains("250/~1,000 records"), "{drawn:?}");
    assert!(drawn.contains("left)"), "{drawn:?}");
    progress.set(5000);
    progress.finish();
}

#[test]
fn a_job_too_short_for_a_line_ends_silently() {
    let (mut progress, out) = lines("export", "events", Total::Exact(10), Duration::from_secs(3600));
    progress.set(10);
    progress.finish();
    assert_eq!(out.text(), "");
}
