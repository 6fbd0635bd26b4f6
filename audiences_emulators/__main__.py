"""python -m audiences_emulators hubspot --port P [options]"""

from __future__ import annotations

import argparse
import contextlib
import sys

from audiences_emulators.hubspot import SANDBOX_TOKEN, HubSpotConfig, HubSpotEmulator


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m audiences_emulators")
    sub = ap.add_subparsers(dest="name", required=True)
    hs = sub.add_parser("hubspot", help="HubSpot contacts + lists emulator")
    hs.add_argument("--host", default="127.0.0.1")
    hs.add_argument("--port", type=int, default=8765)
    hs.add_argument(
        "--token", action="append", help=f"accepted Bearer token (default {SANDBOX_TOKEN})"
    )
    hs.add_argument(
        "--burst", type=int, default=100, help="requests per window per token; 0 = no limit"
    )
    hs.add_argument("--window", type=float, default=10.0, help="rolling window in seconds")
    hs.add_argument("--daily", type=int, default=250_000, help="daily request cap; 0 = no cap")
    hs.add_argument("--retry-after", action="store_true", help="send Retry-After on 429")
    hs.add_argument(
        "--reject-mode", choices=["multi_status", "whole_batch"], default="multi_status"
    )
    hs.add_argument(
        "--property", action="append", default=[], help="custom contact property to accept"
    )
    hs.add_argument("--any-property", action="store_true", help="accept every property name")
    args = ap.parse_args(argv)
    cfg = HubSpotConfig(
        tokens=set(args.token or [SANDBOX_TOKEN]),
        burst=args.burst or None,
        window_seconds=args.window,
        daily=args.daily or None,
        retry_after=args.retry_after,
        reject_mode=args.reject_mode,
        custom_properties=set(args.property),
        accept_any_property=args.any_property,
    )
    emu = HubSpotEmulator(args.host, args.port, cfg)
    print(f"hubspot emulator on http://{args.host}:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emu.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
