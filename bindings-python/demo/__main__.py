"""``python -m demo``: serve the demo on http://127.0.0.1:8000 (TESSERA_DEMO_PORT to change)."""

from __future__ import annotations

import os

from demo.app import DEMO_USERS, create_app


def main() -> None:
    port = int(os.environ.get("TESSERA_DEMO_PORT", "8000"))
    app = create_app()
    credentials = ", ".join(f"{u} / {p}" for u, p in DEMO_USERS.items())
    print(f"Tessera demo on http://127.0.0.1:{port}/", flush=True)
    print(f"Sign in as one of: {credentials} (admin can end anyone's sessions)", flush=True)
    print("Stop with Ctrl-C.", flush=True)
    app.run(host="127.0.0.1", port=port, threaded=True, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
