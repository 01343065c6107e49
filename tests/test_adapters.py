"""Adapters: the course model and transformers behind one interface, and the OpenAI-compatible
endpoint's response parsing, tested offline against a tiny fake server on 127.0.0.1."""

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from conftest import require_reference
from course_utils.adapters import (
    EndpointNotConfigured,
    LocalModel,
    OpenAICompatible,
    TokenLogprob,
    TransformersModel,
    openai_endpoint_status,
    parse_chat_top_logprobs,
    parse_completions_top_logprobs,
)
from course_utils.generation import generate
from course_utils.model import load_model

CHAT_REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris"},
            "logprobs": {
                "content": [
                    {
                        "token": "Paris",
                        "logprob": -0.01,
                        "bytes": [80, 97, 114, 105, 115],
                        "top_logprobs": [
                            {"token": " The", "logprob": -5.3, "bytes": [32, 84, 104, 101]},
                            {"token": "Paris", "logprob": -0.01, "bytes": [80, 97, 114, 105, 115]},
                            {"token": "The", "logprob": -4.9, "bytes": [84, 104, 101]},
                        ],
                    }
                ]
            },
            "finish_reason": "length",
        }
    ],
}
COMPLETIONS_REPLY = {
    "id": "cmpl-1",
    "object": "text_completion",
    "choices": [
        {
            "text": " Paris",
            "index": 0,
            "logprobs": {
                "tokens": [" Paris"],
                "token_logprobs": [-0.2],
                "top_logprobs": [{" Paris": -0.2, " the": -2.1, " a": -3.5}],
                "text_offset": [24],
            },
            "finish_reason": "length",
        }
    ],
}


class FakeEndpoint:
    """An OpenAI-compatible server on 127.0.0.1 that records requests and answers from a script."""

    def __init__(self):
        self.requests = []
        self.replies = {}  # path -> (status, body)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, reply = endpoint.replies.get(self.path, (404, {"error": "no such route"}))
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep pytest output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    server = FakeEndpoint()
    yield server
    server.close()


def test_chat_top_logprobs_over_http(endpoint):
    endpoint.replies["/v1/chat/completions"] = (200, CHAT_REPLY)
    api = OpenAICompatible("some-model", base_url=endpoint.base_url, api_key="sk-test")
    top = api.top_logprobs("What is the capital of France?", k=3)
    assert top == [TokenLogprob("Paris", -0.01), TokenLogprob("The", -4.9), TokenLogprob(" The", -5.3)]
    assert top[0].prob == pytest.approx(math.exp(-0.01)) and top[2].token_text == "␣The"
    (request,) = endpoint.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["body"] == {
        "model": "some-model",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 1,
        "logprobs": True,
        "top_logprobs": 3,
    }


def test_completions_top_logprobs_over_http(endpoint):
    endpoint.replies["/v1/completions"] = (200, COMPLETIONS_REPLY)
    api = OpenAICompatible("local", base_url=endpoint.base_url, api_key="none", api="completions")
    top = api.top_logprobs("The capital of France is", k=2)
    assert top == [TokenLogprob(" Paris", -0.2), TokenLogprob(" the", -2.1)]
    assert endpoint.requests[0]["body"] == {"model": "local", "prompt": "The capital of France is", "max_tokens": 1, "logprobs": 2}


def test_configuration_from_environment(endpoint, monkeypatch):
    endpoint.replies["/v1/chat/completions"] = (200, CHAT_REPLY)
    monkeypatch.setenv("OPENAI_BASE_URL", endpoint.base_url + "/")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_MODEL", "env-model")
    api = OpenAICompatible()
    assert api.top_logprobs("hi", k=1) == [TokenLogprob("Paris", -0.01)]
    assert endpoint.requests[0]["headers"]["Authorization"] == "Bearer sk-env"
    assert endpoint.requests[0]["body"]["model"] == "env-model"
    assert openai_endpoint_status()[0] is True


