"""`python -m faultproxy --upstream http://127.0.0.1:8001 --port 8002 [--rules rules.json]`

rules.json: `{"seed": 7, "rules": [{"kind": "throttling", "targets": ["*"],
"probability": 0.03}, ...]}`. Change them at run time with
`curl -X PUT --data @rules.json http://127.0.0.1:8002/__faultproxy/rules`;
read the counters with `curl http://127.0.0.1:8002/__faultproxy/stats`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal

from faultproxy.proxy import FaultProxy


async def _main(args: argparse.Namespace) -> None:
    proxy = FaultProxy(args.upstream, host=args.host, port=args.port)
    if args.rules:
        with open(args.rules) as f:
            spec = json.load(f)
        proxy.set_rules(spec.get("rules", []), spec.get("seed"))
    await proxy.start()
    print(f"faultproxy listening on {proxy.endpoint} -> {args.upstream}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print(json.dumps(proxy.plan.stats()), flush=True)
    await proxy.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="faultproxy", description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="DynamoDB endpoint to forward to")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--rules", help="JSON file: {seed, rules: [...]}")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper())
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
