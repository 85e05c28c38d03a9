"""Every host profile of `mxcensus lab`, checked with clients that are not mxcensus's prober:
raw sockets, Python's ssl and smtplib, and `openssl s_client -starttls smtp`.

The expected behaviour is the catalogue (docs/lab.md); the expected facts are the lab's own
truth.jsonl, so this also proves the truth describes what is served.
"""
import hashlib
import os
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab_harness import Checks, Lab  # noqa: E402

BASE = "127.21.0.0"
DNS_PORT = 15353
C = Checks()


class Smtp:
    """A minimal SMTP client on a raw socket with bounded reads."""

    def __init__(self, ip, port, timeout=5.0):
        self.sock = socket.create_connection((ip, port), timeout=timeout)
        self.buf = bytearray()

    def reply(self, limit=1 << 16):
        lines = []
        while True:
            while b"\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError("closed after %r" % bytes(self.buf[:200]))
                self.buf += data
                if len(self.buf) > limit:
                    raise ValueError("reply over %d bytes" % limit)
            line, _, rest = bytes(self.buf).partition(b"\n")
            self.buf = bytearray(rest)
            text = line.rstrip(b"\r").decode("latin-1")
            lines.append(text)
            if len(text) < 4 or text[3] == " ":
                return int(text[:3]), lines

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.sock.close()


def eof_within(sock, seconds):
    sock.settimeout(seconds)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (socket.timeout, TimeoutError):
        return False
    except ConnectionResetError:
        return True


def s_client(ip, name, extra=()):
    args = ["openssl", "s_client", "-starttls", "smtp", "-connect", "%s:2525" % ip,
            "-servername", name, "-name", "client.lab.test"] + list(extra)
    p = subprocess.run(args, input="QUIT\n", capture_output=True, text=True, timeout=20)
    return p.stdout + p.stderr


def tls_context(lab, verify):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    if verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(lab.path("ca.pem"))
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def starttls_session(lab, h, injected=False):
    """EHLO, STARTTLS, handshake, EHLO inside TLS, QUIT. Returns (version, leaf DER)."""
    s = Smtp(h["ip"], h["port"])
    code, _ = s.reply()
    C.check(code == 220, "%s: greeting 220" % h["profile"])
    code, lines = s.cmd("EHLO client.lab.test")
    C.check(code == 250 and any(l[4:].upper() == "STARTTLS" for l in lines),
            "%s: EHLO offers STARTTLS" % h["profile"])
    s.sock.sendall(b"STARTTLS\r\n")
    if injected:
        time.sleep(0.2)
        code, _ = s.reply()
        extra = bytes(s.buf)
        s.sock.settimeout(0.3)
        try:
            extra += s.sock.recv(4096)
        except (socket.timeout, TimeoutError):
            pass
        s.sock.settimeout(5)
        C.check(code == 220 and extra == b"250 injected\r\n",
                "starttls_injection: bytes after the 220: %r" % extra)
    else:
        code, _ = s.reply()
        C.check(code == 220 and not s.buf, "%s: 220 to STARTTLS, nothing after" % h["profile"])
    tls = tls_context(lab, False).wrap_socket(s.sock, server_hostname=h["name"])
    version = tls.version()
    der = tls.getpeercert(binary_form=True)
    s.sock = tls
    s.buf = bytearray()
    code, lines = s.cmd("EHLO client.lab.test")
    C.check(code == 250 and not any(l[4:].upper() == "STARTTLS" for l in lines),
            "%s: EHLO inside TLS, no STARTTLS" % h["profile"])
    code, _ = s.cmd("QUIT")
    C.check(code == 221, "%s: 221 to QUIT inside TLS" % h["profile"])
    s.close()
    return version, der


def verify_result(lab, h):
    """(chain_valid, verify_error) as OpenSSL's verification (first error) sees the chain."""
    with smtplib.SMTP(h["ip"], h["port"], timeout=5) as m:
        m.ehlo("client.lab.test")
        try:
            m.starttls(context=tls_context(lab, True))
            return True, None
        except ssl.SSLCertVerificationError as e:
            return False, e.verify_message


def name_match(der, name):
    pem = ssl.DER_cert_to_PEM_cert(der)
    p = subprocess.run(["openssl", "x509", "-noout", "-checkhost", name], input=pem,
                       capture_output=True, text=True, timeout=10)
    return "does match" in p.stdout


