//! Issue 8: a new user's first hour. The traps (each a behaviour) and the
//! conventions a CLI user expects. Terminal-only behaviour (colour, the
//! spinner) is driven through `script`, which gives the command a pty.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{BIN, Env};

/// Waits for a child with a deadline; kills it and fails if it hangs.
fn finishes(mut child: std::process::Child, within: Duration) -> std::process::Output {
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// `hitl ARGS` under a pseudo-terminal (`script`), with `env` set;
/// returns what the terminal saw.
fn on_a_terminal(env: &Env, args: &str, vars: &[(&str, &str)]) -> String {
    let mut c = env.cmd();
    c.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    c.envs(vars.iter().copied());
    let mut script = Command::new("script");
    script
        .args(["-qec", &format!("{BIN} {args}"), "/dev/null"])
        .envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .stdin(Stdio::null());
    let out = script.output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn wait_for_an_unknown_id_with_the_daemon_down_fails_at_once() {
    let env = Env::new("");
    let child = env
        .cmd()
        .args(["wait", "0123456789ab"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finishes(child, Duration::from_secs(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no request matches `0123456789ab`"), "{err}");
}

#[test]
fn wait_with_the_daemon_down_says_so_and_its_timeout_is_not_a_status() {
    let (mut env, id) = Env::with_pending_payment();
    env.stop();
    let (code, out, err) = env.hitl(&["wait", &id, "--timeout", "1s", "--json"]);
    assert_eq!(code, 7, "{err}");
    assert!(
        err.contains("the daemon is not running; waiting for it to start"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "pending", "{out}");
    assert_eq!(v["wait"], "timed_out", "{out}");
    // Not a terminal: no spinner, no escape sequences.
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err:?}");
}

#[test]
fn wait_shows_what_it_waits_for_on_a_terminal() {
    let (env, id) = Env::with_pending_payment();
    let seen = on_a_terminal(&env, &format!("wait {id} --timeout 2s"), &[]);
    assert!(seen.contains("waiting for pending payment"), "{seen:?}");
    assert!(seen.contains(" left)"), "{seen:?}");
}

#[test]
fn run_refuses_a_vault_that_does_not_exist() {
    let env = Env::new("");
    let typo = env.dir.path().join("Obsidain/MyVault");
    let out = env
        .cmd()
        .args(["run", "--vault"])
        .arg(&typo)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("does not exist") && err.contains("hitl init --vault"),
        "{err}"
    );
    assert!(!typo.exists() && !env.dir.path().join("Obsidain").exists());
}

#[test]
fn run_warns_once_about_a_folder_obsidian_never_opened() {
    let mut env = Env::new("");
    env.start();
    let log = env.log();
    assert_eq!(log.matches("no .obsidian/ folder").count(), 1, "{log}");
    assert!(log.contains(&env.vault.display().to_string()), "{log}");
}

#[test]
fn relative_vault_paths_are_made_absolute_before_they_are_written() {
    let env = Env::new("");
    let xdg = env.dir.path().join("xdg");
    let out = env
        .cmd()
        .current_dir(env.dir.path())
        .env("XDG_CONFIG_HOME", &xdg)
        .env("XDG_DATA_HOME", env.dir.path().join("data"))
        .args(["service", "install", "--vault", "vault"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = std::fs::read_to_string(xdg.join("systemd/user/hitl.service")).unwrap();
    let exec = format!("run --vault {} ", env.vault.display());
    assert!(
        unit.contains(&exec) && !unit.contains("--vault vault"),
        "{unit}"
    );
}

#[test]
fn list_refuses_an_unknown_status_and_names_the_valid_ones() {
    let env = Env::new("");
    let (code, out, err) = env.hitl(&["list", "--status", "bogus"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("possible values") && err.contains("pending"),
        "{err}"
    );
}

#[test]
fn actors_shown_are_the_kernels_not_the_callers_user_variable() {
    let (env, id) = Env::with_pending_payment();
    let out = env
        .cmd()
        .env("USER", "mallory")
        .args(["approve", &id, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    env.wait_note(&id, "Done", "executed");
    for args in [
        vec!["history", id.as_str()],
        vec!["show", id.as_str()],
        vec!["audit", "export", "--format", "csv"],
    ] {
        let (_, text, _) = env.hitl(&args);
        assert!(
            text.contains("cli:") && !text.contains("mallory"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn init_with_another_vault_says_what_was_kept_and_force_rewrites() {
    let env = Env::new("");
    let config = env.dir.path().join("fresh.yaml");
    let first = env.dir.path().join("first");
    let other = env.dir.path().join("other");
    let init = |vault: &std::path::Path, extra: &[&str]| {
        let mut c = env.cmd();
        c.arg("--config")
            .arg(&config)
            .arg("init")
            .arg("--vault")
            .arg(vault);
        let out = c.args(extra).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    init(&first, &[]);
    let said = init(&other, &[]);
    assert!(
        said.contains(&format!("its vault is still {}", first.display())),
        "{said}"
    );
    assert!(said.contains("--force"), "{said}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(&format!("vault: {}", first.display())));
    let said = init(&other, &["--force", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert_eq!(v["config_written"], true, "{said}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(&format!("vault: {}", other.display())));
}

#[test]
fn service_install_refuses_to_overwrite_a_different_unit() {
    let env = Env::new("");
    let xdg = env.dir.path().join("xdg");
    let install = |vault: &str, force: bool| {
        let mut c = env.cmd();
        c.current_dir(env.dir.path())
            .env("XDG_CONFIG_HOME", &xdg)
            .env("XDG_DATA_HOME", env.dir.path().join("data"))
            .args(["service", "install", "--vault", vault]);
        if force {
            c.arg("--force");
        }
        c.output().unwrap()
    };
    let missing = install("elsewhere", false);
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("hitl init --vault"), "{err}");
    std::fs::create_dir(env.dir.path().join("elsewhere")).unwrap();
    assert!(install("vault", false).status.success());
    let unit_path = xdg.join("systemd/user/hitl.service");
    let before = std::fs::read_to_string(&unit_path).unwrap();
    let out = install("elsewhere", false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("- ExecStart=") && err.contains("+ ExecStart="),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&unit_path).unwrap(), before);
    assert!(install("elsewhere", true).status.success());
    assert!(
        std::fs::read_to_string(&unit_path)
            .unwrap()
            .contains("elsewhere")
    );
    // Uninstall stops and disables first (or says it could not), then removes.
    let out = env
        .cmd()
        .env("XDG_CONFIG_HOME", &xdg)
        .args(["service", "uninstall"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    let stop = said.find("stop").expect("mentions stopping");
    let removed = said.find("removed").expect("mentions removing");
    assert!(stop < removed, "{said}");
    assert!(!unit_path.exists());
}

#[test]
fn every_run_keeps_its_output_and_log_prints_it() {
    let mut env = Env::new("  quiet: { command: [/bin/true] }\n");
    env.start();
    let quiet = env.request(&["quiet"]);
    let loud = env.pay(1500);
    env.hitl(&["approve", &quiet]);
    env.hitl(&["approve", &loud]);
    env.wait_note(&quiet, "Done", "executed");
    env.wait_note(&loud, "Done", "executed");
    let file = env.state.join("output").join(format!("{quiet}.log"));
    assert_eq!(std::fs::read(&file).unwrap(), b"");
    assert_eq!(
        env.hitl(&["log", &quiet]),
        (0, String::new(), String::new())
    );
    let (code, out, _) = env.hitl(&["log", &loud[..6]]);
    assert_eq!((code, out.trim()), (0, format!("handled {loud}").as_str()));
    let (_, shown, _) = env.hitl(&["show", &loud]);
    assert!(shown.contains("output:\n  handled "), "{shown}");
}

#[test]
fn closed_output_ends_a_command_quietly() {
    let mut env = Env::new("");
    env.start();
    let big = "x".repeat(8000);
    for _ in 0..12 {
        env.request(&["payment", "--set", &format!("memo={big}")]);
    }
    let mut child = env
        .cmd()
        .args(["history", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("submitted"));
    // The reader is dropped here: the pipe is closed with most still unwritten.
    let out = finishes(child, Duration::from_secs(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "{:?}",
        out.status
    );
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let (env, id) = Env::with_pending_payment();
    let (_, piped, _) = env.hitl(&["list"]);
    assert!(
        piped.contains(&id) && !piped.contains('\u{1b}'),
        "{piped:?}"
    );
    let tty = on_a_terminal(&env, "list", &[]);
    assert!(tty.contains(&id) && tty.contains('\u{1b}'), "{tty:?}");
    let no_color = on_a_terminal(&env, "list", &[("NO_COLOR", "1")]);
    assert!(
        no_color.contains(&id) && !no_color.contains('\u{1b}'),
        "{no_color:?}"
    );
}
