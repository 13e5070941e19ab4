"""The GAN: MNIST data, the models, the training loop and one training run end to end (noise,
MLflow, checkpoint, figures).
"""
