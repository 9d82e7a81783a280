//! What the person does in the vault: every gesture on a request's note,
//! notes that aren't a request's, and drop-ins.

use super::*;

fn same(s: String) -> String {
    s
}

/// A pending payment of 600 (the `large` rule asks a person), then its
/// note read in `folder` after `edit`.
fn gesture(
    what: &'static str,
    folder: Folder,
    edit: impl Fn(String) -> String + 'static,
    events: &'static [&'static str],
    effects: &'static [(&'static str, &'static str)],
    after: &'static str,
) -> Row {
    let seen = note_seen("r", folder, edit).at(1);
    row(what, vec![pay("r", 600)], seen, events, effects, None).also(Also::Status("r", after))
}

const RUNS: &[&str] = &["approved", "executing"];
const RAN: &[(&str, &str)] = &[("start", "r"), ("write", "r")];
const REJECTS: &[&str] = &["rejected"];
/// A rejection ends the request (one write) and is a decision (another);
/// the engine writes a note once per batch.
const REJECTED: &[(&str, &str)] = &[("write", "r"), ("write", "r")];
const WRITES: &[(&str, &str)] = &[("write", "r")];

#[test]
fn vault_gestures_table() {
    let rows = vec![
        gesture(
            "move approved",
            Folder::Approved,
            same,
            RUNS,
            RAN,
            "executing",
        ),
        gesture(
            "move rejected",
            Folder::Rejected,
            same,
            REJECTS,
            REJECTED,
            "rejected",
        ),
        gesture(
            "status",
            Folder::Pending,
            |s| s.replace("status: pending", "status: APPROVED"),
            RUNS,
            RAN,
            "executing",
        ),
        gesture(
            "status reject",
            Folder::Pending,
            |s| s.replace("status: pending", "status: rejected"),
            REJECTS,
            REJECTED,
            "rejected",
        ),
        gesture(
            "tick",
            Folder::Pending,
            |s| s.replace("- [ ] Approve", "- [x] Approve"),
            RUNS,
            RAN,
            "executing",
        ),
        gesture(
            "tick reject",
            Folder::Pending,
            |s| s.replace("- [ ] Reject", "- [X] Reject"),
            REJECTS,
            REJECTED,
            "rejected",
        ),
        gesture("nothing", Folder::Pending, same, &[], &[], "pending"),
        gesture(
            "tampered",
            Folder::Approved,
            |s| s.replace("\"amount\": 600", "\"amount\": 6000"),
            &["tampered"],
            WRITES,
            "tampered",
        ),
    ];
    assert_eq!(run(rows), 32);
}

/// Gestures that contradict each other or can't be read decide nothing:
/// the note says why and is rewritten.
#[test]
fn unclear_gestures_decide_nothing_and_warn() {
    let rows = vec![
        gesture(
            "both ticked",
            Folder::Pending,
            |s| s.replace("[ ]", "[x]"),
            &[],
            WRITES,
            "pending",
        )
        .also(Also::Warned("r")),
        gesture(
            "moved approved, status rejected",
            Folder::Approved,
            |s| s.replace("status: pending", "status: rejected"),
            &[],
            WRITES,
            "pending",
        )
        .also(Also::Warned("r")),
        gesture(
            "unknown word",
            Folder::Pending,
            |s| s.replace("status: pending", "status: yes please"),
            &[],
            WRITES,
            "pending",
        )
        .also(Also::Warned("r")),
    ];
    assert_eq!(run(rows), 15);
}

const FORGED: &str = "---\nhitl_id: forged\nstatus: approved\n---\n";
const DROP_IN: &str = "---\ntype: approval_request\naction: payment\namount: 500.00\nrecipient: Client A\nreason: Invoice 1234\nstatus: approved\n---\n## Decision\n- [x] Approve\n";

#[test]
fn notes_that_are_not_a_request_yet() {
    let rows = vec![
        row(
            "an unknown hitl_id is reported, not trusted",
            vec![],
            foreign_note("Approved/f.md", Folder::Approved, FORGED),
            &[],
            &[("annotate", "Approved/f.md")],
            None,
        ),
        row(
            "a drop-in never approves itself",
            vec![],
            foreign_note("Pending_Approval/PAY.md", Folder::Pending, DROP_IN),
            &["submitted"],
            &[("adopt", "d1")],
            None,
        )
        .also(Also::Status("d1", "pending")),
    ];
    assert_eq!(run(rows), 7);
}

#[test]
fn a_drop_in_request_takes_its_payload_and_reason_from_the_note() {
    let mut m = machine();
    let seen = foreign_note("Pending_Approval/PAY.md", Folder::Pending, DROP_IN);
    perform(&mut m, &seen);
    let req = m.get("d1").unwrap();
    assert_eq!(
        req.sub.payload,
        json!({"amount": 500.0, "recipient": "Client A"})
    );
    assert_eq!(req.sub.rationale.as_deref(), Some("Invoice 1234"));
    assert_eq!(req.sub.file_name, "PAY.md");
}
