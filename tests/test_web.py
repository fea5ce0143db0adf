"""The web app (transmodal.web) in front of a real Flow over gRPC: the HTTP API with plain HTTP requests
(as curl sends them), `transmodal serve --web-port` under a stop signal, and the page in a real browser
(Debian's chromium, headless, driven by Selenium through chromium-driver).

The image Flow is flow.yml, started once for the module on loopback (about half a minute); the stop-signal
test uses the two tiny executors of test_reliability.py.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile

import numpy as np
import pytest
from PIL import Image

from transmodal.flows import free_port, local_flow, running
from transmodal.media import encode_image
from transmodal.signals import alive, descendants
from transmodal.synthetic import make_sign
from transmodal.web.app import create_app, serve_in_thread

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_BODY = 5_000_000  # the app's request limit in these tests


def sign_png(text: str, seed: int) -> bytes:
    return encode_image(make_sign([text], size=(480, 320), background="flat", seed=seed, font_size=44).image)


def multipart(files: list[tuple[str, str, bytes]], fields: dict | None = None) -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data upload: (field, file name, content) per file."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in (fields or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for field, filename, content in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request(url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 300):
    """(status, headers, body) of a request; error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers or {}), timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture(scope="module")
def web():
    """The image Flow (flow.yml over real gRPC on loopback) and the web app in front of it: its base URL."""
    flow, host = local_flow(os.path.join(ROOT, "flow.yml"))
    with running(flow):
        app = create_app(host, flow_path=os.path.join(ROOT, "flow.yml"), max_body_bytes=MAX_BODY)
        port = free_port()
        server, thread = serve_in_thread(app, "127.0.0.1", port)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(5)


# ---------------------------------------------------------------------------------------------------------
# The HTTP API, as curl uses it


@pytest.mark.integration
@pytest.mark.slow
def test_an_uploaded_image_comes_back_translated_as_png_and_the_app_is_ready(web):
    assert request(web + "/healthz")[0] == 200
    status, _, body = request(web + "/ready")
    assert status == 200 and json.loads(body)["ready"], body
    original = sign_png("NO PARKING", seed=11)
    body, content_type = multipart([("image", "sign.png", original)])
    status, headers, answer = request(
        web + "/api/translate-image?source=en&target=es", body, {"Content-Type": content_type}
    )
    assert status == 200, answer[:500]
    assert headers["Content-Type"] == "image/png"
    translated = np.asarray(Image.open(io.BytesIO(answer)).convert("RGB"))
    before = np.asarray(Image.open(io.BytesIO(original)).convert("RGB"))
    assert translated.shape == before.shape and np.abs(translated.astype(int) - before).mean() > 1

    # The raw body works too (curl --data-binary @sign.png).
    status, headers, _ = request(web + "/api/translate-image?target=es", original, {"Content-Type": "image/png"})
    assert status == 200 and headers["Content-Type"] == "image/png"


@pytest.mark.integration
@pytest.mark.slow
def test_the_json_variant_carries_the_image_and_the_regions(web):
    body, content_type = multipart([("image", "open.png", sign_png("OPEN", seed=12))], {"target": "es"})
    status, headers, answer = request(
        web + "/api/translate-image", body, {"Content-Type": content_type, "Accept": "application/json"}
    )
    assert status == 200, answer[:500]
    result = json.loads(answer)
    assert result["image_type"] == "image/png"
    Image.open(io.BytesIO(base64.b64decode(result["image"]))).verify()
    assert result["regions"], result
    region = result["regions"][0]
    assert "OPEN" in region["text"].upper() and region["translation"] and len(region["box"]) == 4
    assert isinstance(region["flags"], list) and result["error"] is None


@pytest.mark.integration
@pytest.mark.slow
def test_a_corrupt_image_is_422_naming_the_stage_and_a_bad_language_is_400(web):
    corrupt = sign_png("OPEN", seed=3)[:200]  # a PNG cut short
    body, content_type = multipart([("image", "broken.png", corrupt)])
    status, _, answer = request(web + "/api/translate-image?target=es", body, {"Content-Type": content_type})
    assert status == 422, answer[:500]
    error = json.loads(answer)
    assert error["stage"] == "TextDetector" and "decode" in error["error"] and error["name"] == "broken.png"

    bad_target = web + "/api/translate-image?target=not%20a%20language"
    status, _, answer = request(bad_target, body, {"Content-Type": content_type})
    assert status == 400 and "target_lang" in json.loads(answer)["error"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_body_over_the_limit_gets_413_before_it_is_sent(web):
    host, port = web.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=20)
    # Claim 50 MB and send none of it: only a server that decides on the headers can answer.
    connection.putrequest("POST", "/api/translate-image")
    connection.putheader("Content-Type", "image/png")
    connection.putheader("Content-Length", str(50_000_000))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413
    assert "exceeds the limit of 5000000" in json.loads(response.read())["detail"]
    connection.close()


