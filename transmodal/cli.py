"""The `transmodal` command line.

    transmodal translate-image photo.jpg menu.png --source en --target es --out out/
    transmodal run flows/read-aloud.yml sign.png --target es --out out/
    transmodal serve flow.yml --web-port 8080     # the Flow, and the web page + HTTP API on :8080
    transmodal web --host grpc://localhost:51000  # the web page in front of a running Flow
    transmodal train see --config cpu --minutes 20 && transmodal eval see

Without --host, the command starts the Flow locally on a free loopback port, streams the inputs to it,
writes each result as it arrives and stops the Flow. With --host grpc://HOST:PORT it uses a running Flow.
"""

from __future__ import annotations

import argparse
import os
import sys

from transmodal.files import fingerprint, read_input, unique_name, write_outputs

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TIMEOUT = 300.0  # seconds per request: a stalled executor fails documents instead of hanging the run


def default_flow() -> str:
    for candidate in (os.environ.get("TRANSMODAL_FLOW"), "flow.yml", os.path.join(PROJECT_ROOT, "flow.yml")):
        if candidate and os.path.isfile(candidate):
            return candidate
    return "flow.yml"


def _replicas(values: list[str]) -> dict[str, int]:
    replicas = {}
    for value in values:
        name, _, count = value.partition("=")
        if not count.isdigit():
            raise SystemExit(f"--replicas takes NAME=COUNT, got {value!r}")
        replicas[name] = int(count)
    return replicas


def _add_run_options(parser: argparse.ArgumentParser, book: bool = False) -> None:
    if book:
        parser.add_argument("book", help="the comic: a .cbz or .zip archive, a .pdf or a folder of page images")
    else:
        parser.add_argument("inputs", nargs="+", help="input files (images, audio or text)")
    parser.add_argument("--source", "-s", help="source language, ISO 639-1 (default: the flow's)")
    parser.add_argument("--target", "-t", help="target language, ISO 639-1 (default: the flow's)")
    if book:
        parser.add_argument(
            "--out", "-o", required=True, help="the translated book: NAME.cbz, NAME.zip, NAME.pdf or a folder"
        )
    else:
        parser.add_argument("--out", "-o", default="out", help="output folder (default: out/)")
    parser.add_argument("--host", help="a running Flow, e.g. grpc://localhost:51000 (default: start one)")
    parser.add_argument("--request-size", type=int, default=1, help="documents per request (default: 1)")
    if not book:
        parser.add_argument("--save-regions", action="store_true", help="also write regions as .json")
    parser.add_argument(
        "--glossary",
        metavar="FILE",
        help="terms translated the same on every page: YAML/JSON, or `source = target` lines "
        "(`= keep` leaves a name untranslated)",
    )
    parser.add_argument(
        "--replicas",
        action="append",
        default=[],
        metavar="NAME=N",
        help="replicas of an executor for the local Flow, e.g. TextDetector=2",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"deadline of each request: a request without a result by then fails its documents "
        f"and the others go on (default: {DEFAULT_TIMEOUT:g}; 0: none)",
    )


