"""Local copies of the JavaScript the site needs, so it works offline.

Jupyter Book's pages load MathJax (formulas) and, on pages with widgets,
require.js and ``@jupyter-widgets/html-manager`` (the explorers) from public
CDNs by default. A site that must render without a network (and a book whose
tests assert that no request leaves the machine) serves them itself. The files
the pages use (from the three npm packages below, each checked against its
pinned sha512 integrity when the archive was made) are committed as one
archive, ``cgh_lib/book/vendor/web-assets.tar.xz`` (~2 MB), pinned here by its
SHA-256 and installed with the package: `cgh book` needs no network and no
npm. `stage` unpacks it to ``_build/web/cgh-web/``, which Sphinx publishes as
``_static/cgh-web/``. Maintainers remake the archive (a new version) with
``python -m cgh_lib.book.web_assets --vendor`` (npm), then pin the printed hash. The folder is deliberately not named ``_static`` in the
source tree: Jupyter Book adds every .js/.css found there to every page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from cgh_lib.store.provenance import REPO_ROOT

CACHE = REPO_ROOT / ".web"  # npm tarballs, only for remaking the vendored archive
VENDORED = Path(__file__).resolve().parent / "vendor" / "web-assets.tar.xz"
VENDORED_SHA256 = "904a0e341b0cae22edbaa5f85913f1ca931d6f09a32774bc5683e051c7a3c4f5"
# the AMD modules embed-amd.js defines (each computes its asset URL from its own module URL)
AMD_MODULES = ("@jupyter-widgets/base", "@jupyter-widgets/base7", "@jupyter-widgets/controls",
               "@jupyter-widgets/controls7", "@jupyter-widgets/html-manager",
               "@jupyter-widgets/html-manager/dist/libembed-amd")
PREFIX = "cgh-web"
# npm package -> (version, sha512 integrity as npm reports it, files to copy: tar prefix -> dest)
PACKAGES: dict[str, tuple[str, str, dict[str, str]]] = {
    "requirejs": ("2.3.8", "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
                  {"package/require.js": "require.js"}),
    "@jupyter-widgets/html-manager": (
        "1.0.15", "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
        {"package/dist/embed-amd.js": "html-manager/embed-amd.js", "package/dist/*.woff2": "html-manager/",
         "package/dist/*.woff": "html-manager/", "package/dist/*.ttf": "html-manager/",
         "package/dist/*.eot": "html-manager/", "package/dist/*.svg": "html-manager/"}),
    "mathjax": ("3.2.2", "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
                {"package/es5/tex-mml-chtml.js": "mathjax/tex-mml-chtml.js",
                 "package/es5/input/": "mathjax/input/", "package/es5/output/chtml/": "mathjax/output/chtml/",
                 "package/es5/a11y/": "mathjax/a11y/", "package/es5/ui/": "mathjax/ui/",
                 "package/es5/adaptors/": "mathjax/adaptors/"}),
}


# The widget manager typesets labels with MathJax 2's ``MathJax.Hub.Queue``; the pages load
# MathJax 3, which has no ``Hub`` (a TypeError on every page with both). Give every object
# assigned to ``window.MathJax`` a ``Hub.Queue`` that calls MathJax 3's typesetter when it
# is ready (before that, MathJax typesets the whole page itself once it starts).
MATHJAX_HUB_SHIM = """
(function () {
  function withHub(mj) {
    if (mj && typeof mj === 'object' && !mj.Hub) {
      mj.Hub = {Queue: function (job) {
        var m = window.MathJax, el = Array.isArray(job) ? job[2] : undefined;
        if (m && m.typesetPromise) { m.typesetPromise(el ? [el] : undefined).catch(function () {}); }
      }};
    }
    return mj;
  }
  var current = withHub(window.MathJax);
  Object.defineProperty(window, 'MathJax', {
    configurable: true, enumerable: true,
    get: function () { return current; },
    set: function (v) { current = withHub(v); }
  });
})();
"""


# Wide multi-panel figures are scaled down to the column: a click opens the PNG at full size.
ZOOM_JS = """document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('.cell_output img').forEach(function (img) {
    if (img.closest('a') || img.src.indexOf('data:') === 0) { return; }
    var a = document.createElement('a');
    a.href = img.src;
    a.title = 'Open the figure at full size';
    img.parentNode.insertBefore(a, img);
    a.appendChild(img);
    img.style.cursor = 'zoom-in';
  });
});
"""


def _tarball(name: str) -> Path:
    version = PACKAGES[name][0]
    return CACHE / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def _integrity_ok(path: Path, integrity: str) -> bool:
    algo, b64 = integrity.split("-", 1)
    return base64.b64encode(hashlib.new(algo, path.read_bytes()).digest()).decode() == b64


def fetch(quiet: bool = True) -> bool:
    """Download the pinned packages into the cache (``npm pack``) if missing; True if all are there."""
    CACHE.mkdir(exist_ok=True)
    for name, (version, integrity, _) in PACKAGES.items():
        tgz = _tarball(name)
        if tgz.exists() and _integrity_ok(tgz, integrity):
            continue
        npm = shutil.which("npm")
        if npm is None:
            return False
        res = subprocess.run([npm, "pack", "--silent", "--pack-destination", str(CACHE), f"{name}@{version}"],
                             cwd=CACHE, capture_output=True, text=True, timeout=300)
        if res.returncode != 0 or not tgz.exists():
            return False
        if not _integrity_ok(tgz, integrity):
            tgz.unlink()
            raise RuntimeError(f"{tgz.name}: sha512 does not match the pinned integrity")
    return True


def _match(member: str, pattern: str) -> bool:
    if pattern.endswith("/"):
        return member.startswith(pattern)
    if "*" in pattern:
        d, _, ext = pattern.partition("*")
        return member.startswith(d) and "/" not in member[len(d):] and member.endswith(ext)
    return member == pattern


def _package_files(dest: Path) -> None:
    """Copy the files the pages use from the npm tarballs (see `fetch`) under ``dest/cgh-web/``."""
    for name, (_, _, files) in PACKAGES.items():
        with tarfile.open(_tarball(name)) as tar:
            for m in tar.getmembers():
                if not m.isfile():
                    continue
                for pattern, target in files.items():
                    if _match(m.name, pattern):
                        rel = target + (m.name[len(pattern):] if pattern.endswith("/") else
                                        Path(m.name).name if target.endswith("/") else "")
                        out = dest / PREFIX / rel
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_bytes(tar.extractfile(m).read())  # type: ignore[union-attr]
                        break


def vendor() -> str:
    """Remake the committed archive from the pinned npm packages (needs npm); return its SHA-256."""
    import io
    import lzma
    import tempfile

    if not fetch():
        raise RuntimeError("npm is needed to remake the vendored web assets")
    with tempfile.TemporaryDirectory() as tmp:
        _package_files(Path(tmp))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for f in sorted((Path(tmp) / PREFIX).rglob("*")):
                if f.is_file():  # reproducible: fixed order, owner and time
                    info = tarfile.TarInfo(f.relative_to(tmp).as_posix())
                    info.size, info.mtime, info.mode = f.stat().st_size, 0, 0o644
                    tar.addfile(info, f.open("rb"))
        data = lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME)
    VENDORED.parent.mkdir(parents=True, exist_ok=True)
    VENDORED.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def vendored_ok() -> bool:
    """The committed archive is there and is the pinned one."""
    return VENDORED.is_file() and hashlib.sha256(VENDORED.read_bytes()).hexdigest() == VENDORED_SHA256


def stage(dest: Path) -> Path | None:
    """Unpack the vendored files the pages use under ``dest/cgh-web/``; return ``dest``, or None
    if the archive is missing or not the pinned one (the pages then load them from CDNs)."""
    if not vendored_ok():
        return None
    stamp = dest / PREFIX / ".staged"
    key = VENDORED_SHA256 + ",config-5"
    if stamp.exists() and stamp.read_text() == key:
        return dest
    shutil.rmtree(dest / PREFIX, ignore_errors=True)
    root = (dest / PREFIX).resolve()
    with tarfile.open(VENDORED, mode="r:xz") as tar:
        for m in tar.getmembers():
            out = (dest / m.name).resolve()
            if not m.isfile() or root not in out.parents:  # only plain files, only under cgh-web/
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(tar.extractfile(m).read())  # type: ignore[union-attr]
    # The AMD modules in embed-amd.js find their fonts through the URL require.js gives
    # each module, by default relative to the page: map every module name to a file
    # in the folder where the fonts are.
    paths = {m: f"html-manager/{m.rsplit('/', 1)[-1]}" for m in AMD_MODULES}
    (dest / PREFIX / "require-config.js").write_text(
        "(function () {\n"
        "  var here = document.currentScript.src.replace(/[^/]*$/, '');\n"
        f"  var paths = {json.dumps(paths)};\n"
        "  for (var m in paths) { paths[m] = here + paths[m]; }\n"
        "  require.config({paths: paths});\n"
        "})();\n" + MATHJAX_HUB_SHIM)
    (dest / PREFIX / "zoom.js").write_text(ZOOM_JS)
    stamp.write_text(key)
    return dest


def sphinx_settings(dest: Path) -> dict[str, Any]:
    """Sphinx / myst-nb settings that make the pages use the staged copies."""
    return {
        "html_static_path": [str(dest)],
        "mathjax_path": f"{PREFIX}/mathjax/tex-mml-chtml.js",
        "html_js_files": [f"{PREFIX}/zoom.js"],
        "nb_ipywidgets_js": {
            f"{PREFIX}/require.js": {},
            f"{PREFIX}/require-config.js": {},
            f"{PREFIX}/html-manager/embed-amd.js": {"data-jupyter-widgets-cdn": f"_static/{PREFIX}/"},
        },
    }


if __name__ == "__main__":  # `python -m cgh_lib.book.web_assets [--vendor]`
    import sys

    if "--vendor" in sys.argv:
        print(f"remade {VENDORED}; pin VENDORED_SHA256 = {vendor()!r}")
    else:
        ok = vendored_ok()
        print("web assets:", "ok (vendored, pinned)" if ok else f"missing or not the pinned {VENDORED}")
        sys.exit(0 if ok else 1)  # setup.sh warns on a non-zero exit
