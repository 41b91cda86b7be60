//! What the programs share on the command line: their exit statuses, and running statements
//! from scripts (`wkstore-tui --exec`, piped `wkshell`).

pub mod headless;
pub mod salvage;

/// Every statement succeeded.
pub const EXIT_OK: u8 = 0;
/// A statement failed (or the store could not be opened, for another reason than a lock).
pub const EXIT_FAILED: u8 = 1;
/// The command line was wrong, or the script could not be read.
pub const EXIT_USAGE: u8 = 2;
/// `CHECK` found damage (and no statement failed).
pub const EXIT_DAMAGED: u8 = 3;
/// Another process holds the store's write lock.
pub const EXIT_LOCKED: u8 = 4;
/// The open found signs that acknowledged commits may be missing (the recovery report, printed
/// on stderr first, says why). It outranks every other status: such a store opens read-only, so
/// the writes that then fail are a consequence, not the news.
pub const EXIT_DATA_MAY_BE_MISSING: u8 = 5;

/// The exit statuses of `--exec`, as `wkstore-tui --help` lists them.
pub const EXIT_STATUS_HELP: &str = "Exit status of --exec:
  0  every statement succeeded
  1  a statement failed, or the store could not be opened (other than a lock)
  2  usage error (bad flags, no store file, an unreadable script)
  3  CHECK found damage, and no statement failed
  4  another process holds the store's write lock
  5  the open found that acknowledged commits may be missing (the report is on stderr)";

/// The recovery report of an open, as lines for stderr: each starts with `Warning:` when
/// acknowledged commits may be missing, `Recovery:` otherwise. Empty when the report is quiet.
pub fn recovery_notice(report: &crate::RecoveryReport) -> Vec<String> {
    let label = if report.may_have_lost_data() { "Warning" } else { "Recovery" };
    report.lines().into_iter().map(|line| format!("{label}: {line}")).collect()
}

/// The exit status of a run whose open reported `report`, given the status its statements earned.
pub fn status_after_recovery(report: &crate::RecoveryReport, statements_status: u8) -> u8 {
    if report.may_have_lost_data() { EXIT_DATA_MAY_BE_MISSING } else { statements_status }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RecoveryReport;

    fn stopped() -> RecoveryReport {
        RecoveryReport {
            commits_replayed: 3,
            stopped_at: Some((4096, "record checksum mismatch".to_owned())),
            ..RecoveryReport::default()
        }
    }

    #[test]
    fn a_stop_a_crash_leaves_keeps_the_statements_status() {
        for status in [EXIT_OK, EXIT_FAILED, EXIT_DAMAGED] {
            assert_eq!(status_after_recovery(&stopped(), status), status);
            assert_eq!(status_after_recovery(&RecoveryReport::default(), status), status);
        }
        let notice = recovery_notice(&stopped());
        assert_eq!(notice.len(), 1);
        assert!(notice[0].starts_with("Recovery: log replay stopped at byte 4096"), "{notice:?}");
        assert!(recovery_notice(&RecoveryReport::default()).is_empty());
    }

    #[test]
    fn possibly_missing_commits_outrank_every_other_status() {
        let report = RecoveryReport {
            data_may_be_missing: Some("the log's sequence jumps from 7 to 9".to_owned()),
            log_kept: true,
            ..stopped()
        };
        for status in [EXIT_OK, EXIT_FAILED, EXIT_DAMAGED] {
            assert_eq!(status_after_recovery(&report, status), EXIT_DATA_MAY_BE_MISSING);
        }
        let distinct = [EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DAMAGED, EXIT_LOCKED];
        assert!(!distinct.contains(&EXIT_DATA_MAY_BE_MISSING));
        let notice = recovery_notice(&report);
        assert!(notice.iter().all(|l| l.starts_with("Warning: ")), "{notice:?}");
        assert!(notice[0].contains("acknowledged commits may be missing"), "{notice:?}");
    }
}