def run_inputs(flow_path: str, args: argparse.Namespace) -> int:
    from transmodal.client import TransmodalClient
    from transmodal.docs import MediaDoc

    missing = [path for path in args.inputs if not os.path.isfile(path)]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    parameters = request_parameters(args)
    if parameters is None:
        return 2
    input_fingerprints: dict[str, str | None] = {}
    written: list[str] = []
    taken: list[str] = []  # inputs read and handed to the client

    stems_seen: dict[str, int] = {}

    def read_all():
        for path in args.inputs:
            taken.append(path)
            try:
                doc = read_input(path)
            except OSError as error:  # fails this input alone; the client reports it without sending it
                doc = MediaDoc(
                    name=os.path.basename(path), error=f"cannot read {path}: {error.strerror}", error_stage="client"
                )
            doc.name = unique_name(doc.name, stems_seen)
            input_fingerprints[doc.id] = fingerprint(doc.image if doc.image is not None else doc.audio)
            yield doc

    flagged: list[str] = []

    def save(doc) -> None:
        if not doc.failed:
            written.extend(write_outputs(doc, args.out, input_fingerprints.get(doc.id), args.save_regions))
            flagged.extend(flagged_lines(doc))

    def send(host: str):
        client = TransmodalClient(host, timeout=args.timeout or None)
        return client.process(
            read_all(),
            parameters=parameters,
            request_size=args.request_size,
            on_result=save,
            progress=not args.quiet,
            total=len(args.inputs),
        )

    report, code = send_to_flow(flow_path, args, send)
    if report is None:
        return code

    for path in written:
        print(f"wrote {path}")
    for line in flagged:
        print(line)
    print(f"{report.succeeded}/{report.sent} documents in {report.seconds:.1f} s")
    for failure in report.failures:
        stage = f" [{failure.stage}]" if failure.stage else ""
        print(f"FAILED {failure.name}{stage}: {failure.error}", file=sys.stderr)
    not_sent = report.not_sent + args.inputs[len(taken) :]
    why = "interrupted" if report.interrupted else "the Flow's gateway went away"
    for name in not_sent:
        print(f"NOT SENT {name}: {why}", file=sys.stderr)
    if report.interrupted:
        print(
            f"interrupted: {report.succeeded} finished, {len(report.failures)} failed, {len(not_sent)} not sent",
            file=sys.stderr,
        )
        return code
    return 0 if report.ok and not not_sent else 1


def request_parameters(args: argparse.Namespace) -> dict | None:
    """The request's parameters from the options (languages, glossary); None after printing why not."""
    parameters: dict = {
        key: value for key, value in (("source_lang", args.source), ("target_lang", args.target)) if value
    }
    if args.glossary:
        from transmodal.errors import TransmodalError
        from transmodal.glossary import load_glossary

        try:
            parameters["glossary"] = load_glossary(args.glossary)
        except TransmodalError as error:
            print(f"error: {error}", file=sys.stderr)
            return None
    return parameters


def send_to_flow(flow_path: str, args: argparse.Namespace, send) -> tuple:
    """(report, exit code): `send(host)` run against --host, or against the Flow at `flow_path` started on
    loopback for it and stopped after. The report is None when nothing could be sent (the code says why:
    2 bad request, 1 no gateway); the code is the one to exit with if the run was interrupted."""
    from transmodal.client import GatewayUnreachableError, Report
    from transmodal.flows import local_flow, running
    from transmodal.signals import stop_signals
    from transmodal.validation import InvalidRequestError

    with stop_signals() as stop:
        try:
            if args.host:
                report = send(args.host)
            else:
                flow, host = local_flow(flow_path, replicas=_replicas(args.replicas))
                with running(flow):
                    report = send(host) if not stop.requested.is_set() else Report(interrupted=True)
        except InvalidRequestError as error:
            print(f"error: {error}", file=sys.stderr)
            return None, 2
        except GatewayUnreachableError as error:
            print(f"error: {error}", file=sys.stderr)
            return None, 1
        report.interrupted = report.interrupted or stop.requested.is_set()
    return report, (stop.exit_code if stop.signum else 130)


# A recording longer than this is refused by the client itself (the pieces each pass the recogniser's own
# limit, but the whole recording is decoded here first): 4 hours of 16 kHz mono are about 0.9 GB of floats.
MAX_RECORDING_SECONDS = 4 * 3600.0


