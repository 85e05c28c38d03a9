#!/usr/bin/env python3
"""`mxcensus resolve` against the lab's authoritative DNS: every domain of a 5,000-domain world
must match its truth line exactly (all fields but resolved_at, rank and error). Prints every
mismatch. The lab is stopped at the end, also on failure."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("MXCENSUS_BIN", "build/mxcensus")
DNS = "127.0.0.1:25453"
IGNORED = ("kind", "resolved_at", "rank", "error")


def load(path, want_kind=None):
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            j = json.loads(line)
            if want_kind is not None and j.get("kind") != want_kind:
                continue
            d = j["domain"]
            for k in IGNORED:
                j.pop(k, None)
            if d in out:
                raise AssertionError(f"{path}:{n}: {d} appears twice")
            out[d] = j
    return out


def main():
    work = tempfile.mkdtemp(prefix="mxcensus-resolve-lab.")
    lab = None
    try:
        lab = subprocess.Popen(
            [BIN, "lab", "--hosts", "2500", "--seed", "11", "--base", "127.40.0.0", "--dns", DNS,
             "--out", work],
            stdout=subprocess.PIPE, stderr=open(os.path.join(work, "lab.err"), "w"), text=True)
        deadline = time.time() + 120
        ready = ""
        while time.time() < deadline:
            ready = lab.stdout.readline()
            if ready.startswith("ready") or not ready:
                break
        if not ready.startswith("ready"):
            sys.exit("lab did not become ready:\n" + open(os.path.join(work, "lab.err")).read())
        out = os.path.join(work, "resolve.jsonl")
        started = time.time()
        r = subprocess.run(
            [BIN, "resolve", os.path.join(work, "domains.txt"), "--resolver", DNS, "--timeout",
             "500", "--tries", "2", "--out", out, "--progress", "never"],
            capture_output=True, text=True, timeout=300)
        took = time.time() - started
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            sys.exit(f"resolve exited {r.returncode}")
        truth = load(os.path.join(work, "truth.jsonl"), "domain")
        got = load(out)
        if len(truth) < 4900:
            sys.exit(f"the lab world has only {len(truth)} domains")
        bad = 0
        for d, want in sorted(truth.items()):
            have = got.get(d)
            if have != want:
                bad += 1
                print(f"MISMATCH {d}\n  truth: {json.dumps(want, sort_keys=True)}\n"
                      f"  got:   {json.dumps(have, sort_keys=True)}")
        extra = sorted(set(got) - set(truth))
        for d in extra:
            print(f"EXTRA {d}")
        statuses = {}
        for j in truth.values():
            statuses[j["status"]] = statuses.get(j["status"], 0) + 1
        print(f"resolve_lab: {len(truth)} domains in {took:.1f} s, {len(truth) - bad} match, "
              f"{bad} differ, {len(extra)} extra; truth statuses {statuses}")
        # Every DNS state of the lab's catalogue must have been exercised.
        for s in ("ok", "nxdomain", "servfail", "timeout", "no_mx", "null_mx", "no_address"):
            if statuses.get(s, 0) == 0:
                sys.exit(f"the lab world has no '{s}' domain: the test would not cover it")
        if bad or extra:
            sys.exit(1)
    finally:
        if lab is not None and lab.poll() is None:
            lab.send_signal(signal.SIGTERM)
            try:
                lab.wait(timeout=20)
            except subprocess.TimeoutExpired:
                lab.kill()
                lab.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
