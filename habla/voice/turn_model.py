"""End-of-turn classifier weights, written by `scripts/tune_turn_end.py --train` (do not edit).

Logistic regressions over habla.voice.turn.FEATURES, fitted on 367 pauses (109 of them a turn's end) of the
tuning half only (clips whose crc32 is odd): every pause of `habla bench voice`'s tuning turns, and every word
boundary of the tuning clips (--generated). Standardised inputs ((x - mean) / scale, over all FEATURES);
"text+pitch" drops the chat model's two features."""

from __future__ import annotations

from typing import Any

WEIGHTS: dict[str, dict[str, Any]] = {
    "text+pitch+model": {
        "features": [
            "sentence_end",
            "question",
            "one_word",
            "log_words",
            "sentences",
            "pitch_drop",
            "no_pitch",
            "log_model",
            "no_model"
        ],
        "mean": [
            0.46594,
            0.00272,
            0.08992,
            1.76566,
            0.62943,
            1.88001,
            0.0,
            -1.38298,
            0.0
        ],
        "scale": [
            0.49884,
            0.05213,
            0.28606,
            0.56407,
            0.68777,
            3.87827,
            1.0,
            0.69652,
            1.0
        ],
        "coef": [
            -0.29284,
            -0.28206,
            -0.39102,
            1.08917,
            0.44927,
            2.72361,
            0.0,
            0.25687,
            0.0
        ],
        "intercept": -2.45008
    },
    "text+pitch": {
        "features": [
            "sentence_end",
            "question",
            "one_word",
            "log_words",
            "sentences",
            "pitch_drop",
            "no_pitch"
        ],
        "mean": [
            0.46594,
            0.00272,
            0.08992,
            1.76566,
            0.62943,
            1.88001,
            0.0,
            -1.38298,
            0.0
        ],
        "scale": [
            0.49884,
            0.05213,
            0.28606,
            0.56407,
            0.68777,
            3.87827,
            1.0,
            0.69652,
            1.0
        ],
        "coef": [
            -0.20574,
            -0.28969,
            -0.35286,
            1.17955,
            0.41578,
            2.75263,
            0.0
        ],
        "intercept": -2.42114
    }
}
