//! `wkstore-tui DAMAGED --salvage OUT`: copies every key a damaged store file still holds into a
//! new store (see [`crate::salvage`]) and prints the report, as text or JSON. The exit status is
//! [`EXIT_OK`] when the new store holds everything that could be read, [`EXIT_FAILED`] when
//! salvage could not run (the output exists, nothing in the file verifies, a write failed).

use std::io::Write;
use std::path::Path;

use super::headless::Format;
use super::{EXIT_FAILED, EXIT_OK};
use crate::SalvageOptions;
use crate::command::{CommandError, Output, error_to_json};

/// Salvage `src` into `dst`, printing the report on `stdout` or the error on `stderr`.
pub fn run(src: &Path, dst: &Path, format: Format, stdout: &mut dyn Write, stderr: &mut dyn Write) -> u8 {
    match crate::salvage(src, dst, &SalvageOptions::new()) {
        Ok(report) => {
            let output = Output::Salvaged { path: dst.to_path_buf(), report };
            let written = match format {
                Format::Text => writeln!(stdout, "{output}"),
                Format::Json => writeln!(stdout, "{}", output.to_json()),
            };
            if written.and_then(|()| stdout.flush()).is_err() { EXIT_FAILED } else { EXIT_OK }
        }
        Err(error) => {
            let error = CommandError::from(error);
            let _ = match format {
                Format::Text => writeln!(stderr, "Error: {error}"),
                Format::Json => writeln!(stderr, "{}", error_to_json(&error, None)),
            };
            EXIT_FAILED
        }
    }
}
