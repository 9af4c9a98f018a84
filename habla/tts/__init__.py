"""Text-to-speech: ``Speaker().speak("Hello.")`` streams audio chunks sentence by sentence.

Piper voices (neural) where one is installed for the language, espeak-ng for every other language.
"""

from habla.tts.protocol import AudioChunk, TTSEngine, Voice
from habla.tts.speaker import SpeakOptions, Speaker, SpeechRun

__all__ = ["AudioChunk", "SpeakOptions", "Speaker", "SpeechRun", "TTSEngine", "Voice"]
