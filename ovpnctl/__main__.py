"""`python -m ovpnctl`: the same CLI as the `ovpnctl` console script."""

from ovpnctl.cli.main import main

if __name__ == "__main__":
    main()
