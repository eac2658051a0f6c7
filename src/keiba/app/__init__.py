"""The composition root: builds storage and Themis' inputs from configuration and hands them
to the packages below; `keiba.cli` parses, calls this and prints. The demo and the backtest
are presets of the engine in replay mode (`keiba.app.replay`)."""