def transcribe(flow_path: str, args: argparse.Namespace) -> int:
    """Each recording cut at pauses into pieces (transmodal.audio.split_at_pauses), the pieces sent in
    order, and the text printed as `[mm:ss] text` lines as soon as every earlier piece is back: a long
    recording is read out while it is being recognised, in order, whichever replica finishes first. Then
    NAME.txt and NAME.srt (subtitles) are written to --out."""
    from transmodal.audio import decode_audio, encode_wav, split_at_pauses
    from transmodal.client import TransmodalClient
    from transmodal.docs import MediaDoc
    from transmodal.errors import TransmodalError

    parameters = request_parameters(args)
    if parameters is None:
        return 2
    os.makedirs(args.out, exist_ok=True)
    pieces: dict[str, tuple[str, int, float, float]] = {}  # piece name -> (recording, index, start s, end s)
    counts: dict[str, int] = {}  # recording -> its number of pieces, once all are cut
    results: dict[str, dict[int, MediaDoc]] = {}
    printed: dict[str, int] = {}  # recording -> pieces printed so far
    unreadable: list[tuple[str, str]] = []

    def cut_all():
        for path in args.inputs:
            name = os.path.basename(path)
            try:
                with open(path, "rb") as file:
                    samples, rate = decode_audio(file.read(), MAX_RECORDING_SECONDS)
            except (OSError, TransmodalError) as error:
                unreadable.append((name, str(error)))
                continue
            split = split_at_pauses(samples, rate, args.chunk_seconds)
            counts[name], results[name], printed[name] = len(split), {}, 0
            for index, (start, piece) in enumerate(split):
                piece_name = f"{name}#{index + 1:04d}"
                pieces[piece_name] = (name, index, start, start + len(piece) / rate)
                yield MediaDoc(audio=encode_wav(piece, rate), name=piece_name)

    def arrived(doc: MediaDoc) -> None:
        name, index, _, _ = pieces[str(doc.name)]
        results[name][index] = doc
        while printed[name] in results[name]:  # every earlier piece is back: print in order
            piece = results[name][printed[name]]
            start = pieces[str(piece.name)][2]
            if piece.failed:
                print(f"FAILED {piece.name} at {_clock(start)}: {piece.error}", file=sys.stderr)
            for segment in piece.segments:
                print(f"[{_clock(start + segment.start)}] {name}: {segment.text}", flush=True)
            printed[name] += 1

    def send(host: str):
        client = TransmodalClient(host, timeout=args.timeout or None)
        return client.process(
            cut_all(), parameters=parameters, request_size=args.request_size, on_result=arrived, progress=False
        )

    report, code = send_to_flow(flow_path, args, send)
    if report is None:
        return code
    for name, error in unreadable:
        print(f"FAILED {name}: {error}", file=sys.stderr)
    for name, count in counts.items():
        done = [results[name][index] for index in range(count) if index in results[name]]
        # Whisper may end a piece's last segment at its 30 s window: no later than the piece itself.
        timed = [
            (start + segment.start, min(start + segment.end, end), segment.text)
            for piece in done
            for start, end in [pieces[str(piece.name)][2:]]
            for segment in piece.segments
        ]
        stem = os.path.splitext(name)[0]
        with open(os.path.join(args.out, stem + ".txt"), "w") as text_file:
            text_file.write(" ".join(text for _, _, text in timed) + "\n")
        with open(os.path.join(args.out, stem + ".srt"), "w") as subtitles:
            for number, (begin, end, text) in enumerate(timed, 1):
                subtitles.write(f"{number}\n{_clock(begin, srt=True)} --> {_clock(end, srt=True)}\n{text}\n\n")
        languages = sorted({piece.source_lang for piece in done if piece.source_lang})
        print(
            f"wrote {os.path.join(args.out, stem)}.txt and .srt: {len(done)}/{count} pieces, "
            f"language {', '.join(languages) or 'unknown'}",
            file=sys.stderr,
        )
    if report.interrupted:
        return code
    return 0 if report.ok and not unreadable else 1


def _clock(seconds: float, srt: bool = False) -> str:
    """mm:ss (hh:mm:ss past an hour), or SubRip's hh:mm:ss,mmm."""
    whole = int(seconds)
    hours, minutes, rest = whole // 3600, whole // 60 % 60, whole % 60
    if srt:
        return f"{hours:02d}:{minutes:02d}:{rest:02d},{int(round((seconds - whole) * 1000)) % 1000:03d}"
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes:02d}:{rest:02d}"


class _NothingSent(Exception):
    def __init__(self, code: int):
        self.code = code


