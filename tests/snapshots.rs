//! What a person reads — help, status, errors — snapshot-tested, so a change in wording is a
//! reviewed change. Ports, times and paths are replaced by placeholders.

mod common;

use common::*;

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "[TIME]");
    s.add_filter(r"\((in )?\d+[dhms][0-9hms]*( ago)?\)", "([DURATION])");
    s.add_filter(r"/[^\s]*/data/sesame", "[DATA]/sesame");
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    s
}

fn help(args: &[&str]) -> String {
    let out = Sandbox::new()
        .sesame()
        .args(args)
        .env("COLUMNS", "100")
        .output()
        .expect("sesame runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!(help(&["--help"]));
}

#[test]
fn login_help() {
    insta::assert_snapshot!(help(&["login", "--help"]));
}

/// A JWT with fixed claims (its signature is not checked by `--with-token`).
const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImVtYWlsIjoiYWxpY2VAZXhhbXBsZS5jb20iLCJncm91cHMiOlsiZW5nIl0sImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJl";

#[test]
fn status_text_of_a_with_token_session() {
    let sb = Sandbox::new();
    sb.run_full(&["login", "--with-token"], &[], Some(TOKEN))
        .expect_code(0);
    let out = sb.run(&["status"]);
    out.expect_code(0);
    settings().bind(|| insta::assert_snapshot!(out.stdout));
}

#[test]
fn messages_a_person_reads_when_things_fail() {
    let sb = Sandbox::new();
    let not_logged_in = sb.run(&["token"]);
    not_logged_in.expect_code(3);
    let remote_http = sb.run(&[
        "login",
        "--server",
        "http://consoleme.example.com",
        "--user",
        "a",
    ]);
    remote_http.expect_code(2);
    let no_server = sb.run_full(&["login"], &[("USER", "alice")], None);
    no_server.expect_code(2);
    let text = format!(
        "$ sesame token\n{}\n$ sesame login --server http://consoleme.example.com\n{}\n$ sesame login\n{}",
        not_logged_in.stderr, remote_http.stderr, no_server.stderr
    );
    settings().bind(|| insta::assert_snapshot!(text));
}

#[test]
fn aws_help() {
    let text = format!(
        "$ sesame aws --help\n{}\n$ sesame aws export --help\n{}",
        help(&["aws", "--help"]),
        help(&["aws", "export", "--help"])
    );
    insta::assert_snapshot!(text);
}

/// What `sesame aws` says when the session cannot give AWS credentials, or the ROLE cannot be
/// resolved from the profile's roles: no server is asked in any of these.
#[test]
fn aws_messages_before_any_request() {
    let sb = Sandbox::new();
    sb.run_full(&["login", "--with-token"], &[], Some(TOKEN))
        .expect_code(0);
    let not_federated = sb.run(&["aws", "credential-process", "dev"]);
    not_federated.expect_code(2);
    sb.write_config(
        "[profiles.default.aws]\nroles = [\"arn:aws:iam::123456789012:role/dev\"]\nduration = 60\n",
    );
    let bad_duration = sb.run(&["aws", "credential-process", "dev"]);
    bad_duration.expect_code(2);
    sb.write_config("[profiles.default.aws]\nroles = [\"arn:aws:iam::1:role/dev\"]\n");
    let bad_role = sb.run(&["aws", "roles"]);
    bad_role.expect_code(2);
    let text = format!(
        "$ sesame aws credential-process dev   # a --with-token session\n{}\n$ sesame aws credential-process dev   # duration = 60\n{}\n$ sesame aws roles   # roles = [\"arn:aws:iam::1:role/dev\"]\n{}",
        not_federated.stderr, bad_duration.stderr, bad_role.stderr
    );
    settings().bind(|| insta::assert_snapshot!(text));
}
