"""The deployment files, checked without Docker or a cluster: the Dockerfile's COPY sources exist
and it installs packages only through scripts/install-deps; the runtime package list covers every
library the built binary links; compose.yaml references only files that exist, mounts the Grafana
provisioning and dashboards of the repository and agrees with the Prometheus and Grafana configs
on service names and ports; `kubectl kustomize` renders the example overlay into the objects a
cluster needs; `systemd-analyze verify` accepts the units."""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import compose  # noqa: E402
import e2e  # noqa: E402
import yaml  # noqa: E402

SRC = compose.SRC
DEPLOY = os.path.join(SRC, "deploy")
DASHBOARDS = os.path.join(SRC, "dashboards")


def read(*parts):
    with open(os.path.join(SRC, *parts)) as f:
        return f.read()


# ---------------------------------------------------------------- Dockerfile

def dockerfile_instructions():
    text = read("deploy", "docker", "Dockerfile").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile():
    ins = dockerfile_instructions()
    stages = [rest for word, rest in ins if word == "FROM"]
    assert len(stages) == 2 and all(s.startswith("debian:12") for s in stages), stages
    copied = set()
    for word, rest in ins:
        if word == "COPY" and "--from=" not in rest:
            *sources, _dest = rest.split()
            for s in sources:
                assert os.path.exists(os.path.join(SRC, s)), f"COPY {s}: no such file"
                copied.add(s.rstrip("/"))
    # Every module the top CMakeLists builds is in the build context (tests and benches are off).
    for sub in re.findall(r"^add_subdirectory\((\w+)\)", read("CMakeLists.txt"), re.M):
        if sub not in ("tests", "bench"):
            assert sub in copied, f"CMakeLists.txt builds {sub}/ but the Dockerfile does not COPY it"
    runs = [rest for word, rest in ins if word == "RUN"]
    # Packages come only from install-deps: no apt-get of its own.
    assert not [r for r in runs if "apt-get install" in r or "apt install" in r], runs
    assert any("scripts/install-deps --build" in r for r in runs), runs
    assert any("install-deps --runtime" in r for r in runs), runs
    assert any("cmake --build" in r for r in runs), runs
    user = [rest for word, rest in ins if word == "USER"]
    assert user and not user[-1].startswith(("0", "root")), user
    assert any(w == "ENTRYPOINT" and "mxcensus" in r for w, r in ins)
    assert any(w == "HEALTHCHECK" for w, _ in ins)
    # .dockerignore must not hide what the build copies.
    ignored = [p.strip().rstrip("/") for p in read(".dockerignore").splitlines()
               if p.strip() and not p.startswith("#")]
    for c in copied:
        assert c not in ignored and c.split("/")[0] not in ignored, f".dockerignore hides {c}"


def test_runtime_packages_cover_the_binary():
    """Every library the binary links directly comes from a package of `install-deps --runtime`
    (or from the base image's essential set)."""
    runtime = set(subprocess.run(["bash", os.path.join(SRC, "scripts", "install-deps"), "--print",
                                  "runtime"], capture_output=True, text=True, check=True)
                  .stdout.split())
    base = {"libc6", "libstdc++6", "libgcc-s1"}
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        subprocess.run(["readelf", "-d", e2e.MX], capture_output=True, text=True,
                                       check=True).stdout)
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(
        ["ldd", e2e.MX], capture_output=True, text=True, check=True).stdout, re.M))
    assert needed, "readelf found no NEEDED entries"
    candidates = {}
    for lib in needed:
        path = paths.get(lib)
        assert path, f"ldd did not resolve {lib}"
        real = os.path.realpath(path)
        candidates[lib] = [path, real, re.sub(r"^/usr", "", path), re.sub(r"^/usr", "", real)]
    # One dpkg -S for all paths (each call reads the whole database: ~1 s).
    r = subprocess.run(["dpkg", "-S", *sorted({c for cs in candidates.values() for c in cs})],
                       capture_output=True, text=True)
    owner_of = {}
    for line in r.stdout.splitlines():
        pkgs, _, path = line.partition(": ")
        owner_of[path.strip()] = {p.strip().split(":")[0] for p in pkgs.split(",")}
    missing = []
    for lib, cs in candidates.items():
        owners = next((owner_of[c] for c in cs if c in owner_of), None)
        assert owners, f"no Debian package owns {cs[0]} ({lib})"
        if not owners & (runtime | base):
            missing.append(f"{lib} ({', '.join(sorted(owners))})")
    assert not missing, "install-deps --runtime lacks: " + "; ".join(missing)


