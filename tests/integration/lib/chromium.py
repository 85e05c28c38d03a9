"""Opens a local HTML file in Debian's headless Chromium: a screenshot, the rendered DOM, and
every console message. A page fails the check when Chromium logs anything from the page's
console (script errors, console.error, CSP violations: mxcensus pages have no script at all),
when the screenshot is missing or blank, or when the DOM lacks what the caller expects.
Chromium runs offline-only flags and a fresh profile, and is killed if it hangs."""
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio"]
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]? *(.*)")


class PageError(Exception):
    pass


def chromium_binary():
    path = shutil.which("chromium")
    if not path:
        raise PageError("chromium is not installed (scripts/install-deps installs it)")
    return path


def _run(args, timeout):
    profile = tempfile.mkdtemp(prefix="mxcensus-chromium-")
    try:
        p = subprocess.Popen([chromium_binary(), *FLAGS, f"--user-data-dir={profile}", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)  # its own session: the renderer and GPU children die too
            p.communicate()
            raise PageError(f"chromium did not finish within {timeout}s")
        return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _noise_free(err):
    """Chromium's stderr without the D-Bus complaints of a machine without a session bus."""
    lines = [ln for ln in err.splitlines() if "dbus" not in ln.lower()]
    return "\n".join(lines[-20:])


def png_stats(path):
    """(width, height, distinct byte values of the pixel data) of a PNG file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise PageError(f"{path} is not a PNG")
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    pixels = zlib.decompress(idat)
    return width, height, len(set(pixels))


def check_page(html_path, screenshot, expect_in_dom=(), window="1280,2400", timeout=60):
    """Renders html_path; raises PageError on any console message, a blank or missing
    screenshot, or a DOM without every string of expect_in_dom. Returns the DOM."""
    url = "file://" + os.path.abspath(html_path)
    if os.path.exists(screenshot):
        os.unlink(screenshot)
    rc, _, err = _run(["--enable-logging=stderr", "--v=0", f"--window-size={window}",
                       f"--screenshot={screenshot}", url], timeout)
    console = [m.group(1) for m in map(CONSOLE.search, err.splitlines()) if m]
    if console:
        raise PageError("console messages from the page:\n" + "\n".join(console))
    failed = [ln for ln in err.splitlines() if "Page load failed" in ln]
    if failed:
        raise PageError(failed[0][failed[0].index("Page load failed"):])
    if rc != 0 or not os.path.exists(screenshot):
        raise PageError(f"no screenshot (chromium exit {rc}):\n{_noise_free(err)}")
    w, h, distinct = png_stats(screenshot)
    if w < 100 or h < 100 or distinct < 8:
        raise PageError(f"screenshot {w}x{h} looks blank ({distinct} distinct byte values)")
    rc, dom, err = _run(["--dump-dom", url], timeout)
    if rc != 0 or "<body" not in dom:
        raise PageError(f"--dump-dom failed (exit {rc}):\n{_noise_free(err)}")
    for s in expect_in_dom:
        if s not in dom:
            raise PageError(f"the rendered page lacks {s!r}")
    return dom
