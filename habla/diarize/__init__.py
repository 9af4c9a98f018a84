"""Speaker diarization: who spoke when. audio (+ speech regions) → embeddings → clusters → speaker turns."""