def read_events(url: str, timeout: float = 300) -> list[tuple[str, dict]]:
    """The server-sent events of a job, read until the stream ends: (event, data) each."""
    events = []
    with urllib.request.urlopen(url, timeout=timeout) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        kind = None
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    return events


@pytest.mark.integration
@pytest.mark.slow
def test_a_two_page_job_streams_one_event_per_page_and_the_book_has_them_in_order(web):
    pages = [("01.png", sign_png("NO PARKING", 11)), ("02.png", sign_png("OPEN", 12))]
    body, content_type = multipart([("files", name, data) for name, data in pages], {"source": "en", "target": "es"})
    status, _, answer = request(web + "/api/jobs", body, {"Content-Type": content_type})
    assert status == 202, answer[:500]
    job = json.loads(answer)
    assert job["pages"] == ["01.png", "02.png"]

    events = read_events(web + job["events"])
    page_events = [data for kind, data in events if kind == "page"]
    assert sorted(event["index"] for event in page_events) == [0, 1]
    assert all(event["ok"] for event in page_events), page_events
    assert events[-1][0] == "done" and events[-1][1]["written"], events[-1]

    for index, (_, original) in enumerate(pages):
        status, headers, page = request(f"{web}/api/jobs/{job['id']}/pages/{index}")
        assert status == 200 and headers["Content-Type"] == "image/png"
        assert page != original
        assert request(f"{web}/api/jobs/{job['id']}/pages/{index}/original")[2] == original
    status, headers, book = request(f"{web}/api/jobs/{job['id']}/book")
    assert status == 200 and "pages.es.cbz" in headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(book)) as archive:
        assert archive.namelist() == ["01.png", "02.png"]

    # A region's translation fixed by hand: the page is rendered again through the Flow, with it.
    status, _, answer = request(
        f"{web}/api/jobs/{job['id']}/pages/1/render",
        json.dumps({"translations": {"0": "CERRADO"}}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, answer[:500]
    assert json.loads(answer)["regions"][0]["translation"] == "CERRADO"


# ---------------------------------------------------------------------------------------------------------
# transmodal serve --web-port: one stop signal stops the Flow and the web app


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigterm_to_serve_with_a_web_port_stops_the_flow_and_the_app(tmp_path):
    from test_reliability import subprocess_env, wait_for, write_flow

    path = write_flow(tmp_path, protocols=("grpc", "http"))
    grpc_port, http_port, web_port = free_port(), free_port(), free_port()
    command = [sys.executable, "-m", "transmodal.cli", "serve", path, "--port", str(grpc_port)]
    command += ["--http-port", str(http_port), "--host", "127.0.0.1", "--web-port", str(web_port)]
    server = subprocess.Popen(command, env=subprocess_env(), start_new_session=True, stderr=subprocess.PIPE)
    web = f"http://127.0.0.1:{web_port}"

    def ready() -> bool:
        try:
            return request(web + "/ready", timeout=5)[0] == 200
        except OSError:
            return False

    try:
        assert wait_for(ready, 60), "serve --web-port did not get ready"
        started = descendants(server.pid)
        server.send_signal(signal.SIGTERM)
        code = server.wait(20)
        assert wait_for(lambda: not [pid for pid in started if alive(pid)], 5)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert code == 128 + signal.SIGTERM
    with pytest.raises(OSError):
        request(web + "/healthz", timeout=2)


# ---------------------------------------------------------------------------------------------------------
# The page, in a real browser


def chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture
def browser(tmp_path):
    if chromium() is None:
        pytest.skip("chromium and chromium-driver are not installed (scripts/install-system.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium()  # type: ignore[misc]
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def downloaded(folder, name: str, seconds: float = 30) -> bytes:
    path = folder / name
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and not (folder / (name + ".crdownload")).exists():
            return path.read_bytes()
        time.sleep(0.2)
    raise AssertionError(f"{name} was not downloaded; the folder has {os.listdir(folder)}")


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_page_translates_an_image_and_a_cbz_and_downloads_them(web, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 300)
    browser.get(web + "/")
    assert "Flow: flow.yml" in browser.find_element(By.ID, "flow-info").text or wait.until(
        lambda b: "flow.yml" in b.find_element(By.ID, "flow-info").text
    )

    # One real image of the examples.
    example = os.path.join(ROOT, "examples", "street-sign.png")
    browser.find_element(By.ID, "files").send_keys(example)
    browser.find_element(By.ID, "start").click()
    wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-job") in ("done", "failed"))
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-job") == "done"
    assert "done" in browser.find_element(By.CSS_SELECTOR, "#pages li").get_attribute("class")
    wait.until(lambda b: b.execute_script("return document.getElementById('after').naturalWidth > 0"))
    browser.find_element(By.ID, "page-link").click()
    page = downloaded(browser.downloads, "street-sign.png")
    with open(example, "rb") as file:
        original = file.read()
    translated = Image.open(io.BytesIO(page)).convert("RGB")
    source = Image.open(io.BytesIO(original)).convert("RGB")
    assert translated.size == source.size and np.abs(np.asarray(translated, int) - np.asarray(source)).mean() > 0.1
    if os.environ.get("TRANSMODAL_SCREENSHOT"):  # docs/web.png for the README: TRANSMODAL_SCREENSHOT=1
        browser.execute_script("window.scrollTo(0, 0)")
        shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
        shot.thumbnail((960, 960))
        shot.quantize(128).save(os.path.join(ROOT, "docs", "web.png"), optimize=True)  # small: ~100 KB

    # A two-page CBZ, built here.
    book = tmp_path / "signs.cbz"
    with zipfile.ZipFile(book, "w") as archive:
        archive.writestr("01.png", sign_png("NO PARKING", 11))
        archive.writestr("02.png", sign_png("OPEN", 12))
    browser.execute_script("document.body.dataset.job = ''")
    browser.execute_script("document.getElementById('files').value = ''")
    browser.find_element(By.ID, "files").send_keys(str(book))
    browser.find_element(By.ID, "start").click()
    wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-job") in ("done", "failed"))
    items = browser.find_elements(By.CSS_SELECTOR, "#pages li")
    assert [item.text.split("\n")[0] for item in items] == ["01.png", "02.png"]
    assert all("done" in item.get_attribute("class") for item in items)
    assert browser.find_element(By.ID, "progress-text").text == "2 of 2 pages"
    browser.find_element(By.ID, "book-link").click()
    with zipfile.ZipFile(io.BytesIO(downloaded(browser.downloads, "signs.es.cbz"))) as archive:
        assert archive.namelist() == ["01.png", "02.png"]
        assert archive.read("01.png") != sign_png("NO PARKING", 11)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_speech_in_speech_out_through_api_run_on_the_speech_to_speech_flow():
    # A real Spanish recording (Asterisk's prompts, fetched by `make test`), no source language given:
    # /api/run answers the English speech as a WAV, /api/run.json the text, translation and detected language.
    import soundfile
    from faster_whisper import decode_audio

    from evaluation import datasets

    datasets.require("asterisk-es")
    samples = decode_audio(datasets.path("asterisk-es", datasets.asterisk_clip("es", "invalid")), 16000)
    wav = io.BytesIO()
    soundfile.write(wav, samples, 16000, format="WAV", subtype="PCM_16")
    body, content_type = multipart([("audio", "question.wav", wav.getvalue())])
    flow_path = os.path.join(ROOT, "flows", "speech-to-speech.yml")
    flow, host = local_flow(flow_path)
    with running(flow):
        port = free_port()
        server, thread = serve_in_thread(create_app(host, flow_path=flow_path), "127.0.0.1", port)
        try:
            status, headers, answer = request(
                f"http://127.0.0.1:{port}/api/run?target=en", body, {"Content-Type": content_type}
            )
            assert status == 200 and headers["Content-Type"] == "audio/wav", answer[:300]
            spoken, rate = soundfile.read(io.BytesIO(answer))
            assert rate > 0 and len(spoken) / rate > 1.0
            status, _, answer = request(
                f"http://127.0.0.1:{port}/api/run.json?target=en", body, {"Content-Type": content_type}
            )
            result = json.loads(answer)
            assert status == 200 and result["source_lang"] == "es" and result["target_lang"] == "en"
            assert "extension" in result["translation"].lower() and "again" in result["translation"].lower()
        finally:
            server.should_exit = True
            thread.join(5)


def test_uploads_of_the_same_name_are_all_kept_as_pages(tmp_path):
    from transmodal.web.jobs import Job

    uploads = [("a.png", sign_png("One", 1)), ("a.png", sign_png("Two", 2)), ("a-2.png", sign_png("Three", 3))]
    job = Job(str(tmp_path / "job"), uploads, {"target_lang": "es"})
    assert len(job.pages) == 3 and len(set(job.pages)) == 3, job.pages


def test_a_result_named_in_any_script_comes_back_with_its_name(web):
    body, content_type = multipart([("image", '漫画 "1".png', sign_png("Open", 5))])
    status, headers, answer = request(
        f"{web}/api/translate-image?source=en&target=es", body, {"Content-Type": content_type}
    )
    assert status == 200 and answer.startswith(b"\x89PNG")
    disposition = headers["Content-Disposition"]
    assert "filename*=UTF-8''%E6%BC%AB%E7%94%BB" in disposition and disposition.isascii()


def test_a_result_in_phones_reaches_the_json_answer():
    from transmodal.docs import MediaDoc
    from transmodal.web.jobs import document_json

    said = document_json(MediaDoc(phones="r 'E d", name="red.png"))  # an image-to-speech-phones result
    assert said["phones"] == "r 'E d" and said["text"] is None
