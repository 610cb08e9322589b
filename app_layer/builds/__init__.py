"""The builder: git receive over SSH (a bundled forced command) and over HTTP, Dockerfile builds,
pushes to the registry, and the build hook that turns an image into a release.

The flow, one module per step:

- ``sshd.py``: the sshd the platform runs (or the snippet for a system sshd); its
  ``AuthorizedKeysCommand`` (``keys_command.py``) asks the controller who owns a key.
- ``git_shell.py``: the forced command; checks the command and the user's right to the app
  before anything is received, then execs ``git-receive-pack``/``git-upload-pack``.
- ``repos.py``: bare repositories, the pre-receive hook, the per-app push lock.
- ``hook.py``: the pre-receive hook; builds the pushed sha and asks for a release.
- ``dockerfile.py``: ``docker build`` and push, output streamed to the git client.
- ``registry.py``: the Docker registry the platform runs.
- ``config.py``: what the git side knows (controller URL, builder key, paths) and its client.
- ``cli.py`` and ``parts.py``: the operator verbs, and the parts ``app-layer up`` starts.
"""
