"""What every other package uses: argument checks (``validate``), atomic files
(``files``), bounded reading of JSON/TOML (``parse``) and npz archives (``npz``), folders
reached without following links (``safe_dir``), the divergence rule every training loop
applies (``divergence``) and the one-release shims of moved paths (``moved``).

It imports nothing from the rest of glassnet."""
