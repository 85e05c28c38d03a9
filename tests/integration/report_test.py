"""`mxcensus report` in every format. On the views_db fixture (two real crawls of a lab world,
the second drifted; tests/integration/lib/views_db.py), read only: the numbers printed equal
the views', csv and json are well formed and complete, and the HTML page renders in headless
Chromium with no console message. On a small database of its own: a hostile greeting stays
text in every format. Errors: unknown crawl, unmigrated database, no crawls, unreachable."""
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import chromium  # noqa: E402
import e2e  # noqa: E402
import views_db  # noqa: E402

TABLES = ["funnel", "cert_verdicts", "tls_negotiated", "tls_summary", "dh_sizes", "ecdhe_groups",
          "starttls_failures", "tampering", "providers", "mta_software", "policy", "series",
          "changes", "changed_items", "no_starttls"]
# No lab server sends this: it stands for a hostile greeting. If a page ever ran it, Chromium
# would log the console message and the page check would fail.
EVIL = '<script>console.error("mxcensus-xss")</script><img src=x onerror="console.error(2)">'


def report(dsn, *args, check=True):
    r = subprocess.run([e2e.MX, "report", "--db", dsn, *args], capture_output=True, text=True,
                       timeout=180)
    if check and r.returncode != 0:
        raise e2e.Fail(f"report {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def view_funnel(db):
    out = e2e.psql(db.dsn, f"SELECT step, unit, count FROM v_funnel WHERE crawl_id = {db.crawl_b}")
    return {(s, u): int(n) for s, u, n in (line.split("|") for line in out.splitlines())}


def check_text(db, funnel):
    out = report(db.dsn).stdout  # the defaults: the latest finished crawl, the one before it
    assert out.startswith(f"mxcensus report: crawl {db.crawl_b} (views-b)"), out[:200]
    assert f"compare_crawl_id: {db.crawl_a}" in out, out[:400]
    for step in ("input", "has_mx", "starttls_offered", "handshake_ok"):
        line = next(ln for ln in out.splitlines() if ln.startswith(step + " "))
        nums = [int(x) for x in re.findall(r"(?<![\d.])(\d+)(?![\d.%])", line)]
        assert nums[0] == funnel[(step, "domain")], f"{step}: {line!r} vs {funnel}"
        if (step, "ip") in funnel:
            assert nums[-1] == funnel[(step, "ip")], f"{step}: {line!r} vs {funnel}"
    # Aligned: the first percentage ends in the same column on every funnel line.
    lines = [ln for ln in out.splitlines() if re.match(r"(input|has_mx|tcp_open|ehlo_ok) ", ln)]
    assert len(lines) == 4 and len({ln.index("%") for ln in lines}) == 1, "\n".join(lines)
    # Names resolve (the error is about --compare, so --crawl was found), without a report.
    r = report(db.dsn, "--crawl", "views-b", "--compare", "no such", check=False)
    assert r.returncode == 2 and "--compare no such: no crawl with that name" in r.stderr, r.stderr
    r = report(db.dsn, "--crawl", "views-b", "--compare", str(db.crawl_b), check=False)
    assert r.returncode == 2 and "the crawl itself" in r.stderr, r.stderr


def check_csv(db, funnel, tmp):
    out_dir = os.path.join(tmp, "csv")
    paths = report(db.dsn, "--format", "csv", "--out", out_dir).stdout.split()
    assert sorted(os.path.basename(p) for p in paths) == sorted(t + ".csv" for t in TABLES), paths
    with open(os.path.join(out_dir, "funnel.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0].keys()) == ["step", "domains", "domains_pct", "mx_hosts",
                                    "mx_hosts_pct", "ips", "ips_pct"], rows[0]
    assert len(rows) == 9
    for r in rows:
        assert int(r["domains"]) == funnel[(r["step"], "domain")], r
        assert re.fullmatch(r"\d+\.\d", r["domains_pct"]), r
    stream = report(db.dsn, "--format", "csv").stdout
    sections = re.findall(r"(?:^|\n\n)# (\w+): ", stream)  # text mode reads CRLF as \n
    assert sections == TABLES, sections


def check_json(db, funnel):
    j = json.loads(report(db.dsn, "--format", "json", "--limit", "0").stdout)
    assert list(j["tables"]) == TABLES
    assert j["facts"]["crawl_id"] == db.crawl_b and j["facts"]["compare_crawl_id"] == db.crawl_a
    for r in j["tables"]["funnel"]["rows"]:
        assert r["domains"] == funnel[(r["step"], "domain")], r
        assert r["ips"] == funnel.get((r["step"], "ip")), r
    assert [r["crawl_id"] for r in j["tables"]["series"]["rows"]] == [db.crawl_a, db.crawl_b]
    changed = int(e2e.psql(db.dsn, f"SELECT count(*) FROM mxcensus_changes({db.crawl_a}, "
                                   f"{db.crawl_b})"))
    changes = j["tables"]["changes"]["rows"]
    assert changed > 0 and sum(r["gained"] + r["lost"] for r in changes) == changed, changes
    assert len(j["tables"]["changed_items"]["rows"]) == changed  # --limit 0: every row
    want = dict(line.split("|") for line in e2e.psql(
        db.dsn, f"SELECT verdict, count FROM v_cert_verdicts WHERE crawl_id = {db.crawl_b} "
        "AND unit = 'mx_host'").splitlines())
    got = {r["verdict"]: r["mx_hosts"] for r in j["tables"]["cert_verdicts"]["rows"]}
    assert got == {k: int(v) for k, v in want.items()}, (got, want)
    first = json.loads(report(db.dsn, "--crawl", str(db.crawl_a), "--format", "json").stdout)
    assert "compare_crawl_id" not in first["facts"], first["facts"]
    assert first["tables"]["changes"]["rows"] == []
    assert "No earlier finished crawl" in first["tables"]["changes"]["note"]


def check_markdown(db):
    md = report(db.dsn, "--format", "markdown").stdout
    assert md.startswith(f"# mxcensus report: crawl {db.crawl_b}"), md[:100]
    assert "| step | domains | % | MX hosts | % | IPs | % |" in md
    assert md.count("\n## ") == len(TABLES)


def check_html(dsn, tmp, name, expect):
    out_dir = os.path.join(tmp, name)
    path = report(dsn, "--format", "html", "--out", out_dir).stdout.strip()
    assert path == os.path.join(out_dir, "index.html"), path
    html = open(path, encoding="utf-8").read()
    assert "<script" not in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "external reference"
    shot = os.path.join(tmp, name + ".png")
    dom = chromium.check_page(path, shot, expect_in_dom=expect)
    assert "<script" not in dom
    e2e.log(f"screenshot: {shot} ({os.path.getsize(shot)} bytes)")
    keep = os.environ.get("MXCENSUS_REPORT_SCREENSHOT")
    if keep:
        os.replace(shot, f"{keep}-{name}.png")
    return html


HOSTILE_CRAWL = """
INSERT INTO crawl (crawl_id, name, state, finished_at) VALUES (1, 'hostile', 'finished', now());
SELECT mxcensus_create_probe_partition(1);
INSERT INTO crawl_domain (crawl_id, domain, status) VALUES (1, 'evil.example', 'ok');
INSERT INTO mx_host (crawl_id, mx_name, status, ipv4) VALUES
  (1, 'mx.evil.example', 'ok', '{{192.0.2.1}}');
INSERT INTO domain_mx VALUES (1, 'evil.example', 'mx.evil.example', 10);
INSERT INTO target (crawl_id, target_id, ip, port, mx_name, shard_id)
  VALUES (1, 1, '192.0.2.1', 25, 'mx.evil.example', 0);
INSERT INTO probe (crawl_id, target_id, ip, port, mx_name, outcome, stage, banner, code_banner,
                   code_ehlo, started_at)
  VALUES (1, 1, '192.0.2.1', 25, 'mx.evil.example', 'no_starttls', 'ehlo', $${evil}$$, 220, 250,
          now());
"""


def check_hostile_greeting(tmp):
    """A greeting with markup, quotes and a formula: text in every format, never markup."""
    dsn = e2e.fresh_db()
    e2e.mx("db", "migrate", "--db", dsn)
    e2e.psql(dsn, HOSTILE_CRAWL.format(evil=EVIL + '",=1+1'))
    j = json.loads(report(dsn, "--format", "json").stdout)
    greetings = [r["sample_greeting"] for r in j["tables"]["no_starttls"]["rows"]]
    assert greetings == [EVIL + '",=1+1'], greetings
    md = report(dsn, "--format", "markdown").stdout
    assert "&lt;script&gt;" in md and "<script" not in md
    out_dir = os.path.join(tmp, "hostile-csv")
    report(dsn, "--format", "csv", "--out", out_dir)
    with open(os.path.join(out_dir, "no_starttls.csv"), newline="") as f:
        assert [r["sample_greeting"] for r in csv.DictReader(f)] == greetings
    html = check_html(dsn, tmp, "hostile", ("12. Who, why, where", "mx.evil.example"))
    assert "&lt;script&gt;console.error(&quot;mxcensus-xss&quot;)&lt;/script&gt;" in html


def check_harness_catches_broken_pages(tmp):
    """The page check is real: a script error, and a page that is not there, both fail it."""
    broken = os.path.join(tmp, "broken.html")
    with open(broken, "w") as f:
        f.write("<!DOCTYPE html><html><body><h1>x</h1><script>no_such_fn();</script></body></html>")
    for page, want in ((broken, "no_such_fn"), (os.path.join(tmp, "missing.html"),
                                                "Page load failed")):
        try:
            chromium.check_page(page, os.path.join(tmp, "b.png"), expect_in_dom=("<h1>x</h1>",))
        except chromium.PageError as e:
            assert want in str(e), str(e)
        else:
            raise e2e.Fail(f"the page check passed {page}")


def check_errors(db):
    r = report(db.dsn, "--crawl", "999", check=False)
    assert r.returncode == 2 and "--crawl 999: no crawl with that id" in r.stderr, r.stderr
    r = report(db.dsn, "--format", "html", check=False)
    assert r.returncode == 2 and "--out" in r.stderr, r.stderr
    empty = e2e.fresh_db()
    r = report(empty, check=False)
    assert r.returncode == 2 and "mxcensus db migrate" in r.stderr, r.stderr
    e2e.mx("db", "migrate", "--db", empty)
    r = report(empty, check=False)
    assert r.returncode == 2 and "no crawl in the database" in r.stderr, r.stderr
    r = report("host=/nonexistent port=1", check=False)
    assert r.returncode == 2 and "cannot connect to the database" in r.stderr, r.stderr


def test_report_in_every_format():
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        db = views_db.load_or_build(tmp)
        funnel = view_funnel(db)
        assert funnel[("input", "domain")] > 0 and funnel[("handshake_ok", "ip")] > 0, funnel
        check_text(db, funnel)
        check_csv(db, funnel, tmp)
        check_json(db, funnel)
        check_markdown(db)
        check_html(db.dsn, tmp, "views", ("1. Funnel", "<svg", "<polyline", "class=\"bar\"",
                                          "12. Who, why, where"))
        check_hostile_greeting(tmp)
        check_harness_catches_broken_pages(tmp)
        check_errors(db)


if __name__ == "__main__":
    e2e.run_tests([test_report_in_every_format])