# ---------------------------------------------------------------- compose

def test_compose_references():
    doc = compose.load({"MXCENSUS_EHLO": "mx-survey.example.org"})
    services = doc["services"]
    for want in ("db", "migrate", "coordinator", "worker", "prom", "grafana"):
        assert want in services, f"compose has no service {want}"
    # Every bind mount, the build context and the Dockerfile exist.
    for name, svc in services.items():
        for host, _ in compose.bind_mounts(svc):
            assert os.path.exists(host), f"{name}: mount source {host} does not exist"
        if "build" in svc:
            ctx = os.path.normpath(os.path.join(compose.COMPOSE_DIR, svc["build"]["context"]))
            assert ctx == os.path.normpath(SRC), ctx
            assert os.path.isfile(os.path.join(ctx, svc["build"]["dockerfile"]))
        for s in svc.get("secrets", []):
            assert s in doc["secrets"], f"{name}: undeclared secret {s}"
    # Secrets are files made by init-secrets (never values in the YAML, never in git).
    with tempfile.TemporaryDirectory() as d:
        copy = os.path.join(d, "compose")
        shutil.copytree(compose.COMPOSE_DIR, copy, ignore=shutil.ignore_patterns("token", "*password"))
        subprocess.run([os.path.join(copy, "init-secrets")], check=True, capture_output=True)
        for name, spec in doc["secrets"].items():
            path = os.path.join(copy, spec["file"])
            assert os.path.isfile(path), f"init-secrets did not create {spec['file']}"
            assert os.stat(path).st_mode & 0o077 == 0, f"{spec['file']} readable by others"
            assert len(open(path).read().strip()) >= 32
    for name, svc in services.items():
        for k, v in (svc.get("environment") or {}).items():
            assert not re.search(r"(PASSWORD|TOKEN|SECRET)$", k), f"{name}: {k} set in the YAML"
            assert "password=" not in str(v).lower(), f"{name}: {k} carries a password"
    # Grafana gets the repository's provisioning (the one the dashboards tests use) and dashboards.
    mounts = dict((dst, src) for src, dst in compose.bind_mounts(services["grafana"]))
    assert mounts["/etc/grafana/provisioning"] == os.path.join(DEPLOY, "grafana", "provisioning")
    assert glob.glob(os.path.join(DEPLOY, "grafana", "provisioning", "datasources", "*.yaml"))
    dash_dir = [src for dst, src in mounts.items() if dst.startswith("/var/lib/grafana/dashboards")]
    assert dash_dir == [DASHBOARDS], dash_dir
    for want in ("adoption.json", "crawl-live.json"):
        assert os.path.isfile(os.path.join(DASHBOARDS, want)), f"dashboards/{want} missing"
    # The provisioned datasource sslmode comes from the environment; compose must set it.
    assert services["grafana"]["environment"].get("MXCENSUS_GRAFANA_PG_SSLMODE") == "disable"
    provider = yaml.safe_load(open(glob.glob(os.path.join(
        DEPLOY, "grafana", "provisioning", "dashboards", "*.yaml"))[0]))
    assert provider["providers"][0]["options"]["path"] in mounts, "dashboards mounted elsewhere"
    # The hosts the datasources and Prometheus name are compose services on the right ports.
    for ds in yaml.safe_load(open(glob.glob(os.path.join(
            DEPLOY, "grafana", "provisioning", "datasources", "*.yaml"))[0]))["datasources"]:
        host = re.sub(r"^\w+://", "", ds["url"]).split(":")[0]
        assert host in services, f"datasource {ds['uid']} points at {host}: not a service"
    prom = yaml.safe_load(read("deploy", "prometheus", "prometheus.yml"))
    prom_mount = dict((dst, src) for src, dst in compose.bind_mounts(services["prom"]))
    assert prom_mount["/etc/prometheus/prometheus.yml"] == os.path.join(DEPLOY, "prometheus",
                                                                       "prometheus.yml")
    for job in prom["scrape_configs"]:
        for sc in job.get("static_configs", []):
            for t in sc["targets"]:
                host, port = t.split(":")
                assert host in services, t
                assert f"0.0.0.0:{port}" in services[host]["command"], (t, services[host]["command"])
        for sd in job.get("dns_sd_configs", []):
            for n in sd["names"]:
                assert n in services and f"0.0.0.0:{sd['port']}" in services[n]["command"], n


