//! Crashes while running: submissions, decisions by every gesture, and
//! handler runs.

use super::steps::*;
use super::{Scenario, crash_test};

#[test]
fn crash_before_journaling_a_cli_submission_loses_nothing_acknowledged() {
    crash_test(
        "journal-before-append",
        Scenario {
            before: |_, _| {},
            armed: submit_by_cli,
            ends: None,
        },
    );
}

#[test]
fn crash_after_journaling_a_drop_in_takes_it_once() {
    crash_test(
        "journal-after-append",
        Scenario {
            before: |_, _| {},
            armed: drop_in_while_up,
            ends: Some("pending"),
        },
    );
}

#[test]
fn crash_before_journaling_an_approval_leaves_the_request_pending_with_one_note() {
    crash_test(
        "journal-before-append",
        Scenario {
            before: one_pending,
            armed: approve_by_cli,
            ends: Some("pending"),
        },
    );
}

#[test]
fn crash_after_journaling_an_approval_still_runs_the_handler_once() {
    crash_test(
        "journal-after-append",
        Scenario {
            before: one_pending,
            armed: approve_by_cli,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_before_a_note_rewrite_is_renamed_over_the_note_loses_nothing() {
    crash_test(
        "note-before-rename",
        Scenario {
            before: one_pending,
            armed: reject_by_tick,
            ends: Some("rejected"),
        },
    );
}

#[test]
fn crash_between_a_note_write_and_its_move_leaves_no_stale_note() {
    crash_test(
        "note-between-write-and-move",
        Scenario {
            before: one_pending,
            armed: approve_by_move,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_between_a_note_write_and_its_move_after_a_status_approval_leaves_no_stale_note() {
    crash_test(
        "note-between-write-and-move",
        Scenario {
            before: one_pending,
            armed: approve_by_status,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_between_a_rejection_note_write_and_its_move_leaves_no_stale_note() {
    crash_test(
        "note-between-write-and-move",
        Scenario {
            before: one_pending,
            armed: reject_by_tick,
            ends: Some("rejected"),
        },
    );
}

#[test]
fn crash_before_a_handler_spawn_runs_nothing_twice() {
    crash_test(
        "handler-before-spawn",
        Scenario {
            before: one_pending,
            armed: approve_by_cli,
            ends: Some("unknown"),
        },
    );
}

#[test]
fn crash_in_a_handler_task_before_its_spawn_runs_nothing_twice() {
    crash_test(
        "handler-task-panic",
        Scenario {
            before: one_pending,
            armed: approve_by_cli,
            ends: Some("unknown"),
        },
    );
}

#[test]
fn crash_after_a_handler_spawn_runs_it_once_with_the_whole_payload() {
    crash_test(
        "handler-after-spawn",
        Scenario {
            before: one_pending,
            armed: approve_by_cli,
            ends: Some("unknown"),
        },
    );
}

#[test]
fn crash_before_an_idempotent_handler_spawn_runs_it_at_most_twice_with_one_key() {
    crash_test(
        "handler-before-spawn",
        Scenario {
            before: one_pending_idempotent,
            armed: approve_by_move,
            ends: Some("executed"),
        },
    );
}

#[test]
fn crash_after_an_idempotent_handler_spawn_runs_it_at_most_twice_with_one_key_and_the_whole_payload()
 {
    crash_test(
        "handler-after-spawn",
        Scenario {
            before: one_pending_idempotent,
            armed: approve_by_cli,
            ends: Some("executed"),
        },
    );
}
