"""A real OpenAI-format chat-completions server on 127.0.0.1 for the tests.

It answers ``POST /v1/chat/completions`` with a profile made from the request itself: the genres
named in the user message, most frequent first, so different histories get different profiles.
The answer is cut to ``max_tokens`` at 3 characters a token (the backend's estimate).
``script`` holds scripted answers for the next requests: an HTTP status (e.g. 429), ``("sleep", s)``, or
``("echo", status)``: that status with the request's headers echoed in the error body, as some proxies do.
"""

import collections
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GENRE_WORDS = re.compile(r"\b(Action|Adventure|Animation|Comedy|Crime|Drama|Horror|Romance|Sci-Fi|Thriller|"
                         r"War|Musical|Mystery|Western|Documentary|Fantasy|Children's|Film-Noir|"
                         r"Makeup|Skin|Hair|Fragrance|Nails)\b")


def answer_for(messages):
    text = " ".join(m["content"] for m in messages if m["role"] == "user")
    counts = collections.Counter(GENRE_WORDS.findall(text))
    liked = ", ".join(word for word, _ in counts.most_common(3)) or "nothing in particular"
    return f"Preferences: {liked}. Behavioural patterns: {len(text.splitlines())} lines read."


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status, payload, headers=()):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        server = self.server
        length = int(self.headers.get("Content-Length", 0))
        request = json.loads(self.rfile.read(length))
        with server.lock:
            server.requests.append({"body": request, "authorization": self.headers.get("Authorization")})
            action = server.script.popleft() if server.script else None
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        if isinstance(action, int):
            return self._send(action, {"error": {"message": f"scripted {action}"}}, [("Retry-After", "0")])
        if isinstance(action, tuple) and action[0] == "echo":
            return self._send(action[1], {"error": {"message": "bad request", "headers": dict(self.headers)}})
        if isinstance(action, tuple) and action[0] == "sleep":
            time.sleep(action[1])
        # honour max_tokens, at the client's own estimate of 3 characters a token
        content = answer_for(request["messages"])[: 3 * request.get("max_tokens", 10 ** 6)]
        prompt_tokens = sum(len(m["content"].split()) for m in request["messages"])
        self._send(200, {
            "id": "chatcmpl-test", "object": "chat.completion", "model": request["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(content.split()),
                      "total_tokens": prompt_tokens + len(content.split())},
        })


class OpenAIServer:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.lock = threading.Lock()
        self.httpd.requests = []
        self.httpd.script = collections.deque()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def requests(self):
        return self.httpd.requests

    def enqueue(self, *actions):
        self.httpd.script.extend(actions)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
