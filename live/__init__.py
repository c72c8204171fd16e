"""The live kernel: commands that need root and change machine state, kept apart from the model."""
