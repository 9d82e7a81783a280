//! Notification channels against real servers the tests start: an SMTP
//! server requiring STARTTLS and AUTH (aiosmtpd, a private CA made with
//! openssl), an HTTP server for ntfy/JSON webhooks, and a notification
//! server on a private D-Bus session bus. Each drives `hitl notify test`.
//! A test whose tool is missing is skipped with a line saying why, or
//! fails where `.ci/run` installed the tools (`util::missing_tool`).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::util::BIN;

pub mod desktop;
mod engine;
pub mod hook;
mod webhook;

pub const PASSWORD: &str = "known-secret-pw-7f3a";
pub const TOKEN: &str = "known-secret-token-91c2";

/// Kills and reaps a server when the test ends, however it ends.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn notify_test(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["-vv", "--config"])
        .arg(config)
        .args(["notify", "test"])
        .args(args);
    cmd.env("HITL_TEST_PW", PASSWORD)
        .env("HITL_TEST_TOKEN", TOKEN);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run hitl");
    let s = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (
        out.status.code().unwrap_or(-1),
        s(&out.stdout),
        s(&out.stderr),
    )
}

pub fn no_secret(texts: &[&str]) {
    for t in texts {
        assert!(
            !t.contains(PASSWORD) && !t.contains(TOKEN),
            "a secret leaked: {t}"
        );
    }
}

