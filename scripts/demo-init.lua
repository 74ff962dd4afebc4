-- Neovim config for `./dev demo`: this checkout as the only plugin, as a plugin manager
-- would install it, with the library `./dev demo` just built.
local root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")
vim.opt.runtimepath:prepend(root)
vim.o.termguicolors = true
require("conductor").setup({})
vim.schedule(function()
  vim.notify("conductor.nvim demo: try :ConductorNew fix the greeting, then :Conductor", vim.log.levels.INFO)
end)
