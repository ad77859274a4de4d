"""InfoGAN (Chen et al. 2016): a GAN whose generator also reads latent codes c, and an
auxiliary head Q on D's features that recovers them, trained to maximise a lower bound on
the mutual information I(c; G(z, c))."""
