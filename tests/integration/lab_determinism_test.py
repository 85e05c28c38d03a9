"""Same --hosts/--seed/--mix give the same world: identical truth.jsonl and targets.csv when the
lab runs twice in the same DIR (certificates reused), and the same world up to key-dependent
values (leaf_sha256, TLSA data) in a fresh DIR; served certificate subjects are the same. Also
--mix files and bad input."""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab_harness import Checks, Lab, mxcensus_bin  # noqa: E402

BASE = "127.21.16.0"
DNS_PORT = 15373
C = Checks()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def without_key_material(truth):
    out = []
    for line in truth.decode().splitlines():
        j = json.loads(line)
        if j["kind"] == "host" and j["tls"] and "leaf_sha256" in j["tls"]:
            j["tls"]["leaf_sha256"] = "-"
        if j["kind"] == "domain":
            for m in j["mx"]:
                for t in m["tlsa"]:
                    t["data"] = "-"
        out.append(json.dumps(j, sort_keys=True))
    return out


def served_subjects(lab, hosts, n=6):
    """The subject of the leaf served by the first n TLS hosts (openssl x509 on the DER)."""
    subjects = []
    for h in hosts:
        if not (h["tls"] and h["tls"]["handshake_complete"]) or h["tls"]["dh_bits"] == 512:
            continue
        if h["profile"] == "slow_banner":
            continue
        s = socket.create_connection((h["ip"], h["port"]), timeout=5)
        f = s.makefile("rb")
        line = f.readline()
        while line[3:4] == b"-":
            line = f.readline()
        s.sendall(b"EHLO t.lab.test\r\n")
        line = f.readline()
        while line[3:4] == b"-":
            line = f.readline()
        s.sendall(b"STARTTLS\r\n")
        f.readline()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        tls = ctx.wrap_socket(s, server_hostname=h["name"])
        der = tls.getpeercert(binary_form=True)
        tls.close()
        p = subprocess.run(["openssl", "x509", "-noout", "-subject", "-ext", "subjectAltName"],
                           input=ssl.DER_cert_to_PEM_cert(der), capture_output=True, text=True)
        subjects.append((h["ip"], p.stdout.strip()))
        if len(subjects) == n:
            break
    return subjects


def run(out, seed=5, extra=()):
    with Lab(hosts=300, seed=seed, base=BASE, dns_port=DNS_PORT, out=out, extra=extra) as lab:
        hosts, _ = lab.truth()
        subjects = served_subjects(lab, hosts)
        err = lab.stderr()
    return (read(os.path.join(out, "truth.jsonl")), read(os.path.join(out, "targets.csv")),
            read(os.path.join(out, "domains.txt")), subjects, err)


def lab_cli(args):
    return subprocess.run([mxcensus_bin(), "lab"] + args, capture_output=True, text=True,
                          timeout=60)


