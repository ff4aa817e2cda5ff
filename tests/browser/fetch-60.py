"""Headless Chromium loads a page of smol-toy's origin and fires 60 fetch('/toy') at
once; prints how long all 60 took, in milliseconds, and the protocol each used.

Usage: python3 tests/browser/fetch-60.py ORIGIN CHROMIUM-DEBUG-PORT [SPKI-HASH]
Needs: chromium (Debian's), websocket-client. Chromium is started here, headless,
with a new empty profile, and stopped at the end. Certificates are not checked:
the test's certificate comes from a CA made for the run.

Without SPKI-HASH, QUIC is off. With it (the base64 SHA-256 of the leaf's public
key), Chromium speaks HTTP/3 to ORIGIN from the first request
(--origin-to-force-quic-on), trusting the leaf by that hash: the only way it
accepts a certificate it cannot verify over QUIC.
"""
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

origin, debug_port = sys.argv[1], int(sys.argv[2])
if len(sys.argv) > 3:
    quic = [
        f"--origin-to-force-quic-on={origin.split('://')[1]}",
        f"--ignore-certificate-errors-spki-list={sys.argv[3]}",
    ]
else:
    quic = ["--disable-quic"]
profile = tempfile.mkdtemp(prefix="smol-toy-chromium-")
chromium = subprocess.Popen(
    [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", *quic,
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--ignore-certificate-errors", f"--user-data-dir={profile}",
        f"--remote-debugging-port={debug_port}", "about:blank",
    ],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
try:
    deadline = time.time() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json/list") as r:
                pages = [t for t in json.load(r) if t["type"] == "page"]
            if pages:
                break
        except OSError:
            pass
        if time.time() > deadline:
            raise SystemExit("chromium did not start")
        time.sleep(0.2)
    ws = websocket.create_connection(
        pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
    )
    ids = iter(range(1, 1000))

    def call(method, **params):
        id = next(ids)
        ws.send(json.dumps({"id": id, "method": method, "params": params}))
        while True:
            message = json.loads(ws.recv())
            if message.get("id") == id:
                if "error" in message:
                    raise SystemExit(f"{method}: {message['error']}")
                return message["result"]

    call("Page.enable")
    call("Page.navigate", url=f"{origin}/healthz")
    deadline = time.time() + 20
    while call("Runtime.evaluate", expression="document.readyState")["result"]["value"] != "complete":
        if time.time() > deadline:
            raise SystemExit("the page did not load")
        time.sleep(0.1)
    script = """
    (async () => {
        const started = performance.now();
        const answers = await Promise.all(Array.from({length: 60}, () =>
            fetch('/toy', {cache: 'no-store'}).then(r => r.json())));
        const elapsed = performance.now() - started;
        const ok = answers.filter(a => a.result === 1).length;
        const protocols = [...new Set(performance.getEntriesByType('resource')
            .filter(e => e.name.endsWith('/toy')).map(e => e.nextHopProtocol))];
        return JSON.stringify({elapsed_ms: Math.round(elapsed), ok, protocols});
    })()
    """
    result = call("Runtime.evaluate", expression=script, awaitPromise=True)
    if "value" not in result["result"]:
        raise SystemExit(f"the page failed: {result}")
    print(result["result"]["value"])
finally:
    chromium.terminate()
    try:
        chromium.wait(10)
    except subprocess.TimeoutExpired:
        chromium.kill()
    shutil.rmtree(profile, ignore_errors=True)
