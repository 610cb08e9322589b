"""Emulators of the schedulers that cannot run on this machine (Marathon, fleet), faithful to their APIs."""
