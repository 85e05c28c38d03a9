"""The lab's authoritative DNS, queried with a real DNS client (dig, bind9-dnsutils): every
domain of a small world against its truth line, and every DNS case and protocol behaviour
(NXDOMAIN vs NODATA, SERVFAIL, silence, CNAME, null/implicit MX, multi-string TXT, TLSA, IPv6,
EDNS0 echo and BADVERS, TC + TCP fallback, REFUSED outside the zone).
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab_harness import Checks, Lab  # noqa: E402

BASE = "127.21.8.0"
DNS_PORT = 15363
C = Checks()


class Answer:
    def __init__(self, block):
        self.text = block
        m = re.search(r"status: (\w+)", block)
        self.status = m.group(1) if m else "TIMEOUT"
        m = re.search(r";; flags: ([a-z ]*);", block)
        self.flags = set(m.group(1).split()) if m else set()
        self.answer = self._section(block, "ANSWER")
        self.authority = self._section(block, "AUTHORITY")
        m = re.search(r"; EDNS: version: (\d+), flags:[a-z ]*; udp: (\d+)", block)
        self.edns = (int(m.group(1)), int(m.group(2))) if m else None

    @staticmethod
    def _section(block, name):
        m = re.search(r";; %s SECTION:\n(.*?)(?:\n\n|\Z)" % name, block, re.S)
        if not m:
            return []
        rrs = []
        for line in m.group(1).splitlines():
            parts = line.split(None, 4)
            if len(parts) == 5:
                rrs.append((parts[0].rstrip(".").lower(), parts[3], parts[4]))
        return rrs

    def rdata(self, rtype):
        return [r[2] for r in self.answer if r[1] == rtype]


def dig(*args):
    p = subprocess.run(["dig", "-p", str(DNS_PORT), "@127.0.0.1", "+norec", "+time=2",
                        "+tries=1"] + list(args), capture_output=True, text=True, timeout=30)
    return Answer(p.stdout)


def dig_batch(queries):
    """Runs many queries in one dig process; returns their answers in order."""
    with tempfile.NamedTemporaryFile("w", suffix=".dig", delete=False) as f:
        for q in queries:
            f.write(" ".join(q) + "\n")
        path = f.name
    try:
        p = subprocess.run(["dig", "-p", str(DNS_PORT), "@127.0.0.1", "+norec", "+time=2",
                            "+tries=1", "-f", path], capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(path)
    blocks = re.split(r"\n(?=; <<>> DiG )", "\n" + p.stdout)
    blocks = [b for b in blocks if b.strip()]
    C.check(len(blocks) == len(queries), "dig batch: %d answers for %d queries"
            % (len(blocks), len(queries)))
    return [Answer(b) for b in blocks]


def txt_join(rdata):
    """The character-strings of a TXT rdata as dig prints them, joined without separators."""
    return "".join(s.encode("latin-1").decode("unicode_escape")
                   for s in re.findall(r'"((?:[^"\\]|\\.)*)"', rdata))


def expect_txt(ans, prefix, want, what):
    got = [txt_join(r) for r in ans.rdata("TXT")]
    got = [g for g in got if g.startswith(prefix)]
    if want is None:
        C.check(got == [] and ans.status in ("NOERROR", "NXDOMAIN"), "%s: no record" % what)
    else:
        C.check(got == [want], "%s: %r, truth %r" % (what, got, want))


def check_all_domains(domains):
    queries, plan = [], []
    for d in domains:
        name, st = d["domain"], d["status"]
        if st == "timeout":
            continue  # checked once below; every query would wait for the timeout
        queries.append((name, "MX"))
        plan.append(("mx", d, None))
        if st in ("ok", "null_mx"):
            for sub, key, prefix in (("", "spf", "v=spf1"), ("_dmarc.", "dmarc", "v=DMARC1"),
                                     ("_mta-sts.", "mta_sts", "v=STSv1"),
                                     ("_smtp._tls.", "tls_rpt", "v=TLSRPTv1")):
                queries.append(("+tcp", sub + name, "TXT"))  # TCP: big TXT sets fit
                plan.append(("txt", d, (key, prefix)))
        for m in d["mx"]:
            for t in ("A", "AAAA"):
                queries.append((m["name"], t))
                plan.append((t, d, m))
            queries.append(("_25._tcp." + m["name"], "TLSA"))
            plan.append(("TLSA", d, m))
    answers = dig_batch(queries)
    for (kind, d, extra), ans in zip(plan, answers):
        name, st = d["domain"], d["status"]
        if kind == "mx":
            mx = sorted(ans.rdata("MX"))
            if st in ("nxdomain", "servfail"):
                C.check(ans.status == st.upper() and not ans.answer, "%s: %s" % (name, st))
                if st == "nxdomain":
                    C.check([r[1] for r in ans.authority] == ["SOA"], "%s: SOA in NXDOMAIN" % name)
            elif st == "null_mx":
                C.check(mx == ["0 ."], "%s: null MX %r" % (name, mx))
            elif d["implicit_mx"] or st == "no_mx":
                C.check(ans.status == "NOERROR" and not ans.answer and
                        [r[1] for r in ans.authority] == ["SOA"], "%s: MX NODATA" % name)
            else:
                want = sorted("%d %s." % (m["preference"], m["name"]) for m in d["mx"])
                if st == "no_address":
                    C.check(len(mx) >= 1 and "aa" in ans.flags, "%s: MX names without address"
                            % name)
                else:
                    C.check(mx == want and "aa" in ans.flags, "%s: MX %r, truth %r"
                            % (name, mx, want))
        elif kind == "txt":
            key, prefix = extra
            expect_txt(ans, prefix, d["policy"][key], "%s %s" % (name, key))
        elif kind in ("A", "AAAA"):
            m = extra
            got = sorted(ans.rdata(kind))
            want = sorted(m["ipv4"] if kind == "A" else m["ipv6"])
            C.check(got == want, "%s %s %s: %r, truth %r" % (name, m["name"], kind, got, want))
            if m["cname"]:
                C.check(ans.rdata("CNAME") == [m["cname"] + "."],
                        "%s: %s is a CNAME to %s" % (name, m["name"], m["cname"]))
            if m["status"] == "no_address" and kind == "A":
                C.check(ans.status in ("NXDOMAIN", "NOERROR") and not ans.answer,
                        "%s: %s has no address" % (name, m["name"]))
        elif kind == "TLSA":
            m = extra
            got = sorted(ans.rdata("TLSA"))
            want = sorted("%d %d %d %s" % (t["usage"], t["selector"], t["matching_type"],
                                           t["data"].upper()) for t in m["tlsa"])
            got = sorted(re.sub(r"\s+", " ", g).upper().replace(" ", "", 0) for g in got)
            got = [" ".join(g.split()[:3]) + " " + "".join(g.split()[3:]) for g in got]
            if not m["cname"]:
                C.check(got == want, "%s TLSA of %s: %r, truth %r" % (name, m["name"], got, want))


def check_cases(domains, hosts):
    by_status = {}
    for d in domains:
        by_status.setdefault(d["status"], d)
    for st in ("ok", "null_mx", "nxdomain", "servfail", "timeout", "no_address", "no_mx"):
        C.check(st in by_status, "a domain with status %s exists" % st)
    # Silence for a "times out" name, also over TCP.
    t = by_status["timeout"]["domain"]
    a = dig(t, "MX")
    C.check(a.status == "TIMEOUT" and "timed out" in a.text, "timeout domain: no answer (UDP)")
    a = dig("+tcp", t, "MX")
    C.check(a.status == "TIMEOUT", "timeout domain: no answer (TCP)")
    # SERVFAIL under the name too.
    s = by_status["servfail"]["domain"]
    C.check(dig("x." + s, "A").status == "SERVFAIL", "SERVFAIL below a SERVFAIL domain")
    # Empty non-terminal vs nonexistent.
    ent = dig("p1.lab.test", "A")
    C.check(ent.status == "NOERROR" and not ent.answer and ent.authority
            and ent.authority[0][1] == "SOA", "empty non-terminal: NODATA with SOA")
    nx = dig("nothing-here.p1.lab.test", "A")
    C.check(nx.status == "NXDOMAIN" and nx.authority and nx.authority[0][1] == "SOA",
            "nonexistent name: NXDOMAIN with SOA")
    # Outside the zone: REFUSED, not authoritative.
    out = dig("example.com", "A")
    C.check(out.status == "REFUSED" and "aa" not in out.flags, "outside lab.test: REFUSED")
    # Apex records.
    C.check(dig("lab.test", "SOA").rdata("SOA")[:1] != [], "apex SOA")
    C.check(dig("lab.test", "NS").rdata("NS") == ["ns.lab.test."], "apex NS")
    # EDNS0: the OPT is echoed with our payload size; version 1 gets BADVERS.
    first = domains[0]["domain"]
    e = dig("+edns=0", first, "MX")
    C.check(e.edns == (0, 1232), "EDNS0 OPT echoed (%r)" % (e.edns,))
    bad = dig("+edns=1", "+noednsneg", first, "MX")
    C.check(bad.status == "BADVERS", "EDNS version 1: BADVERS (got %s)" % bad.status)
    noedns = dig("+noedns", first, "MX")
    C.check(noedns.edns is None and noedns.answer, "no EDNS in the query, none in the answer")
    # Case-insensitive lookup, question echoed as sent.
    up = dig(first.upper(), "MX")
    C.check(sorted(up.rdata("MX")) == sorted(dig(first, "MX").rdata("MX")) and up.answer,
            "names are case-insensitive")
    # Truncation: a TXT RRset over 512 octets without EDNS sets TC; TCP gets it all.
    big = None
    for d in domains:
        a = dig("+tcp", d["domain"], "TXT")
        if a.status == "NOERROR" and len(a.text) and sum(len(r[2]) for r in a.answer) > 600:
            big = (d["domain"], a)
            break
    C.check(big is not None, "a domain with a TXT RRset over 512 octets exists")
    if big:
        name, full = big
        tc = dig("+noedns", "+ignore", name, "TXT")
        C.check("tc" in tc.flags and not tc.answer, "big TXT over UDP without EDNS: TC set")
        fallback = dig("+noedns", name, "TXT")  # dig retries over TCP on TC
        C.check(sorted(fallback.rdata("TXT")) == sorted(full.rdata("TXT")),
                "big TXT: dig's TCP fallback gets the whole RRset")
        edns = dig("+bufsize=1232", name, "TXT")
        C.check("tc" not in edns.flags and len(edns.answer) == len(full.answer),
                "big TXT fits the 1232-octet EDNS payload")
    # Multi-string TXT (a split SPF or DMARC record) is served as several strings.
    split = None
    for d in domains:
        for sub, key in (("_dmarc.", "dmarc"), ("", "spf")):
            if d["policy"][key]:
                a = dig(sub + d["domain"], "TXT")
                for r in a.rdata("TXT"):
                    if r.count('"') >= 4 and txt_join(r) == d["policy"][key]:
                        split = r
        if split:
            break
    C.check(split is not None, "a multi-string TXT record exists and joins to the truth")
    # MX -> CNAME: asking for the CNAME itself returns only the CNAME.
    cn = next((m for d in domains for m in d["mx"] if m["cname"]), None)
    C.check(cn is not None, "an MX name that is a CNAME exists")
    if cn:
        a = dig(cn["name"], "CNAME")
        C.check(a.rdata("CNAME") == [cn["cname"] + "."] and not a.rdata("A"), "CNAME query")
    # IPv6 data, TLSA present somewhere.
    C.check(any(m["ipv6"] for d in domains for m in d["mx"]), "some MX has an AAAA record")
    C.check(any(m["tlsa"] for d in domains for m in d["mx"]), "some MX has TLSA records")
    C.check(any(d["implicit_mx"] for d in domains), "some domain has an implicit MX")
    shared = {}
    for d in domains:
        for m in d["mx"]:
            shared[m["name"]] = shared.get(m["name"], 0) + 1
    C.check(max(shared.values()) >= 10, "one provider's MX is shared by many domains")
    # The host names of targets.csv resolve to their addresses.
    answers = dig_batch([(h["name"], "A") for h in hosts])
    for h, a in zip(hosts, answers):
        C.check(a.rdata("A") == [h["ip"]], "host %s A %s" % (h["name"], h["ip"]))


def main():
    with Lab(hosts=60, seed=12, base=BASE, dns_port=DNS_PORT) as lab:
        hosts, domains = lab.truth()
        check_all_domains(domains)
        check_cases(domains, hosts)
    C.finish("lab_dns")


if __name__ == "__main__":
    main()
