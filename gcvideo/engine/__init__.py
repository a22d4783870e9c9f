"""Lightning only: the training module, LR schedule, callbacks, report writing, checkpoint
loading and the LightningCLI behind ``gcvideo fit|validate|test``."""
