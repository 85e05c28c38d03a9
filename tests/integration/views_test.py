"""The SQL views (storage/migrations/0003_views.sql) on a database holding two real crawls of a
lab world, the second after a drift: every number asserted here is computed independently from
the lab's truth.jsonl (tests/integration/lib/views_db.py), never from the database."""
import os
import sys
import tempfile
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import e2e  # noqa: E402
import views_db  # noqa: E402

DB = None


def rows(sql):
    """Rows as lists of strings (psql -At, '|' separated)."""
    return [line.split("|") for line in e2e.psql(DB.dsn, sql).splitlines()]


def crawls():
    return ((DB.crawl_a, views_db.Expected(DB.lab_a)), (DB.crawl_b, views_db.Expected(DB.lab_b)))


def diff(want, got):
    keys = sorted(set(want) | set(got), key=str)
    return "\n".join(f"  {k}: want {want.get(k)} got {got.get(k)}" for k in keys
                     if want.get(k) != got.get(k))


def check_equal(what, want, got):
    want, got = dict(want), dict(got)
    assert want == got, f"{what} differs from the truth:\n{diff(want, got)}"


def test_funnel_counts_equal_truth():
    for crawl_id, exp in crawls():
        got = {(u, s): int(n) for u, s, n in
               rows(f"SELECT unit, step, count FROM v_funnel WHERE crawl_id = {crawl_id}")}
        want = exp.funnel()
        # The mx_host unit has no has_mx step, the ip unit starts at tcp_open.
        want = {k: v for k, v in want.items()
                if not (k[0] == "mx_host" and k[1] == "has_mx")
                and not (k[0] == "ip" and k[1] in ("has_mx", "mx_resolves"))}
        check_equal(f"v_funnel of crawl {crawl_id}", want, got)
        # The shares are of the unit's first step.
        for unit, step, n, pct in rows(f"SELECT unit, step, count, pct_of_input FROM v_funnel "
                                       f"WHERE crawl_id = {crawl_id}"):
            first = want[(unit, "input")]
            assert abs(float(pct) - round(100.0 * int(n) / first, 2)) < 0.006, (unit, step, pct)


def test_certificate_verdicts_equal_truth():
    for crawl_id, exp in crawls():
        got = {(u, v): int(n) for u, v, n in
               rows(f"SELECT unit, verdict, count FROM v_cert_verdicts WHERE crawl_id = {crawl_id}")}
        check_equal(f"v_cert_verdicts of crawl {crawl_id}", exp.verdicts(), got)
    # The drift moved hosts to bad certificates: the two crawls must differ.
    a, b = (dict(((u, v), n) for u, v, n in rows(
        f"SELECT unit, verdict, count FROM v_cert_verdicts WHERE crawl_id = {c}"))
        for c in (DB.crawl_a, DB.crawl_b))
    assert a != b, "the drifted crawl has the same verdicts: the fixture tests nothing"


def test_dh_histogram_equals_truth():
    for crawl_id, exp in crawls():
        got = {b: int(n) for b, n in rows(f"SELECT bucket, count FROM v_dh_sizes WHERE crawl_id = "
                                          f"{crawl_id} AND unit = 'ip' ORDER BY bucket_no")}
        want = exp.dh_histogram()
        check_equal(f"v_dh_sizes of crawl {crawl_id}", want, got)
    assert sum(views_db.Expected(DB.lab_b).dh_histogram().values()) > 0


def test_provider_shares_equal_truth():
    for crawl_id, exp in crawls():
        want = exp.providers()
        total = sum(want.values())
        got = {p: (int(n), float(pct)) for p, n, pct in
               rows(f"SELECT provider, domains, pct_domains FROM v_providers "
                    f"WHERE crawl_id = {crawl_id}")}
        check_equal(f"v_providers domains of crawl {crawl_id}", want,
                    {p: n for p, (n, _) in got.items()})
        for p, (n, pct) in got.items():
            assert abs(pct - round(100.0 * n / total, 2)) < 0.006, (p, n, pct)
        assert len(want) > 10 and "bigmail.lab.test" in want, sorted(want)[:20]


def test_changes_between_crawls_equal_truth():
    exp_a, exp_b = views_db.Expected(DB.lab_a), views_db.Expected(DB.lab_b)
    want = views_db.expected_changes(exp_a, exp_b)
    got = {tuple(r) for r in rows(f"SELECT unit, name, attribute, change FROM "
                                  f"mxcensus_changes({DB.crawl_a}, {DB.crawl_b})")}
    assert want == got, ("mxcensus_changes differs from the truth:\n  missing "
                         f"{sorted(want - got)[:20]}\n  unexpected {sorted(got - want)[:20]}")
    kinds = Counter((u, a, c) for u, _, a, c in want)
    for needed in (("domain", "starttls", "lost"), ("domain", "valid_cert", "lost"),
                   ("mx_host", "starttls", "lost")):
        assert kinds[needed] > 0, f"the drift produced no {needed}: {kinds}"
    assert kinds[("domain", "mta_sts", "gained")] + kinds[("domain", "mta_sts", "lost")] > 0
    # v_changes counts them against the previous finished crawl.
    summary = {(u, a): (int(g), int(lost)) for u, a, g, lost in
               rows(f"SELECT unit, attribute, gained, lost FROM v_changes "
                    f"WHERE crawl_id = {DB.crawl_b} AND previous_crawl_id = {DB.crawl_a}")}
    want_summary = {}
    for (u, a, c), n in kinds.items():
        g, lost = want_summary.get((u, a), (0, 0))
        want_summary[(u, a)] = (g + n, lost) if c == "gained" else (g, lost + n)
    check_equal("v_changes", want_summary, summary)


