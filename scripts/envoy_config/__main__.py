"""``python -m scripts.envoy_config --pki-dir var/pki --out var/envoy`` (see ``--help``)."""

from scripts.envoy_config._cli import main

main()
