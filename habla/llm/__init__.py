"""LLM engines behind one interface (``LLMEngine``) and the transcript assistant. Backends import lazily."""

from habla.llm.protocol import ChatMessage, ChatOptions, ChatStream, ChatUsage, LLMEngine

__all__ = ["ChatMessage", "ChatOptions", "ChatStream", "ChatUsage", "LLMEngine"]