def test_starttls_failure_classes_equal_truth():
    # The lab profiles that offer STARTTLS and then fail, and the class each must get.
    classes = {"starttls_454": "refused", "tls_alert": "alert", "tls_garbage": "garbage"}
    for crawl_id, exp in crawls():
        want = Counter({c: 0 for c in ("refused", "alert", "timeout", "garbage", "closed")})
        for ip in exp.ips:
            prof = exp.hosts[ip]["profile"]
            if prof in classes:
                want[classes[prof]] += 1
        got = {c: int(n) for c, n in rows(f"SELECT failure_class, count FROM v_starttls_failures "
                                          f"WHERE crawl_id = {crawl_id} AND unit = 'ip'")}
        check_equal(f"v_starttls_failures of crawl {crawl_id}", want, got)


def test_every_view_readable_by_the_reader_role():
    views = [r[0] for r in rows("SELECT viewname FROM pg_views WHERE schemaname = 'public' "
                                "AND viewname LIKE 'v\\_%' ORDER BY 1")]
    assert len(views) >= 20, views
    for v in views:
        n = views_db.reader_query(DB.dsn, f"SELECT count(*) FROM {v}")
        assert int(n[0][0]) > 0, f"{v}: no rows as mxcensus_reader"
    n = views_db.reader_query(DB.dsn, f"SELECT count(*) FROM mxcensus_changes({DB.crawl_a}, "
                                      f"{DB.crawl_b})")
    assert int(n[0][0]) > 0
    # The role reads, and nothing else.
    try:
        views_db.reader_query(DB.dsn, "SELECT count(*) FROM crawl", read_only=False,
                              before="DELETE FROM crawl;")
    except e2e.Fail as e:
        assert "permission denied" in str(e), e
    else:
        raise AssertionError("mxcensus_reader could delete from crawl")


def test_series_has_one_row_per_crawl():
    got = rows("SELECT crawl_id, domains, pct_domains_starttls FROM v_crawl_series ORDER BY 1")
    assert [int(r[0]) for r in got] == [DB.crawl_a, DB.crawl_b], got
    for (crawl_id, exp), r in zip(crawls(), got):
        funnel = exp.funnel()
        assert int(r[1]) == funnel[("domain", "input")]
        want = round(100.0 * funnel[("domain", "handshake_ok")] / funnel[("domain", "has_mx")], 2)
        assert abs(float(r[2]) - want) < 0.006, (crawl_id, r, want)


def test_classifier_functions():
    """The rules that the views, the report and `advise` share (advise reads these functions'
    results instead of classifying again), on the cases that the lab does not produce."""
    def one(sql):
        return e2e.psql(DB.dsn, "SELECT " + sql).strip()

    software = {
        ("220 mx ESMTP Postfix (Debian/GNU)", "{}"): "postfix",
        ("220 mx ESMTP Exim 4.96 Sat, 28 Nov 2026", "{}"): "exim",
        ("220 mx ESMTP Sendmail 8.17.1/8.17.1; Sat", "{}"): "sendmail",
        ("220 mx Microsoft ESMTP MAIL Service ready", "{}"): "microsoft",
        ("220 mx ESMTP", '{mx,"X-EXPS GSSAPI NTLM"}'): "microsoft",
        ("220 mx ESMTP", '{mx,"X-EXPSX"}'): "other",
        ("220 mx ESMTP mxcensus-lab", "{mx,STARTTLS}"): "other",
    }
    for (banner, ehlo), want in software.items():
        got = one(f"mxcensus_mta_software('{banner}', '{ehlo}'::text[])")
        assert got == want, (banner, ehlo, got, want)
    assert one("mxcensus_mta_software(NULL, NULL)") == "unknown"
    verdicts = {
        ("true", "true", "NULL", "false"): "valid",
        ("true", "false", "NULL", "false"): "valid_name_mismatch",
        ("false", "true", "'self-signed certificate'", "true"): "self_signed",
        ("false", "true", "'self-signed certificate in certificate chain'", "false"):
            "untrusted_chain",
        ("false", "true", "'unable to get local issuer certificate'", "false"): "untrusted_chain",
        ("false", "true", "'certificate has expired'", "true"): "expired",
        ("false", "true", "'certificate is not yet valid'", "false"): "not_yet_valid",
        ("false", "true", "'CA signature digest algorithm too weak'", "false"):
            "weak_key_or_signature",
        ("false", "true", "'certificate revoked'", "false"): "other_invalid",
    }
    for (valid, name, err, self_signed), want in verdicts.items():
        got = one(f"mxcensus_cert_verdict({valid}, {name}, {err}, {self_signed}, 'ec', 256, "
                  f"'ecdsa-with-SHA256')")
        assert got == want, (err, got, want)


def main():
    global DB
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        DB = views_db.load_or_build(d)
        e2e.log(f"views: crawls {DB.crawl_a}, {DB.crawl_b} in {DB.dsn}")
        e2e.run_tests([test_funnel_counts_equal_truth, test_certificate_verdicts_equal_truth,
                       test_dh_histogram_equals_truth, test_provider_shares_equal_truth,
                       test_changes_between_crawls_equal_truth,
                       test_starttls_failure_classes_equal_truth,
                       test_every_view_readable_by_the_reader_role,
                       test_series_has_one_row_per_crawl, test_classifier_functions])


if __name__ == "__main__":
    main()
