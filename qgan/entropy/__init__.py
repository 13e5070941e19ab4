"""The entropy archive and where its bytes come from: the append-only pool and manifest, sources
(system, device, file, QRNG web services), their HTTP client, health tests, the harvest, and a
local service emulator.
"""
