"""`python -m credsight.cli`: the same as the `credsight` command."""

from credsight.cli.app import main

main()
