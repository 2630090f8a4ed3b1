"""The JavaScript live SMS counter must agree with content.sms.

Runs ``web/static/js/smscount.js`` under node on the shared cases of
``sms_cases.json`` and on a deterministic fuzz batch, and compares with the
Python implementation.  Skipped when node is not installed.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from content.sms import GSM7_BASIC, GSM7_EXTENSION, sms_info

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCRIPT = ROOT / "web" / "static" / "js" / "smscount.js"
CASES = json.loads((HERE / "sms_cases.json").read_text(encoding="utf-8"))["cases"]

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed; the JS SMS counter is not checked")

# Reads {"texts": [...], "chars": bool} on stdin, prints the analyses (and, if
# asked, the BMP code points the counter considers GSM-7).
DRIVER = r"""
const S = require(process.argv[1]);
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const req = JSON.parse(input);
  const out = { results: req.texts.map((t) => S.analyse(t)) };
  if (req.chars) {
    out.gsm = [];
    for (let cp = 0; cp <= 0xFFFF; cp++) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      if (S.isGsm7Char(String.fromCharCode(cp))) out.gsm.push(cp);
    }
  }
  process.stdout.write(JSON.stringify(out));
});
"""


def run_node(texts: list[str], chars: bool = False) -> dict:
    proc = subprocess.run(
        [NODE, "-e", DRIVER, str(SCRIPT)],
        input=json.dumps({"texts": texts, "chars": chars}, ensure_ascii=True),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def python_view(text: str) -> dict:
    info = sms_info(text)
    return {
        "encoding": info.encoding,
        "units": info.units,
        "segments": info.segments,
        "perSegment": info.per_segment,
        "remaining": info.remaining_in_segment,
        "nonGsmChars": list(info.non_gsm_chars),
    }


def test_shared_cases_match_expected_values():
    results = run_node([case["text"] for case in CASES])["results"]
    for case, got in zip(CASES, results, strict=True):
        expected = {
            "encoding": case["encoding"],
            "units": case["units"],
            "segments": case["segments"],
            "perSegment": case["per_segment"],
            "remaining": case["remaining"],
            "nonGsmChars": case["non_gsm_chars"],
        }
        assert got == expected, case["name"]


def test_same_alphabet_on_every_bmp_code_point():
    gsm_js = set(run_node([], chars=True)["gsm"])
    gsm_py = {ord(c) for c in GSM7_BASIC | GSM7_EXTENSION}
    assert gsm_js == gsm_py
    assert len(gsm_js) == 137


def _fuzz_texts() -> list[str]:
    rng = random.Random(20240601)
    basic = sorted(GSM7_BASIC)
    ext = sorted(GSM7_EXTENSION)
    other = ["ê", "ç", "ô", "\t", "`", "\u0301", "ŝ", "中", "\u200d", "\ud83d"]
    astral = ["😀", "🙏", "🇭", "👍", "𝔸"]
    texts = []
    for _ in range(600):
        length = rng.choice([0, 1, 5, 69, 70, 71, 134, 135, 152, 153, 154, 159, 160, 161, 200, 306, 307, 460])
        mode = rng.random()
        chars = []
        for _ in range(length):
            pick = rng.random()
            if mode < 0.5:  # GSM-7 texts, with escapes
                chars.append(rng.choice(ext) if pick < 0.15 else rng.choice(basic))
            elif pick < 0.6:
                chars.append(rng.choice(basic))
            elif pick < 0.7:
                chars.append(rng.choice(ext))
            elif pick < 0.85:
                chars.append(rng.choice(other))
            else:
                chars.append(rng.choice(astral))
        texts.append("".join(chars))
    return texts


def test_fuzz_agrees_with_python():
    texts = _fuzz_texts()
    results = run_node(texts)["results"]
    mismatches = [(t, got) for t, got in zip(texts, results, strict=True) if got != python_view(t)]
    assert not mismatches, mismatches[:3]
