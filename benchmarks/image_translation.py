"""Image-translation speed: each executor in-process, the whole Flow over gRPC, and a 50-image stream.

    .venv/bin/python benchmarks/image_translation.py [--repeats 5] [--stream 50]

Prints a Markdown table. Everything is measured in one run, so the Flow's overhead per document (Flow time
minus the sum of the in-process stages) compares like with like on a shared, noisy machine.
"""

import argparse
import copy
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")

from docarray import DocList  # noqa: E402
from jina import Executor  # noqa: E402

from transmodal.client import TransmodalClient  # noqa: E402
from transmodal.docs import MediaDoc  # noqa: E402
from transmodal.flows import flow_spec, local_flow  # noqa: E402
from transmodal.media import encode_image  # noqa: E402
from transmodal.synthetic import make_sign  # noqa: E402

FLOW = os.path.join(ROOT, "flow.yml")


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stream", type=int, default=50)
    args = parser.parse_args()

    sign = make_sign(["Fresh bread", "and coffee", "Open every day"], size=(1024, 768), background="texture", seed=1)
    image = encode_image(sign.image)
    rows = []

    # 1. Each executor in-process, fed the output of the stage before it (as in the Flow).
    executors = [(spec["name"], Executor.load_config(spec["uses"])) for spec in flow_spec(FLOW)["executors"]]
    doc = MediaDoc(image=image, source_lang="en", target_lang="es")
    stage_total = 0.0
    for name, executor in executors:
        endpoint = next(iter(executor.requests.values())).fn
        stage_input = copy.deepcopy(doc)

        def run_stage(endpoint=endpoint, executor=executor, stage_input=stage_input):
            return endpoint(executor, DocList[MediaDoc]([copy.deepcopy(stage_input)]))

        seconds = median_seconds(run_stage, args.repeats)
        doc = endpoint(executor, DocList[MediaDoc]([stage_input]))[0]
        assert doc.error is None, doc.error
        rows.append((f"{name} (in-process)", seconds))
        stage_total += seconds
    rows.append(("sum of stages", stage_total))

    # 2. The Flow: one document per request, then a stream.
    flow, host = local_flow(FLOW)
    with flow:
        client = TransmodalClient(host)
        client.process([MediaDoc(image=image)])  # warm-up: first request opens connections
        flow_seconds = median_seconds(lambda: client.process([MediaDoc(image=image)]), args.repeats)
        rows.append(("Flow, one document end to end", flow_seconds))
        rows.append(("Flow overhead per document", flow_seconds - stage_total))
        report = client.process((MediaDoc(image=image) for _ in range(args.stream)), request_size=1)
        assert report.ok, report.failures

    print(f"1024x768 sign, 3 lines, {args.repeats} repeats (median), {os.cpu_count()} CPU cores\n")
    print("| measurement | value |")
    print("|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1000:.0f} ms |")
    print(f"| stream of {args.stream} images, request_size=1 | {args.stream / report.seconds:.2f} docs/s |")


if __name__ == "__main__":
    main()
