"""The Jet paper's findings and tables as data (`paper`, the source of every paper number the
notebooks cite), and measurements and studies over the library, each with a `jetbook` subcommand and a results
file that records machine and date: the step and startup benchmarks (`bench`), the memory
planner and the runtimes it plans for (`plan`), the paper's ablations (`studies` says what
each compares, `ablate` trains and tabulates them), Jet against TarFlow (`compare`), the codec
and per-pixel baselines (`baselines`) and the export of the shipped models (`export`)."""
