//! Crashes at start: the inbox, queued decisions and drop-ins found when
//! the daemon starts.

use super::steps::*;
use super::{Scenario, crash_test};

#[test]
fn crash_after_an_inbox_read_loses_no_queued_request() {
    crash_test("inbox-after-read", AT_START);
}

#[test]
fn crash_before_journaling_the_inbox_loses_no_queued_request() {
    crash_test("journal-before-append", AT_START);
}

#[test]
fn crash_after_journaling_the_inbox_takes_no_entry_twice() {
    crash_test("journal-after-append", AT_START);
}

#[test]
fn crash_before_the_startup_reconcile_loses_no_note() {
    crash_test("startup-before-reconcile", AT_START);
}

#[test]
fn crash_after_the_startup_reconcile_loses_no_note() {
    crash_test("startup-after-reconcile", AT_START);
}

#[test]
fn crash_after_reading_a_queued_approval_still_runs_it_once() {
    crash_test(
        "inbox-after-read",
        Scenario {
            before: approval_queued_while_down,
            armed: nothing,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_after_journaling_a_queued_approval_still_runs_it_once() {
    crash_test(
        "journal-after-append",
        Scenario {
            before: approval_queued_while_down,
            armed: nothing,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_after_the_startup_reconcile_still_runs_a_queued_approval_once() {
    crash_test(
        "startup-after-reconcile",
        Scenario {
            before: approval_queued_while_down,
            armed: nothing,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_before_journaling_a_drop_in_at_start_loses_it_not() {
    crash_test(
        "journal-before-append",
        Scenario {
            before: drop_in_while_down,
            armed: nothing,
            ends: Some("pending"),
        },
    );
}

#[test]
fn crash_after_journaling_a_drop_in_at_start_takes_it_once() {
    crash_test(
        "journal-after-append",
        Scenario {
            before: drop_in_while_down,
            armed: nothing,
            ends: Some("pending"),
        },
    );
}
