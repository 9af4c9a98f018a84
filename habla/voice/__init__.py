"""Real-time speech-to-speech conversation: PCM in → VAD endpointing → incremental ASR → streamed LLM reply →
sentences → TTS → PCM out, with barge-in. ``VoiceSession`` is the transport-free core; the /v1/talk WebSocket
and ``habla chat`` drive it."""
