"""End-of-turn classifier weights, written by `scripts/tune_turn_end.py --train` (do not edit).

Logistic regressions over habla.voice.turn.FEATURES, fitted on 80 pauses (56 of them a turn's end) of the
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
            0.5875,
            0.0,
            0.025,
            1.96431,
            0.825,
            4.61193,
            0.0,
            -1.15673,
            0.0
        ],
        "scale": [
            0.49228,
            1.0,
            0.15612,
            0.48727,
            0.72068,
            3.35322,
            1.0,
            0.61536,
            1.0
        ],
        "coef": [
            -0.458,
            0.0,
            -0.23105,
            0.86092,
            0.74146,
            1.94168,
            0.0,
            -0.09278,
            0.0
        ],
        "intercept": 1.17918
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
            0.5875,
            0.0,
            0.025,
            1.96431,
            0.825,
            4.61193,
            0.0,
            -1.15673,
            0.0
        ],
        "scale": [
            0.49228,
            1.0,
            0.15612,
            0.48727,
            0.72068,
            3.35322,
            1.0,
            0.61536,
            1.0
        ],
        "coef": [
            -0.47576,
            0.0,
            -0.23872,
            0.83189,
            0.74183,
            1.93084,
            0.0
        ],
        "intercept": 1.16506
    }
}
