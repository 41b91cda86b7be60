//! The measurement behind the figures in `docs/TUI.md` (run by `examples/tui_first_frame.rs`):
//! the browser's real code path (config, open, the app state, the render) against an off-screen
//! terminal of 120 × 40, then page-downs without and with drawing, then the integrity check.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::action::Action;
use super::app::App;
use super::config::Config;
use super::ui;
use crate::OpenOptions;

/// The off-screen terminal's size.
const WIDTH: u16 = 120;
/// The off-screen terminal's size.
const HEIGHT: u16 = 40;

/// What [`measure_first_frame`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstFrameReport {
    /// Keys in the store.
    pub keys: u64,
    /// Reading the config file and opening the store.
    pub open: Duration,
    /// Building the app state (the first window of keys and the first value) and drawing it.
    pub first_frame: Duration,
    /// From the start of the measurement to the first frame drawn.
    pub start_to_first_frame: Duration,
    /// One page-down of the key list, state only, averaged.
    pub page_down: Duration,
    /// One page-down with a full redraw of the screen, averaged.
    pub page_down_drawn: Duration,
    /// Keys read from the store per page-down, averaged.
    pub keys_per_page_down: f64,
    /// Rows of the key list.
    pub window_rows: usize,
    /// Peak resident memory after the page-downs (Linux `VmHWM`), if known.
    pub peak_memory: Option<String>,
    /// The integrity check of every page.
    pub check: Duration,
    /// Peak resident memory after the check, if known.
    pub peak_memory_after_check: Option<String>,
}

/// Opens the store at `db` (read-only) as the browser does, draws the first frame off-screen,
/// pages down `page_downs` times without drawing and as many times drawing each frame, then runs
/// the integrity check. The user's config file is read as the browser reads it.
pub fn measure_first_frame(db: &Path, page_downs: u32) -> Result<FirstFrameReport, String> {
    let started = Instant::now();
    let config = Config::load(None).map_err(|e| e.to_string())?;
    let mut options = OpenOptions::new();
    options.cache_bytes(config.cache_bytes).read_only(true).create(false);
    let store = options.open(db).map_err(|e| e.to_string())?;
    let open = started.elapsed();
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).map_err(|e| e.to_string())?;
    let before_app = Instant::now();
    let mut app = App::new(store, "bench".to_owned(), config, None);
    app.resize(WIDTH, HEIGHT);
    terminal.draw(|frame| ui::render(&app, frame)).map_err(|e| e.to_string())?;
    let first_frame = before_app.elapsed();
    let start_to_first_frame = started.elapsed();

    let fetched_before = app.keys.fetched;
    let t = Instant::now();
    for _ in 0..page_downs {
        app.apply(Action::PageDown);
    }
    let engine = t.elapsed();
    let t = Instant::now();
    for _ in 0..page_downs {
        app.apply(Action::PageDown);
        terminal.draw(|frame| ui::render(&app, frame)).map_err(|e| e.to_string())?;
    }
    let drawn = t.elapsed();
    let n = page_downs.max(1);
    let keys_read = app.keys.fetched - fetched_before;
    let memory_browsing = peak_memory();

    app.apply(Action::Check);
    let t = Instant::now();
    app.run_requested_check();
    let check = t.elapsed();
    Ok(FirstFrameReport {
        keys: app.store.len().map_err(|e| e.to_string())?,
        open,
        first_frame,
        start_to_first_frame,
        page_down: engine / n,
        page_down_drawn: drawn / n,
        keys_per_page_down: keys_read as f64 / f64::from(2 * n),
        window_rows: app.keys.height,
        peak_memory: memory_browsing,
        check,
        peak_memory_after_check: peak_memory(),
    })
}

impl fmt::Display for FirstFrameReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let memory = |m: &Option<String>| m.clone().unwrap_or_else(|| "unknown (no /proc)".to_owned());
        writeln!(f, "keys in store:                     {}", self.keys)?;
        writeln!(f, "open (config, store):              {:.2} ms", ms(self.open))?;
        writeln!(f, "first frame (window, value, draw): {:.2} ms", ms(self.first_frame))?;
        writeln!(f, "start to first frame:              {:.2} ms", ms(self.start_to_first_frame))?;
        writeln!(f, "page-down, engine and state:       {:.1} µs", us(self.page_down))?;
        writeln!(f, "page-down with a full redraw:      {:.1} µs", us(self.page_down_drawn))?;
        writeln!(
            f,
            "keys read per page-down:           {:.1} (window of {} rows)",
            self.keys_per_page_down, self.window_rows
        )?;
        writeln!(f, "peak memory after browsing:        {}", memory(&self.peak_memory))?;
        writeln!(f, "integrity check (every page):      {:.0} ms", ms(self.check))?;
        write!(f, "peak memory after the check:       {}", memory(&self.peak_memory_after_check))
    }
}

/// Peak resident memory of the process (Linux `VmHWM`): heap, page cache of the store, and the
/// pages of the memory-mapped file that were touched.
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measurement_draws_a_first_frame_and_pages() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("m.db");
        {
            let store = crate::KVStore::open(&db, None).expect("open");
            let mut batch = crate::WriteBatch::new();
            for i in 0..2_000u32 {
                batch.put(format!("k{i:05}"), format!("v{i}"));
            }
            store.write(batch).expect("write");
            store.close().expect("close");
        }
        let report = measure_first_frame(&db, 20).expect("measured");
        assert_eq!(report.keys, 2_000);
        // 120 × 40: the list shows the body's rows less its borders.
        assert!(report.window_rows > 20, "{report}");
        assert!((report.keys_per_page_down - report.window_rows as f64).abs() < 0.01, "{report}");
        let text = report.to_string();
        assert!(text.contains("keys in store:                     2000"), "{text}");
    }
}
