"""The model pass: the Anthropic client, the tool loop, prompts (files), grounding and injection checks."""