def translate_book(flow_path: str, args: argparse.Namespace) -> int:
    """A whole comic (CBZ/ZIP, PDF or folder) through the Flow, written as --out; see transmodal.books."""
    from transmodal import books
    from transmodal.client import TransmodalClient

    parameters = request_parameters(args)
    if parameters is None:
        return 2
    interrupt_code = 130
    seconds: list[float] = []  # time the Flow took, this run

    def translate(docs, on_result):
        nonlocal interrupt_code

        def send(host: str):
            client = TransmodalClient(host, timeout=args.timeout or None)
            return client.process(docs, parameters=parameters, request_size=args.request_size, on_result=on_result)

        report, interrupt_code = send_to_flow(flow_path, args, send)
        if report is None:
            raise _NothingSent(interrupt_code)
        seconds.append(report.seconds)
        return report

    done = 0

    def on_page(name: str, status: str) -> None:
        nonlocal done
        if status.startswith("failed: "):
            print(f"FAILED {name}: {status.removeprefix('failed: ')}", file=sys.stderr)
        else:
            done += 1
            if not args.quiet:
                print(f"page {name}: {status} ({done} this run)", file=sys.stderr)

    limits = books.Limits(max_pages=args.max_pages, dpi=args.dpi)
    try:
        result = books.translate_book(
            args.book,
            args.out,
            translate,
            source_lang=args.source,
            target_lang=args.target,
            limits=limits,
            use_acbf_text=not args.ocr,
            on_page=on_page,
        )
    except books.BookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except _NothingSent as nothing:
        return nothing.code
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.up_to_date:
        print(f"{args.out} is up to date: all {result.pages} pages translated already, nothing sent")
        return 0
    for name in result.not_sent:
        print(f"NOT SENT {name}", file=sys.stderr)
    if not result.written:
        print(
            f"interrupted: {len(result.sent) - len(result.not_sent) - len(result.failed)} pages translated and kept "
            f"in {books.state_folder(args.out)}; run the same command again to finish the book",
            file=sys.stderr,
        )
        return interrupt_code if result.interrupted else 1
    took = f" in {seconds[0]:.1f} s ({seconds[0] / len(result.sent):.1f} s a page)" if seconds and result.sent else ""
    print(f"wrote {args.out}: {result.pages} pages, {len(result.sent)} sent this run{took}")
    if result.failed:
        print(
            f"{len(result.failed)} pages kept in the original language (translation failed): "
            f"{', '.join(result.failed)}; run again to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


# Flags that are decisions, not problems: not listed.
QUIET_FLAGS = {"untouched"}


def flagged_lines(doc) -> list[str]:
    """One line per flag a stage set on the document (an uncertain spoken language, ...) or on one of its
    regions (overflow, illegible, source_left, ...): what a person should check."""
    lines = [f"FLAGGED {doc.name}: {flag}" for flag in doc.flags]
    for number, region in enumerate(doc.regions, 1):
        problems = [flag for flag in region.flags if flag not in QUIET_FLAGS]
        if problems:
            text = " ".join(region.text.split())
            lines.append(f"FLAGGED {doc.name} region {number} {text[:40]!r}: {', '.join(problems)}")
    return lines


def serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM, SIGINT or SIGHUP; every process of the Flow is stopped before returning."""
    from transmodal.flows import load_flow, running
    from transmodal.signals import stop_signals

    if bool(args.port) != bool(args.http_port):
        raise SystemExit("serve: give both --port (gRPC) and --http-port, or neither (the YAML's ports)")
    ports = [args.port, args.http_port] if args.port else None
    flow = load_flow(
        args.flow, ports=ports, host=args.host, replicas=_replicas(args.replicas), max_body_bytes=args.max_body_bytes
    )
    with stop_signals() as stop:
        with running(flow):
            web = None
            if args.web_port and not stop.requested.is_set():
                from transmodal.web.app import create_app, serve_in_thread

                # The app is a thread of this process: the stop signal that ends the Flow ends it too.
                app = create_app(
                    f"grpc://127.0.0.1:{_grpc_port(flow)}",
                    flow_path=args.flow,
                    max_body_bytes=_web_max_body_bytes(args.max_body_bytes),
                )
                web = serve_in_thread(app, args.host or "0.0.0.0", args.web_port)
                print(f"web page and API: http://{args.host or 'localhost'}:{args.web_port}/", file=sys.stderr)
            try:
                if not stop.requested.is_set():
                    flow.block(stop_event=stop.requested)
            finally:
                if web is not None:
                    server, thread = web
                    server.should_exit = True
                    thread.join(5)
    return stop.exit_code if stop.signum else 0


def _grpc_port(flow) -> int:
    """The started Flow's gRPC gateway port (the web app's way in)."""
    protocols = (
        [str(protocol).lower() for protocol in flow.protocol]
        if isinstance(flow.protocol, list)
        else [str(flow.protocol).lower()]
    )
    ports = flow.port if isinstance(flow.port, list) else [flow.port]
    if not any("grpc" in protocol for protocol in protocols):
        raise SystemExit("serve --web-port: the Flow has no gRPC gateway port (protocol: grpc) for the web app")
    return int(ports[next(index for index, protocol in enumerate(protocols) if "grpc" in protocol)])


def _web_max_body_bytes(value: int | None) -> int:
    """The web app's request limit: the one given, else its own default (whole books; see transmodal.web.app)."""
    from transmodal.web.app import DEFAULT_WEB_MAX_BODY_BYTES

    return DEFAULT_WEB_MAX_BODY_BYTES if value is None else value


