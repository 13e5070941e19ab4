"""Bytes to latent noise: the conversion (bytes -> uniforms -> normals), the noise layout (which
run reads which normals) and the noise streams of each arm.
"""
