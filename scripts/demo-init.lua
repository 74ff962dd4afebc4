-- Neovim config for `./dev demo`: this checkout as the only plugin, as a plugin manager
-- would install it, with the library `./dev demo` just built.
local root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")
vim.opt.runtimepath:prepend(root)
vim.o.termguicolors = true
-- `./dev demo` points Neovim's data, state and cache under .demo/ (the demo's workspaces
-- never show up in your own :Conductor); agents get your real directories back.
local env = {}
local data, state, cache = (vim.env.CONDUCTOR_DEMO_AGENT_XDG or ""):match("^(.*):(.*):(.*)$")
if data then
  env = { XDG_DATA_HOME = data, XDG_STATE_HOME = state, XDG_CACHE_HOME = cache }
end
require("conductor").setup({ environment_variables = env })
vim.schedule(function()
  vim.notify(
    "conductor.nvim demo: try :ConductorNew fix the greeting, then :Conductor",
    vim.log.levels.INFO
  )
end)
