"""The transport floor: the collector's server stack (uvicorn, httptools, uvloop) with an app that only
reads the body and answers 200. Run: python bench/floor_app.py PORT"""

from __future__ import annotations

import sys

import uvicorn


async def read_body_and_answer(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"16")]})
    await send({"type": "http.response.body", "body": b'{"success":true}'})


if __name__ == "__main__":
    uvicorn.run(read_body_and_answer, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                lifespan="off", access_log=False, log_level="warning", server_header=False)
