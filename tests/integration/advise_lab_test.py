"""`mxcensus advise` on a lab crawl: a `scan` of a small lab world (every host profile) into a
fresh database, then every domain's findings compared with those expected from the lab's truth
(host profile -> finding, domain DNS status and policy records -> finding), fixes for Postfix,
Exim and Sendmail on every MTA-configurable finding (the lab's greeting names no software),
notification drafts, and `maillog --db` + `advise --require-tls --db` on the Postfix fixture
(hand-computed counts, tests/fixtures/maillog/README.md)."""
import email
import email.policy
import glob
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import e2e  # noqa: E402

LAB_BASE, DNS_PORT = "127.54.0.0", 25854
SRC = os.environ.get("MXCENSUS_SOURCE_DIR", ".")

# What each lab profile (docs/lab.md "Host profiles") must be diagnosed with.
PROFILE_FINDINGS = {
    "modern_tls13": set(), "tls12_rsa_chain": set(), "multiline": set(), "slow_banner": set(),
    "tls10_legacy": {"old_tls_version"},
    "dhe_1024": {"weak_dh"}, "dhe_512": {"weak_dh"},
    "self_signed": {"cert_self_signed"}, "expired": {"cert_expired"},
    "wrong_name": {"cert_name_mismatch"}, "missing_intermediate": {"cert_incomplete_chain"},
    "no_starttls": {"no_starttls"}, "ehlo_502_helo_ok": {"no_starttls"},
    "starttls_masked": {"starttls_masked"}, "starttls_454": {"starttls_refused"},
    "tls_garbage": {"tls_handshake_failed"}, "tls_alert": {"tls_handshake_failed"},
    "banner_421": {"smtp_session_failed"}, "banner_554": {"smtp_session_failed"},
    "ehlo_helo_rejected": {"smtp_session_failed"}, "close_after_banner": {"smtp_session_failed"},
    "http": {"smtp_session_failed"}, "ehlo_1mib": {"smtp_session_failed"},
    "tarpit": {"mx_unreachable"}, "connect_refused": {"mx_unreachable"},
    "starttls_injection": {"starttls_injection"},
}
# Findings whose fix does not depend on the MTA software.
INDEPENDENT = {"dns_failure", "mx_no_address", "starttls_masked", "starttls_injection",
               "cert_not_yet_valid", "cert_name_mismatch", "no_mta_sts", "no_tls_rpt"}


def expected_findings(lab_dir):
    hosts, domains = e2e.load_truth(lab_dir)
    out = {}
    for name, d in domains.items():
        exp = set()
        if d["status"] == "null_mx":
            pass
        elif d["status"] != "ok":
            exp.add(("dns_failure", "", ""))
        else:
            for m in d["mx"]:
                if m["status"] != "ok":
                    exp.add(("mx_no_address", m["name"], ""))
                    continue
                for ip in m["ipv4"]:
                    for code in PROFILE_FINDINGS[hosts[(ip, 2525)]["profile"]]:
                        exp.add((code, m["name"], ip))
            if not d["policy"]["mta_sts"]:
                exp.add(("no_mta_sts", "", ""))
            if not d["policy"]["tls_rpt"]:
                exp.add(("no_tls_rpt", "", ""))
        out[name] = exp
    return out


def got_key(f):
    if f["code"] in ("no_mta_sts", "no_tls_rpt", "dns_failure"):
        return (f["code"], "", "")
    return (f["code"], f["mx"], f["ip"])


