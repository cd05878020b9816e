#!/usr/bin/env bash
# Validates what deploy/ holds but CI cannot run (no Docker, no Kubernetes here):
#
#   bash deploy/validate.sh
#
# 1. Kubernetes (deploy/kubernetes/): kustomization.yaml lists every other YAML file of
#    the directory and nothing that is missing; each listed file validates against the
#    Kubernetes 1.37 schemas with kubernetes-validate --strict (unknown fields refused).
# 2. Compose (deploy/compose/): compose.yaml against the Compose specification's JSON
#    schema (check-jsonschema's vendored copy); every relative bind mount and secret file
#    it names exists or is made by secrets/make.sh; nginx.conf passes `nginx -t` (the
#    replicas' name swapped for a loopback address); prometheus.yml passes
#    `promtool check config` with the project's rules; the other YAML and JSON files parse.
# 3. Dockerfile: hadolint (warnings fail), and .dockerignore keeps target/ and .git out.
#
# Tools: deploy/requirements.txt, installed into <target>/deploy-venv on first use;
# nginx and promtool from Debian (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
venv="$target/deploy-venv"
stamp="$venv/requirements.txt"
if ! cmp -s deploy/requirements.txt "$stamp" 2>/dev/null; then
    echo "    installing the validators into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r deploy/requirements.txt
    cp deploy/requirements.txt "$stamp"
fi
bin="$venv/bin"

for tool in nginx promtool; do
    if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
        echo "deploy/validate.sh needs $tool (Debian: apt-get install -y nginx-light prometheus)" >&2
        exit 1
    fi
done
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

echo "==> Kubernetes: the kustomization lists every manifest"
mapfile -t manifests < <("$bin/python" - <<'PY'
import pathlib, sys, yaml
base = pathlib.Path("deploy/kubernetes")
k = yaml.safe_load((base / "kustomization.yaml").read_text())
assert k.get("apiVersion") == "kustomize.config.k8s.io/v1beta1", "kustomization apiVersion"
assert k.get("kind") == "Kustomization", "kustomization kind"
listed = k.get("resources") or []
present = sorted(p.name for p in base.glob("*.yaml") if p.name != "kustomization.yaml")
missing = [r for r in listed if not (base / r).is_file()]
unlisted = [p for p in present if p not in listed]
dupes = sorted({r for r in listed if listed.count(r) > 1})
for what, names in (("listed but missing", missing), ("not listed", unlisted), ("listed twice", dupes)):
    if names:
        sys.exit(f"deploy/kubernetes/kustomization.yaml: {what}: {', '.join(names)}")
for r in listed:
    print(base / r)
PY
)
echo "    ${#manifests[@]} manifests listed"

echo "==> Kubernetes: kubernetes-validate --strict"
"$bin/kubernetes-validate" --strict --quiet "${manifests[@]}"
echo "    ok"

echo "==> Compose: the Compose specification's schema"
"$bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose/compose.yaml

echo "==> Compose: files it names"
"$bin/python" - <<'PY'
import json, pathlib, re, sys, yaml
base = pathlib.Path("deploy/compose")
c = yaml.safe_load((base / "compose.yaml").read_text())
made = set(re.findall(r"^make (\S+)", (base / "secrets/make.sh").read_text(), re.M))
made.add("database-url")
problems = []
for name, secret in (c.get("secrets") or {}).items():
    path = base / secret["file"]
    if path.parent != base / "secrets" or path.name not in made:
        problems.append(f"secret {name}: {secret['file']} is not made by secrets/make.sh")
for name, service in c["services"].items():
    env = service.get("environment") or {}
    for key, value in (env.items() if isinstance(env, dict) else []):
        if re.search(r"(PASSWORD|TOKEN|SECRET)$", key) or "://" in str(value) and "@" in str(value):
            problems.append(f"{name}: {key} looks like an inline secret")
    for volume in service.get("volumes") or []:
        source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
        if source.startswith("."):
            if not (base / source).exists():
                problems.append(f"{name}: bind mount {source} does not exist")
for path in base.rglob("*.yaml"):
    yaml.safe_load(path.read_text())
json.loads(pathlib.Path("deploy/grafana/ems-dashboard.json").read_text())
if problems:
    sys.exit("deploy/compose/compose.yaml:\n  " + "\n  ".join(problems))
print("    ok")
PY

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

echo "==> Compose: nginx -t on nginx.conf"
sed -e 's/server ems:8080/server 127.0.0.1:8080/' -e "s#pid /tmp/nginx.pid#pid $scratch/nginx.pid#" \
    -e "s#access_log /dev/stdout#access_log $scratch/access.log#" \
    deploy/compose/nginx.conf >"$scratch/nginx.conf"
"$nginx_bin" -t -q -p "$scratch" -e "$scratch/error.log" -c "$scratch/nginx.conf"
echo "    ok"

echo "==> Compose: promtool check config on prometheus.yml"
mkdir -p "$scratch/prometheus/secrets"
cp deploy/compose/prometheus.yml "$scratch/prometheus/"
cp -r deploy/prometheus/rules "$scratch/prometheus/rules"
echo placeholder >"$scratch/prometheus/secrets/metrics-token"
promtool check config "$scratch/prometheus/prometheus.yml"

echo "==> Dockerfile: hadolint"
"$bin/hadolint" --failure-threshold warning deploy/docker/Dockerfile
for ignored in target/ .git/; do
    grep -qx "$ignored" .dockerignore || { echo ".dockerignore must list $ignored" >&2; exit 1; }
done
echo "    ok"

echo "deploy/ validated"
