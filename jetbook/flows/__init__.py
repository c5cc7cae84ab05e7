"""The flows themselves: how an image becomes patch tokens (`patches`), which dimensions a
coupling splits (`splits`), one affine coupling (`coupling`), the conditioners that predict its
bias and scale (`vit`, `cnn`), the layers Jet leaves out (`actnorm`, `dense`), class
conditioning (`conditioning`), the two models (`jet`, `tarflow`) and their configs (`config`),
the multiscale architecture Jet removed, as a chain of Jets (`multiscale`), the compiled calls
they share (`compiled`), their analytic FLOPs (`flops`, which also sizes a CNN conditioner) and
the table of model kinds (`model_kinds`). Nothing here trains."""