def test_advise_on_lab_crawl():
    with tempfile.TemporaryDirectory() as d, e2e.Procs() as procs:
        os.chmod(d, 0o755)
        e2e.start_lab(procs, 60, 21, LAB_BASE, DNS_PORT, d)
        dsn = e2e.fresh_db()
        e2e.mx("scan", os.path.join(d, "domains.txt"), "--db", dsn, "--port", "2525",
               "--allow-private", "--ca-file", os.path.join(d, "ca.pem"),
               "--resolver", f"127.0.0.1:{DNS_PORT}", "--banner-timeout", "4s",
               "--command-timeout", "4s", "--tls-timeout", "4s", "--rate", "0",
               "--per-prefix", "0", "--concurrency", "200", "--quiet")
        want = expected_findings(d)
        drafts = os.path.join(d, "drafts")
        r = e2e.mx("advise", "--db", dsn, "--format", "json", "--notify-draft", drafts,
                   "--from", "ops@our.test")
        got = json.loads(r.stdout)
        assert got["domains_checked"] == len(want), (got["domains_checked"], len(want))
        profiles_seen = set()
        hosts, _ = e2e.load_truth(d)
        for dom in got["domains"]:
            keys = {got_key(f) for f in dom["findings"]}
            assert keys == want[dom["domain"]], (
                f"{dom['domain']}: extra {keys - want[dom['domain']]}, "
                f"missing {want[dom['domain']] - keys}")
            for f in dom["findings"]:
                fixes = {x["software"] for x in f["fixes"]}
                if f["code"] in INDEPENDENT:
                    assert "any" in fixes, f
                else:
                    assert {"postfix", "exim", "sendmail"} <= fixes, f
                assert all(x["steps"] for x in f["fixes"]), f
                assert f["observed"] and f["why"] and f["evidence"], f
                if f["ip"]:
                    profiles_seen.add(hosts[(f["ip"], 2525)]["profile"])
                    assert f["evidence"]["ip"] == f["ip"] and f["evidence"]["mx"] == f["mx"]
        failing = {p for p, codes in PROFILE_FINDINGS.items() if codes}
        assert failing <= profiles_seen, f"profiles never diagnosed: {failing - profiles_seen}"
        # Passing domains exist and got nothing (checked above); drafts for the others only.
        n_failing = sum(1 for dom in got["domains"] if dom["findings"])
        assert 0 < n_failing < len(want)
        files = sorted(glob.glob(os.path.join(drafts, "*.eml")))
        assert len(files) == n_failing, (len(files), n_failing)
        for path in files:
            with open(path, "rb") as fh:
                msg = email.message_from_binary_file(fh, policy=email.policy.default)
            dom = os.path.basename(path)[:-4]
            assert msg["To"] == f"postmaster@{dom}" and msg["From"] == "ops@our.test", path
            assert msg["Date"] and msg["Message-ID"] and dom in msg["Subject"], path
            assert "Why it matters" in msg.get_content(), path
        # Text and Markdown render the same findings.
        text = e2e.mx("advise", "--db", dsn).stdout
        md = e2e.mx("advise", "--db", dsn, "--format", "markdown").stdout
        assert f"{n_failing} with findings" in text and f"{n_failing} with findings" in md
        # One domain by name.
        one = next(dom for dom in got["domains"] if dom["findings"])
        r1 = json.loads(e2e.mx("advise", "--db", dsn, "--format", "json", one["domain"]).stdout)
        assert [x["domain"] for x in r1["domains"]] == [one["domain"]]

        # maillog --db, then --require-tls from the database: the hand-computed fixture counts.
        logs = [os.path.join(SRC, "tests/fixtures/maillog/postfix", f)
                for f in ("maillog", "maillog.1", "maillog.2.gz")]
        e2e.mx("maillog", *logs, "--year", "2026", "--db", dsn)
        n = e2e.psql(dsn, "SELECT count(*), sum(messages_in), sum(messages_in_tls) "
                          "FROM maillog_domain").strip()
        assert n == "6|7|4", n
        rt = json.loads(e2e.mx("advise", "--require-tls", "--db", dsn, "--format", "json").stdout)
        assert (rt["domains_sending"], rt["domains_would_bounce"],
                rt["domains_entirely_without_tls"], rt["messages_in"],
                rt["messages_would_bounce"]) == (3, 2, 1, 7, 3), rt
        assert [(x["domain"], x["messages_would_bounce"]) for x in rt["domains"]] == \
            [("plain.test", 2), ("example.org", 1)], rt


if __name__ == "__main__":
    e2e.run_tests([test_advise_on_lab_crawl])
