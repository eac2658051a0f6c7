"""The composition root: builds storage and Themis' inputs from configuration and hands them
to the packages below; `keiba.cli` parses, calls this and prints."""
