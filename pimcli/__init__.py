"""`pim`: the command-line client of PIM's REST API (/api/v1/).

Standard library only, and never Django: it is installed with the server but talks to it over
HTTP like any other client, so it works the same from a laptop. `pimcli.main` is the console
script; `config` finds the address and token, `client` makes the calls, `formatting` turns
durations and times into words and back."""
