"""Going offline in utils.encoders is real: after the Hub could not be reached once, no later call of
transformers, huggingface_hub or datasets tries the network. Run in a fresh process, where the libraries
were imported with the offline switches off (as on a student's machine), unlike the rest of the tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent("""
    import json, socket, time
    import datasets, huggingface_hub.constants, transformers
    from utils import encoders

    flags_at_import = huggingface_hub.constants.HF_HUB_OFFLINE or datasets.config.HF_HUB_OFFLINE
    start = time.perf_counter()
    loaded = encoders.load_encoder("workbook-tests/bert-not-in-any-cache")
    fallback_s = time.perf_counter() - start

    attempts = []
    def refuse(self, address):
        attempts.append(address)
        raise OSError("the test forbids the network here")
    socket.socket.connect = refuse
    start = time.perf_counter()
    errors = []
    for load in (lambda: transformers.AutoConfig.from_pretrained("workbook-tests/another-model"),
                 lambda: datasets.load_dataset("workbook-tests/another-dataset")):
        try:
            load()
        except Exception as error:
            errors.append(type(error).__name__)
    print(json.dumps({"flags_at_import": flags_at_import, "name": loaded.name, "fallback_s": fallback_s,
                      "later_s": time.perf_counter() - start, "attempts": [str(a) for a in attempts],
                      "errors": errors, "hub_flag": huggingface_hub.constants.HF_HUB_OFFLINE,
                      "datasets_flag": datasets.config.HF_HUB_OFFLINE}))
""")


def test_an_unreachable_hub_costs_seconds_and_then_nothing_asks_the_network(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(ROOT),
               TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert not result["flags_at_import"], "the libraries were imported online, as on a student's machine"
    assert result["name"] == "minilm"
    assert result["fallback_s"] < 30, f"giving up on the Hub took {result['fallback_s']:.0f} s"
    assert result["hub_flag"] and result["datasets_flag"], "the libraries' own offline flags are on"
    assert result["attempts"] == [], f"a later call still tried the network: {result['attempts']}"
    assert len(result["errors"]) == 2 and result["later_s"] < 10, result
