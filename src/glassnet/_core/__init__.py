"""Low-level helpers every other package uses: argument checks, atomic files, bounded JSON/TOML/npz reading, safe folders, and the divergence rule every training loop applies."""
