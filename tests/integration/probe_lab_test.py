#!/usr/bin/env python3
"""mxcensus probe against a 2,000-host lab, scored host by host against the lab's truth.jsonl.

Every host must get exactly its truth outcome, stage, helo_fallback, pipelined_after_starttls
and every TLS fact the truth lists (leaf_sha256 against tls.leaf.sha256). On failure the test
prints the confusion table (truth outcome x got outcome) and the first mismatches.
"""
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("MXCENSUS_BIN") or sys.exit("MXCENSUS_BIN not set")
HOSTS = 2000
LAB_ARGS = ["--hosts", str(HOSTS), "--seed", "7", "--base", "127.30.0.0", "--port", "2525",
            "--dns", "127.0.0.1:25353"]
READY_TIMEOUT_S = 120


def start_lab(out_dir, log_path):
    # Output goes to a file, never to a pipe nobody drains (a full pipe would stall the lab).
    log = open(log_path, "w")
    lab = subprocess.Popen([BIN, "lab", *LAB_ARGS, "--out", out_dir], stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + READY_TIMEOUT_S
    while time.time() < deadline:
        with open(log_path) as f:
            text = f.read()
        if any(line.startswith("ready") for line in text.splitlines()):
            return lab
        if lab.poll() is not None:
            sys.exit("FAIL: the lab exited early:\n" + text)
        time.sleep(0.1)
    stop_lab(lab)
    sys.exit("FAIL: the lab was not ready after %d s" % READY_TIMEOUT_S)


def stop_lab(lab):
    if lab.poll() is None:
        try:
            os.killpg(lab.pid, signal.SIGTERM)  # the group this test created for it
            lab.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(lab.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            lab.wait()


def score(truth_path, results_text):
    truth = {}
    for line in open(truth_path):
        t = json.loads(line)
        if t["kind"] == "host":
            truth[(t["ip"], t["port"])] = t
    got = {}
    problems = []
    for n, line in enumerate(results_text.splitlines(), 1):
        r = json.loads(line)
        key = (r["ip"], r["port"])
        if key in got:
            problems.append("duplicate result for %s:%d" % key)
        got[key] = r
    if len(truth) != HOSTS:
        problems.append("truth has %d hosts, expected %d" % (len(truth), HOSTS))
    confusion = collections.Counter()
    mismatches = []
    for key, t in sorted(truth.items()):
        r = got.get(key)
        if r is None:
            mismatches.append("%s:%d (%s): no result" % (key[0], key[1], t["profile"]))
            continue
        confusion[(t["outcome"], r["outcome"])] += 1
        diffs = []
        for field in ("outcome", "stage", "helo_fallback", "pipelined_after_starttls"):
            if t[field] != r[field]:
                diffs.append("%s: want %r got %r" % (field, t[field], r[field]))
        if t["tls"] is None:
            if r["tls"] is not None:
                diffs.append("tls: want null got an object")
        else:
            rt = r["tls"] or {}
            for k, want in t["tls"].items():
                have = (rt.get("leaf") or {}).get("sha256") if k == "leaf_sha256" else rt.get(k)
                if have != want:
                    diffs.append("tls.%s: want %r got %r" % (k, want, have))
        if diffs:
            mismatches.append("%s:%d %s (%s): %s; error=%r" % (
                key[0], key[1], t["name"], t["profile"], "; ".join(diffs), r.get("error")))
    extra = set(got) - set(truth)
    if extra:
        problems.append("%d results for hosts not in the truth" % len(extra))
    return confusion, mismatches, problems


def print_confusion(confusion):
    outcomes = sorted({a for a, _ in confusion} | {b for _, b in confusion})
    width = max(len(o) for o in outcomes)
    print("confusion (rows: truth outcome, columns: got outcome)")
    print(" " * (width + 2) + " ".join("%6s" % o[:6] for o in outcomes))
    for a in outcomes:
        print("%-*s  " % (width, a) + " ".join("%6s" % (confusion.get((a, b), "") or ".")
                                               for b in outcomes))


def main():
    work = tempfile.mkdtemp(prefix="mxc-probe-lab-")
    os.chmod(work, 0o755)
    lab_dir = os.path.join(work, "lab")
    os.mkdir(lab_dir)
    work, log_path = lab_dir, os.path.join(work, "lab.log")
    lab = None
    try:
        lab = start_lab(work, log_path)
        t0 = time.time()
        probe = subprocess.run(
            [BIN, "probe", os.path.join(work, "targets.csv"), "--port", "2525", "--allow-private",
             "--ca-file", os.path.join(work, "ca.pem"), "--banner-timeout", "4s",
             "--connect-timeout", "4s", "--command-timeout", "8s", "--tls-timeout", "8s",
             "--ehlo", "probe.mxcensus.test", "--threads", "2", "--concurrency", "1000",
             "--rate", "5000", "--per-prefix", "64", "--no-progress"],
            capture_output=True, text=True, timeout=300)
        elapsed = time.time() - t0
        sys.stderr.write(probe.stderr)
        if probe.returncode != 0:
            sys.exit("FAIL: mxcensus probe exited %d" % probe.returncode)
        confusion, mismatches, problems = score(os.path.join(work, "truth.jsonl"), probe.stdout)
        print("probed %d hosts in %.1f s" % (sum(confusion.values()), elapsed))
        if mismatches or problems:
            print_confusion(confusion)
            for p in problems:
                print("PROBLEM:", p)
            print("%d of %d hosts mismatch; the first ones:" % (len(mismatches), HOSTS))
            for m in mismatches[:25]:
                print("  " + m)
            sys.exit(1)
        print("PASS: all %d hosts match their truth (outcome, stage, flags, TLS facts)" % HOSTS)
    finally:
        if lab is not None:
            stop_lab(lab)
        shutil.rmtree(os.path.dirname(work), ignore_errors=True)


if __name__ == "__main__":
    main()
