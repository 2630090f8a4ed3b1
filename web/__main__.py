"""``python -m web``: the ``konbit`` command without its console script."""

from web.cli import app

if __name__ == "__main__":
    app()
