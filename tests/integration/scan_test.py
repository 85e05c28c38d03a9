"""`mxcensus scan` on a 2,000-host lab with the embedded database (no --db): the crawl finishes
and the headline numbers it prints equal those computed from the lab's truth."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import e2e  # noqa: E402

LAB_BASE, DNS_PORT = "127.53.0.0", 25853


def expected_headline(lab_dir):
    hosts, domains = e2e.load_truth(lab_dir)
    with_mx = all_tls = all_valid = 0
    for d in domains.values():
        if d["status"] != "ok":
            continue
        with_mx += 1
        truths = [hosts[(ip, 2525)] for m in d["mx"] for ip in m["ipv4"] if (ip, 2525) in hosts]
        if truths and all(t["outcome"] == "starttls_ok" for t in truths):
            all_tls += 1
            if all(t["tls"]["chain_valid"] and t["tls"]["name_match"] for t in truths):
                all_valid += 1
    return len(domains), with_mx, all_tls, all_valid


def test_scan_with_embedded_database_prints_true_headline():
    with tempfile.TemporaryDirectory() as d, e2e.Procs() as procs:
        os.chmod(d, 0o755)
        e2e.start_lab(procs, 2000, 13, LAB_BASE, DNS_PORT, d)
        env = dict(os.environ, MXCENSUS_HOME=os.path.join(d, "home"), MXCENSUS_DB="")
        args = [e2e.MX, "scan", os.path.join(d, "domains.txt"), "--port", "2525",
                "--allow-private", "--ca-file", os.path.join(d, "ca.pem"),
                "--resolver", f"127.0.0.1:{DNS_PORT}", "--banner-timeout", "4s",
                "--command-timeout", "4s", "--tls-timeout", "4s", "--rate", "0",
                "--per-prefix", "0", "--concurrency", "800", "--quiet"]
        try:
            r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
        finally:
            subprocess.run([e2e.MX, "db", "stop"], env=env, capture_output=True)
        assert r.returncode == 0, r.stderr[-2000:]
        total, with_mx, all_tls, all_valid = expected_headline(d)
        out = r.stdout
        m = re.search(r"crawl \d+: (\d+) domains", out)
        assert m and int(m.group(1)) == total, out
        for label, want in (("domains with MX", with_mx), ("every MX offers STARTTLS", all_tls),
                            ("valid chains matching", all_valid)):
            line = next((ln for ln in out.splitlines() if label in ln), "")
            got = re.search(r"\s(\d+)\s+\d+\.\d%", line)
            assert got and int(got.group(1)) == want, f"{label}: want {want} in: {line!r}\n{out}"


if __name__ == "__main__":
    e2e.run_tests([test_scan_with_embedded_database_prints_true_headline])
