"""The original Flask toy service, with the article's event-loop fix.

`GET /toy` runs a coroutine that sleeps (1 s by default) and answers {"result": 1};
`GET /healthz` answers at once. Run on Flask's development server:

    python app.py PORT [DELAY_SECONDS]

or on gunicorn: `gunicorn -k gthread -w 2 --threads 100 -b 127.0.0.1:PORT app:app`
(the delay then comes from the TOY_DELAY environment variable).
"""

import asyncio
import os
import sys

from flask import Flask, jsonify

app = Flask(__name__)
DELAY = float(os.environ.get("TOY_DELAY", "1"))


async def hello():
    await asyncio.sleep(DELAY)
    return 1


@app.route("/toy", methods=["GET"])
def index():
    # The fix: a fresh event loop per request, in whichever thread runs the view.
    result = asyncio.run(hello())
    return jsonify({"result": result})


@app.route("/healthz", methods=["GET"])
def healthz():
    return jsonify({"status": "ok"})


if __name__ == "__main__":
    if len(sys.argv) > 2:
        DELAY = float(sys.argv[2])
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 4567
    app.run(host="127.0.0.1", port=port, debug=False, threaded=True)
