"""qgan: does latent noise from a quantum RNG train a better GAN than pseudo-random noise?"""
__version__ = "0.1.0"
