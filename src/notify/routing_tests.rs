//! A rule's `notify: [...]`: routing and validation.
use crate::config::Config;
use crate::notify::EventKind;
use crate::rules::Risk;

const TWO: &str = "notify:\n  - { name: phone, kind: webhook, url: \"https://n.example/t\", min_risk: high }\n  - { name: desk, kind: desktop, events: [pending] }\nrules:\n  - name: big\n    when: { amount: { gte: 500 } }\n    decision: require\n    notify: [phone]\n";

#[test]
fn rule_notify_names_its_channels_instead_of_all() {
    let c = Config::parse(TWO, "c.yaml").unwrap();
    let (mut n, _) = crate::notify::text::fixed();
    n.risk = Risk::Low;
    let [phone, desk] = &c.notify.channels[..] else {
        panic!()
    };
    // Without a rule's list: each channel's events and min_risk.
    assert!(!phone.routes(&n) && desk.routes(&n));
    // The rule's list: only those, whatever the risk; events still count.
    n.channels = c.notify.rule_channels.get("big").cloned();
    assert!(phone.routes(&n) && !desk.routes(&n));
    n.kind = EventKind::Reminder;
    assert!(phone.routes(&n));
}

#[test]
fn a_rule_naming_an_unknown_channel_is_refused_with_the_rule() {
    let bad = TWO.replace("notify: [phone]", "notify: [phone, pager]");
    let e = Config::parse(&bad, "c.yaml").unwrap_err().to_string();
    assert!(e.contains("rules[0] (big).notify"), "{e}");
    assert!(e.contains("no notify channel named `pager`"), "{e}");
}