# ---------------------------------------------------------------- Kubernetes

def render_k8s():
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl not found (scripts/install-deps installs kubernetes-client)"
    r = subprocess.run([kubectl, "kustomize", os.path.join(DEPLOY, "k8s", "overlays", "example")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def test_k8s_example_overlay():
    objs = render_k8s()
    by = {}
    for o in objs:
        by.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace") == "mxcensus", o["metadata"]
    for kind in ("Deployment", "Service", "CronJob", "NetworkPolicy", "PodDisruptionBudget",
                 "HorizontalPodAutoscaler", "Secret", "ConfigMap"):
        assert kind in by, f"no {kind} rendered"
    secrets = set(by["Secret"])
    configmaps = set(by["ConfigMap"])

    def pod_spec(o):
        t = o["spec"]["jobTemplate"]["spec"] if o["kind"] == "CronJob" else o["spec"]
        return t["template"]

    def check_pod(o, role):
        tmpl = pod_spec(o)
        spec = tmpl["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        vols = {v["name"]: v for v in spec["volumes"]}
        for v in vols.values():
            ref = (v.get("secret") or {}).get("secretName") or (v.get("configMap") or {}).get("name")
            assert ref in secrets | configmaps, f"{o['metadata']['name']}: volume refers to {ref}"
        for c in spec.get("initContainers", []) + spec["containers"]:
            assert c["image"] == "registry.example.org/mxcensus:0.1.0", c["image"]
            assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]
            for m in c.get("volumeMounts", []):
                assert m["name"] in vols, f"{c['name']} mounts undeclared volume {m['name']}"
            mounted = {m["mountPath"]: vols[m["name"]] for m in c.get("volumeMounts", [])}
            # Every file an argument names lives in a mounted Secret/ConfigMap with that key.
            for a in c["args"]:
                path = a.split("=", 1)[-1]
                if path.startswith("/etc/mxcensus/"):
                    d, key = os.path.split(path)
                    assert d in mounted, f"{c['name']}: {path} is not mounted"
                    src = mounted[d]
                    obj = (by["Secret"].get(src.get("secret", {}).get("secretName"))
                           or by["ConfigMap"].get(src.get("configMap", {}).get("name")))
                    assert key in obj["data"], f"{c['name']}: {key} not in {obj['metadata']['name']}"
        return tmpl, spec

    coord = by["Deployment"]["mxcensus-coordinator"]
    tmpl, spec = check_pod(coord, "coordinator")
    c = spec["containers"][0]
    assert c["args"][0] == "coordinator"
    assert {"--tls-client-ca=/etc/mxcensus/tls/ca.pem", "--metrics=0.0.0.0:9464"} <= set(c["args"])
    assert c["readinessProbe"] and c["livenessProbe"]
    assert tmpl["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert spec["initContainers"][0]["args"] == ["db", "migrate"]
    env = {e["name"]: e for e in c["env"]}
    assert "MXCENSUS_DB_PASSWORD_FILE" in env and "value" not in env["MXCENSUS_DB"]

    worker = by["Deployment"]["mxcensus-worker"]
    tmpl, spec = check_pod(worker, "worker")
    c = spec["containers"][0]
    assert c["args"][0] == "worker" and "--coordinator=mxcensus-coordinator:7400" in c["args"]
    assert any(a.startswith("--tls-cert=") for a in c["args"])
    assert c["readinessProbe"] and c["livenessProbe"]
    assert c["resources"]["requests"]["cpu"]
    assert "env" not in c or not [e for e in c["env"] if e["name"].startswith("MXCENSUS_DB")]
    assert spec["affinity"]["podAntiAffinity"]
    assert tmpl["metadata"]["annotations"]["prometheus.io/port"] == "9464"

    cron = by["CronJob"]["mxcensus-crawl-weekly"]
    _, spec = check_pod(cron, "crawl")
    assert spec["containers"][0]["args"][:2] == ["crawl", "start"]
    assert cron["spec"]["schedule"].split()[4] not in ("*",), "not weekly"

    svc = by["Service"]["mxcensus-coordinator"]
    assert {p["port"] for p in svc["spec"]["ports"]} == {7400, 9464}
    assert svc["spec"]["selector"].items() <= coord["spec"]["template"]["metadata"]["labels"].items()
    pdb = by["PodDisruptionBudget"]["mxcensus-coordinator"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= \
        coord["spec"]["template"]["metadata"]["labels"].items()
    hpa = by["HorizontalPodAutoscaler"]["mxcensus-worker"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "mxcensus-worker"

    np = by["NetworkPolicy"]["mxcensus-worker"]
    assert set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    egress_ports = {p["port"] for rule in np["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {7400, 25, 53}, egress_ports
    assert [p["port"] for rule in np["spec"]["ingress"] for p in rule["ports"]] == [9464]
    ncoord = by["NetworkPolicy"]["mxcensus-coordinator"]
    assert {p["port"] for r in ncoord["spec"]["ingress"] for p in r["ports"]} == {7400, 9464}


# ---------------------------------------------------------------- systemd

def test_systemd_units_verify():
    units = sorted(glob.glob(os.path.join(DEPLOY, "systemd", "*.service")) +
                   glob.glob(os.path.join(DEPLOY, "systemd", "*.timer")))
    assert len(units) == 4, units
    with tempfile.TemporaryDirectory() as d:
        for u in units:
            text = open(u).read()
            assert "/usr/local/bin/mxcensus" in text or u.endswith(".timer"), u
            text = text.replace("/usr/local/bin/mxcensus", os.path.abspath(e2e.MX)).replace(
                "/etc/mxcensus/mxcensus.env", os.path.join(DEPLOY, "systemd", "mxcensus.env.example"))
            with open(os.path.join(d, os.path.basename(u)), "w") as f:
                f.write(text)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                            *sorted(glob.glob(os.path.join(d, "*")))],
                            capture_output=True, text=True, timeout=60)
        # verify exits 0 on unknown or malformed settings and only warns: any line naming one of
        # our units is a failure.
        complaints = [l for l in r.stderr.splitlines() if "mxcensus" in l]
        assert r.returncode == 0 and not complaints, r.stderr
    for name in ("mxcensus-coordinator.service", "mxcensus-worker.service"):
        text = read("deploy", "systemd", name)
        for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                        "DynamicUser=yes", "CapabilityBoundingSet=\n", "LimitNOFILE=",
                        "EnvironmentFile="):
            assert setting in text, f"{name} lacks {setting.strip()}"


if __name__ == "__main__":
    e2e.run_tests([test_dockerfile, test_runtime_packages_cover_the_binary, test_compose_references,
                   test_k8s_example_overlay, test_systemd_units_verify])
