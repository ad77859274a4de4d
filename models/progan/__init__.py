"""Progressive growing of GANs (Karras et al. 2018): training that starts at a low resolution
and fades in new layers, with minibatch standard deviation and the equalised learning rate."""