def check_tls_profile(lab, h):
    t = h["tls"]
    prof = h["profile"]
    out = s_client(h["ip"], h["name"], ["-cipher", "ALL:@SECLEVEL=0"] +
                   (["-tls1"] if t["version"] == "TLSv1" else []) +
                   (["-msg"] if t["dh_bits"] == 512 else []))
    if t["dh_bits"] == 512:
        # OpenSSL clients refuse < 80 security bits even at level 0: the server did offer DHE
        # with a 512-bit prime (the p length in the ServerKeyExchange is 64 octets).
        C.check("dh key too small" in out, "dhe_512: s_client sees a too small DH key")
        m = re.search(r"ServerKeyExchange\n\s+0c [0-9a-f]{2} [0-9a-f]{2} [0-9a-f]{2} "
                      r"([0-9a-f]{2}) ([0-9a-f]{2})", out)
        C.check(m is not None and int(m.group(1) + m.group(2), 16) * 8 == 512,
                "dhe_512: ServerKeyExchange p is 512 bits")
        return
    C.check("Protocol  : %s" % t["version"] in out or "Protocol: %s" % t["version"] in out
            or re.search(r"New, %s," % re.escape(t["version"]), out) is not None,
            "%s: s_client negotiates %s" % (prof, t["version"]))
    if t["group"]:
        C.check(re.search(r"Server Temp Key: %s," % t["group"], out, re.I) is not None,
                "%s: key exchange group %s" % (prof, t["group"]))
    if t["dh_bits"]:
        C.check("Server Temp Key: DH, %d bits" % t["dh_bits"] in out,
                "%s: DH group of %d bits" % (prof, t["dh_bits"]))
    chain_len = out.count("-----BEGIN CERTIFICATE-----")
    if "-showcerts" in out:
        pass
    version, der = starttls_session(lab, h, injected=h["pipelined_after_starttls"])
    C.check(version == t["version"], "%s: Python negotiates %s (got %s)"
            % (prof, t["version"], version))
    C.check(hashlib.sha256(der).hexdigest() == t["leaf_sha256"], "%s: leaf sha256" % prof)
    valid, err = verify_result(lab, h)
    C.check(valid == t["chain_valid"] and err == t["verify_error"],
            "%s: verification %s/%r, truth %s/%r" % (prof, valid, err, t["chain_valid"],
                                                     t["verify_error"]))
    C.check(name_match(der, h["name"]) == t["name_match"], "%s: name match" % prof)
    del chain_len


def chain_length(h):
    out = s_client(h["ip"], h["name"], ["-showcerts"])
    return out.count("-----BEGIN CERTIFICATE-----")


