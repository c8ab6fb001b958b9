//! Progress of long jobs (`verify`, `export`) on stderr, so stdout stays the
//! job's output. On a terminal: indicatif's bar with the total, the rate and
//! the time left. Elsewhere (a log file, CI, a pipe): a plain line every few
//! seconds with the same figures, since a redrawn bar would fill a log with
//! escape codes.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the plain-line form reports.
const LINE_INTERVAL: Duration = Duration::from_secs(2);

/// One long job's progress.
pub struct Progress {
    job: String,
    unit: &'static str,
    form: Form,
}

enum Form {
    Bar(ProgressBar),
    Lines(Lines),
}

struct Lines {
    out: Box<dyn Write>,
    every: Duration,
    started: Instant,
    last: Instant,
    total: Option<u64>,
    total_is_estimate: bool,
    position: u64,
    /// Whether a line was written: a job too short for one ends silently.
    reported: bool,
}

/// A total known exactly, estimated, or not at all.
#[derive(Clone, Copy, Debug)]
pub enum Total {
    /// Exactly this many.
    Exact(u64),
    /// About this many (an engine's estimate); the bar grows if passed.
    About(u64),
}

impl Progress {
    /// Progress on stderr: a bar on a terminal, plain lines otherwise.
    pub fn stderr(job: &str, unit: &'static str, total: Total) -> Progress {
        if std::io::stderr().is_terminal() {
            Progress::bar(job, unit, total, ProgressDrawTarget::stderr())
        } else {
            Progress::lines(job, unit, total, Box::new(std::io::stderr()), LINE_INTERVAL)
        }
    }

    /// The bar form, drawn to `target`.
    pub fn bar(job: &str, unit: &'static str, total: Total, target: ProgressDrawTarget) -> Progress {
        let (length, about) = match total {
            Total::Exact(n) => (n, ""),
            Total::About(n) => (n, "~"),
        };
        let template = format!(
            "{job} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{about}{{human_len}} {unit} ({{per_sec}}, {{eta}} left)"
        );
        let style = ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::with_draw_target(Some(length), target).with_style(style);
        Progress {
            job: job.to_owned(),
            unit,
            form: Form::Bar(bar),
        }
    }

    /// The plain-line form, written to `out` at most once per `every`.
    pub fn lines(job: &str, unit: &'static str, total: Total, out: Box<dyn Write>, every: Duration) -> Progress {
        let now = Instant::now();
        let (total, total_is_estimate) = match total {
            Total::Exact(n) => (Some(n), false),
            Total::About(n) => (Some(n), true),
        };
        Progress {
            job: job.to_owned(),
            unit,
            form: Form::Lines(Lines {
                out,
                every,
                started: now,
                last: now,
                total: total.filter(|n| *n > 0),
                total_is_estimate,
                position: 0,
                reported: false,
            }),
        }
    }

    /// The job has done `position` units so far.
    pub fn set(&mut self, position: u64) {
        match &mut self.form {
            Form::Bar(bar) => {
                if bar.length().is_some_and(|length| position > length) {
                    bar.set_length(position);
                }
                bar.set_position(position);
            }
            Form::Lines(lines) => {
                lines.position = position;
                let now = Instant::now();
                if now.duration_since(lines.last) >= lines.every {
                    lines.last = now;
                    lines.reported = true;
                    let line = lines.line(&self.job, self.unit, now);
                    // Progress is a courtesy: a closed stderr must not stop the job.
                    let _ = writeln!(lines.out, "{line}");
                }
            }
        }
    }

    /// The job ended: clear the bar, or, after progress lines, write a
    /// closing one with the count, the time taken and the rate.
    pub fn finish(self) {
        match self.form {
            Form::Bar(bar) => bar.finish_and_clear(),
            Form::Lines(lines) if !lines.reported => {}
            Form::Lines(mut lines) => {
                let elapsed = lines.started.elapsed();
                let rate = per_second(lines.position, elapsed);
                let _ = writeln!(
                    lines.out,
                    "{}: {} {} in {:.1}s ({rate}/s)",
                    self.job,
                    lines.position,
                    self.unit,
                    elapsed.as_secs_f64()
                );
            }
        }
    }
}

impl Lines {
    /// `verify: 30000 of ~100000 records (30%), 12000/s, about 6s left`.
    fn line(&self, job: &str, unit: &str, now: Instant) -> String {
        let elapsed = now.duration_since(self.started);
        let rate = per_second(self.position, elapsed);
        let mut line = format!("{job}: {}", self.position);
        if let Some(total) = self.total {
            let about = if self.total_is_estimate { "~" } else { "" };
            let total = total.max(self.position);
            let percent = self.position.saturating_mul(100) / total.max(1);
            line.push_str(&format!(" of {about}{total} {unit} ({percent}%), {rate}/s"));
            if let Some(left) = (total - self.position).checked_div(rate) {
                line.push_str(&format!(", about {left}s left"));
            }
        } else {
            line.push_str(&format!(" {unit}, {rate}/s"));
        }
        line
    }
}

fn per_second(count: u64, elapsed: Duration) -> u64 {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return 0;
    }
    (count as f64 / seconds) as u64
}

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;