def test_http_errors_are_explained(endpoint):
    endpoint.replies["/v1/chat/completions"] = (401, {"error": {"message": "Incorrect API key"}})
    api = OpenAICompatible("m", base_url=endpoint.base_url, api_key="bad")
    with pytest.raises(RuntimeError, match="HTTP 401.*Incorrect API key"):
        api.top_logprobs("hi")


def test_a_reply_without_logprobs_is_explained(endpoint):
    endpoint.replies["/v1/chat/completions"] = (200, {"choices": [{"message": {"content": "hi"}, "logprobs": None}]})
    api = OpenAICompatible("m", base_url=endpoint.base_url, api_key="k")
    with pytest.raises(ValueError, match="no top log-probabilities"):
        api.top_logprobs("hi")


def test_an_unreachable_endpoint_is_explained(endpoint):
    url = endpoint.base_url
    endpoint.close()  # nothing listens on that port any more
    api = OpenAICompatible("m", base_url=url, api_key="k", timeout=5)
    with pytest.raises(ConnectionError, match="Could not reach"):
        api.top_logprobs("hi")


def test_no_key_means_not_configured(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    configured, reason = openai_endpoint_status()
    assert not configured and "OPENAI_API_KEY" in reason
    with pytest.raises(EndpointNotConfigured, match="OPENAI_API_KEY"):
        OpenAICompatible("m")


def test_a_foreign_endpoint_needs_a_model_name(monkeypatch):
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    with pytest.raises(EndpointNotConfigured, match="OPENAI_MODEL"):
        OpenAICompatible(base_url="http://127.0.0.1:1/v1", api_key="k")


@pytest.mark.parametrize("k, error", [(0, ValueError), (21, ValueError), (2.0, TypeError), (True, TypeError)])
def test_k_is_checked(k, error):
    api = OpenAICompatible("m", base_url="http://127.0.0.1:1/v1", api_key="k")
    with pytest.raises(error, match="k must be a whole number from 1 to 20"):
        api.top_logprobs("hi", k=k)


def test_parsers_sort_by_logprob():
    assert [t.token for t in parse_chat_top_logprobs(CHAT_REPLY)] == ["Paris", "The", " The"]
    assert [t.token for t in parse_completions_top_logprobs(COMPLETIONS_REPLY)] == [" Paris", " the", " a"]


def test_live_endpoint():
    configured, reason = openai_endpoint_status()
    if not configured:
        pytest.skip(reason)  # optional: network and a key, never in CI
    top = OpenAICompatible().top_logprobs("The capital of France is", k=5)
    assert 1 <= len(top) <= 5
    assert all(t.logprob <= 0 for t in top) and sum(t.prob for t in top) <= 1 + 1e-6


def test_local_model_top_logprobs():
    top = LocalModel(load_model()).top_logprobs("The capital of France is", k=5)
    assert top[0].token == " Paris" and top[0].token_text == "␣Paris"
    assert [t.logprob for t in top] == sorted((t.logprob for t in top), reverse=True)
    assert 0 < sum(t.prob for t in top) < 1


# ---- transformers (reference extra) ----------------------------------------------------------


@pytest.fixture(scope="module")
def hf():
    require_reference()
    return TransformersModel.bundled(threads=2)


@pytest.mark.reference
def test_transformers_adapter_agrees_with_the_course_model(hf):
    ours = LocalModel(load_model()).top_logprobs("The capital of France is", k=5)
    theirs = hf.top_logprobs("The capital of France is", k=5)
    assert [t.token for t in theirs] == [t.token for t in ours]
    np.testing.assert_allclose([t.logprob for t in theirs], [t.logprob for t in ours], atol=1e-3)
    assert hf.vocab_size == 49152 and hf.eos_ids == {0, 2}


@pytest.mark.reference
def test_generate_runs_on_the_transformers_adapter(hf):
    model = load_model()
    theirs = generate(hf, "The capital of France is", max_new_tokens=6, temperature=0)
    ours = generate(model, "The capital of France is", max_new_tokens=6, temperature=0)
    assert theirs.token_ids == ours.token_ids and theirs.text == ours.text
    assert hf.chat_prompt("Hi") == model.chat_prompt("Hi")