def web(args: argparse.Namespace) -> int:
    """The web app alone, in front of a running Flow; uvicorn stops on SIGTERM/SIGINT."""
    import uvicorn

    from transmodal.web.app import create_app

    app = create_app(
        args.host,
        flow_path=args.flow,
        timeout=args.timeout,
        max_body_bytes=_web_max_body_bytes(args.max_body_bytes),
    )
    uvicorn.run(app, host=args.bind, port=args.port, log_level="info")
    return 0


def books_limits():
    from transmodal.books import Limits

    return Limits()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transmodal", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    translate = commands.add_parser("translate-image", help="translate the text inside images (flow.yml)")
    _add_run_options(translate)
    translate.add_argument("--flow", default=None, help="the Flow YAML (default: flow.yml)")

    book = commands.add_parser(
        "translate-book", help="translate a whole comic: .cbz/.zip, .pdf or a folder of images (flow.yml)"
    )
    _add_run_options(book, book=True)
    book.add_argument("--flow", default=None, help="the Flow YAML (default: flow.yml)")
    book.add_argument("--max-pages", type=int, default=books_limits().max_pages, help="refuse longer books")
    book.add_argument("--dpi", type=int, default=books_limits().dpi, help="resolution PDF pages are rendered at")
    book.add_argument("--ocr", action="store_true", help="read the pages even where the ACBF gives their text")

    listen = commands.add_parser(
        "transcribe", help="speech to text, long recordings cut at pauses and streamed back in order"
    )
    _add_run_options(listen)
    listen.add_argument("--flow", default=None, help="the Flow YAML (default: flows/transcribe.yml)")
    listen.add_argument(
        "--chunk-seconds",
        type=float,
        default=30.0,
        help="recordings are cut at pauses into pieces of at most this long (default: 30, Whisper's window)",
    )

    run = commands.add_parser("run", help="run any Flow YAML on files of any type")
    run.add_argument("flow", help="the Flow YAML, e.g. flows/read-aloud.yml")
    _add_run_options(run)

    serve_parser = commands.add_parser("serve", help="serve a Flow until interrupted")
    serve_parser.add_argument("flow", nargs="?", default=None, help="the Flow YAML (default: flow.yml)")
    serve_parser.add_argument("--port", type=int, help="gRPC port (default: the YAML's)")
    serve_parser.add_argument("--http-port", type=int, help="HTTP port, with --port")
    serve_parser.add_argument("--host", help="address to bind (default: the YAML's, 0.0.0.0)")
    serve_parser.add_argument("--replicas", action="append", default=[], metavar="NAME=N")
    serve_parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=None,
        metavar="N",
        help="HTTP requests with a larger body get 413 before it is read "
        "(default: TRANSMODAL_MAX_BODY_BYTES or 20000000; 0: no limit)",
    )

    serve_parser.add_argument(
        "--web-port", type=int, help="also serve the web page and HTTP API (transmodal.web) on this port"
    )

    web_parser = commands.add_parser("web", help="the web page and HTTP API in front of a running Flow")
    web_parser.add_argument("--host", required=True, help="the Flow's gRPC gateway, e.g. grpc://localhost:51000")
    web_parser.add_argument("--port", type=int, default=8080, help="HTTP port (default: 8080)")
    web_parser.add_argument("--bind", default="0.0.0.0", help="address to bind (default: 0.0.0.0)")
    web_parser.add_argument("--flow", help="the Flow's YAML, to tell the page what it takes (default: images)")
    web_parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per document")
    web_parser.add_argument("--max-body-bytes", type=int, default=None, metavar="N", help="413 above (0: no limit)")

    # Model training and evaluation: the rest of the command line goes to the model's own script.
    train_parser = commands.add_parser(
        "train",
        help="train a model on generated data (see: SEE text detector; segmenter, inpainter: the learned eraser; "
        "scene-encoder, image-to-text, text-to-image, speech-encoder: the scene world's speech <-> image models; "
        "speech-detector, image-detector: the speech encoder's and the captioner's heads that tell the scene "
        "world's speech and pictures from others; "
        "pixel-translator: in-image translation from pixels to pixels)",
    )
    train_parser.add_argument(
        "model",
        choices=[
            "see",
            "segmenter",
            "inpainter",
            "scene-encoder",
            "image-to-text",
            "text-to-image",
            "speech-encoder",
            "speech-detector",
            "image-detector",
            "pixel-translator",
        ],
    )
    train_parser.add_argument("options", nargs=argparse.REMAINDER, help="e.g. --config cpu --out DIR --minutes 20")
    eval_parser = commands.add_parser(
        "eval",
        help="measure a trained model (see: SEE text detector; eraser: the learned eraser; scenes: the speech <-> "
        "image models), or image translation "
        "on real images, or speech recognition on real recordings (evaluation/README.md)",
    )
    eval_parser.add_argument(
        "model", choices=["see", "eraser", "image-translation", "speech", "scenes", "pixel-translator"]
    )
    eval_parser.add_argument("options", nargs=argparse.REMAINDER, help="e.g. --checkpoint PATH")

    args = parser.parse_args(argv)
    if args.command == "train" and args.model in ("scene-encoder", "image-to-text", "text-to-image", "speech-encoder"):
        from training.scenes import train as train_scenes

        return train_scenes.main(args.model, args.options)
    if args.command == "train" and args.model == "speech-detector":
        from training.scenes import detector

        return detector.main(args.options)
    if args.command == "train" and args.model == "image-detector":
        from training.scenes import detector

        return detector.main_image(args.options)
    if args.command == "train" and args.model == "pixel-translator":
        from training.pixels import train as train_pixels

        return train_pixels.main(args.options)
    if args.command == "eval" and args.model == "pixel-translator":
        from training.pixels import evaluate as evaluate_pixels

        return evaluate_pixels.main(args.options)
    if args.command == "train" and args.model in ("segmenter", "inpainter"):
        from training.eraser import train as train_eraser

        return train_eraser.main(args.model, args.options)
    if args.command == "train":
        from training.see import train

        return train.main(args.options)
    if args.command == "eval" and args.model == "scenes":
        from training.scenes import evaluate as evaluate_scenes

        return evaluate_scenes.main(args.options)
    if args.command == "eval" and args.model == "eraser":
        from training.eraser import evaluate as evaluate_eraser

        return evaluate_eraser.main(args.options)
    if args.command == "eval" and args.model == "speech":
        from evaluation import speech_recognition

        return speech_recognition.main(args.options)
    if args.command == "eval" and args.model == "image-translation":
        from evaluation import image_translation

        return image_translation.main(args.options)
    if args.command == "eval":
        from training.see import evaluate

        return evaluate.main(args.options)
    if args.command == "web":
        return web(args)
    if args.command == "serve":
        args.flow = args.flow or default_flow()
        return serve(args)
    if args.command == "transcribe":
        return transcribe(args.flow or os.path.join(PROJECT_ROOT, "flows", "transcribe.yml"), args)
    flow_path = args.flow or default_flow()
    if args.command == "translate-book":
        return translate_book(flow_path, args)
    return run_inputs(flow_path, args)


if __name__ == "__main__":
    sys.exit(main())
