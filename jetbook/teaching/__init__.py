"""Teaching aids: toy flows, figures, widgets, exercise checks, brute-force references, quick
mode and student copies. The model and training code never import from here."""
