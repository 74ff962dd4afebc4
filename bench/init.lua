-- Benchmarks load the plugin like a user: checkout on the runtimepath (set by --cmd),
-- plugin/ sourced at startup, library from target/release (CONDUCTOR_LIB).
vim.o.swapfile = false