def check_plain_profile(lab, h):
    prof, ip, port = h["profile"], h["ip"], h["port"]
    if prof == "connect_refused":
        try:
            socket.create_connection((ip, port), timeout=3).close()
            C.check(False, "connect_refused: connection accepted")
        except ConnectionRefusedError:
            C.check(True, "")
        return
    if prof == "tarpit":
        s = socket.create_connection((ip, port), timeout=5)
        C.check(not eof_within(s, 3.0), "tarpit: silent and open for 3 s")
        s.close()
        return
    if prof == "http":
        s = socket.create_connection((ip, port), timeout=5)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        C.check(data.startswith(b"HTTP/1.1 400 Bad Request\r\n"), "http: HTTP response")
        s.close()
        return
    s = Smtp(ip, port)
    t0 = time.monotonic()
    code, lines = s.reply()
    waited = time.monotonic() - t0
    if prof in ("banner_421", "banner_554"):
        C.check(code == int(prof[-3:]), "%s: greeting code %d" % (prof, code))
        if prof == "banner_421":
            C.check(eof_within(s.sock, 3), "banner_421: server closes")
        else:
            code, _ = s.cmd("EHLO client.lab.test")
            C.check(code == 503, "banner_554: 503 to EHLO")
            code, _ = s.cmd("QUIT")
            C.check(code == 221, "banner_554: 221 to QUIT")
        s.close()
        return
    C.check(code == 220, "%s: greeting 220" % prof)
    if prof == "slow_banner":
        C.check(1.8 <= waited <= 3.5, "slow_banner: greeting after %.2f s" % waited)
    if prof == "multiline":
        C.check(len(lines) == 3, "multiline: 3-line greeting")
    if prof == "close_after_banner":
        C.check(eof_within(s.sock, 3), "close_after_banner: closes after the greeting")
        s.close()
        return
    if prof == "ehlo_1mib":
        s.sock.sendall(b"EHLO client.lab.test\r\n")
        got, last_ok = 0, True
        s.sock.settimeout(3)
        data = bytes(s.buf)
        try:
            while got < (1 << 20) + 1:
                chunk = s.sock.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
                data = (data + chunk)[-200:]
        except (socket.timeout, TimeoutError):
            pass
        last_ok = all(l.startswith("250-") for l in data.decode().split("\r\n")[1:-1])
        C.check(got == 1 << 20 and last_ok, "ehlo_1mib: exactly 1 MiB of 250- lines (%d)" % got)
        C.check(not eof_within(s.sock, 0.5), "ehlo_1mib: holds the connection")
        s.close()
        return
    code, lines = s.cmd("EHLO client.lab.test")
    ext = [l[4:].upper() for l in lines[1:]]
    if prof == "ehlo_502_helo_ok":
        C.check(code == 502, "ehlo_502_helo_ok: 502 to EHLO")
        code, _ = s.cmd("HELO client.lab.test")
        C.check(code == 250, "ehlo_502_helo_ok: 250 to HELO")
    elif prof == "ehlo_helo_rejected":
        C.check(code == 550, "ehlo_helo_rejected: 550 to EHLO")
        code, _ = s.cmd("HELO client.lab.test")
        C.check(code == 550, "ehlo_helo_rejected: 550 to HELO")
    else:
        C.check(code == 250, "%s: 250 to EHLO" % prof)
        if prof == "no_starttls":
            C.check("STARTTLS" not in ext and "XXXXXXXA" not in ext, "no_starttls: not offered")
        elif prof == "starttls_masked":
            C.check("XXXXXXXA" in ext and "STARTTLS" not in ext, "starttls_masked: XXXXXXXA")
        elif prof == "starttls_454":
            C.check("STARTTLS" in ext, "starttls_454: offered")
            code, lines = s.cmd("STARTTLS")
            C.check(code == 454 and "4.7.0" in lines[0], "starttls_454: 454 4.7.0")
        elif prof in ("tls_garbage", "tls_alert"):
            code, _ = s.cmd("STARTTLS")
            C.check(code == 220, "%s: 220 to STARTTLS" % prof)
            s.sock.sendall(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")  # a (tiny) ClientHello
            data = b""
            while True:
                chunk = s.sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            if prof == "tls_alert":
                C.check(data == b"\x15\x03\x03\x00\x02\x02\x28", "tls_alert: fatal alert 40")
            else:
                C.check(data.startswith(b"garbage") and data[0] not in (0x14, 0x15, 0x16, 0x17),
                        "tls_garbage: non-TLS bytes")
            s.close()
            return
    code, _ = s.cmd("QUIT")
    C.check(code == 221, "%s: 221 to QUIT" % prof)
    s.close()


def main():
    with Lab(hosts=60, seed=11, base=BASE, dns_port=DNS_PORT) as lab:
        hosts, _ = lab.truth()
        by_profile = {}
        for h in hosts:
            by_profile.setdefault(h["profile"], h)
        C.check(len(by_profile) == 26, "every profile present (%d)" % len(by_profile))
        refused = sum(1 for h in hosts if h["profile"] == "connect_refused")
        C.check("listeners=%d " % (len(hosts) - refused) in lab.ready_line + " ",
                "ready line counts the listeners: %s" % lab.ready_line)
        for prof, h in sorted(by_profile.items()):
            t = h["tls"]
            try:
                if t and t["handshake_complete"]:
                    check_tls_profile(lab, h)
                else:
                    check_plain_profile(lab, h)
            except Exception as e:  # noqa: BLE001: report and continue with the next profile
                C.check(False, "%s: %s: %s" % (prof, type(e).__name__, e))
        for prof, want in (("tls12_rsa_chain", 2), ("missing_intermediate", 1), ("modern_tls13", 1)):
            n = chain_length(by_profile[prof])
            C.check(n == want, "%s: %d certificates sent (want %d)" % (prof, n, want))
        # Every TLS host of the world: the leaf it serves is the one in the truth.
        for h in hosts:
            t = h["tls"]
            if t and t["handshake_complete"] and t["dh_bits"] != 512 and h["profile"] != "slow_banner":
                with smtplib.SMTP(h["ip"], h["port"], timeout=5) as m:
                    m.ehlo("client.lab.test")
                    m.starttls(context=tls_context(lab, False))
                    der = m.sock.getpeercert(binary_form=True)
                    C.check(hashlib.sha256(der).hexdigest() == t["leaf_sha256"]
                            and m.sock.version() == t["version"],
                            "%s %s: served leaf/version match the truth" % (h["ip"], h["profile"]))
        code = lab.stop()
        C.check(code == 0, "lab exits 0 on SIGTERM (got %s)" % code)
    C.finish("lab_profiles")


if __name__ == "__main__":
    main()