/// An interpreter that has aiosmtpd: Debian's python3 first.
fn python_with_aiosmtpd() -> Option<String> {
    ["/usr/bin/python3", "python3"]
        .into_iter()
        .map(String::from)
        .find(|py| {
            Command::new(py)
                .args(["-c", "import aiosmtpd"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A private CA and a server certificate for 127.0.0.1 signed by it.
fn make_certs(dir: &Path) -> bool {
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let ca = [
        &ec[..],
        &[
            "-x509",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=hitl test CA",
        ],
    ]
    .concat();
    let csr = [
        &ec[..],
        &[
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat();
    openssl(dir, &[&["req"][..], &ca].concat())
        && openssl(dir, &[&["req"][..], &csr].concat())
        && openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "srv.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "srv.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        )
}

const SMTPD: &str = r#"
import sys, ssl, time, os
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
cert, key, out, port, user, pw, mode = sys.argv[1:]
class Handler:
    async def handle_DATA(self, server, session, envelope):
        with open(out + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(out + ".tmp", out)
        return "250 OK"
def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == pw.encode()
    return AuthResult(success=ok, handled=False)
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
if mode == "starttls":
    c = Controller(Handler(), hostname="127.0.0.1", port=int(port), tls_context=ctx,
                   require_starttls=True, auth_required=True, auth_require_tls=True, authenticator=auth)
else:  # implicit TLS: the whole connection is TLS
    c = Controller(Handler(), hostname="127.0.0.1", port=int(port), ssl_context=ctx,
                   auth_required=True, auth_require_tls=False, authenticator=auth)
c.start()
print("ready", flush=True)
while True:
    time.sleep(60)
"#;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the SMTP server (`starttls` or `tls`); its port and mail file.
fn smtpd(py: &str, d: &Path, mode: &str) -> (Server, u16, std::path::PathBuf) {
    std::fs::write(d.join("smtpd.py"), SMTPD).unwrap();
    let port = free_port();
    let out = d.join("received.eml");
    let mut child = Command::new(py)
        .arg(d.join("smtpd.py"))
        .args([d.join("srv.pem"), d.join("srv.key"), out.clone()])
        .args([port.to_string(), "me".into(), PASSWORD.into(), mode.into()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let server = Server(child);
    assert_eq!(ready.trim(), "ready");
    (server, port, out)
}

#[test]
fn email_goes_through_starttls_and_auth_with_a_private_ca() {
    let Some(py) = python_with_aiosmtpd() else {
        crate::util::missing_tool(
            "email test: no python3 with aiosmtpd (.ci/run installs python3-aiosmtpd)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    if !make_certs(d) {
        crate::util::missing_tool("email test: openssl could not make the test certificates");
        return;
    }
    let (_server, port, out) = smtpd(&py, d, "starttls");
    let config = d.join("config.yaml");
    let channel = |pw_env: &str| {
        format!(
            "notify:\n  - name: mail\n    kind: email\n    smtp: {{ host: 127.0.0.1, port: {port}, tls: starttls, username: me, password_env: {pw_env}, ca_file: {} }}\n    from: hitl <hitl@example.com>\n    to: [me@example.com]\n",
            d.join("ca.pem").display()
        )
    };
    std::fs::write(&config, channel("HITL_TEST_PW")).unwrap();
    let (code, stdout, stderr) = notify_test(&config, &[], &[]);
    assert_eq!((code, stdout.as_str()), (0, "mail: ok\n"), "{stderr}");
    no_secret(&[&stdout, &stderr]);
    let raw = std::fs::read_to_string(&out).unwrap().replace("\r\n ", " ");
    let header = |name: &str| {
        raw.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {raw}"))
            .to_string()
    };
    assert_eq!(header("From"), "hitl <hitl@example.com>");
    assert_eq!(header("To"), "me@example.com");
    assert_eq!(
        header("Subject"),
        "Approval needed: hitl.test (low risk): A test notification from hitl"
    );
    assert!(jiff::fmt::rfc2822::parse(&header("Date")).is_ok(), "{raw}");
    assert!(
        header("Message-ID").starts_with('<') && header("Message-ID").ends_with("@example.com>"),
        "{raw}"
    );
    assert!(raw.contains("Approve: hitl approve test"), "{raw}");
    assert!(
        raw.contains("obsidian://open?vault=3Dvault&file=3Dtest"),
        "{raw}"
    );

    // A wrong password is an auth error, printed, exit 1, no secret shown.
    std::fs::write(&config, channel("HITL_WRONG_PW")).unwrap();
    let (code, stdout, stderr) = notify_test(&config, &["mail"], &[("HITL_WRONG_PW", "nope")]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.starts_with("mail: error: SMTP 127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("535") || stdout.to_lowercase().contains("auth"),
        "{stdout}"
    );
    no_secret(&[&stdout, &stderr]);
}

#[test]
fn email_goes_through_implicit_tls_and_an_unknown_ca_is_a_tls_error() {
    let Some(py) = python_with_aiosmtpd() else {
        crate::util::missing_tool("implicit TLS email test: no python3 with aiosmtpd");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    if !make_certs(d) {
        crate::util::missing_tool("implicit TLS email test: openssl could not make certificates");
        return;
    }
    let (_server, port, out) = smtpd(&py, d, "tls");
    let config = d.join("config.yaml");
    let channel = |ca: &str| {
        format!(
            "notify:\n  - name: mail\n    kind: email\n    smtp: {{ host: 127.0.0.1, port: {port}, tls: tls, username: me, password_file: {}{ca} }}\n    from: hitl@example.com\n    to: [me@example.com]\n",
            d.join("pw").display()
        )
    };
    std::fs::write(d.join("pw"), format!("{PASSWORD}\n")).unwrap();
    std::fs::write(
        &config,
        channel(&format!(", ca_file: {}", d.join("ca.pem").display())),
    )
    .unwrap();
    let (code, stdout, stderr) = notify_test(&config, &[], &[]);
    assert_eq!((code, stdout.as_str()), (0, "mail: ok\n"), "{stderr}");
    no_secret(&[&stdout, &stderr]);
    let raw = std::fs::read_to_string(&out).unwrap();
    assert!(raw.contains("Approve: hitl approve test"), "{raw}");

    // Without the private CA the server's certificate is not trusted.
    std::fs::write(&config, channel("")).unwrap();
    let (code, stdout, stderr) = notify_test(&config, &[], &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.to_lowercase().contains("certificate"), "{stdout}");
    no_secret(&[&stdout, &stderr]);
}
