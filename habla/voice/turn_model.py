"""End-of-turn classifier weights, written by `scripts/tune_turn_end.py --train` (do not edit).

Logistic regressions over habla.voice.turn.FEATURES, fitted on 367 pauses (109 of them a turn's end) of the
tuning half only (clips whose crc32 is odd): every pause of `habla bench voice`'s tuning turns, and every word
boundary of the tuning clips (--generated). Standardised inputs ((x - mean) / scale, over all FEATURES);
"text+pitch" drops the chat model's features (MODEL_FEATURES)."""

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
            "purpose_before_last",
            "spanish",
            "log_model",
            "no_model",
            "log_model_es"
        ],
        "mean": [
            0.46594,
            0.00272,
            0.08992,
            1.76566,
            0.62943,
            1.88001,
            0.0,
            0.0545,
            0.55586,
            -1.38298,
            0.0,
            -0.81642
        ],
        "scale": [
            0.49884,
            0.05213,
            0.28606,
            0.56407,
            0.68777,
            3.87827,
            1.0,
            0.22699,
            0.49687,
            0.69652,
            1.0,
            0.83097
        ],
        "coef": [
            -0.2982,
            -0.28896,
            -0.42208,
            1.05077,
            0.47443,
            2.72876,
            0.0,
            -0.25168,
            0.02081,
            0.29962,
            0.0,
            -0.12898
        ],
        "intercept": -2.45047
    },
    "text+pitch": {
        "features": [
            "sentence_end",
            "question",
            "one_word",
            "log_words",
            "sentences",
            "pitch_drop",
            "no_pitch",
            "purpose_before_last",
            "spanish"
        ],
        "mean": [
            0.46594,
            0.00272,
            0.08992,
            1.76566,
            0.62943,
            1.88001,
            0.0,
            0.0545,
            0.55586,
            -1.38298,
            0.0,
            -0.81642
        ],
        "scale": [
            0.49884,
            0.05213,
            0.28606,
            0.56407,
            0.68777,
            3.87827,
            1.0,
            0.22699,
            0.49687,
            0.69652,
            1.0,
            0.83097
        ],
        "coef": [
            -0.21501,
            -0.29836,
            -0.37713,
            1.13075,
            0.45022,
            2.76995,
            0.0,
            -0.29844,
            0.03751
        ],
        "intercept": -2.43011
    }
}
