"""``python -m demo --config DEMO_JSON --port N``: the Flask demo server on 127.0.0.1:N.

``make demo`` (demo/launch.py) writes the configuration the three servers share and starts
them; run this directly only with such a file. A missing or wrong option is an error, never
ignored.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from demo.app import create_app
from demo.config import DemoConfig


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="demo.json from demo/launch.py")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    args = parser.parse_args()
    config = DemoConfig.load(args.config)
    app = create_app(config)
    # One line per request is noise beside the other two servers (and the events panel polls).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(f"Flask demo on http://127.0.0.1:{args.port}/", flush=True)
    app.run(host="127.0.0.1", port=args.port, threaded=True, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