def main():
    tmp = tempfile.mkdtemp(prefix="mxlab-det-")
    try:
        d1, d2, d3 = (os.path.join(tmp, x) for x in ("one", "two", "three"))
        t1, c1, n1, s1, e1 = run(d1)
        t2, c2, n2, s2, e2 = run(d1)
        C.check("issued" in e1 and "reused" in e2, "first start issues, second reuses leaves")
        C.check(t1 == t2, "same DIR, same seed: identical truth.jsonl")
        C.check(c1 == c2 and n1 == n2, "same DIR, same seed: identical targets.csv, domains.txt")
        C.check(s1 == s2 and len(s1) == 6, "same DIR: same served certificates' subjects")
        t3, c3, n3, s3, _ = run(d2)
        C.check(c1 == c3 and n1 == n3, "fresh DIR, same seed: identical targets.csv, domains.txt")
        C.check(without_key_material(t1) == without_key_material(t3),
                "fresh DIR, same seed: identical truth except leaf_sha256 and TLSA data")
        C.check(t1 != t3, "fresh DIR: new keys, new leaf hashes")
        C.check(s1 == s3, "fresh DIR: same served certificates' subjects and names")
        t4, c4, _, _, _ = run(d3, seed=6)
        C.check(t4 != t1 and without_key_material(t4) != without_key_material(t1),
                "another seed, another world")
        C.check(len(t1.splitlines()) == 300 + 600, "300 host lines + 600 domain lines")
        C.check(len(c1.splitlines()) == 300, "targets.csv has one line per host")
        first = c1.decode().splitlines()[0]
        C.check(first.startswith("127.21.16.1,"), "host 0 is at base+1 (%s)" % first)

        # A --mix file decides the profiles (and nothing with weight 0 appears).
        mix = os.path.join(tmp, "mix.txt")
        with open(mix, "w") as f:
            f.write("# healthy hosts and tarpits only\nmodern_tls13 9\n\ntarpit 1  # slow\n")
        d4 = os.path.join(tmp, "mix")
        with Lab(hosts=200, seed=5, base=BASE, dns_port=DNS_PORT, out=d4,
                 extra=("--mix", mix, "--domains", "50")) as lab:
            hosts, domains = lab.truth()
        profiles = {h["profile"] for h in hosts}
        C.check(profiles == {"modern_tls13", "tarpit"}, "mix: only the weighted profiles (%s)"
                % sorted(profiles))
        tarpits = sum(h["profile"] == "tarpit" for h in hosts)
        C.check(5 <= tarpits <= 45, "mix: about 10%% tarpits (%d of 200)" % tarpits)
        C.check(len(domains) == 50, "--domains 50")

        # Bad input: one line naming the problem, exit 2.
        bad = os.path.join(tmp, "bad.txt")
        with open(bad, "w") as f:
            f.write("modern_tls13 5\nno_such_profile 3\n")
        p = lab_cli(["--hosts", "10", "--out", os.path.join(tmp, "x"), "--mix", bad])
        C.check(p.returncode == 2 and "bad.txt:2: unknown profile 'no_such_profile'" in p.stderr
                and p.stderr.count("\n") == 1, "bad mix file: %r" % p.stderr)
        p = lab_cli(["--hosts", "10", "--out", os.path.join(tmp, "x"), "--base", "10.0.0.0"])
        C.check(p.returncode == 2 and "--base" in p.stderr, "--base outside 127/8: %r" % p.stderr)
        p = lab_cli(["--hosts", "10", "--out", os.path.join(tmp, "x"), "--base", "127.255.255.250"])
        C.check(p.returncode == 2 and "127.0.0.0/8" in p.stderr, "hosts beyond 127/8: %r"
                % p.stderr)
        # The DNS address in use: an error, the children are stopped, nothing is left running.
        blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        blocker.bind(("127.0.0.1", DNS_PORT))
        p = lab_cli(["--hosts", "10", "--out", os.path.join(tmp, "x"), "--base", BASE,
                     "--dns", "127.0.0.1:%d" % DNS_PORT])
        blocker.close()
        C.check(p.returncode == 2 and "address already in use" in p.stderr and
                "ready" not in p.stdout, "DNS port in use: %r" % p.stderr)
        # An SMTP address in use (another lab on the same base): error, exit 2.
        with Lab(hosts=20, seed=5, base=BASE, dns_port=DNS_PORT, out=os.path.join(tmp, "y")):
            p = lab_cli(["--hosts", "20", "--out", os.path.join(tmp, "z"), "--base", BASE,
                         "--dns", "127.0.0.1:%d" % (DNS_PORT + 1)])
            C.check(p.returncode == 2 and "cannot listen on 127.21.16." in p.stderr,
                    "SMTP address in use: %r" % p.stderr)
        # Ctrl-C reaches the whole process group: a clean stop, exit 0, no error line.
        p = subprocess.Popen([mxcensus_bin(), "lab", "--hosts", "30", "--out",
                              os.path.join(tmp, "c"), "--base", BASE, "--dns",
                              "127.0.0.1:%d" % DNS_PORT], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            ready = p.stdout.readline()
            os.killpg(p.pid, signal.SIGINT)
            _, err = p.communicate(timeout=15)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        C.check(ready.startswith("ready ") and p.returncode == 0 and "error" not in err,
                "SIGINT to the process group: exit %s, %r" % (p.returncode, err[-200:]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    C.finish("lab_determinism")


if __name__ == "__main__":
    main()
